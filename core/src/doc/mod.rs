//! The Automerge schema of one session document, with typed reads and writes.
//!
//! ```text
//! ROOT { schema: 1,
//!        meta:       { unit, session, profile, procedure, mode, body, title, date, place,
//!                      count_from, count_to, chair, board, resolution_date,
//!                      assigned_by, polled_posts, opening_date }
//!        attendance: { total, present, absent_from_start, present_at_vote }
//!        ballots:    { issued, collected, wholly_invalid }
//!        subjects:   { "<sid>/person_id", "<sid>/name", "<sid>/position", "<sid>/unit",
//!                      "<sid>/order", "<sid>/excluded" }
//!        tallies:    { "<sid>/<level>", "<sid>/invalid" }
//!        entries:    { <random id>: { device, marks: { <sid>: <mark> } } } }
//! ```
//!
//! Why this shape:
//! * The root objects are made by one deterministic change (fixed actor derived from
//!   unit and session, time 0), so two laptops that each create the same session share
//!   that change and merge without a conflict on the root maps.
//! * Subjects and tallies are flat scalars (`s01/high`), so a concurrent edit is always a
//!   conflict on one named number, which Automerge keeps and we report, never a silently
//!   hidden object.
//! * Entries are keyed by a random id: concurrent entry never conflicts, and nothing in an
//!   entry names a voter.

pub mod screen;

use crate::domain::limits;
use crate::domain::{
    Attendance, Ballots, Conflict, Entry, Exclusion, Mark, Meta, Mode, PersonId, Procedure,
    Profile, Session, SessionId, Subject, SubjectId, Tally, UnitId,
};
use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ScalarValue, Value, ROOT,
};
use chrono::NaiveDate;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Schema version written at the root; readers refuse a newer one.
pub const SCHEMA: u64 = 1;

/// Why a document could not be loaded, read or changed.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    /// The bytes are not an Automerge document.
    #[error("tệp không phải tài liệu phiên hợp lệ (automerge): {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// A root object or identity field is missing or has the wrong type.
    #[error("tài liệu thiếu hoặc sai trường «{0}»")]
    Shape(String),
    /// Written by a newer version.
    #[error("tài liệu có phiên bản lược đồ {0}, bản này chỉ đọc được đến {SCHEMA}")]
    NewerSchema(u64),
    /// A merge of two documents of different sessions.
    #[error("không gộp được: tài liệu của {theirs}, phiên đang mở là {ours}")]
    OtherSession {
        /// This document's `unit/session`.
        ours: String,
        /// The other one's.
        theirs: String,
    },
    /// The value does not fit the field.
    #[error("{0}")]
    Invalid(String),
    /// Bytes refused before decoding (see [`screen`]).
    #[error("{0}")]
    Screen(#[from] screen::ScreenError),
    /// A state asked for by heads this copy does not hold (reading there would silently
    /// read an earlier state).
    #[error("tài liệu chưa có đủ các thay đổi đã niêm phong")]
    HeadsMissing,
}

/// Runs an Automerge call on bytes that came from outside, turning a panic inside
/// Automerge into an error. automerge 0.12 panics on some malformed documents (an
/// `unwrap` in its column decoder, found by `fuzz/fuzz_targets/automerge_doc.rs`); a
/// file on a USB stick or a message from a peer must give an error, not a crash.
pub fn guard<T>(f: impl FnOnce() -> Result<T, automerge::AutomergeError>) -> Result<T, DocError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(DocError::from),
        Err(_) => Err(decoder_panicked()),
    }
}

fn decoder_panicked() -> DocError {
    DocError::Shape("dữ liệu automerge hỏng (bộ giải mã từ chối)".into())
}

/// Decodes a sync message from a peer: screened first (see [`screen`]), then decoded
/// with Automerge's panics caught.
pub fn decode_sync(data: &[u8]) -> Result<automerge::sync::Message, DocError> {
    screen::sync_message(data, screen::Limits::SESSION)?;
    match std::panic::catch_unwind(|| automerge::sync::Message::decode(data)) {
        Ok(Ok(m)) => Ok(m),
        Ok(Err(e)) => Err(DocError::Shape(format!("sync: {e}"))),
        Err(_) => Err(decoder_panicked()),
    }
}

/// A change hash: 32 bytes that commit to a change and its whole history.
pub type Head = [u8; 32];

/// One session document.
pub struct SessionDoc {
    doc: AutoCommit,
}

/// A counted field of attendance or ballots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountField {
    /// `attendance.total`
    Total,
    /// `attendance.present`
    Present,
    /// `attendance.absent_from_start`
    AbsentFromStart,
    /// `attendance.present_at_vote`
    PresentAtVote,
    /// `ballots.issued`
    Issued,
    /// `ballots.collected`
    Collected,
    /// `ballots.wholly_invalid`
    WhollyInvalid,
}

