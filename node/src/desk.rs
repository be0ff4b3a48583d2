//! The clerk's desk: every change to a session, as functions that validate, change the
//! document, make it durable with an audit line naming who did it, and return what
//! happened. The command line ([`crate::commands`]) and the web pages ([`crate::web`])
//! are two faces of these; neither changes a document any other way.

use crate::home::{write_atomic, Home};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use tinnhiem_core::doc::{CountField, MetaField, SessionDoc};
use tinnhiem_core::domain::limits::{for_terminal, MAX_SUBJECTS};
use tinnhiem_core::domain::when;
use tinnhiem_core::domain::{
    compute, subject_rows_from_csv, Entry, Exclusion, FileError, Mark, Mode, PersonId, Problem,
    Procedure, Profile, Session, SessionFile, SessionId, SessionResult, Subject, SubjectId, Tally,
};
use tinnhiem_core::seal::{self, Seal};
use tinnhiem_store::{AuditLine, Store};

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) fn random_hex(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    getrandom::getrandom(&mut b).map_err(|e| anyhow!("không lấy được số ngẫu nhiên: {e}"))?;
    Ok(hex::encode(b))
}

/// Every error of a file, one per line, and the promise that nothing was written.
pub(crate) fn list_errors(what: &str, errs: &[FileError]) -> anyhow::Error {
    let mut s = format!("{what} có {} lỗi, không ghi gì:", errs.len());
    for e in errs {
        s.push_str(&format!("\n  - {e}"));
    }
    anyhow!(s)
}

/// A change refused because of what it would make impossible, each reason at the field
/// where it is fixed (`count/NAME`, `subject/ID`, as [`Problem::at`] names them). Nothing
/// was written. The pages show each reason at its field; the command line prints them.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) what: String,
    pub(crate) reasons: Vec<(Option<String>, String)>,
}

impl Refused {
    /// The reasons by field, for the page: several at one field are joined with "; ".
    pub(crate) fn fields(&self) -> BTreeMap<&str, String> {
        let mut out: BTreeMap<&str, String> = BTreeMap::new();
        for (at, text) in &self.reasons {
            if let Some(at) = at {
                let slot = out.entry(at.as_str()).or_default();
                if !slot.is_empty() {
                    slot.push_str("; ");
                }
                slot.push_str(text);
            }
        }
        out
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}, không ghi gì:", self.what)?;
        for (_, r) in &self.reasons {
            write!(f, "\n  - {r}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// The problems of `after` that `before` did not have and that `refuse` selects: a change
/// is refused for what it makes impossible, not for what was already there (that stays
/// listed and holds back the seal).
fn introduced(
    before: &SessionResult,
    after: &SessionResult,
    refuse: impl Fn(&Problem) -> bool,
) -> Vec<(Option<String>, String)> {
    after
        .problems
        .iter()
        .filter(|p| refuse(p) && !before.problems.contains(p))
        .map(|p| (p.at(), p.to_string()))
        .collect()
}

/// The header of a new session.
pub(crate) struct NewSession {
    pub(crate) id: SessionId,
    pub(crate) profile: Profile,
    pub(crate) procedure: Procedure,
    pub(crate) mode: Mode,
    pub(crate) date: chrono::NaiveDate,
    /// The session's opening day when it is not the vote day.
    pub(crate) opening_date: Option<chrono::NaiveDate>,
    pub(crate) body: String,
    pub(crate) title: Option<String>,
}

/// Refuses an opening day after the vote: the preparation deadlines count back from it.
fn check_opening(opening: Option<chrono::NaiveDate>, date: chrono::NaiveDate) -> Result<()> {
    if let Some(o) = opening.filter(|o| *o > date) {
        bail!(
            "Ngày khai mạc kỳ họp ({}) sau ngày bỏ phiếu ({}): ngày khai mạc phải trước hoặc trùng ngày bỏ phiếu",
            when::day_vi(o),
            when::day_vi(date)
        );
    }
    Ok(())
}

/// What `add_entry` did.
pub(crate) struct Added {
    pub(crate) id: String,
    /// Ballots entered in the session, this one included.
    pub(crate) count: usize,
    /// The id was stored before (a retried save): nothing was written.
    pub(crate) already: bool,
}

/// An entry id as [`random_hex`]`(16)` makes it and the page's `crypto.getRandomValues`.
pub(crate) fn is_entry_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// What `seal` did.
pub(crate) enum Sealing {
    /// The document has not changed since this seal.
    Already(Seal),
    /// A new seal.
    Sealed(Seal, SessionResult),
    /// Refused: every reason.
    Refused(Vec<String>),
}

/// An open store, the device id of this home, and who is acting.
pub(crate) struct Desk<'a> {
    pub(crate) home: &'a Home,
    pub(crate) store: Store,
    pub(crate) device: Vec<u8>,
    pub(crate) who: String,
    /// Whether a change may turn sealed minutes back into a draft. The command line
    /// may (it warns after, [`Desk::unsealed`]); the pages only when the clerk confirmed
    /// in the page: "Đã ghi." over a delivered seal once hid that the minutes were
    /// no longer the sealed ones (issue 12 §4 of the clerk trial).
    pub(crate) allow_unseal: std::cell::Cell<bool>,
    /// Seals that stood over a session when it was loaded, by session.
    standing: std::cell::RefCell<BTreeMap<SessionId, SealStands>>,
    /// Seals this desk's changes left behind, for the command line's warning.
    unsealed: std::cell::RefCell<Vec<SealStands>>,
}

/// A change asked for on a session whose minutes are sealed as they stand: saved only
/// once confirmed, since the seal then no longer covers the minutes and a new one (and
/// a new delivery) is needed.
#[derive(Debug, Clone)]
pub(crate) struct SealStands {
    pub(crate) session: SessionId,
    pub(crate) seq: u32,
    pub(crate) sealed_at: i64,
    heads: Vec<tinnhiem_core::doc::Head>,
}

impl std::fmt::Display for SealStands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Phiên «{}» đã niêm phong lần {} lúc {}. Ghi thay đổi này sẽ biến biên bản đã niêm phong thành bản nháp: phải niêm phong lại (lần {}) và gửi lại lên máy chủ.",
            self.session,
            self.seq,
            when::moment_vi(self.sealed_at),
            self.seq + 1
        )
    }
}

