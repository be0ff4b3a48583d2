//! One function per command.

use crate::cli::*;
use crate::desk::{now, Desk, NewSession, Sealing, SubjectChange};
use crate::home::{default_dir, write_atomic, Home};
use crate::report;
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;
use std::process::ExitCode;
use tinnhiem_core::doc::{CountField, MetaField, SessionDoc};
use tinnhiem_core::domain::limits::for_terminal;
use tinnhiem_core::domain::{
    compute, deadlines, exclusion_from_text, is_hhmm, when, Exclusion, Mode, PersonId, Procedure,
    Profile, SessionId, Subject, SubjectId, UnitId,
};
use tinnhiem_core::seal;
use tinnhiem_web::minutes;

/// Runs one command.
pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    let dir = match &cli.home {
        Some(d) => d.clone(),
        None => default_dir()?,
    };
    if let Command::Init { unit, name, store } = cli.command {
        let unit = UnitId::new(unit).context("--unit")?;
        let home = Home::init(&dir, unit, name, store.into())?;
        println!(
            "Đã khởi tạo đơn vị «{}» tại {}",
            home.config.unit,
            dir.display()
        );
        println!("Khóa công khai: {}", home.key()?.public());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Profile(ProfileCmd::List { json }) = &cli.command {
        print_profiles(*json)?;
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Restore { from } = &cli.command {
        let s = tinnhiem_store::home::restore(from, &dir, "node.toml")?;
        println!("{}", tinnhiem_store::home::restored(from, &dir, &s));
        untrusted_copies_aside(&Home::open(&dir)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut home = Home::open(&dir)?;
    // Commands that open the store only for short moments (so that they and the
    // others can run side by side) come first.
    match cli.command {
        Command::Hub(HubCmd::Set { addr, key }) => {
            let k = tinnhiem_core::seal::PublicKey::from_hex(&key)
                .map_err(|e| anyhow!("--key: {e}"))?;
            let target = crate::sync::HubTarget {
                addr: addr.clone(),
                key: k.to_hex(),
            };
            target
                .resolve()
                .with_context(|| format!("--addr «{addr}»: cần dạng HOST:PORT"))?;
            home.config.hub = Some(target);
            home.save_config()?;
            println!("Đã đặt máy chủ {addr} (khóa {})", k.to_hex());
            return Ok(ExitCode::SUCCESS);
        }
        Command::Sync {
            once,
            daemon,
            timeout,
            json,
            retry_now,
        } => {
            if daemon {
                crate::sync::daemon(&home)?;
                return Ok(ExitCode::SUCCESS);
            }
            if !once {
                bail!("cần --once hoặc --daemon");
            }
            let ok = crate::sync::once(
                &home,
                std::time::Duration::from_secs(timeout),
                json,
                retry_now,
            )?;
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Status { json } => {
            crate::sync::status(&home, json)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Serve { http, sync } => {
            crate::web::serve(home, http, sync)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Backup { dest } => {
            let store = home.store()?;
            let s = tinnhiem_store::home::backup(
                &store,
                &home.dir,
                &dest,
                &["node.toml", "unit.key", "users.toml"],
                &["sealed", "deleted"],
            )?;
            println!(
                "Đã sao lưu {} vào {} ({} bản ghi, đã đọc lại và kiểm). Bản sao lưu chứa khóa bí mật: cất giữ như khóa.",
                home.dir.display(),
                dest.display(),
                s.records
            );
            // The copies are checked against the store: a changed one is named, never
            // passed on silently (a restore will not trust it either).
            let bad = crate::copies::check(&home.sealed_dir(), &store, None)?;
            if !bad.is_empty() {
                eprintln!(
                    "Cảnh báo: {} bản sao biên bản trong {} không khớp với kho (kho là bản gốc; bản sao lưu của kho vẫn đúng):",
                    bad.len(),
                    home.sealed_dir().display()
                );
                for b in &bad {
                    eprintln!("  - {}", for_terminal(&b.to_string()));
                }
                return Ok(ExitCode::from(1));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::User(cmd) => {
            tinnhiem_web::users::run(&tinnhiem_web::Accounts::in_dir(&home.dir), cmd)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::VerifyReceipt => {
            let n = crate::sync::verify_receipts(&home)?;
            println!("{n} biên nhận hợp lệ (chữ ký của máy chủ, đúng biên bản)");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let cx = Cx {
        home: &home,
        desk: Desk::open(&home, who())?,
    };
    // Copies a seal on a full disk could not write; the command goes on without them
    // (`verify` names what is still missing).
    if let Err(e) = cx.desk.rebuild_copies() {
        eprintln!("Cảnh báo: {e:#}");
    }
    let done = match cli.command {
        Command::Init { .. } => handled_above(),
        Command::Key(KeyCmd::Rotate) => {
            let path = home.dir.join("unit.key");
            let old = home.key()?.public();
            let kept = home.dir.join(format!("unit.key.{}.old", now()));
            std::fs::rename(&path, &kept)
                .with_context(|| format!("không đổi tên được {}", path.display()))?;
            let key = tinnhiem_core::seal::UnitKey::generate()?;
            if let Err(e) = key.create_file(&path) {
                // Put the old key back rather than leave the home without one.
                let _ = std::fs::rename(&kept, &path);
                return Err(e.into());
            }
            println!("Khóa cũ: {old} (giữ ở {})", kept.display());
            println!("Khóa mới: {}", key.public());
            println!(
                "Hãy báo khóa mới cho máy chủ: tinnhiem-hub registry rotate --unit {} --key {}",
                home.config.unit,
                key.public()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCmd::Show) => {
            println!("{}", home.key()?.public());
            Ok(ExitCode::SUCCESS)
        }
        Command::Session(c) => cx.session(c),
        Command::Subject(c) => cx.subject(c),
        Command::Board(c) => cx.board(c),
        Command::Attendance(AttendanceCmd::Set {
            session,
            total,
            present,
            absent_from_start,
            present_at_vote,
        }) => cx.counts(
            &session,
            &[
                (CountField::Total, total),
                (CountField::Present, present),
                (CountField::AbsentFromStart, absent_from_start),
                (CountField::PresentAtVote, present_at_vote),
            ],
        ),
        Command::Ballots(BallotsCmd::Set {
            session,
            issued,
            collected,
            wholly_invalid,
        }) => cx.counts(
            &session,
            &[
                (CountField::Issued, issued),
                (CountField::Collected, collected),
                (CountField::WhollyInvalid, wholly_invalid),
            ],
        ),
        Command::Tally(TallyCmd::Set {
            session,
            subject,
            high,
            confidence,
            low,
            no_confidence,
            invalid,
        }) => cx.tally(
            &session,
            &subject,
            [high, confidence, low, no_confidence],
            invalid,
        ),
        Command::Entry(EntryCmd::Add { session, marks }) => cx.entry_add(&session, &marks),
        Command::Entry(EntryCmd::Remove { session, id }) => cx.entry_remove(&session, &id),
        Command::Entry(EntryCmd::List { session, json }) => cx.entry_list(&session, json),
        Command::Result { session, json } => cx.result(&session, json),
        Command::Seal { session } => cx.seal(&session),
        Command::Verify { session, json } => cx.verify(&session, json),
        Command::Doc(DocCmd::Export { session, output }) => cx.doc_export(&session, &output),
        Command::Doc(DocCmd::Merge { file, restore }) => cx.doc_merge(&file, restore),
        Command::Export {
            session,
            minutes,
            csv,
            xlsx,
            qr,
        } => cx.export(
            &session,
            minutes.as_deref(),
            csv.as_deref(),
            xlsx.as_deref(),
            qr.as_deref(),
        ),
        Command::VerifyPaper { image, json } => cx.verify_paper(&image, json),
        Command::Deadlines { session, json } => cx.deadlines(&session, json),
        Command::Hub(_)
        | Command::Sync { .. }
        | Command::Status { .. }
        | Command::VerifyReceipt
        | Command::Serve { .. }
        | Command::Backup { .. }
        | Command::Restore { .. }
        | Command::User(_)
        | Command::Profile(_) => handled_above(),
        Command::Audit { json } => cx.audit(json),
    };
    for s in cx.desk.unsealed() {
        eprintln!(
            "CẢNH BÁO: {s} Biên bản lần {} không còn đúng với phiên; niêm phong lại: tinnhiem-node seal {}",
            s.seq, s.session
        );
    }
    done
}

/// After a restore: copies in `sealed/` that differ from the restored store are moved to
/// `sealed.untrusted/` and named, and the store's own copies written in their place.
/// The store was checked record by record; the copies were not, so the store wins.
fn untrusted_copies_aside(home: &Home) -> Result<()> {
    let store = home.store()?;
    let dir = home.sealed_dir();
    let bad = crate::copies::check(&dir, &store, None)?;
    let aside = home.dir.join("sealed.untrusted");
    for b in bad.iter().filter(|b| b.file.exists()) {
        std::fs::create_dir_all(&aside)
            .with_context(|| format!("không tạo được {}", aside.display()))?;
        let to = aside.join(b.file.file_name().unwrap_or_default());
        std::fs::rename(&b.file, &to)
            .with_context(|| format!("không chuyển được {}", b.file.display()))?;
        eprintln!(
            "Cảnh báo: {}; đã chuyển sang {} và ghi lại bản đúng từ kho",
            for_terminal(&b.to_string()),
            to.display()
        );
    }
    crate::copies::rebuild_missing(&dir, &store)?;
    Ok(())
}

fn who() -> String {
    std::env::var("USER").unwrap_or_else(|_| "clerk".into())
}

/// `profile list`: needs no home, the profiles are this build's.
fn print_profiles(json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&Profile::list_json())?);
    } else {
        println!("{}", Profile::list_text());
    }
    Ok(())
}

fn handled_above() -> Result<ExitCode> {
    bail!("lệnh này đã được xử lý ở trên")
}

/// What every command after `init` needs: the desk, acting as the OS user.
struct Cx<'a> {
    home: &'a Home,
    desk: Desk<'a>,
}

impl<'a> Cx<'a> {
    fn load(&self, session: &str) -> Result<(SessionId, SessionDoc)> {
        self.desk.load(session)
    }

    fn session(&self, c: SessionCmd) -> Result<ExitCode> {
        match c {
            SessionCmd::Create(a) => {
                let id = self.desk.session_id(&a.session)?;
                let profile: Profile = a.profile;
                let procedure: Procedure = a.procedure.into();
                let mode: Mode = a.mode.into();
                let mut problems = Vec::new();
                let date = when::parse_day(&a.date);
                if date.is_none() {
                    problems.push(format!(
                        "--date «{}»: cần dạng dd/mm/yyyy hoặc YYYY-MM-DD",
                        a.date
                    ));
                }
                if a.body.trim().is_empty() {
                    problems.push("--body trống".into());
                }
                let opening_date = match a.opening_date.as_deref() {
                    None => None,
                    Some(d) => {
                        let o = when::parse_day(d);
                        if o.is_none() {
                            problems.push(format!(
                                "--opening-date «{d}»: cần dạng dd/mm/yyyy hoặc YYYY-MM-DD"
                            ));
                        }
                        o
                    }
                };
                let (Some(date), true) = (date, problems.is_empty()) else {
                    bail!("không tạo được phiên:\n  - {}", problems.join("\n  - "));
                };
                self.desk.create(&NewSession {
                    id: id.clone(),
                    profile,
                    procedure,
                    mode,
                    date,
                    opening_date,
                    body: a.body.clone(),
                    title: a.title.clone(),
                })?;
                println!(
                    "Đã tạo phiên «{id}» ({}, {}, nhập {})",
                    profile,
                    procedure.title(),
                    mode_vi(mode)
                );
                Ok(ExitCode::SUCCESS)
            }
            SessionCmd::Import { file } => {
                let text = read_text(&file)?;
                let s = self
                    .desk
                    .import(&text, &format!("Tệp {}", file.display()))?;
                let id = s.meta.session.clone();
                let r = compute(&s);
                println!(
                    "Đã nhập phiên «{id}»: {} người được lấy phiếu, {} phiếu nhập, {} kết quả tổng hợp",
                    s.subjects.len(),
                    s.entries.len(),
                    s.tallies.len()
                );
                report::print_problems(&r);
                Ok(ExitCode::SUCCESS)
            }
            SessionCmd::List { json } => self.session_list(json),
            SessionCmd::Show { session } => {
                let (sid, mut doc) = self.load(&session)?;
                let s = doc.read()?;
                let seals = self.desk.store.seals(&sid)?;
                print!(
                    "{}",
                    tinnhiem_core::domain::limits::for_terminal_lines(&report::show(
                        &s,
                        &compute(&s),
                        &seals,
                        &doc.heads()
                    ))
                );
                Ok(ExitCode::SUCCESS)
            }
            SessionCmd::Delete { session, yes } => {
                if !yes {
                    let (sid, doc) = self.load(&session)?;
                    let s = doc.read()?;
                    let seals = self.desk.store.seals(&sid)?;
                    if let Some(last) = seals.last() {
                        bail!(
                            "phiên «{sid}» đã niêm phong (lần {}): biên bản đã niêm phong không bao giờ bị xóa",
                            last.body.seq
                        );
                    }
                    eprintln!(
                        "Sẽ xóa phiên «{sid}» ({} — {}): {} người, {} phiếu đã nhập. Chưa xóa gì; thêm --yes để xác nhận.",
                        for_terminal(&s.meta.body),
                        s.meta.date,
                        s.subjects.len(),
                        s.entries.len()
                    );
                    return Ok(ExitCode::from(1));
                }
                let d = self.desk.delete_session(&session)?;
                println!(
                    "Đã xóa phiên «{}» ({} người, {} phiếu đã nhập). Bản cuối giữ ở {}; khôi phục bằng: tinnhiem-node doc merge {} --restore",
                    d.id,
                    d.subjects,
                    d.entries,
                    d.copy.display(),
                    d.copy.display()
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    /// Every session with its day and its last seal: a tab-separated line each for
    /// people and `cut`, or JSON.
    fn session_list(&self, json: bool) -> Result<ExitCode> {
        let mut rows = Vec::new();
        for id in self.desk.store.sessions()? {
            let (_, mut doc) = self.load(id.as_str())?;
            let s = doc.read()?;
            let seals = self.desk.store.seals(&id)?;
            let heads = doc.heads();
            let last = seals
                .last()
                .map(|x| (x.body.seq, x.body.sealed_at, x.body.heads == heads));
            rows.push((id, s.meta, seals.len(), last));
        }
        if json {
            let v: Vec<_> = rows
                .iter()
                .map(|(id, m, n, last)| {
                    serde_json::json!({
                        "session": id.as_str(),
                        "date": m.date.to_string(),
                        "profile": m.profile.key(),
                        "procedure": m.procedure.key(),
                        "mode": m.mode.key(),
                        "body": m.body,
                        "title": m.title,
                        "seals": n,
                        "last_seal": last.map(|(seq, at, current)| serde_json::json!({
                            "seq": seq,
                            "sealed_at": when::moment_iso(at),
                            "current": current,
                        })),
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
            return Ok(ExitCode::SUCCESS);
        }
        if rows.is_empty() {
            println!(
                "Chưa có phiên nào (tạo bằng: tinnhiem-node session create, hoặc session import)."
            );
        }
        for (id, m, _, last) in rows {
            let sealed = match last {
                Some((seq, at, true)) => {
                    format!("niêm phong lần {seq} lúc {}", when::moment_vi(at))
                }
                Some((seq, at, false)) => format!(
                    "niêm phong lần {seq} lúc {}, đã sửa sau đó",
                    when::moment_vi(at)
                ),
                None => "chưa niêm phong".into(),
            };
            println!(
                "{id}\t{}\t{}\t{}\t{sealed}",
                when::day_vi(m.date),
                m.profile,
                tinnhiem_core::domain::limits::for_terminal(&m.body)
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    fn subject(&self, c: SubjectCmd) -> Result<ExitCode> {
        match c {
            SubjectCmd::Add {
                session,
                id,
                person,
                name,
                position,
                unit,
                excluded,
            } => {
                let id = SubjectId::new(id).map_err(|e| anyhow!("--id: {e}"))?;
                let person_id = PersonId::new(person).map_err(|e| anyhow!("--person: {e}"))?;
                if name.trim().is_empty() {
                    bail!("--name: họ tên trống");
                }
                let excluded = excluded_arg(excluded.as_deref())?.flatten();
                let subj = self.desk.add_subject(
                    &session,
                    Subject {
                        id: id.clone(),
                        person_id,
                        name: name.trim().into(),
                        position: position.trim().into(),
                        unit: unit.trim().into(),
                        order: 0,
                        excluded,
                    },
                )?;
                println!(
                    "Đã thêm {id}: {} — {}",
                    for_terminal(&subj.name),
                    for_terminal(&subj.position)
                );
                Ok(ExitCode::SUCCESS)
            }
            SubjectCmd::Edit {
                session,
                id,
                person,
                name,
                position,
                unit,
                excluded,
                polled,
            } => {
                let person_id = match person {
                    Some(p) => Some(PersonId::new(p).map_err(|e| anyhow!("--person: {e}"))?),
                    None => None,
                };
                let excluded = if polled {
                    Some(None)
                } else {
                    excluded_arg(excluded.as_deref())?
                };
                let change = SubjectChange {
                    person_id,
                    name,
                    position,
                    unit,
                    excluded,
                };
                if change.person_id.is_none()
                    && change.name.is_none()
                    && change.position.is_none()
                    && change.unit.is_none()
                    && change.excluded.is_none()
                {
                    bail!("không có gì để sửa: cần --name, --position, --unit, --person, --excluded hoặc --polled");
                }
                let (old, new) = self.desk.edit_subject(&session, &id, change)?;
                if old == new {
                    println!("Dòng {} không thay đổi.", new.id);
                } else {
                    println!(
                        "Đã sửa dòng {}: {} — {}{}",
                        new.id,
                        for_terminal(&new.name),
                        for_terminal(&new.position),
                        new.excluded
                            .map(|e| format!(" (không lấy phiếu: {})", e.title()))
                            .unwrap_or_default()
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            SubjectCmd::Remove {
                session,
                id,
                drop_marks,
            } => {
                let r = self.desk.remove_subject(&session, &id, drop_marks)?;
                print!(
                    "Đã xóa dòng {} ({})",
                    r.subject.id,
                    for_terminal(&r.subject.name)
                );
                if r.marks > 0 || r.tally {
                    print!(
                        " cùng {} ý kiến đã ghi{}",
                        r.marks,
                        if r.tally {
                            " và kết quả tổng hợp"
                        } else {
                            ""
                        }
                    );
                }
                println!();
                Ok(ExitCode::SUCCESS)
            }
            SubjectCmd::List { session } => {
                let (_, doc) = self.load(&session)?;
                let s = doc.read()?;
                for (i, x) in s.subjects.iter().enumerate() {
                    println!(
                        "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                        i + 1,
                        x.id,
                        x.person_id,
                        for_terminal(&x.name),
                        for_terminal(&x.position),
                        for_terminal(&x.unit),
                        x.excluded.map(|e| e.title()).unwrap_or("")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            SubjectCmd::Import {
                session,
                file,
                replace,
            } => {
                let text = read_text(&file)?;
                let r = self.desk.import_subjects(
                    &session,
                    &text,
                    &format!("Tệp {}", file.display()),
                    replace,
                )?;
                let sid = self.desk.session_id(&session)?;
                let mut out = format!("Đã nhập {} người mới vào phiên «{sid}»", r.added);
                if !r.replaced.is_empty() {
                    out.push_str(&format!("; thay dòng {}", r.replaced.join(", ")));
                }
                if r.unchanged > 0 {
                    out.push_str(&format!(
                        "; {} dòng đã có, giống hệt, giữ nguyên",
                        r.unchanged
                    ));
                }
                println!("{out}");
                Ok(ExitCode::SUCCESS)
            }
        }
    }

    fn board(&self, c: BoardCmd) -> Result<ExitCode> {
        let BoardCmd::Set {
            session,
            chair,
            members,
            from,
            to,
            place,
            title,
            resolution_date,
            assigned_by,
            polled_posts,
            opening_date,
        } = c;
        for (flag, v) in [("--from", &from), ("--to", &to)] {
            if let Some(v) = v {
                if !is_hhmm(v) {
                    bail!("{flag} «{v}»: cần dạng HH:MM");
                }
            }
        }
        // Stored as ISO, whichever form was typed.
        let resolution_date = match resolution_date {
            None => None,
            Some(d) => Some(
                when::parse_day(&d)
                    .ok_or_else(|| {
                        anyhow!("--resolution-date «{d}»: cần dạng dd/mm/yyyy hoặc YYYY-MM-DD")
                    })?
                    .to_string(),
            ),
        };
        let opening_date = match opening_date {
            None => None,
            Some(d) => Some(
                when::parse_day(&d)
                    .ok_or_else(|| {
                        anyhow!("--opening-date «{d}»: cần dạng dd/mm/yyyy hoặc YYYY-MM-DD")
                    })?
                    .to_string(),
            ),
        };
        let members = members.map(|m| {
            m.split(';')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        });
        let sid = self.desk.set_meta(
            &session,
            vec![
                (MetaField::Chair, chair),
                (MetaField::Board, members),
                (MetaField::CountFrom, from),
                (MetaField::CountTo, to),
                (MetaField::Place, place),
                (MetaField::Title, title),
                (MetaField::ResolutionDate, resolution_date),
                (MetaField::AssignedBy, assigned_by),
                (MetaField::PolledPosts, polled_posts),
                (MetaField::OpeningDate, opening_date),
            ],
        )?;
        println!("Đã ghi thông tin ban kiểm phiếu của phiên «{sid}»");
        Ok(ExitCode::SUCCESS)
    }

    fn counts(&self, session: &str, values: &[(CountField, Option<u64>)]) -> Result<ExitCode> {
        if values.iter().all(|(_, v)| v.is_none()) {
            bail!("không có số nào để ghi; xem --help");
        }
        let r = self.desk.set_counts(session, values, false)?;
        println!(
            "Đã ghi. Có mặt khi bỏ phiếu {}/{}; phiếu phát ra {}, thu về {}",
            r.present_at_vote, r.total, r.issued, r.collected
        );
        report::print_problems(&r);
        Ok(ExitCode::SUCCESS)
    }

    fn tally(
        &self,
        session: &str,
        subject: &str,
        given: [Option<u64>; 4],
        invalid: u64,
    ) -> Result<ExitCode> {
        let r = self.desk.set_tally(
            session,
            subject,
            given,
            invalid,
            ["--high", "--confidence", "--low", "--no-confidence"],
        )?;
        println!("Đã ghi kết quả của {subject}");
        report::print_problems(&r);
        Ok(ExitCode::SUCCESS)
    }

    fn entry_add(&self, session: &str, marks_text: &str) -> Result<ExitCode> {
        let mut pairs = Vec::new();
        let mut bad = Vec::new();
        for part in marks_text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            match part.split_once('=') {
                Some((k, v)) => pairs.push((k.to_string(), v.to_string())),
                None => bad.push(format!("«{part}»: cần dạng MÃ=MỨC, ví dụ s01=high")),
            }
        }
        if pairs.is_empty() && bad.is_empty() {
            bad.push("--marks trống".into());
        }
        if !bad.is_empty() {
            bail!("phiếu không được ghi:\n  - {}", bad.join("\n  - "));
        }
        let added = self.desk.add_entry(session, &pairs, None)?;
        println!("Đã nhập phiếu thứ {} (mã {})", added.count, added.id);
        Ok(ExitCode::SUCCESS)
    }

    fn entry_list(&self, session: &str, json: bool) -> Result<ExitCode> {
        let (_, doc) = self.load(session)?;
        let s = doc.read()?;
        if json {
            let list: Vec<serde_json::Value> = s
                .entries
                .iter()
                .map(|e| {
                    let marks: serde_json::Map<String, serde_json::Value> = e
                        .marks
                        .iter()
                        .map(|(k, m)| (k.to_string(), m.key().into()))
                        .collect();
                    serde_json::json!({"id": e.id, "marks": marks})
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&list)?);
            return Ok(ExitCode::SUCCESS);
        }
        for (i, e) in s.entries.iter().enumerate() {
            let marks: Vec<String> = e.marks.iter().map(|(k, m)| format!("{k}={m}")).collect();
            println!("{:>4}. {}  {}", i + 1, e.id, marks.join(","));
        }
        println!("Cộng {} phiếu", s.entries.len());
        Ok(ExitCode::SUCCESS)
    }

    fn entry_remove(&self, session: &str, id: &str) -> Result<ExitCode> {
        self.desk.remove_entry(session, id)?;
        println!("Đã xóa phiếu {id}");
        Ok(ExitCode::SUCCESS)
    }

    fn result(&self, session: &str, json: bool) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        let r = compute(&s);
        let seals = self.desk.store.seals(&sid)?;
        let heads = doc.heads();
        if json {
            let mut j = r.to_json();
            if let Some(obj) = j.as_object_mut() {
                obj.insert(
                    "seals".into(),
                    serde_json::Value::Array(
                        seals
                            .iter()
                            .map(|x| {
                                serde_json::json!({
                                    "seq": x.body.seq,
                                    "seal_id": hex::encode(x.id()),
                                    "result_digest": hex::encode(x.body.result_digest),
                                    "sealed_at": when::moment_iso(x.body.sealed_at),
                                    "current": x.body.heads == heads,
                                })
                            })
                            .collect(),
                    ),
                );
            }
            println!("{}", serde_json::to_string_pretty(&j)?);
        } else {
            print!(
                "{}",
                tinnhiem_core::domain::limits::for_terminal_lines(&report::table(&s, &r))
            );
            report::print_seals(&seals, &heads);
        }
        Ok(ExitCode::SUCCESS)
    }

    fn seal(&self, session: &str) -> Result<ExitCode> {
        let sid = self.desk.session_id(session)?;
        let (sealed, r) = match self.desk.seal(session)? {
            Sealing::Already(last) => {
                println!(
                    "Phiên «{sid}» đã được niêm phong lần {} lúc {} và không thay đổi từ đó.",
                    last.body.seq,
                    when::moment_vi(last.body.sealed_at)
                );
                println!("Mã niêm phong: {}", hex::encode(last.id()));
                return Ok(ExitCode::SUCCESS);
            }
            Sealing::Refused(problems) => {
                eprintln!(
                    "Không niêm phong được phiên «{sid}»: {} vấn đề",
                    problems.len()
                );
                for p in &problems {
                    eprintln!("  - {p}");
                }
                return Ok(ExitCode::from(1));
            }
            Sealing::Sealed(sealed, r) => (sealed, r),
        };
        let seq = sealed.body.seq;
        println!(
            "Đã niêm phong biên bản kiểm phiếu phiên «{sid}», lần {seq}, lúc {}.",
            when::moment_vi(sealed.body.sealed_at)
        );
        println!(
            "Số người được lấy phiếu: {}; cảnh báo ngưỡng: {}",
            r.subjects.len(),
            r.subjects
                .iter()
                .filter(|s| s.flag != tinnhiem_core::domain::Flag::None)
                .count()
        );
        println!("Mã niêm phong (seal id): {}", hex::encode(sealed.id()));
        println!(
            "Tóm lược kết quả (result digest): {}",
            hex::encode(sealed.body.result_digest)
        );
        Ok(ExitCode::SUCCESS)
    }

    fn verify(&self, session: &str, json: bool) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let seals = self.desk.store.seals(&sid)?;
        let mine = self.home.key()?.public();
        let checked: Vec<_> = seals
            .iter()
            .map(|x| (x, seal::check(x, &mut doc).err()))
            .collect();
        // The plain copies in sealed/ must be the store's, change for change.
        let bad = crate::copies::check(&self.home.sealed_dir(), &self.desk.store, Some(&sid))?;
        let ok = !seals.is_empty() && checked.iter().all(|(_, e)| e.is_none()) && bad.is_empty();
        if json {
            let v = serde_json::json!({
                "session": sid.as_str(),
                "ok": ok,
                "seals": checked.iter().map(|(x, e)| serde_json::json!({
                    "seq": x.body.seq,
                    "valid": e.is_none(),
                    "error": e.as_ref().map(ToString::to_string),
                    "seal_id": hex::encode(x.id()),
                    "signer": hex::encode(x.body.signer),
                    "signed_by_this_node": x.body.signer == mine.0,
                    "sealed_at": when::moment_iso(x.body.sealed_at),
                })).collect::<Vec<_>>(),
                "copies": bad.iter().map(|b| serde_json::json!({
                    "file": b.file.display().to_string(),
                    "problem": b.why,
                })).collect::<Vec<_>>(),
            });
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else if seals.is_empty() {
            eprintln!("Phiên «{sid}» chưa được niêm phong: không có gì để kiểm tra.");
        }
        if json || seals.is_empty() {
            return Ok(if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        for (x, e) in &checked {
            let at = when::moment_vi(x.body.sealed_at);
            match e {
                None => {
                    let by = if x.body.signer == mine.0 {
                        "khóa của máy này".to_string()
                    } else {
                        format!("khóa {}", hex::encode(x.body.signer))
                    };
                    println!(
                        "Niêm phong lần {} lúc {at}: HỢP LỆ (ký bởi {by}; mã {})",
                        x.body.seq,
                        hex::encode(x.id())
                    );
                }
                Some(e) => {
                    println!("Niêm phong lần {} lúc {at}: KHÔNG HỢP LỆ — {e}", x.body.seq);
                }
            }
        }
        for b in &bad {
            println!(
                "Bản sao {}: {}",
                for_terminal(&b.file.display().to_string()),
                for_terminal(&b.why)
            );
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    /// The audit log: a table in Vietnam's time, or JSON with RFC 3339 times.
    fn audit(&self, json: bool) -> Result<ExitCode> {
        let lines = self.desk.store.audit_log()?;
        let rows: Vec<report::AuditRow> =
            lines.iter().map(|l| report::AuditRow::parse(l)).collect();
        if json {
            let v: Vec<_> = rows.iter().map(report::AuditRow::to_json).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            print!("{}", report::audit_table(&rows));
        }
        Ok(ExitCode::SUCCESS)
    }

    fn doc_export(&self, session: &str, output: &Path) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let bytes = doc.save();
        write_atomic(output, &bytes)?;
        println!(
            "Đã xuất phiên «{sid}» ({} byte) ra {}",
            bytes.len(),
            output.display()
        );
        Ok(ExitCode::SUCCESS)
    }

    fn doc_merge(&self, file: &Path, restore: bool) -> Result<ExitCode> {
        let bytes =
            std::fs::read(file).with_context(|| format!("không đọc được {}", file.display()))?;
        let (sid, new, s) = self
            .desk
            .merge(&bytes, &file.display().to_string(), restore)?;
        println!(
            "Đã gộp phiên «{sid}» từ {} ({new} thay đổi mới). Số phiếu đã nhập: {}",
            file.display(),
            s.entries.len()
        );
        if !s.conflicts.is_empty() {
            println!(
                "CHÚ Ý: {} giá trị bị nhập khác nhau trên hai máy:",
                s.conflicts.len()
            );
            for c in &s.conflicts {
                println!(
                    "  - {}: {}",
                    tinnhiem_core::domain::conflict_vi(&c.field),
                    c.values.join(" / ")
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    fn export(
        &self,
        session: &str,
        html: Option<&Path>,
        csv: Option<&Path>,
        xlsx: Option<&Path>,
        qr: Option<&Path>,
    ) -> Result<ExitCode> {
        if html.is_none() && csv.is_none() && xlsx.is_none() && qr.is_none() {
            bail!(
                "cần --minutes FILE.html, --csv FILE.csv, --xlsx FILE.xlsx và/hoặc --qr FILE.png"
            );
        }
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        let r = compute(&s);
        let seals = self.desk.store.seals(&sid)?;
        let heads = doc.heads();
        let current = seals.iter().rev().find(|x| x.body.heads == heads);
        if let Some(p) = html {
            write_atomic(
                p,
                minutes::html(&s, &r, self.home.config.name.as_deref(), current).as_bytes(),
            )?;
            println!("Đã xuất biên bản kiểm phiếu ra {}", p.display());
            if current.is_none() {
                println!("CHÚ Ý: biên bản chưa được niêm phong ở trạng thái hiện tại (bản nháp).");
            }
        }
        if let Some(p) = csv {
            write_atomic(p, &report::csv(&r)?)?;
            println!("Đã xuất kết quả ra {}", p.display());
        }
        if let Some(p) = xlsx {
            write_atomic(p, &report::xlsx(&r)?)?;
            println!("Đã xuất kết quả (Excel) ra {}", p.display());
        }
        if let Some(p) = qr {
            let Some(seal) = current else {
                bail!("--qr: phiên «{sid}» chưa được niêm phong ở trạng thái hiện tại; niêm phong trước");
            };
            let canon = seal::canonical_result(&r, s.meta.mode, &s.meta.body, s.meta.date);
            let png = tinnhiem_web::paper::png(&seal::paper::encode(seal, &canon))?;
            write_atomic(p, &png)?;
            println!(
                "Đã xuất mã QR của niêm phong lần {} ra {}",
                seal.body.seq,
                p.display()
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    /// A paper "matches" only when it carries the latest seal this node holds: a copy
    /// printed before a re-seal is a genuine but outdated result, and the clerk must be
    /// told which seal replaced it rather than see a plain match.
    fn verify_paper(&self, image: &Path, json: bool) -> Result<ExitCode> {
        let records = tinnhiem_web::paper::read(image)?;
        if records.is_empty() {
            bail!(
                "không tìm thấy mã QR biên bản tinnhiem nào trong {} (chụp thẳng, đủ sáng, cả mã trong khung)",
                image.display()
            );
        }
        let mut ok = true;
        let mut out = Vec::new();
        for bytes in records {
            let p = seal::paper::decode(&bytes)?;
            let b = &p.seal.body;
            let mut v = serde_json::json!({
                "unit": b.unit, "session": b.session, "seq": b.seq,
                "seal_id": hex::encode(p.seal.id()), "sealed_at": when::moment_iso(b.sealed_at),
            });
            if let Err(e) = p.verify() {
                if !json {
                    println!(
                        "Mã QR phiên «{}» lần {}: KHÔNG HỢP LỆ — {e}",
                        b.session, b.seq
                    );
                }
                v["state"] = "invalid".into();
                v["error"] = e.to_string().into();
                out.push(v);
                ok = false;
                continue;
            }
            if !json {
                println!(
                    "Mã QR: đơn vị «{}», phiên «{}», niêm phong lần {} lúc {}: chữ ký và kết quả HỢP LỆ (khóa {}).",
                    b.unit,
                    b.session,
                    b.seq,
                    when::moment_vi(b.sealed_at),
                    hex::encode(b.signer)
                );
                for x in &p.result.subjects {
                    println!(
                        "  {:<28} hợp lệ {:>4}  {}  {}",
                        x.name,
                        x.valid,
                        x.counts
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(" / "),
                        tinnhiem_core::domain::Flag::parse(&x.flag)
                            .map(|f| f.title())
                            .unwrap_or("")
                    );
                }
            }
            let held = if b.unit == self.home.config.unit {
                self.desk.store.seals(&b.session)?
            } else {
                Vec::new()
            };
            let latest = held.iter().max_by_key(|x| x.body.seq);
            match held.iter().find(|x| x.body.seq == b.seq) {
                Some(x) if x.id() == p.seal.id() => match latest {
                    Some(l) if l.body.seq > b.seq => {
                        ok = false;
                        v["state"] = "superseded".into();
                        v["superseded_by"] = serde_json::json!({
                            "seq": l.body.seq, "seal_id": hex::encode(l.id()),
                            "sealed_at": when::moment_iso(l.body.sealed_at),
                        });
                        if !json {
                            println!(
                                "  ĐÃ BỊ THAY THẾ: bản giấy này là niêm phong lần {}, nhưng máy này đã niêm phong lại lần {} lúc {} (mã {}). \
                                 Bản giấy này KHÔNG còn là kết quả hiện hành; hãy in lại biên bản của lần {}.",
                                b.seq,
                                l.body.seq,
                                when::moment_vi(l.body.sealed_at),
                                hex::encode(l.id()),
                                l.body.seq
                            );
                        }
                    }
                    _ => {
                        v["state"] = "matches".into();
                        if !json {
                            println!(
                                "  KHỚP với bản điện tử trong máy này, là lần niêm phong mới nhất (mã niêm phong {}).",
                                hex::encode(x.id())
                            );
                        }
                    }
                },
                Some(x) => {
                    ok = false;
                    v["state"] = "differs".into();
                    v["held_seal_id"] = hex::encode(x.id()).into();
                    if !json {
                        println!(
                            "  KHÁC bản điện tử: máy này giữ niêm phong lần {} với mã {}, bản giấy mang mã {}.",
                            b.seq,
                            hex::encode(x.id()),
                            hex::encode(p.seal.id())
                        );
                    }
                }
                None => {
                    ok = false;
                    v["state"] = "unknown".into();
                    if !json {
                        println!("  Máy này không giữ niêm phong đó để đối chiếu.");
                    }
                }
            }
            out.push(v);
        }
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({"ok": ok, "papers": out}))?
            );
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    }

    fn deadlines(&self, session: &str, json: bool) -> Result<ExitCode> {
        let (_, doc) = self.load(session)?;
        let s = doc.read()?;
        let list = deadlines(&s.meta);
        let today = when::in_vietnam(chrono::Utc::now().timestamp())
            .map(|t| t.date_naive())
            .unwrap_or_else(|| chrono::Utc::now().date_naive());
        if json {
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            println!(
                "{}: bỏ phiếu {}, khai mạc kỳ họp {}{}",
                s.meta.profile.rules().title,
                when::day_vi(s.meta.date),
                when::day_vi(s.meta.opening_day()),
                if s.meta.opening_date.is_none() {
                    " (trùng ngày bỏ phiếu)"
                } else {
                    ""
                }
            );
            if list.is_empty() {
                println!(
                    "Tài liệu gốc không nêu thời hạn nào cho {} theo quy định này.",
                    s.meta.procedure.title().to_lowercase()
                );
            }
            for d in list {
                let days = (d.due - today).num_days();
                let left = match days {
                    n if n < 0 => format!("đã qua {} ngày", -n),
                    0 => "hôm nay".to_string(),
                    n => format!("còn {n} ngày"),
                };
                println!("{}  {:<22} {}", when::day_vi(d.due), left, d.what);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `--excluded` as given: `None` when absent, `Some(None)` when it says polled (empty).
fn excluded_arg(x: Option<&str>) -> Result<Option<Option<Exclusion>>> {
    match x {
        None => Ok(None),
        Some(x) => exclusion_from_text(x)
            .map(Some)
            .map_err(|e| anyhow!("--excluded: {e}")),
    }
}

fn mode_vi(m: Mode) -> &'static str {
    match m {
        Mode::Entries => "từng phiếu",
        Mode::Tallies => "tổng hợp",
    }
}

fn read_text(p: &Path) -> Result<String> {
    let b = std::fs::read(p).with_context(|| format!("không đọc được {}", p.display()))?;
    String::from_utf8(b).map_err(|e| {
        anyhow!(
            "{} không phải văn bản UTF-8 (byte {})",
            p.display(),
            e.utf8_error().valid_up_to()
        )
    })
}