impl CountField {
    fn place(self) -> (&'static str, &'static str) {
        match self {
            CountField::Total => ("attendance", "total"),
            CountField::Present => ("attendance", "present"),
            CountField::AbsentFromStart => ("attendance", "absent_from_start"),
            CountField::PresentAtVote => ("attendance", "present_at_vote"),
            CountField::Issued => ("ballots", "issued"),
            CountField::Collected => ("ballots", "collected"),
            CountField::WhollyInvalid => ("ballots", "wholly_invalid"),
        }
    }
}

/// A text field of the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaField {
    /// Voting body.
    Body,
    /// Session or conference title.
    Title,
    /// Place of the count.
    Place,
    /// Counting start, HH:MM.
    CountFrom,
    /// Counting end, HH:MM.
    CountTo,
    /// Counting board chair.
    Chair,
    /// Counting board members, one per line.
    Board,
    /// Date of the confirming resolution, YYYY-MM-DD.
    ResolutionDate,
    /// The body that assigned the count (Annex 4: "do … giao").
    AssignedBy,
    /// The posts polled (Annex 4: "đối với …").
    PolledPosts,
    /// The session's opening day, YYYY-MM-DD, when not the vote day.
    OpeningDate,
}

impl MetaField {
    fn key(self) -> &'static str {
        match self {
            MetaField::Body => "body",
            MetaField::Title => "title",
            MetaField::Place => "place",
            MetaField::CountFrom => "count_from",
            MetaField::CountTo => "count_to",
            MetaField::Chair => "chair",
            MetaField::Board => "board",
            MetaField::ResolutionDate => "resolution_date",
            MetaField::AssignedBy => "assigned_by",
            MetaField::PolledPosts => "polled_posts",
            MetaField::OpeningDate => "opening_date",
        }
    }

    /// The field's label on the page.
    pub fn label(self) -> &'static str {
        match self {
            MetaField::Body => "Cơ quan bỏ phiếu",
            MetaField::Title => "Tên kỳ họp / hội nghị",
            MetaField::Place => "Nơi kiểm phiếu",
            MetaField::CountFrom => "Giờ bắt đầu kiểm phiếu",
            MetaField::CountTo => "Giờ kết thúc kiểm phiếu",
            MetaField::Chair => "Trưởng ban kiểm phiếu",
            MetaField::Board => "Thành viên ban kiểm phiếu",
            MetaField::ResolutionDate => "Ngày nghị quyết xác nhận",
            MetaField::AssignedBy => "Cơ quan giao nhiệm vụ kiểm phiếu",
            MetaField::PolledPosts => "Chức danh được lấy phiếu",
            MetaField::OpeningDate => "Ngày khai mạc kỳ họp",
        }
    }
}

/// A text typed by a person, checked before it enters a document: one printable line
/// within [`limits::MAX_TEXT`], so a name can never be a control sequence on a terminal
/// or a document too large for the hub.
fn checked_text(label: &str, value: &str) -> Result<(), DocError> {
    limits::check_text(value).map_err(|e| DocError::Invalid(format!("{label}: {e}")))
}

const ROOT_OBJECTS: [&str; 6] = [
    "meta",
    "attendance",
    "ballots",
    "subjects",
    "tallies",
    "entries",
];

fn skeleton_actor(unit: &UnitId, session: &SessionId) -> ActorId {
    let mut h = Sha256::new();
    h.update(b"tinnhiem/doc-skeleton/v1\0");
    h.update(unit.as_str().as_bytes());
    h.update([0]);
    h.update(session.as_str().as_bytes());
    let d = h.finalize();
    ActorId::from(&d[..16])
}

impl SessionDoc {
    /// A new empty document for (unit, session), edited from now on by `device`.
    ///
    /// The first change is the same on every laptop for the same (unit, session).
    pub fn new(unit: &UnitId, session: &SessionId, device: &[u8]) -> Result<SessionDoc, DocError> {
        let mut doc = AutoCommit::new().with_actor(skeleton_actor(unit, session));
        doc.put(ROOT, "schema", SCHEMA)?;
        for o in ROOT_OBJECTS {
            doc.put_object(ROOT, o, ObjType::Map)?;
        }
        let meta = obj(&doc, "meta")?;
        doc.put(&meta, "unit", unit.as_str())?;
        doc.put(&meta, "session", session.as_str())?;
        doc.commit_with(
            CommitOptions::default()
                .with_time(0)
                .with_message("tạo phiên"),
        );
        doc.set_actor(ActorId::from(device));
        Ok(SessionDoc { doc })
    }

