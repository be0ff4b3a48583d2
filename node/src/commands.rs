//! One function per command.

use crate::cli::*;
use crate::home::{default_dir, write_atomic, Home};
use crate::report;
use anyhow::{anyhow, bail, Context, Result};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use tinnhiem_shared::doc::{CountField, MetaField, SessionDoc};
use tinnhiem_shared::domain::{
    compute, deadlines, is_hhmm, subjects_from_csv, Entry, Exclusion, FileError, Mark, Mode,
    PersonId, Procedure, Profile, SessionFile, SessionId, Subject, SubjectId, Tally, UnitId,
};
use tinnhiem_shared::seal;
use tinnhiem_shared::store::{AuditLine, BackendKind, Store};
use tinnhiem_web::minutes;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn who() -> String {
    std::env::var("USER").unwrap_or_else(|_| "clerk".into())
}

fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::getrandom(&mut b).map_err(|e| anyhow!("không lấy được số ngẫu nhiên: {e}"))?;
    Ok(hex::encode(b))
}

fn list_errors(what: &str, errs: &[FileError]) -> anyhow::Error {
    let mut s = format!("{what} có {} lỗi, không ghi gì:", errs.len());
    for e in errs {
        s.push_str(&format!("\n  - {e}"));
    }
    anyhow!(s)
}

