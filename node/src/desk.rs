//! The clerk's desk: every change to a session, as functions that validate, change the
//! document, make it durable with an audit line naming who did it, and return what
//! happened. The command line ([`crate::commands`]) and the web pages ([`crate::web`])
//! are two faces of these; neither changes a document any other way.

use crate::home::{write_atomic, Home};
use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use tinnhiem_shared::doc::{CountField, MetaField, SessionDoc};
use tinnhiem_shared::domain::{
    compute, subjects_from_csv, Entry, FileError, Mark, Mode, Problem, Procedure, Profile, Session,
    SessionFile, SessionId, SessionResult, Subject, SubjectId, Tally,
};
use tinnhiem_shared::seal::{self, Seal};
use tinnhiem_shared::store::{AuditLine, Store};

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
    pub(crate) body: String,
    pub(crate) title: Option<String>,
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
}

impl<'a> Desk<'a> {
    pub(crate) fn open(home: &'a Home, who: impl Into<String>) -> Result<Desk<'a>> {
        let store = home.store()?;
        let device = store.device()?;
        Ok(Desk {
            home,
            store,
            device,
            who: who.into(),
        })
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
        let doc = SessionDoc::load(&bytes, &self.device)
            .with_context(|| format!("phiên «{id}» trong kho"))?;
        Ok((id, doc))
    }

    /// Commits, stores durably and records who did it.
    pub(crate) fn save(&self, id: &SessionId, doc: &mut SessionDoc, what: &str) -> Result<()> {
        let t = now();
        doc.commit(t, what);
        self.store
            .put_doc(id, &doc.save(), &self.line(t, format!("{id}: {what}")))?;
        Ok(())
    }

    pub(crate) fn create(&self, n: &NewSession) -> Result<()> {
        let mut doc = SessionDoc::new(&self.home.config.unit, &n.id, &self.device)?;
        doc.set_setup(n.profile, n.procedure, n.mode, n.date)?;
        doc.set_meta(MetaField::Body, n.body.trim())?;
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
        let f = SessionFile::from_json(text).map_err(|e| list_errors(origin, &e))?;
        let mut ids = Vec::new();
        let s = f
            .into_session(&self.home.config.unit, || {
                let id = random_hex(16).unwrap_or_default();
                ids.push(id.clone());
                id
            })
            .map_err(|errs| list_errors(origin, &errs))?;
        if ids.iter().any(String::is_empty) {
            bail!("không lấy được số ngẫu nhiên cho mã phiếu");
        }
        let id = s.meta.session.clone();
        let mut doc = SessionDoc::from_session(&s, &self.device, now())?;
        let line = self.line(now(), format!("{id}: nhập từ {origin}"));
        self.store.create_doc(&id, &doc.save(), &line)?;
        Ok(s)
    }

    /// Adds or replaces one subject; a new one goes last on the ballot.
    pub(crate) fn put_subject(&self, session: &str, mut subj: Subject) -> Result<Subject> {
        let (sid, mut doc) = self.load(session)?;
        let s = doc.read()?;
        if subj.name.trim().is_empty() {
            bail!("họ tên trống");
        }
        subj.order = match s.subject(&subj.id) {
            Some(old) => old.order,
            None => next_order(&s),
        };
        doc.put_subject(&subj)?;
        self.save(
            &sid,
            &mut doc,
            &format!("thêm người được lấy phiếu {}", subj.id),
        )?;
        Ok(subj)
    }

    /// Imports subjects from CSV text; lines with an id already there replace it.
    pub(crate) fn import_subjects(&self, session: &str, text: &str, origin: &str) -> Result<usize> {
        let (sid, mut doc) = self.load(session)?;
        let mut rows = subjects_from_csv(text).map_err(|e| list_errors(origin, &e))?;
        let s = doc.read()?;
        let base = next_order(&s) - 1;
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
            &format!("nhập {} người từ {origin}", rows.len()),
        )?;
        Ok(rows.len())
    }

    /// Sets text fields of the header and the board (`None` leaves a field alone).
    pub(crate) fn set_meta(
        &self,
        session: &str,
        values: Vec<(MetaField, Option<String>)>,
    ) -> Result<SessionId> {
        let (sid, mut doc) = self.load(session)?;
        for (f, v) in values {
            if let Some(v) = v {
                doc.set_meta(f, v.trim())?;
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
    /// [`MAX_COUNT`]: tinnhiem_shared::domain::limits::MAX_COUNT
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

    /// Seals the counting minutes at the document's current heads.
    pub(crate) fn seal(&self, session: &str) -> Result<Sealing> {
        let (sid, mut doc) = self.load(session)?;
        let seals = self.store.seals(&sid)?;
        let heads = doc.heads();
        if let Some(last) = seals.last() {
            if last.body.heads == heads {
                return Ok(Sealing::Already(last.clone()));
            }
        }
        // A document no hub takes would be retried forever as "connection lost": say so
        // now, while the clerk can still act.
        let size = doc.save().len();
        let limit = tinnhiem_shared::proto::hub::Limits::default().max_doc_bytes;
        if size > limit {
            return Ok(Sealing::Refused(vec![format!(
                "Tài liệu phiên nặng {} KiB, quá giới hạn máy chủ nhận ({} KiB): không gửi được. Hãy kiểm tra các ô chữ dài bất thường hoặc số phiếu nhập thừa.",
                size / 1024,
                limit / 1024
            )]));
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
        // Plain copies beside the store, so sealed minutes outlive a broken store.
        let dir = self.home.sealed_dir();
        write_atomic(&dir.join(format!("{sid}.{seq}.automerge")), &bytes)?;
        write_atomic(&dir.join(format!("{sid}.{seq}.seal")), &sealed.to_bytes())?;
        Ok(Sealing::Sealed(sealed, r))
    }

    /// Merges another laptop's copy of a session; returns the session, the number of
    /// new changes, and the merged state.
    pub(crate) fn merge(&self, bytes: &[u8], origin: &str) -> Result<(SessionId, usize, Session)> {
        let mut theirs =
            SessionDoc::load(bytes, &self.device).with_context(|| format!("tệp {origin}"))?;
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
        let line = self.line(now(), format!("{sid}: gộp từ {origin}"));
        self.store.put_doc(&sid, &doc.save(), &line)?;
        Ok((sid, new, doc.read()?))
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