    /// Writes a whole session (as imported from a file) into a new document.
    pub fn from_session(s: &Session, device: &[u8], now: i64) -> Result<SessionDoc, DocError> {
        let mut d = SessionDoc::new(&s.meta.unit, &s.meta.session, device)?;
        d.set_setup(s.meta.profile, s.meta.procedure, s.meta.mode, s.meta.date)?;
        let m = &s.meta;
        let texts = [
            (MetaField::Body, Some(m.body.clone())),
            (MetaField::Title, m.title.clone()),
            (MetaField::Place, m.place.clone()),
            (MetaField::CountFrom, m.count_from.clone()),
            (MetaField::CountTo, m.count_to.clone()),
            (MetaField::Chair, m.chair.clone()),
            (
                MetaField::Board,
                (!m.board.is_empty()).then(|| m.board.join("\n")),
            ),
            (
                MetaField::ResolutionDate,
                m.resolution_date.map(|d| d.to_string()),
            ),
            (MetaField::AssignedBy, m.assigned_by.clone()),
            (MetaField::PolledPosts, m.polled_posts.clone()),
            (
                MetaField::OpeningDate,
                m.opening_date.map(|d| d.to_string()),
            ),
        ];
        for (f, v) in texts {
            if let Some(v) = v {
                d.set_meta(f, &v)?;
            }
        }
        let a = s.attendance;
        let b = s.ballots;
        for (f, v) in [
            (CountField::Total, a.total),
            (CountField::Present, a.present),
            (CountField::AbsentFromStart, a.absent_from_start),
            (CountField::PresentAtVote, a.present_at_vote),
            (CountField::Issued, b.issued),
            (CountField::Collected, b.collected),
            (CountField::WhollyInvalid, b.wholly_invalid),
        ] {
            if let Some(v) = v {
                d.set_count(f, v)?;
            }
        }
        for subj in &s.subjects {
            d.put_subject(subj)?;
        }
        for (sid, t) in &s.tallies {
            d.set_tally(sid, m.procedure, t)?;
        }
        for e in &s.entries {
            d.add_entry(e, "import")?;
        }
        d.commit(now, "nhập phiên từ tệp");
        Ok(d)
    }

    /// Loads saved bytes.
    pub fn load(bytes: &[u8], device: &[u8]) -> Result<SessionDoc, DocError> {
        screen::chunks(bytes, screen::Limits::SESSION)?;
        let mut doc = guard(|| AutoCommit::load(bytes))?;
        doc.set_actor(ActorId::from(device));
        let d = SessionDoc { doc };
        d.check_shape()?;
        Ok(d)
    }

    /// Wraps a raw Automerge document (received by sync) after checking its shape.
    pub fn from_automerge(doc: AutoCommit) -> Result<SessionDoc, DocError> {
        let d = SessionDoc { doc };
        d.check_shape()?;
        Ok(d)
    }

    fn check_shape(&self) -> Result<(), DocError> {
        let schema = match self.doc.get(ROOT, "schema")? {
            Some((Value::Scalar(v), _)) => v.as_u64(),
            _ => None,
        }
        .ok_or_else(|| DocError::Shape("schema".into()))?;
        if schema > SCHEMA {
            return Err(DocError::NewerSchema(schema));
        }
        for o in ROOT_OBJECTS {
            obj(&self.doc, o)?;
        }
        self.identity()?;
        Ok(())
    }

    /// The (unit, session) the document belongs to.
    pub fn identity(&self) -> Result<(UnitId, SessionId), DocError> {
        let meta = obj(&self.doc, "meta")?;
        let unit =
            str_at(&self.doc, &meta, "unit").ok_or_else(|| DocError::Shape("meta.unit".into()))?;
        let session = str_at(&self.doc, &meta, "session")
            .ok_or_else(|| DocError::Shape("meta.session".into()))?;
        let unit = UnitId::new(unit).map_err(|e| DocError::Shape(format!("meta.unit: {e}")))?;
        let session =
            SessionId::new(session).map_err(|e| DocError::Shape(format!("meta.session: {e}")))?;
        Ok((unit, session))
    }

    /// Saves the whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// The current heads, sorted.
    pub fn heads(&mut self) -> Vec<Head> {
        let mut h: Vec<Head> = self.doc.get_heads().into_iter().map(|c| c.0).collect();
        h.sort_unstable();
        h
    }

    /// Whether the document contains every change named by `heads`.
    pub fn has_heads(&mut self, heads: &[Head]) -> bool {
        let hs: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
        self.doc.get_missing_deps(&hs).is_empty()
            && hs.iter().all(|h| self.doc.get_change_by_hash(h).is_some())
    }

    /// The document as it was at `heads`.
    pub fn at(&mut self, heads: &[Head]) -> Result<SessionDoc, DocError> {
        let hs: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
        Ok(SessionDoc {
            doc: self.doc.fork_at(&hs)?,
        })
    }

    /// Merges another copy of the same session into this one.
    pub fn merge(&mut self, other: &mut SessionDoc) -> Result<usize, DocError> {
        let ours = self.identity()?;
        let theirs = other.identity()?;
        if ours != theirs {
            return Err(DocError::OtherSession {
                ours: format!("{}/{}", ours.0, ours.1),
                theirs: format!("{}/{}", theirs.0, theirs.1),
            });
        }
        Ok(self.doc.merge(&mut other.doc)?.len())
    }

    /// Writes from now on as `actor`.
    pub fn set_actor(&mut self, actor: &[u8]) {
        self.doc.set_actor(ActorId::from(actor));
    }