/// Runs one command.
pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    let dir = match &cli.home {
        Some(d) => d.clone(),
        None => default_dir()?,
    };
    if let Command::Init { unit, name, store } = cli.command {
        let unit = UnitId::new(unit).context("--unit")?;
        let store = BackendKind::parse(&store)
            .ok_or_else(|| anyhow!("--store «{store}»: dùng redb hoặc sled"))?;
        let home = Home::init(&dir, unit, name, store)?;
        println!(
            "Đã khởi tạo đơn vị «{}» tại {}",
            home.config.unit,
            dir.display()
        );
        println!("Khóa công khai: {}", home.key()?.public());
        return Ok(ExitCode::SUCCESS);
    }
    let mut home = Home::open(&dir)?;
    // Commands that open the store only for short moments (so that they and the
    // others can run side by side) come first.
    match cli.command {
        Command::Hub(HubCmd::Set { addr, key }) => {
            let k = tinnhiem_shared::seal::PublicKey::from_hex(&key)
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
        } => {
            if daemon {
                crate::sync::daemon(&home)?;
                return Ok(ExitCode::SUCCESS);
            }
            if !once {
                bail!("cần --once hoặc --daemon");
            }
            let ok = crate::sync::once(&home, std::time::Duration::from_secs(timeout), json)?;
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
        Command::VerifyReceipt => {
            let n = crate::sync::verify_receipts(&home)?;
            println!("{n} biên nhận hợp lệ (chữ ký của máy chủ, đúng biên bản)");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let cx = Cx::new(&home)?;
    match cli.command {
        Command::Init { .. } => handled_above(),
        Command::Key(KeyCmd::Rotate) => {
            let path = home.dir.join("unit.key");
            let old = home.key()?.public();
            let kept = home.dir.join(format!("unit.key.{}.old", now()));
            std::fs::rename(&path, &kept)
                .with_context(|| format!("không đổi tên được {}", path.display()))?;
            let key = tinnhiem_shared::seal::UnitKey::generate()?;
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
        Command::Result { session, json } => cx.result(&session, json),
        Command::Seal { session } => cx.seal(&session),
        Command::Verify { session } => cx.verify(&session),
        Command::Doc(DocCmd::Export { session, output }) => cx.doc_export(&session, &output),
        Command::Doc(DocCmd::Merge { file }) => cx.doc_merge(&file),
        Command::Export {
            session,
            minutes,
            csv,
        } => cx.export(&session, minutes.as_deref(), csv.as_deref()),
        Command::Deadlines { session, json } => cx.deadlines(&session, json),
        Command::Hub(_)
        | Command::Sync { .. }
        | Command::Status { .. }
        | Command::VerifyReceipt => handled_above(),
        Command::Audit => {
            for line in cx.store.audit_log()? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn handled_above() -> Result<ExitCode> {
    bail!("lệnh này đã được xử lý ở trên")
}

/// What every command after `init` needs.
struct Cx<'a> {
    home: &'a Home,
    store: Store,
    device: Vec<u8>,
}

impl<'a> Cx<'a> {
    fn new(home: &'a Home) -> Result<Cx<'a>> {
        let store = home.store()?;
        let device = store.device()?;
        Ok(Cx {
            home,
            store,
            device,
        })
    }

    fn session_id(&self, s: &str) -> Result<SessionId> {
        SessionId::new(s).map_err(|e| anyhow!("{e}"))
    }

    fn load(&self, session: &str) -> Result<(SessionId, SessionDoc)> {
        let id = self.session_id(session)?;
        let Some(bytes) = self.store.doc(&id)? else {
            let all: Vec<String> = self
                .store
                .sessions()?
                .iter()
                .map(ToString::to_string)
                .collect();
            if all.is_empty() {
                bail!("không có phiên «{id}»; chưa có phiên nào (tạo bằng `session create` hoặc `session import`)");
            }
            bail!(
                "không có phiên «{id}»; các phiên đang có: {}",
                all.join(", ")
            );
        };
        let doc = SessionDoc::load(&bytes, &self.device)
            .with_context(|| format!("phiên «{id}» trong kho"))?;
        Ok((id, doc))
    }

    /// Commits, stores durably and records who did it.
    fn save(&self, id: &SessionId, doc: &mut SessionDoc, what: &str) -> Result<()> {
        let t = now();
        doc.commit(t, what);
        self.store.put_doc(
            id,
            &doc.save(),
            &AuditLine::new(t, who(), format!("{id}: {what}")),
        )?;
        Ok(())
    }

    fn session(&self, c: SessionCmd) -> Result<ExitCode> {
        match c {
            SessionCmd::Create(a) => {
                let id = self.session_id(&a.session)?;
                let mut problems = Vec::new();
                let profile = Profile::parse(&a.profile);
                if profile.is_none() {
                    problems.push(format!(
                        "--profile «{}»: dùng nq96-2023 hoặc qd96-2023",
                        a.profile
                    ));
                }
                let procedure = Procedure::parse(&a.procedure);
                if procedure.is_none() {
                    problems.push(format!(
                        "--procedure «{}»: dùng poll hoặc binding",
                        a.procedure
                    ));
                }
                let mode = Mode::parse(&a.mode);
                if mode.is_none() {
                    problems.push(format!("--mode «{}»: dùng entries hoặc tallies", a.mode));
                }
                let date = NaiveDate::parse_from_str(&a.date, "%Y-%m-%d").ok();
                if date.is_none() {
                    problems.push(format!("--date «{}»: cần dạng YYYY-MM-DD", a.date));
                }
                if a.body.trim().is_empty() {
                    problems.push("--body trống".into());
                }
                let (Some(profile), Some(procedure), Some(mode), Some(date)) =
                    (profile, procedure, mode, date)
                else {
                    bail!("không tạo được phiên:\n  - {}", problems.join("\n  - "));
                };
                if !problems.is_empty() {
                    bail!("không tạo được phiên:\n  - {}", problems.join("\n  - "));
                }
                let mut doc = SessionDoc::new(&self.home.config.unit, &id, &self.device)?;
                doc.set_setup(profile, procedure, mode, date)?;
                doc.set_meta(MetaField::Body, a.body.trim())?;
                if let Some(t) = &a.title {
                    doc.set_meta(MetaField::Title, t)?;
                }
                let t = now();
                doc.commit(t, "tạo phiên");
                self.store.create_doc(
                    &id,
                    &doc.save(),
                    &AuditLine::new(t, who(), format!("{id}: tạo phiên")),
                )?;
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
                let f = SessionFile::from_json(&text)
                    .map_err(|e| list_errors(&format!("Tệp {}", file.display()), &[e]))?;
                let mut ids = Vec::new();
                let s = f
                    .into_session(&self.home.config.unit, || {
                        let id = random_hex(16).unwrap_or_default();
                        ids.push(id.clone());
                        id
                    })
                    .map_err(|errs| list_errors(&format!("Tệp {}", file.display()), &errs))?;
                if ids.iter().any(String::is_empty) {
                    bail!("không lấy được số ngẫu nhiên cho mã phiếu");
                }
                let id = s.meta.session.clone();
                let mut doc = SessionDoc::from_session(&s, &self.device, now())?;
                let line =
                    AuditLine::new(now(), who(), format!("{id}: nhập từ {}", file.display()));
                self.store.create_doc(&id, &doc.save(), &line)?;
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
            SessionCmd::List => {
                for id in self.store.sessions()? {
                    let (_, doc) = self.load(id.as_str())?;
                    let s = doc.read()?;
                    let seals = self.store.seals(&id)?;
                    let sealed = match seals.last() {
                        Some(x) => format!("niêm phong lần {}", x.body.seq),
                        None => "chưa niêm phong".into(),
                    };
                    println!(
                        "{id}\t{}\t{}\t{}\t{sealed}",
                        s.meta.date, s.meta.profile, s.meta.body
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
        }
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
                let (sid, mut doc) = self.load(&session)?;
                let s = doc.read()?;
                let id = SubjectId::new(id).map_err(|e| anyhow!("--id: {e}"))?;
                let person_id = PersonId::new(person).map_err(|e| anyhow!("--person: {e}"))?;
                if name.trim().is_empty() {
                    bail!("--name: họ tên trống");
                }
                let excluded = match excluded.as_deref() {
                    None => None,
                    Some(x) => Some(Exclusion::parse(x).ok_or_else(|| {
                        anyhow!("--excluded «{x}»: dùng retiring, elected_this_year, appointed_this_year, polled_on_another_line")
                    })?),
                };
                let order = match s.subject(&id) {
                    Some(old) => old.order,
                    None => {
                        s.subjects
                            .iter()
                            .map(|x| x.order)
                            .filter(|o| *o != u64::MAX)
                            .max()
                            .unwrap_or(0)
                            + 1
                    }
                };
                let subj = Subject {
                    id: id.clone(),
                    person_id,
                    name: name.trim().into(),
                    position: position.trim().into(),
                    unit: unit.trim().into(),
                    order,
                    excluded,
                };
                doc.put_subject(&subj)?;
                self.save(&sid, &mut doc, &format!("thêm người được lấy phiếu {id}"))?;
                println!("Đã ghi {id}: {} — {}", subj.name, subj.position);
                Ok(ExitCode::SUCCESS)
            }
            SubjectCmd::Import { session, file } => {
                let (sid, mut doc) = self.load(&session)?;
                let text = read_text(&file)?;
                let mut rows = subjects_from_csv(&text)
                    .map_err(|e| list_errors(&format!("Tệp {}", file.display()), &e))?;
                let s = doc.read()?;
                let base = s
                    .subjects
                    .iter()
                    .map(|x| x.order)
                    .filter(|o| *o != u64::MAX)
                    .max()
                    .unwrap_or(0);
                for r in &mut rows {
                    r.order = match s.subject(&r.id) {
                        Some(old) => old.order,
                        None => base + r.order,
                    };
                    doc.put_subject(r)?;
                }
                self.save(
                    &sid,
                    &mut doc,
                    &format!("nhập {} người từ {}", rows.len(), file.display()),
                )?;
                println!(
                    "Đã nhập {} người được lấy phiếu vào phiên «{sid}»",
                    rows.len()
                );
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
        } = c;
        let (sid, mut doc) = self.load(&session)?;
        for (flag, v) in [("--from", &from), ("--to", &to)] {
            if let Some(v) = v {
                if !is_hhmm(v) {
                    bail!("{flag} «{v}»: cần dạng HH:MM");
                }
            }
        }
        if let Some(d) = &resolution_date {
            NaiveDate::parse_from_str(d, "%Y-%m-%d")
                .map_err(|_| anyhow!("--resolution-date «{d}»: cần dạng YYYY-MM-DD"))?;
        }
        let members = members.map(|m| {
            m.split(';')
                .map(str::trim)
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join("\n")
        });
        for (f, v) in [
            (MetaField::Chair, chair),
            (MetaField::Board, members),
            (MetaField::CountFrom, from),
            (MetaField::CountTo, to),
            (MetaField::Place, place),
            (MetaField::Title, title),
            (MetaField::ResolutionDate, resolution_date),
        ] {
            if let Some(v) = v {
                doc.set_meta(f, v.trim())?;
            }
        }
        self.save(&sid, &mut doc, "ghi ban kiểm phiếu")?;
        println!("Đã ghi thông tin ban kiểm phiếu của phiên «{sid}»");
        Ok(ExitCode::SUCCESS)
    }

    fn counts(&self, session: &str, values: &[(CountField, Option<u64>)]) -> Result<ExitCode> {
        if values.iter().all(|(_, v)| v.is_none()) {
            bail!("không có số nào để ghi; xem --help");
        }
        let (sid, mut doc) = self.load(session)?;
        for (f, v) in values {
            if let Some(v) = v {
                doc.set_count(*f, *v)?;
            }
        }
        self.save(&sid, &mut doc, "ghi số liệu")?;
        let r = compute(&doc.read()?);
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
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        if s.meta.mode != Mode::Tallies {
            bail!("phiên «{sid}» nhập theo từng phiếu (entries); dùng `entry add`, không dùng `tally set`");
        }
        let subj_id = SubjectId::new(subject).map_err(|e| anyhow!("{e}"))?;
        match s.subject(&subj_id) {
            None => bail!(
                "«{subject}» không có trong danh sách; các mã có: {}",
                subject_ids(&s)
            ),
            Some(x) if x.excluded.is_some() => {
                bail!("«{subject}» không được lấy phiếu (đã loại trừ)")
            }
            Some(_) => {}
        }
        let names = [
            ("--high", Mark::High),
            ("--confidence", Mark::Confidence),
            ("--low", Mark::Low),
            ("--no-confidence", Mark::NoConfidence),
        ];
        let levels = s.meta.procedure.levels();
        let mut problems = Vec::new();
        let mut t = Tally {
            levels: Vec::new(),
            invalid,
        };
        for ((flag, mark), v) in names.iter().zip(given) {
            let wanted = levels.contains(mark);
            match (wanted, v) {
                (true, Some(n)) => t.levels.push(n),
                (true, None) => problems.push(format!("thiếu {flag}")),
                (false, Some(_)) => problems.push(format!(
                    "{flag} không dùng cho hình thức {}",
                    s.meta.procedure
                )),
                (false, None) => {}
            }
        }
        if !problems.is_empty() {
            bail!(
                "không ghi được kết quả của {subject}:\n  - {}",
                problems.join("\n  - ")
            );
        }
        doc.set_tally(&subj_id, s.meta.procedure, &t)?;
        self.save(&sid, &mut doc, &format!("ghi kết quả của {subj_id}"))?;
        println!("Đã ghi kết quả của {subj_id}");
        report::print_problems(&compute(&doc.read()?));
        Ok(ExitCode::SUCCESS)
    }

    fn entry_add(&self, session: &str, marks_text: &str) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        if s.meta.mode != Mode::Entries {
            bail!("phiên «{sid}» nhập theo tổng hợp (tallies); dùng `tally set`, không dùng `entry add`");
        }
        let mut marks = BTreeMap::new();
        let mut problems = Vec::new();
        for part in marks_text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((k, v)) = part.split_once('=') else {
                problems.push(format!("«{part}»: cần dạng MÃ=MỨC, ví dụ s01=high"));
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let subject = match SubjectId::new(k) {
                Ok(id) if s.subject(&id).is_some_and(|x| x.excluded.is_none()) => id,
                _ => {
                    problems.push(format!(
                        "«{k}» không có trong danh sách lấy phiếu (có: {})",
                        subject_ids(&s)
                    ));
                    continue;
                }
            };
            match Mark::parse(v).filter(|m| m.fits(s.meta.procedure)) {
                Some(m) => {
                    if marks.insert(subject, m).is_some() {
                        problems.push(format!("«{k}» được ghi hai lần"));
                    }
                }
                None => problems.push(format!(
                    "{k}: mức «{v}» không hợp lệ; dùng {}, invalid",
                    s.meta
                        .procedure
                        .levels()
                        .iter()
                        .map(|l| l.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            }
        }
        if marks.is_empty() && problems.is_empty() {
            problems.push("--marks trống".into());
        }
        if !problems.is_empty() {
            bail!("phiếu không được ghi:\n  - {}", problems.join("\n  - "));
        }
        let entry = Entry {
            id: random_hex(16)?,
            marks,
        };
        let device = hex::encode(&self.device[..4.min(self.device.len())]);
        doc.add_entry(&entry, &device)?;
        self.save(&sid, &mut doc, "nhập một phiếu")?;
        let n = doc.read()?.entries.len();
        println!("Đã nhập phiếu thứ {n} (mã {})", entry.id);
        Ok(ExitCode::SUCCESS)
    }

    fn entry_remove(&self, session: &str, id: &str) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        if !doc.remove_entry(id)? {
            bail!("không có phiếu mã «{id}» trong phiên «{sid}»");
        }
        self.save(&sid, &mut doc, &format!("xóa phiếu {id}"))?;
        println!("Đã xóa phiếu {id}");
        Ok(ExitCode::SUCCESS)
    }

    fn result(&self, session: &str, json: bool) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        let r = compute(&s);
        let seals = self.store.seals(&sid)?;
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
                                    "sealed_at": x.body.sealed_at,
                                    "current": x.body.heads == heads,
                                })
                            })
                            .collect(),
                    ),
                );
            }
            println!("{}", serde_json::to_string_pretty(&j)?);
        } else {
            print!("{}", report::table(&s, &r));
            report::print_seals(&seals, &heads);
        }
        Ok(ExitCode::SUCCESS)
    }

    fn seal(&self, session: &str) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let seals = self.store.seals(&sid)?;
        let heads = doc.heads();
        if let Some(last) = seals.last() {
            if last.body.heads == heads {
                println!(
                    "Phiên «{sid}» đã được niêm phong lần {} và không thay đổi từ đó.",
                    last.body.seq
                );
                println!("Mã niêm phong: {}", hex::encode(last.id()));
                return Ok(ExitCode::SUCCESS);
            }
        }
        let seq = seals.last().map_or(1, |x| x.body.seq + 1);
        let key = self.home.key()?;
        let t = now();
        let (sealed, r) = match seal::seal_doc(&mut doc, &key, seq, t) {
            Ok(x) => x,
            Err(problems) => {
                eprintln!(
                    "Không niêm phong được phiên «{sid}»: {} vấn đề",
                    problems.len()
                );
                for p in &problems {
                    eprintln!("  - {p}");
                }
                return Ok(ExitCode::from(1));
            }
        };
        let bytes = doc.save();
        self.store.put_seal(
            &sid,
            &sealed,
            &bytes,
            &AuditLine::new(t, who(), format!("{sid}: niêm phong lần {seq}")),
        )?;
        // Plain copies beside the store, so sealed minutes outlive a broken store.
        let dir = self.home.sealed_dir();
        write_atomic(&dir.join(format!("{sid}.{seq}.automerge")), &bytes)?;
        write_atomic(&dir.join(format!("{sid}.{seq}.seal")), &sealed.to_bytes())?;
        println!("Đã niêm phong biên bản kiểm phiếu phiên «{sid}», lần {seq}.");
        println!(
            "Số người được lấy phiếu: {}; cảnh báo ngưỡng: {}",
            r.subjects.len(),
            r.subjects
                .iter()
                .filter(|s| s.flag != tinnhiem_shared::domain::Flag::None)
                .count()
        );
        println!("Mã niêm phong (seal id): {}", hex::encode(sealed.id()));
        println!(
            "Tóm lược kết quả (result digest): {}",
            hex::encode(sealed.body.result_digest)
        );
        Ok(ExitCode::SUCCESS)
    }

    fn verify(&self, session: &str) -> Result<ExitCode> {
        let (sid, mut doc) = self.load(session)?;
        let seals = self.store.seals(&sid)?;
        if seals.is_empty() {
            eprintln!("Phiên «{sid}» chưa được niêm phong: không có gì để kiểm tra.");
            return Ok(ExitCode::from(1));
        }
        let mine = self.home.key()?.public();
        let mut ok = true;
        for x in &seals {
            match seal::check(x, &mut doc) {
                Ok(_) => {
                    let by = if x.body.signer == mine.0 {
                        "khóa của máy này".to_string()
                    } else {
                        format!("khóa {}", hex::encode(x.body.signer))
                    };
                    println!(
                        "Niêm phong lần {}: HỢP LỆ (ký bởi {by}; mã {})",
                        x.body.seq,
                        hex::encode(x.id())
                    );
                }
                Err(e) => {
                    ok = false;
                    println!("Niêm phong lần {}: KHÔNG HỢP LỆ — {e}", x.body.seq);
                }
            }
        }
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
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

    fn doc_merge(&self, file: &Path) -> Result<ExitCode> {
        let bytes =
            std::fs::read(file).with_context(|| format!("không đọc được {}", file.display()))?;
        let mut theirs = SessionDoc::load(&bytes, &self.device)
            .with_context(|| format!("tệp {}", file.display()))?;
        let (unit, sid) = theirs.identity()?;
        if unit != self.home.config.unit {
            bail!(
                "tệp là phiên của đơn vị «{unit}», máy này là đơn vị «{}»",
                self.home.config.unit
            );
        }
        let (mut doc, new) = match self.store.doc(&sid)? {
            Some(ours) => {
                let mut ours = SessionDoc::load(&ours, &self.device)?;
                let n = ours.merge(&mut theirs)?;
                (ours, n)
            }
            None => (theirs, 0),
        };
        let line = AuditLine::new(now(), who(), format!("{sid}: gộp từ {}", file.display()));
        self.store.put_doc(&sid, &doc.save(), &line)?;
        let s = doc.read()?;
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
                println!("  - {}: {}", c.field, c.values.join(" / "));
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    fn export(&self, session: &str, html: Option<&Path>, csv: Option<&Path>) -> Result<ExitCode> {
        if html.is_none() && csv.is_none() {
            bail!("cần --minutes FILE.html và/hoặc --csv FILE.csv");
        }
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        let r = compute(&s);
        let seals = self.store.seals(&sid)?;
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
            write_atomic(p, report::csv(&r)?.as_bytes())?;
            println!("Đã xuất kết quả ra {}", p.display());
        }
        Ok(ExitCode::SUCCESS)
    }

    fn deadlines(&self, session: &str, json: bool) -> Result<ExitCode> {
        let (_, doc) = self.load(session)?;
        let s = doc.read()?;
        let list = deadlines(&s.meta);
        let today = chrono::Utc::now().date_naive();
        if json {
            println!("{}", serde_json::to_string_pretty(&list)?);
        } else {
            for d in list {
                let days = (d.due - today).num_days();
                let when = match days {
                    n if n < 0 => format!("đã qua {} ngày", -n),
                    0 => "hôm nay".to_string(),
                    n => format!("còn {n} ngày"),
                };
                println!("{}  {:<22} {}", d.due.format("%d/%m/%Y"), when, d.what);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn mode_vi(m: Mode) -> &'static str {
    match m {
        Mode::Entries => "từng phiếu",
        Mode::Tallies => "tổng hợp",
    }
}

fn subject_ids(s: &tinnhiem_shared::domain::Session) -> String {
    s.subjects
        .iter()
        .filter(|x| x.excluded.is_none())
        .map(|x| x.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
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