impl std::error::Error for SealStands {}

impl<'a> Desk<'a> {
    pub(crate) fn open(home: &'a Home, who: impl Into<String>) -> Result<Desk<'a>> {
        let store = home.store()?;
        let device = store.device()?;
        Ok(Desk {
            home,
            store,
            device,
            who: who.into(),
            allow_unseal: std::cell::Cell::new(true),
            standing: Default::default(),
            unsealed: Default::default(),
        })
    }

    /// Seals that this desk's changes turned back into drafts, once each.
    pub(crate) fn unsealed(&self) -> Vec<SealStands> {
        std::mem::take(&mut *self.unsealed.borrow_mut())
    }

    fn line(&self, t: i64, what: String) -> AuditLine {
        AuditLine::new(t, self.who.clone(), what)
    }

    pub(crate) fn session_id(&self, s: &str) -> Result<SessionId> {
        SessionId::new(s).map_err(|e| anyhow!("{e}"))
    }

    pub(crate) fn load(&self, session: &str) -> Result<(SessionId, SessionDoc)> {
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
        let mut doc = SessionDoc::load(&bytes, &self.actor(&id)?)
            .with_context(|| format!("phiên «{id}» trong kho"))?;
        let heads = doc.heads();
        let stands = self
            .store
            .seals(&id)?
            .into_iter()
            .rev()
            .find(|x| x.body.heads == heads)
            .map(|x| SealStands {
                session: id.clone(),
                seq: x.body.seq,
                sealed_at: x.body.sealed_at,
                heads,
            });
        let mut standing = self.standing.borrow_mut();
        match stands {
            Some(s) => standing.insert(id.clone(), s),
            None => standing.remove(&id),
        };
        Ok((id, doc))
    }

    /// The Automerge actor this laptop writes a session with: the device's, or, once a
    /// session of this id was deleted here, the fresh one the deletion chose (see
    /// [`Store::actor`]).
    fn actor(&self, id: &SessionId) -> Result<Vec<u8>> {
        Ok(self.store.actor(id)?.unwrap_or_else(|| self.device.clone()))
    }

    /// Commits, stores durably and records who did it.
    pub(crate) fn save(&self, id: &SessionId, doc: &mut SessionDoc, what: &str) -> Result<()> {
        let t = now();
        doc.commit(t, what);
        let stood = self.standing.borrow().get(id).cloned();
        if let Some(s) = stood.filter(|s| doc.heads() != s.heads) {
            if !self.allow_unseal.get() {
                return Err(s.into());
            }
            self.standing.borrow_mut().remove(id);
            self.unsealed.borrow_mut().push(s);
        }
        self.store
            .put_doc(id, &doc.save(), &self.line(t, format!("{id}: {what}")))?;
        Ok(())
    }

    pub(crate) fn create(&self, n: &NewSession) -> Result<()> {
        let mut doc = SessionDoc::new(&self.home.config.unit, &n.id, &self.actor(&n.id)?)?;
        check_opening(n.opening_date, n.date)?;
        doc.set_setup(n.profile, n.procedure, n.mode, n.date)?;
        doc.set_meta(MetaField::Body, n.body.trim())?;
        if let Some(o) = n.opening_date.filter(|o| *o != n.date) {
            doc.set_meta(MetaField::OpeningDate, &o.to_string())?;
        }
        if let Some(t) = n.title.as_deref().filter(|t| !t.trim().is_empty()) {
            doc.set_meta(MetaField::Title, t.trim())?;
        }
        let t = now();
        doc.commit(t, "tạo phiên");
        self.store.create_doc(
            &n.id,
            &doc.save(),
            &self.line(t, format!("{}: tạo phiên", n.id)),
        )?;
        Ok(())
    }

    /// Imports a whole session from JSON text; `origin` names the file for messages.
    pub(crate) fn import(&self, text: &str, origin: &str) -> Result<Session> {
        let mut ids = Vec::new();
        let s = SessionFile::read(text, &self.home.config.unit, || {
            let id = random_hex(16).unwrap_or_default();
            ids.push(id.clone());
            id
        })
        .map_err(|errs| list_errors(origin, &errs))?;
        if ids.iter().any(String::is_empty) {
            bail!("không lấy được số ngẫu nhiên cho mã phiếu");
        }
        let id = s.meta.session.clone();
        let mut doc = SessionDoc::from_session(&s, &self.actor(&id)?, now())?;
        let line = self.line(now(), format!("{id}: nhập từ {origin}"));
        self.store.create_doc(&id, &doc.save(), &line)?;
        Ok(s)
    }

    /// Adds one subject, last on the ballot. A line id already on the list is refused,
    /// naming who is there: adding never replaces anyone (that is [`Desk::edit_subject`]).
    pub(crate) fn add_subject(&self, session: &str, mut subj: Subject) -> Result<Subject> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        if subj.name.trim().is_empty() {
            bail!("họ tên trống");
        }
        if let Some(old) = s.subject(&subj.id) {
            return Err(Refused {
                what: format!("Không thêm được {} vào dòng {}", subj.name, subj.id),
                reasons: vec![(Some("add/id".into()), taken(&s, old))],
            }
            .into());
        }
        if s.subjects.len() >= MAX_SUBJECTS {
            bail!(
                "danh sách đã có {} người, tối đa {MAX_SUBJECTS}",
                s.subjects.len()
            );
        }
        subj.order = next_order(&s);
        doc.put_subject(&subj)?;
        self.save(
            &sid,
            &mut doc,
            &format!("thêm người được lấy phiếu {} ({})", subj.id, subj.name),
        )?;
        Ok(subj)
    }