    /// Gives direct access for the sync protocol.
    pub fn automerge(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// Commits pending writes as one change, stamped `now` (unix seconds).
    pub fn commit(&mut self, now: i64, message: &str) {
        self.doc.commit_with(
            CommitOptions::default()
                .with_time(now)
                .with_message(message),
        );
    }

    /// Sets profile, procedure, mode and date.
    pub fn set_setup(
        &mut self,
        profile: Profile,
        procedure: Procedure,
        mode: Mode,
        date: NaiveDate,
    ) -> Result<(), DocError> {
        let meta = obj(&self.doc, "meta")?;
        self.doc.put(&meta, "profile", profile.key())?;
        self.doc.put(&meta, "procedure", procedure.key())?;
        self.doc.put(&meta, "mode", mode.key())?;
        self.doc.put(&meta, "date", date.to_string())?;
        Ok(())
    }

    /// Sets a text field of the header; an empty text clears it.
    pub fn set_meta(&mut self, field: MetaField, value: &str) -> Result<(), DocError> {
        if field == MetaField::Board {
            let members: Vec<&str> = value.lines().collect();
            if members.len() > limits::MAX_BOARD {
                return Err(DocError::Invalid(format!(
                    "{}: {} người, quá giới hạn {}",
                    field.label(),
                    members.len(),
                    limits::MAX_BOARD
                )));
            }
            for m in members {
                checked_text(field.label(), m)?;
            }
        } else {
            checked_text(field.label(), value)?;
        }
        let meta = obj(&self.doc, "meta")?;
        if value.is_empty() {
            self.doc.delete(&meta, field.key())?;
        } else {
            self.doc.put(&meta, field.key(), value)?;
        }
        Ok(())
    }

    /// Sets one count of attendance or ballots.
    pub fn set_count(&mut self, field: CountField, value: u64) -> Result<(), DocError> {
        let (o, k) = field.place();
        let o = obj(&self.doc, o)?;
        self.doc.put(&o, k, value)?;
        Ok(())
    }

    /// Adds or overwrites a subject's line.
    pub fn put_subject(&mut self, s: &Subject) -> Result<(), DocError> {
        checked_text("Họ tên", &s.name)?;
        checked_text("Chức vụ", &s.position)?;
        checked_text("Đơn vị công tác", &s.unit)?;
        let o = obj(&self.doc, "subjects")?;
        let id = s.id.as_str();
        self.doc
            .put(&o, format!("{id}/person_id"), s.person_id.as_str())?;
        self.doc.put(&o, format!("{id}/name"), s.name.as_str())?;
        self.doc
            .put(&o, format!("{id}/position"), s.position.as_str())?;
        self.doc.put(&o, format!("{id}/unit"), s.unit.as_str())?;
        self.doc.put(&o, format!("{id}/order"), s.order)?;
        match s.excluded {
            Some(e) => self.doc.put(&o, format!("{id}/excluded"), e.key())?,
            None => self.doc.delete(&o, format!("{id}/excluded"))?,
        }
        Ok(())
    }

    /// Changes a subject's line to `new`, writing only the fields that differ from
    /// `old`: a field another laptop edits meanwhile then conflicts only if this edit
    /// touched it too, never because it was written again with the old value.
    pub fn edit_subject(&mut self, old: &Subject, new: &Subject) -> Result<(), DocError> {
        checked_text("Họ tên", &new.name)?;
        checked_text("Chức vụ", &new.position)?;
        checked_text("Đơn vị công tác", &new.unit)?;
        let o = obj(&self.doc, "subjects")?;
        let id = new.id.as_str();
        let texts = [
            ("person_id", old.person_id.as_str(), new.person_id.as_str()),
            ("name", old.name.as_str(), new.name.as_str()),
            ("position", old.position.as_str(), new.position.as_str()),
            ("unit", old.unit.as_str(), new.unit.as_str()),
        ];
        for (k, before, after) in texts {
            if before != after {
                self.doc.put(&o, format!("{id}/{k}"), after)?;
            }
        }
        if old.order != new.order {
            self.doc.put(&o, format!("{id}/order"), new.order)?;
        }
        if old.excluded != new.excluded {
            match new.excluded {
                Some(e) => self.doc.put(&o, format!("{id}/excluded"), e.key())?,
                None => self.doc.delete(&o, format!("{id}/excluded"))?,
            }
        }
        Ok(())
    }

    /// Removes a subject's line, its tally and its marks on every entry; returns how
    /// many entries held a mark for it and whether a tally was removed. The entries
    /// themselves stay: each is still one ballot valid as a whole.
    pub fn remove_subject(&mut self, sid: &SubjectId) -> Result<(usize, bool), DocError> {
        let prefix = format!("{sid}/");
        let so = obj(&self.doc, "subjects")?;
        let keys: Vec<String> = self
            .doc
            .keys(&so)
            .filter(|k| k.starts_with(&prefix))
            .collect();
        for k in keys {
            self.doc.delete(&so, k.as_str())?;
        }
        let to = obj(&self.doc, "tallies")?;
        let keys: Vec<String> = self
            .doc
            .keys(&to)
            .filter(|k| k.starts_with(&prefix))
            .collect();
        let tally = !keys.is_empty();
        for k in keys {
            self.doc.delete(&to, k.as_str())?;
        }
        let eo = obj(&self.doc, "entries")?;
        let eids: Vec<String> = self.doc.keys(&eo).collect();
        let mut marks = 0;
        for eid in eids {
            let Some((Value::Object(ObjType::Map), e)) = self.doc.get(&eo, eid.as_str())? else {
                continue;
            };
            let Some((Value::Object(ObjType::Map), m)) = self.doc.get(&e, "marks")? else {
                continue;
            };
            if self.doc.get(&m, sid.as_str())?.is_some() {
                self.doc.delete(&m, sid.as_str())?;
                marks += 1;
            }
        }
        Ok((marks, tally))
    }

    /// The hashes of every change in the document but its deterministic first one
    /// (which every copy of every session with this id shares): what a deleted
    /// session's tombstone remembers, to know its history again in a file.
    pub fn own_changes(&mut self) -> Result<Vec<Head>, DocError> {
        let (unit, session) = self.identity()?;
        let skeleton = skeleton_actor(&unit, &session);
        Ok(self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .filter(|c| *c.actor != skeleton)
            .map(|c| c.hash.0)
            .collect())
    }

    /// Whether the document holds any of the changes `hashes` names.
    pub fn holds_any(&mut self, hashes: &[Head]) -> bool {
        hashes
            .iter()
            .any(|h| self.doc.get_change_meta_by_hash(&ChangeHash(*h)).is_some())
    }

    /// Sets a subject's tally (tallies mode).
    pub fn set_tally(
        &mut self,
        sid: &SubjectId,
        procedure: Procedure,
        t: &Tally,
    ) -> Result<(), DocError> {
        let levels = procedure.levels();
        if t.levels.len() != levels.len() {
            return Err(DocError::Invalid(format!(
                "kết quả của {sid} phải có {} mức",
                levels.len()
            )));
        }
        let o = obj(&self.doc, "tallies")?;
        for (l, n) in levels.iter().zip(&t.levels) {
            self.doc.put(&o, format!("{sid}/{}", l.key()), *n)?;
        }
        self.doc.put(&o, format!("{sid}/invalid"), t.invalid)?;
        Ok(())
    }

    /// Adds one ballot entry.
    pub fn add_entry(&mut self, e: &Entry, device: &str) -> Result<(), DocError> {
        let entries = obj(&self.doc, "entries")?;
        let o = self.doc.put_object(&entries, e.id.as_str(), ObjType::Map)?;
        self.doc.put(&o, "device", device)?;
        let marks = self.doc.put_object(&o, "marks", ObjType::Map)?;
        for (sid, m) in &e.marks {
            self.doc.put(&marks, sid.as_str(), m.key())?;
        }
        Ok(())
    }

    /// Removes one ballot entry (a clerk's typing mistake).
    pub fn remove_entry(&mut self, id: &str) -> Result<bool, DocError> {
        let entries = obj(&self.doc, "entries")?;
        if self.doc.get(&entries, id)?.is_none() {
            return Ok(false);
        }
        self.doc.delete(&entries, id)?;
        Ok(true)
    }

    /// Reads the whole session, with every unresolved conflict.
    pub fn read(&self) -> Result<Session, DocError> {
        Reader::new(&self.doc, None).session()
    }

    /// Reads the session as it was at `heads` (which the document must hold), without
    /// forking it: a fork rebuilds the document from its changes, about twice the cost
    /// of loading it (BENCHMARKS.md, issue 15 §2), where reading at the heads filters
    /// the same walk by a clock.
    pub fn read_at(&mut self, heads: &[Head]) -> Result<Session, DocError> {
        if heads.is_empty() || !self.has_heads(heads) {
            return Err(DocError::HeadsMissing);
        }
        let hs: Vec<ChangeHash> = heads.iter().map(|h| ChangeHash(*h)).collect();
        Reader::new(&self.doc, Some(hs)).session()
    }

    /// The old reader, two lookups per field: kept for tests, which check that the
    /// one-walk reader gives the same session on any document.
    #[cfg(test)]
    pub(crate) fn read_by_lookup(&self) -> Result<Session, DocError> {
        let mut r = Reader::new(&self.doc, None);
        r.by_lookup = true;
        r.session()
    }
}

fn obj(doc: &AutoCommit, key: &str) -> Result<ObjId, DocError> {
    match doc.get(ROOT, key)? {
        Some((Value::Object(ObjType::Map), id)) => Ok(id),
        _ => Err(DocError::Shape(key.into())),
    }
}

fn str_at(doc: &AutoCommit, o: &ObjId, key: &str) -> Option<String> {
    match doc.get(o, key).ok()?? {
        (Value::Scalar(v), _) => v.as_str().map(str::to_owned),
        _ => None,
    }
}

fn show(v: &ScalarValue) -> String {
    match v {
        ScalarValue::Str(s) => s.to_string(),
        ScalarValue::Uint(n) => n.to_string(),
        ScalarValue::Int(n) => n.to_string(),
        other => format!("{other}"),
    }
}

/// Reads a session out of its document in one walk per object.
///
/// Every map is walked once with `map_range`, which reports for each key its winning
/// value and whether concurrent writes disagree on it; only a key in conflict is asked
/// again (`get_all`) to name the values. Paths are formatted only for a conflict or an
/// anomaly. This replaced two lookups and a formatted path per field, which made the
/// read of a 50 × 30 per-ballot session cost about ten decodes of it (issue 15 §2).
struct Reader<'a> {
    doc: &'a AutoCommit,
    /// Read as at these heads (a sealed state) instead of the current ones.
    heads: Option<Vec<ChangeHash>>,
    conflicts: Vec<Conflict>,
    anomalies: Vec<String>,
    /// Test-only: read every field by lookup, as the reader did before.
    #[cfg(test)]
    by_lookup: bool,
}