    /// Changes what is given of one subject's line; returns the line before and after.
    /// Marks and tallies stay with the line: they were given to the row of the paper
    /// ballot, which an edit corrects.
    pub(crate) fn edit_subject(
        &self,
        session: &str,
        id: &str,
        change: SubjectChange,
    ) -> Result<(Subject, Subject)> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        let old = find_subject(&s, id)?.clone();
        let mut new = old.clone();
        if let Some(p) = change.person_id {
            new.person_id = p;
        }
        if let Some(n) = change.name {
            if n.trim().is_empty() {
                bail!("họ tên trống");
            }
            new.name = n.trim().into();
        }
        if let Some(p) = change.position {
            new.position = p.trim().into();
        }
        if let Some(u) = change.unit {
            new.unit = u.trim().into();
        }
        if let Some(e) = change.excluded {
            new.excluded = e;
        }
        if new == old {
            return Ok((old, new));
        }
        doc.edit_subject(&old, &new)?;
        self.save(
            &sid,
            &mut doc,
            &format!(
                "sửa người được lấy phiếu {}: {}",
                old.id,
                changes(&old, &new)
            ),
        )?;
        Ok((old, new))
    }

    /// Removes one subject's line. Refused while marks or a tally were given to them,
    /// unless `drop_marks` says the clerk saw that number and wants them gone too; the
    /// ballots stay (each is still one ballot valid as a whole).
    pub(crate) fn remove_subject(
        &self,
        session: &str,
        id: &str,
        drop_marks: bool,
    ) -> Result<Removed> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        let subj = find_subject(&s, id)?.clone();
        let marks = marks_for(&s, &subj.id);
        let tally = s.tallies.contains_key(&subj.id);
        if (marks > 0 || tally) && !drop_marks {
            return Err(Refused {
                what: format!("Không xóa {} (dòng {})", subj.name, subj.id),
                reasons: vec![(
                    Some(format!("subject/{}", subj.id)),
                    format!(
                        "đã ghi {} cho người này; xóa người sẽ xóa luôn các ý kiến đó (các phiếu vẫn giữ). Nếu chắc chắn, xác nhận «Xóa cả ý kiến đã ghi» (dòng lệnh: thêm --drop-marks)",
                        marks_text(marks, tally)
                    ),
                )],
            }
            .into());
        }
        doc.remove_subject(&subj.id)?;
        let mut what = format!("xóa người được lấy phiếu {} ({})", subj.id, subj.name);
        if marks > 0 || tally {
            what.push_str(&format!(" cùng {}", marks_text(marks, tally)));
        }
        self.save(&sid, &mut doc, &what)?;
        Ok(Removed {
            subject: subj,
            marks,
            tally,
        })
    }

    /// Imports subjects from CSV text, after the ones there. A line id already on the
    /// list is refused, the whole file, naming every clash; with `replace` those lines
    /// are replaced (keeping their place on the ballot). A line identical to the one on
    /// the list is left as it is, so importing the same file twice is harmless.
    pub(crate) fn import_subjects(
        &self,
        session: &str,
        text: &str,
        origin: &str,
        replace: bool,
    ) -> Result<Imported> {
        let (sid, mut doc) = self.load(session)?;
        let rows = subject_rows_from_csv(text).map_err(|e| list_errors(origin, &e))?;
        let s = doc.read()?;
        let mut clashes = Vec::new();
        let mut out = Imported::default();
        let mut writes = Vec::new();
        for r in &rows {
            let mut new = r.subject.clone();
            match s.subject(&new.id) {
                Some(old) => {
                    new.order = old.order;
                    if same_person_line(old, &new) {
                        out.unchanged += 1;
                        continue;
                    }
                    if !replace {
                        clashes.push((
                            Some(format!("subject/{}", new.id)),
                            format!(
                                "dòng {} của tệp ({}, {}): {}",
                                r.line,
                                new.id,
                                new.name,
                                taken_short(old)
                            ),
                        ));
                        continue;
                    }
                    out.replaced.push(new.id.to_string());
                    writes.push((Some(old.clone()), new));
                }
                None => {
                    out.added += 1;
                    writes.push((None, new));
                }
            }
        }
        if !clashes.is_empty() {
            return Err(Refused {
                what: format!(
                    "{origin}: {} dòng trùng mã với người đã có trong danh sách; không nhập dòng nào. Sửa mã dòng (hoặc STT) trong tệp, hoặc chọn «thay các dòng trùng mã» (dòng lệnh: --replace)",
                    clashes.len()
                ),
                reasons: clashes,
            }
            .into());
        }
        if s.subjects.len() + out.added > MAX_SUBJECTS {
            bail!(
                "{origin}: danh sách sẽ có {} người, tối đa {MAX_SUBJECTS}; không nhập dòng nào",
                s.subjects.len() + out.added
            );
        }
        let base = next_order(&s) - 1;
        for (old, mut new) in writes {
            match old {
                Some(old) => doc.edit_subject(&old, &new)?,
                None => {
                    new.order += base;
                    doc.put_subject(&new)?;
                }
            }
        }
        if out.added == 0 && out.replaced.is_empty() {
            return Ok(out);
        }
        let mut what = format!("nhập {} người từ {origin}", out.added);
        if !out.replaced.is_empty() {
            what.push_str(&format!(", thay dòng {}", out.replaced.join(", ")));
        }
        self.save(&sid, &mut doc, &what)?;
        Ok(out)
    }

    /// Deletes a session that was never sealed. Its last document is kept as a file in
    /// `HOME/deleted/` and a tombstone in the store remembers its history, so that a
    /// copy of it merged later from another laptop is refused instead of bringing the
    /// session back unseen ([`Desk::merge`]). Sealed minutes are never deleted.
    pub(crate) fn delete_session(&self, session: &str) -> Result<Deleted> {
        let (sid, mut doc) = self.load(session)?;
        let seals = self.store.seals(&sid)?;
        if let Some(last) = seals.last() {
            bail!(
                "phiên «{sid}» đã niêm phong (lần {}): biên bản đã niêm phong không bao giờ bị xóa",
                last.body.seq
            );
        }
        let s = doc.read()?;
        let t = now();
        let bytes = doc.save();
        let copy = self.home.deleted_dir().join(format!("{sid}.{t}.automerge"));
        write_atomic(&copy, &bytes)?;
        // A session deleted twice keeps refusing both histories.
        let mut changes: std::collections::BTreeSet<String> =
            doc.own_changes()?.iter().map(hex::encode).collect();
        if let Some(old) = self.tombstone(&sid)? {
            changes.extend(old.changes);
        }
        let stone = Tombstone {
            at: t,
            who: self.who.clone(),
            copy: copy.display().to_string(),
            changes: changes.into_iter().collect(),
        };
        let mut actor = [0u8; 16];
        getrandom::getrandom(&mut actor)
            .map_err(|e| anyhow!("không lấy được số ngẫu nhiên: {e}"))?;
        self.store.delete_doc(
            &sid,
            &serde_json::to_vec(&stone)?,
            &actor,
            &self.line(
                t,
                format!(
                    "{sid}: xóa phiên ({} người, {} phiếu); bản cuối giữ ở {}",
                    s.subjects.len(),
                    s.entries.len(),
                    copy.display()
                ),
            ),
        )?;
        Ok(Deleted {
            id: sid,
            subjects: s.subjects.len(),
            entries: s.entries.len(),
            copy,
        })
    }

    /// Sets text fields of the header and the board (`None` leaves a field alone).
    pub(crate) fn set_meta(
        &self,
        session: &str,
        values: Vec<(MetaField, Option<String>)>,
    ) -> Result<SessionId> {
        let (sid, mut doc) = self.load(session)?;
        // Only a write of the times is checked: an older session holding a window this
        // release refuses still takes its other fields.
        let times = values
            .iter()
            .any(|(f, v)| v.is_some() && matches!(f, MetaField::CountFrom | MetaField::CountTo));
        for (f, v) in values {
            if let Some(v) = v {
                doc.set_meta(f, v.trim())?;
            }
        }
        let meta = doc.read()?.meta;
        check_opening(meta.opening_date, meta.date)?;
        if times {
            if let (Some(f), Some(t)) = (&meta.count_from, &meta.count_to) {
                if let Some(why) = when::count_window_refusal(f, t) {
                    bail!("{why}");
                }
            }
        }
        self.save(&sid, &mut doc, "ghi ban kiểm phiếu")?;
        Ok(sid)
    }

    /// Sets attendance or ballot counts; returns the result after.
    /// Sets counts of the attendance and ballots form. Refused, with nothing written,
    /// when the new figures are impossible by the form's own definitions (more present
    /// than the whole body, more collected than issued, past [`MAX_COUNT`], …). With
    /// `dry_run` nothing is written either way: the pages check as the clerk types.
    ///
    /// [`MAX_COUNT`]: tinnhiem_core::domain::limits::MAX_COUNT
    pub(crate) fn set_counts(
        &self,
        session: &str,
        values: &[(CountField, Option<u64>)],
        dry_run: bool,
    ) -> Result<SessionResult> {
        if !dry_run && values.iter().all(|(_, v)| v.is_none()) {
            bail!("không có số nào để ghi");
        }
        let (sid, mut doc) = self.load(session)?;
        let before = compute(&doc.read()?);
        for (f, v) in values {
            if let Some(v) = v {
                doc.set_count(*f, *v)?;
            }
        }
        let after = compute(&doc.read()?);
        let reasons = introduced(&before, &after, Problem::is_count_rule);
        if !reasons.is_empty() {
            return Err(Refused {
                what: "Số liệu không hợp lý".into(),
                reasons,
            }
            .into());
        }
        if !dry_run {
            self.save(&sid, &mut doc, "ghi số liệu")?;
        }
        Ok(after)
    }

    /// Sets one subject's totals typed from paper. `given` is aligned with
    /// (high, confidence, low, no confidence); `names` names them in messages.
    pub(crate) fn set_tally(
        &self,
        session: &str,
        subject: &str,
        given: [Option<u64>; 4],
        invalid: u64,
        names: [&str; 4],
    ) -> Result<SessionResult> {
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
        let marks = [Mark::High, Mark::Confidence, Mark::Low, Mark::NoConfidence];
        let levels = s.meta.procedure.levels();
        let mut problems = Vec::new();
        let mut t = Tally {
            levels: Vec::new(),
            invalid,
        };
        for ((flag, mark), v) in names.iter().zip(marks).zip(given) {
            match (levels.contains(&mark), v) {
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
        let before = compute(&s);
        doc.set_tally(&subj_id, s.meta.procedure, &t)?;
        let after = compute(&doc.read()?);
        // A tally that does not add up to the ballots counted is refused at its row
        // while the counts are known; once they change, the row's sum is listed instead.
        let reasons = introduced(&before, &after, |p| {
            p.at().as_deref() == Some(&format!("subject/{subj_id}"))
                && matches!(
                    p,
                    Problem::SubjectSum { .. } | Problem::TallyTooLarge { .. }
                )
        });
        if !reasons.is_empty() {
            let name = s
                .subject(&subj_id)
                .map(|x| x.name.clone())
                .unwrap_or_default();
            return Err(Refused {
                what: format!("Kết quả của {name} không hợp lý"),
                reasons,
            }
            .into());
        }
        self.save(&sid, &mut doc, &format!("ghi kết quả của {subj_id}"))?;
        Ok(after)
    }

    /// Adds one ballot valid as a whole; returns its id, the number entered, and whether
    /// it was already stored. `id` is the page's id for this ballot: a save retried after
    /// a lost answer carries the same id and finds its ballot stored, so it is never
    /// counted twice. Without one (the command line) a random id is made here.
    pub(crate) fn add_entry(
        &self,
        session: &str,
        marks: &[(String, String)],
        id: Option<&str>,
    ) -> Result<Added> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        if s.meta.mode != Mode::Entries {
            bail!("phiên «{sid}» nhập theo tổng hợp (tallies); dùng `tally set`, không dùng `entry add`");
        }
        if let Some(id) = id {
            if !is_entry_id(id) {
                bail!("phiếu không được ghi: mã phiếu «{id}» không hợp lệ (cần 32 chữ số hệ 16)");
            }
        }
        let marks = parse_marks(&s, marks)
            .map_err(|p| anyhow!("phiếu không được ghi:\n  - {}", p.join("\n  - ")))?;
        if let Some(old) = id.and_then(|id| s.entries.iter().find(|e| e.id == id)) {
            if old.marks != marks {
                bail!(
                    "phiếu không được ghi: mã phiếu «{}» đã dùng cho một phiếu khác",
                    old.id
                );
            }
            return Ok(Added {
                id: old.id.clone(),
                count: s.entries.len(),
                already: true,
            });
        }
        let entry = Entry {
            id: match id {
                Some(id) => id.to_string(),
                None => random_hex(16)?,
            },
            marks,
        };
        let device = hex::encode(&self.device[..4.min(self.device.len())]);
        doc.add_entry(&entry, &device)?;
        self.save(&sid, &mut doc, "nhập một phiếu")?;
        Ok(Added {
            id: entry.id,
            count: doc.read()?.entries.len(),
            already: false,
        })
    }

    pub(crate) fn remove_entry(&self, session: &str, id: &str) -> Result<()> {
        let (sid, mut doc) = self.load(session)?;
        if !doc.remove_entry(id)? {
            bail!("không có phiếu mã «{id}» trong phiên «{sid}»");
        }
        self.save(&sid, &mut doc, &format!("xóa phiếu {id}"))
    }

    /// Writes the copies in `sealed/` that a seal on a full disk could not, from the
    /// store; says which.
    pub(crate) fn rebuild_copies(&self) -> Result<()> {
        let written = crate::copies::rebuild_missing(&self.home.sealed_dir(), &self.store)
            .context("chưa ghi lại được bản sao biên bản đã niêm phong (thư mục sealed/)")?;
        for f in written {
            eprintln!("Đã ghi lại bản sao từ kho: {}", f.display());
        }
        Ok(())
    }

    /// Seals the counting minutes at the document's current heads.
    pub(crate) fn seal(&self, session: &str) -> Result<Sealing> {
        let (sid, mut doc) = self.load(session)?;
        let seals = self.store.seals(&sid)?;
        let heads = doc.heads();
        if let Some(last) = seals.last() {
            if last.body.heads == heads {
                // Copies a failed seal left unwritten are written now.
                self.rebuild_copies()?;
                return Ok(Sealing::Already(last.clone()));
            }
        }
        // A document no hub takes would be retried forever as "connection lost": say so
        // now, while the clerk can still act.
        let size = doc.save().len();
        let limit = tinnhiem_core::proto::hub::Limits::default().max_doc_bytes;
        if size > limit {
            return Ok(Sealing::Refused(vec![format!(
                "Tài liệu phiên nặng {} KiB, quá giới hạn máy chủ nhận ({} KiB): không gửi được. Hãy kiểm tra các ô chữ dài bất thường hoặc số phiếu nhập thừa.",
                size / 1024,
                limit / 1024
            )]));
        }
        // The board signs the paper as printed: no seal over blanks where its names and
        // times belong (the hub's copy would show them for good).
        let s = doc.read()?;
        let mut refused: Vec<String> = s.meta.board_refusal().into_iter().collect();
        if !refused.is_empty() {
            let r = tinnhiem_core::domain::compute(&s);
            refused.extend(r.problems.iter().map(ToString::to_string));
            return Ok(Sealing::Refused(refused));
        }
        let seq = seals.last().map_or(1, |x| x.body.seq + 1);
        let key = self.home.key()?;
        let t = now();
        let (sealed, r) = match seal::seal_doc(&mut doc, &key, seq, t) {
            Ok(x) => x,
            Err(problems) => {
                return Ok(Sealing::Refused(
                    problems.iter().map(ToString::to_string).collect(),
                ))
            }
        };
        let bytes = doc.save();
        self.store.put_seal(
            &sid,
            &sealed,
            &bytes,
            &self.line(t, format!("{sid}: niêm phong lần {seq}")),
        )?;
        // Plain copies beside the store, so sealed minutes outlive a broken store. The
        // seal is committed already: if they cannot be written now, the next command
        // writes them from the store (copies::rebuild_missing).
        crate::copies::write(&self.home.sealed_dir(), &sid, &sealed, &bytes).with_context(|| {
            format!(
                "phiên «{sid}» ĐÃ được niêm phong lần {seq} và lưu trong kho, nhưng chưa ghi được bản sao vào {}. Hãy giải phóng chỗ trống trên đĩa: lệnh tiếp theo sẽ tự ghi lại bản sao từ kho",
                self.home.sealed_dir().display()
            )
        })?;
        Ok(Sealing::Sealed(sealed, r))
    }

    /// Merges another laptop's copy of a session; returns the session, the number of
    /// new changes, and the merged state. A copy of a session deleted here is refused
    /// (it would bring the session back unseen) unless `restore` says to bring it back:
    /// that is, when no session of that id is here now, or when the copy holds any of
    /// the deleted history.
    pub(crate) fn merge(
        &self,
        bytes: &[u8],
        origin: &str,
        restore: bool,
    ) -> Result<(SessionId, usize, Session)> {
        let mut theirs =
            SessionDoc::load(bytes, &self.device).with_context(|| format!("tệp {origin}"))?;
        let (unit, sid) = theirs.identity()?;
        theirs.set_actor(&self.actor(&sid)?);
        if unit != self.home.config.unit {
            bail!(
                "tệp là phiên của đơn vị «{unit}», máy này là đơn vị «{}»",
                self.home.config.unit
            );
        }
        let ours = self.store.doc(&sid)?;
        let stone = self.tombstone(&sid)?;
        let revives = match &stone {
            Some(_) if ours.is_none() => true,
            Some(t) => theirs.holds_any(&t.heads()),
            None => false,
        };
        if revives && !restore {
            let t = stone
                .as_ref()
                .map(|t| (t.at, t.who.clone()))
                .unwrap_or_default();
            bail!(
                "phiên «{sid}» đã bị xóa trên máy này ({} lúc {}); tệp {origin} mang lại nội dung của phiên đã xóa nên không gộp. Nếu muốn khôi phục phiên, gộp lại và chọn «khôi phục phiên đã xóa» (dòng lệnh: doc merge --restore)",
                for_terminal(&t.1),
                when(t.0)
            );
        }
        let (mut doc, new) = match ours {
            Some(ours) => {
                let mut ours = SessionDoc::load(&ours, &self.actor(&sid)?)?;
                let n = ours.merge(&mut theirs)?;
                (ours, n)
            }
            None => (theirs, 0),
        };
        if revives {
            let line = self.line(
                now(),
                format!("{sid}: khôi phục phiên đã xóa, gộp từ {origin}"),
            );
            self.store.restore_doc(&sid, &doc.save(), &line)?;
        } else {
            let line = self.line(now(), format!("{sid}: gộp từ {origin}"));
            self.store.put_doc(&sid, &doc.save(), &line)?;
        }
        Ok((sid, new, doc.read()?))
    }
}

/// What the store keeps of a deleted session (`meta/deleted/SESSION`): when, by whom,
/// where its last document was copied, and the hashes of its changes.
#[derive(serde::Serialize, serde::Deserialize)]
struct Tombstone {
    at: i64,
    who: String,
    copy: String,
    changes: Vec<String>,
}

impl Tombstone {
    fn heads(&self) -> Vec<tinnhiem_core::doc::Head> {
        self.changes
            .iter()
            .filter_map(|h| hex::decode(h).ok()?.try_into().ok())
            .collect()
    }
}

fn when(t: i64) -> String {
    tinnhiem_core::domain::when::moment_vi(t)
}

/// What is given to change of a subject's line (`None`: left as it is).
#[derive(Default)]
pub(crate) struct SubjectChange {
    pub(crate) person_id: Option<PersonId>,
    pub(crate) name: Option<String>,
    pub(crate) position: Option<String>,
    pub(crate) unit: Option<String>,
    pub(crate) excluded: Option<Option<Exclusion>>,
}

/// What [`Desk::remove_subject`] removed.
pub(crate) struct Removed {
    pub(crate) subject: Subject,
    pub(crate) marks: usize,
    pub(crate) tally: bool,
}

/// What [`Desk::import_subjects`] did.
#[derive(Default)]
pub(crate) struct Imported {
    pub(crate) added: usize,
    pub(crate) replaced: Vec<String>,
    pub(crate) unchanged: usize,
}