/// One key of a walked map: its winning value and whether others disagree with it.
type Slot = (Value<'static>, bool);

impl<'a> Reader<'a> {
    fn new(doc: &'a AutoCommit, heads: Option<Vec<ChangeHash>>) -> Reader<'a> {
        Reader {
            doc,
            heads,
            conflicts: Vec::new(),
            anomalies: Vec::new(),
            #[cfg(test)]
            by_lookup: false,
        }
    }

    fn lookup_only(&self) -> bool {
        #[cfg(test)]
        return self.by_lookup;
        #[cfg(not(test))]
        false
    }

    fn get(&self, o: &ObjId, key: &str) -> Result<Option<(Value<'a>, ObjId)>, DocError> {
        Ok(match &self.heads {
            None => self.doc.get(o, key)?,
            Some(h) => self.doc.get_at(o, key, h)?,
        })
    }

    fn get_all(
        &self,
        o: &ObjId,
        key: &str,
    ) -> Result<Vec<(Value<'a>, ObjId)>, automerge::AutomergeError> {
        match &self.heads {
            None => self.doc.get_all(o, key),
            Some(h) => self.doc.get_all_at(o, key, h),
        }
    }

    /// One of the root's maps.
    fn obj(&self, key: &str) -> Result<ObjId, DocError> {
        match self.get(&ROOT, key)? {
            Some((Value::Object(ObjType::Map), id)) => Ok(id),
            _ => Err(DocError::Shape(key.into())),
        }
    }

    /// Every key of the map `o` with its slot, in key order.
    fn walk(&self, o: &ObjId) -> Vec<(String, Slot)> {
        let items: Box<dyn Iterator<Item = automerge::iter::MapRangeItem<'a>>> = match &self.heads {
            None => Box::new(self.doc.map_range(o, ..)),
            Some(h) => Box::new(self.doc.map_range_at(o, .., h)),
        };
        items
            .map(|i| (i.key.into_owned(), (i.value.into_value(), i.conflict)))
            .collect()
    }

    /// The map `o` walked once, by key.
    fn fields(&self, o: &ObjId) -> BTreeMap<String, Slot> {
        self.walk(o).into_iter().collect()
    }

    /// The scalar of a walked key: the slot's value when no one disagrees, otherwise
    /// the lookup that names the conflict.
    fn slot(
        &mut self,
        path: &str,
        o: &ObjId,
        fields: &BTreeMap<String, Slot>,
        key: &str,
    ) -> Option<ScalarValue> {
        if self.lookup_only() {
            return self.scalar(path, o, key);
        }
        match fields.get(key) {
            None => None,
            Some((_, true)) => self.scalar(path, o, key),
            Some((Value::Scalar(s), false)) => Some(s.as_ref().clone()),
            Some((Value::Object(_), false)) => {
                self.anomalies
                    .push(format!("{path}.{key} là đối tượng, không phải giá trị"));
                None
            }
        }
    }

    fn slot_text(
        &mut self,
        path: &str,
        o: &ObjId,
        fields: &BTreeMap<String, Slot>,
        key: &str,
    ) -> Option<String> {
        let v = self.slot(path, o, fields, key)?;
        self.as_text(path, key, v)
    }

    fn slot_count(
        &mut self,
        path: &str,
        o: &ObjId,
        fields: &BTreeMap<String, Slot>,
        key: &str,
    ) -> Option<u64> {
        let v = self.slot(path, o, fields, key)?;
        self.as_count(path, key, v)
    }

    fn as_text(&mut self, path: &str, key: &str, v: ScalarValue) -> Option<String> {
        match v {
            ScalarValue::Str(s) => Some(s.to_string()),
            ScalarValue::Null => None,
            other => {
                self.anomalies
                    .push(format!("{path}.{key}: cần chữ, gặp {other}"));
                None
            }
        }
    }

    fn as_count(&mut self, path: &str, key: &str, v: ScalarValue) -> Option<u64> {
        match v {
            ScalarValue::Uint(n) => Some(n),
            ScalarValue::Int(n) if n >= 0 => u64::try_from(n).ok(),
            other => {
                self.anomalies
                    .push(format!("{path}.{key}: cần số không âm, gặp {other}"));
                None
            }
        }
    }

    /// The scalar at `o.key`, recording a conflict when concurrent writes disagree.
    fn scalar(&mut self, path: &str, o: &ObjId, key: &str) -> Option<ScalarValue> {
        let all = match self.get_all(o, key) {
            Ok(all) => all,
            Err(e) => {
                self.anomalies.push(format!("{path}.{key}: {e}"));
                return None;
            }
        };
        let mut values: Vec<ScalarValue> = Vec::new();
        for (v, _) in &all {
            match v {
                Value::Scalar(s) => {
                    if !values.contains(s) {
                        values.push(s.as_ref().clone());
                    }
                }
                Value::Object(_) => self
                    .anomalies
                    .push(format!("{path}.{key} là đối tượng, không phải giá trị")),
            }
        }
        if values.len() > 1 {
            let mut shown: Vec<String> = values.iter().map(show).collect();
            shown.sort();
            self.conflicts.push(Conflict {
                field: format!("{path}.{key}"),
                values: shown,
            });
        }
        // The winner Automerge picks is deterministic on every replica.
        match self.get(o, key).ok().flatten() {
            Some((Value::Scalar(s), _)) => Some(s.into_owned()),
            _ => None,
        }
    }

    fn session(mut self) -> Result<Session, DocError> {
        let meta_o = self.obj("meta")?;
        let mf = self.fields(&meta_o);
        let unit = self
            .slot_text("meta", &meta_o, &mf, "unit")
            .ok_or_else(|| DocError::Shape("meta.unit".into()))?;
        let session = self
            .slot_text("meta", &meta_o, &mf, "session")
            .ok_or_else(|| DocError::Shape("meta.session".into()))?;
        let unit = UnitId::new(unit).map_err(|e| DocError::Shape(format!("meta.unit: {e}")))?;
        let session =
            SessionId::new(session).map_err(|e| DocError::Shape(format!("meta.session: {e}")))?;
        let profile = self.slot_text("meta", &meta_o, &mf, "profile");
        let profile = profile
            .as_deref()
            .and_then(Profile::parse)
            .ok_or_else(|| DocError::Shape("meta.profile".into()))?;
        let procedure = self.slot_text("meta", &meta_o, &mf, "procedure");
        let procedure = procedure
            .as_deref()
            .and_then(Procedure::parse)
            .ok_or_else(|| DocError::Shape("meta.procedure".into()))?;
        let mode = self.slot_text("meta", &meta_o, &mf, "mode");
        let mode = mode
            .as_deref()
            .and_then(Mode::parse)
            .ok_or_else(|| DocError::Shape("meta.mode".into()))?;
        let date = self.slot_text("meta", &meta_o, &mf, "date");
        let date = date
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| DocError::Shape("meta.date".into()))?;
        let resolution_date = self
            .slot_text("meta", &meta_o, &mf, "resolution_date")
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
        let opening_date = self
            .slot_text("meta", &meta_o, &mf, "opening_date")
            .and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
        let meta = Meta {
            unit,
            session,
            profile,
            procedure,
            mode,
            body: self
                .slot_text("meta", &meta_o, &mf, "body")
                .unwrap_or_default(),
            title: self.slot_text("meta", &meta_o, &mf, "title"),
            date,
            place: self.slot_text("meta", &meta_o, &mf, "place"),
            count_from: self.slot_text("meta", &meta_o, &mf, "count_from"),
            count_to: self.slot_text("meta", &meta_o, &mf, "count_to"),
            chair: self.slot_text("meta", &meta_o, &mf, "chair"),
            board: self
                .slot_text("meta", &meta_o, &mf, "board")
                .map(|b| {
                    b.lines()
                        .map(str::to_owned)
                        .filter(|l| !l.trim().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            resolution_date,
            assigned_by: self.slot_text("meta", &meta_o, &mf, "assigned_by"),
            polled_posts: self.slot_text("meta", &meta_o, &mf, "polled_posts"),
            opening_date,
        };

        let ao = self.obj("attendance")?;
        let af = self.fields(&ao);
        let attendance = Attendance {
            total: self.slot_count("attendance", &ao, &af, "total"),
            present: self.slot_count("attendance", &ao, &af, "present"),
            absent_from_start: self.slot_count("attendance", &ao, &af, "absent_from_start"),
            present_at_vote: self.slot_count("attendance", &ao, &af, "present_at_vote"),
        };
        let bo = self.obj("ballots")?;
        let bf = self.fields(&bo);
        let ballots = Ballots {
            issued: self.slot_count("ballots", &bo, &bf, "issued"),
            collected: self.slot_count("ballots", &bo, &bf, "collected"),
            wholly_invalid: self.slot_count("ballots", &bo, &bf, "wholly_invalid"),
        };

        // Subjects: group flat keys by subject id.
        let so = self.obj("subjects")?;
        let sf = self.fields(&so);
        let ids: std::collections::BTreeSet<String> = sf
            .keys()
            .filter_map(|k| k.rsplit_once('/').map(|(id, _)| id.to_owned()))
            .collect();
        let mut subjects = Vec::new();
        for id in ids {
            let Ok(sid) = SubjectId::new(&id) else {
                self.anomalies
                    .push(format!("subjects: mã «{id}» không hợp lệ"));
                continue;
            };
            let person = self.slot_text("subjects", &so, &sf, &format!("{id}/person_id"));
            let Some(person_id) = person.and_then(|p| PersonId::new(p).ok()) else {
                self.anomalies
                    .push(format!("subjects.{id}: thiếu mã cá nhân"));
                continue;
            };
            let excluded = self.slot_text("subjects", &so, &sf, &format!("{id}/excluded"));
            let excluded = match excluded.as_deref().map(Exclusion::parse) {
                None => None,
                Some(Some(e)) => Some(e),
                Some(None) => {
                    self.anomalies
                        .push(format!("subjects.{id}.excluded không hợp lệ"));
                    None
                }
            };
            subjects.push(Subject {
                id: sid,
                person_id,
                name: self
                    .slot_text("subjects", &so, &sf, &format!("{id}/name"))
                    .unwrap_or_default(),
                position: self
                    .slot_text("subjects", &so, &sf, &format!("{id}/position"))
                    .unwrap_or_default(),
                unit: self
                    .slot_text("subjects", &so, &sf, &format!("{id}/unit"))
                    .unwrap_or_default(),
                order: self
                    .slot_count("subjects", &so, &sf, &format!("{id}/order"))
                    .unwrap_or(u64::MAX),
                excluded,
            });
        }
        subjects.sort_by(|a, b| (a.order, &a.id).cmp(&(b.order, &b.id)));

        // Tallies.
        let to = self.obj("tallies")?;
        let tf = self.fields(&to);
        let levels = procedure.levels();
        let mut tallies = BTreeMap::new();
        let tids: std::collections::BTreeSet<String> = tf
            .keys()
            .filter_map(|k| k.rsplit_once('/').map(|(id, _)| id.to_owned()))
            .collect();
        for id in tids {
            let Ok(sid) = SubjectId::new(&id) else {
                self.anomalies
                    .push(format!("tallies: mã «{id}» không hợp lệ"));
                continue;
            };
            let mut t = Tally {
                levels: Vec::new(),
                invalid: 0,
            };
            let mut complete = true;
            for l in levels {
                match self.slot_count("tallies", &to, &tf, &format!("{id}/{}", l.key())) {
                    Some(n) => t.levels.push(n),
                    None => complete = false,
                }
            }
            t.invalid = self
                .slot_count("tallies", &to, &tf, &format!("{id}/invalid"))
                .unwrap_or(0);
            if complete {
                tallies.insert(sid, t);
            } else {
                self.anomalies.push(format!("tallies.{id}: thiếu mức"));
            }
        }

        // Entries, in the order they were entered: an entry object's id is a Lamport
        // timestamp (counter, actor), larger than every operation its laptop had seen,
        // so sorting by it gives typing order on one laptop and a causal, deterministic
        // order across merged ones. (Map keys are random ids: their order means nothing.)
        let eo = self.obj("entries")?;
        let mut entries = Vec::new();
        let mut found = Vec::new();
        for (eid, (v, _)) in self.walk(&eo) {
            // The winner's object id, as `get` names it.
            match (v, self.get(&eo, &eid)?) {
                (Value::Object(ObjType::Map), Some((Value::Object(ObjType::Map), o))) => {
                    found.push((o, eid))
                }
                _ => self
                    .anomalies
                    .push(format!("entries.{eid}: không phải phiếu")),
            }
        }
        found.sort();
        for (o, eid) in found {
            let marks_o = match self.get(&o, "marks")? {
                Some((Value::Object(ObjType::Map), m)) => m,
                _ => {
                    self.anomalies.push(format!("entries.{eid}: thiếu marks"));
                    continue;
                }
            };
            let mut marks = BTreeMap::new();
            let path = || format!("entries.{eid}.marks");
            for (sid, slot) in self.walk(&marks_o) {
                let m = match slot {
                    (Value::Scalar(v), false) if !self.lookup_only() => {
                        self.as_text(&path(), &sid, v.into_owned())
                    }
                    // In conflict, or an object where a mark belongs: the lookup names it.
                    _ => self
                        .scalar(&path(), &marks_o, &sid)
                        .and_then(|v| self.as_text(&path(), &sid, v)),
                };
                match (SubjectId::new(&sid), m.as_deref().and_then(Mark::parse)) {
                    (Ok(s), Some(m)) => {
                        marks.insert(s, m);
                    }
                    _ => self
                        .anomalies
                        .push(format!("entries.{eid}.marks.{sid} không hợp lệ")),
                }
            }
            entries.push(Entry { id: eid, marks });
        }

        Ok(Session {
            meta,
            attendance,
            ballots,
            subjects,
            entries,
            tallies,
            conflicts: self.conflicts,
            anomalies: self.anomalies,
        })
    }
}

#[cfg(test)]
mod tests;