/// What [`Desk::delete_session`] deleted.
pub(crate) struct Deleted {
    pub(crate) id: SessionId,
    pub(crate) subjects: usize,
    pub(crate) entries: usize,
    pub(crate) copy: std::path::PathBuf,
}

fn find_subject<'s>(s: &'s Session, id: &str) -> Result<&'s Subject> {
    SubjectId::new(id.trim())
        .ok()
        .and_then(|sid| s.subject(&sid))
        .ok_or_else(|| {
            let all: Vec<String> = s.subjects.iter().map(|x| x.id.to_string()).collect();
            if all.is_empty() {
                anyhow!("không có dòng «{}»: danh sách chưa có ai", id.trim())
            } else {
                anyhow!(
                    "không có dòng «{}»; các dòng có: {}",
                    id.trim(),
                    all.join(", ")
                )
            }
        })
}

/// How many ballots hold a mark for `id`.
fn marks_for(s: &Session, id: &SubjectId) -> usize {
    s.entries
        .iter()
        .filter(|e| e.marks.contains_key(id))
        .count()
}

fn marks_text(marks: usize, tally: bool) -> String {
    match (marks, tally) {
        (0, true) => "kết quả tổng hợp".into(),
        (n, false) => format!("{n} phiếu có ý kiến"),
        (n, true) => format!("{n} phiếu có ý kiến và kết quả tổng hợp"),
    }
}

fn same_person_line(a: &Subject, b: &Subject) -> bool {
    a.person_id == b.person_id
        && a.name == b.name
        && a.position == b.position
        && a.unit == b.unit
        && a.excluded == b.excluded
}

/// Who holds a line, in a few words: "Nguyễn Văn A (Chủ tịch UBND, mã người p-1)".
fn holder(x: &Subject) -> String {
    let mut parts = Vec::new();
    if !x.position.is_empty() {
        parts.push(x.position.clone());
    }
    parts.push(format!("mã người {}", x.person_id));
    format!("{} ({})", x.name, parts.join(", "))
}

fn taken_short(old: &Subject) -> String {
    format!("dòng {} đã có {}", old.id, holder(old))
}

/// Why a line id cannot be added again, and what to do instead.
fn taken(s: &Session, old: &Subject) -> String {
    format!(
        "{}; muốn sửa người này thì dùng nút «Sửa» ở dòng đó (dòng lệnh: subject edit), muốn thêm người khác thì chọn mã dòng khác (dòng trống tiếp theo: {})",
        taken_short(old),
        free_id(s)
    )
}

/// The first `sNN` line id not on the list.
fn free_id(s: &Session) -> String {
    (1..)
        .map(|n| format!("s{n:02}"))
        .find(|id| !s.subjects.iter().any(|x| x.id.as_str() == id))
        .unwrap_or_default()
}

/// An edit in words, for the audit log.
fn changes(old: &Subject, new: &Subject) -> String {
    let mut out = Vec::new();
    for (label, a, b) in [
        ("mã người", old.person_id.as_str(), new.person_id.as_str()),
        ("họ tên", old.name.as_str(), new.name.as_str()),
        ("chức vụ", old.position.as_str(), new.position.as_str()),
        ("đơn vị", old.unit.as_str(), new.unit.as_str()),
    ] {
        if a != b {
            out.push(format!("{label} «{a}» → «{b}»"));
        }
    }
    if old.excluded != new.excluded {
        let t = |e: Option<Exclusion>| e.map_or("được lấy phiếu", |e| e.title());
        out.push(format!("«{}» → «{}»", t(old.excluded), t(new.excluded)));
    }
    out.join("; ")
}

impl Desk<'_> {
    fn tombstone(&self, sid: &SessionId) -> Result<Option<Tombstone>> {
        match self.store.tombstone(sid)? {
            Some(v) => Ok(Some(serde_json::from_slice::<Tombstone>(&v).map_err(
                |e| anyhow!("dấu xóa của phiên «{sid}» trong kho không đọc được: {e}"),
            )?)),
            None => Ok(None),
        }
    }
}

fn next_order(s: &Session) -> u64 {
    s.subjects
        .iter()
        .map(|x| x.order)
        .filter(|o| *o != u64::MAX)
        .max()
        .unwrap_or(0)
        + 1
}

/// The ids of the subjects polled, for messages.
pub(crate) fn subject_ids(s: &Session) -> String {
    s.subjects
        .iter()
        .filter(|x| x.excluded.is_none())
        .map(|x| x.id.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a ballot's marks, `(subject id, mark)` as typed; every problem at once.
pub(crate) fn parse_marks(
    s: &Session,
    given: &[(String, String)],
) -> Result<BTreeMap<SubjectId, Mark>, Vec<String>> {
    let mut marks = BTreeMap::new();
    let mut problems = Vec::new();
    for (k, v) in given {
        let (k, v) = (k.trim(), v.trim());
        let subject = match SubjectId::new(k) {
            Ok(id) if s.subject(&id).is_some_and(|x| x.excluded.is_none()) => id,
            _ => {
                problems.push(format!(
                    "«{k}» không có trong danh sách lấy phiếu (có: {})",
                    subject_ids(s)
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
        problems.push(
            "phiếu trống: không có người nào được ghi mức; nếu phiếu giấy không đánh dấu ai, ghi “không hợp lệ” (invalid) cho từng người".into(),
        );
    }
    if problems.is_empty() {
        Ok(marks)
    } else {
        Err(problems)
    }
}
