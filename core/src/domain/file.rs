//! The files a clerk hands in: a session as JSON and a subject list as CSV.
//!
//! Parsing reports where a problem is (a JSON path or a CSV line) and every problem at
//! once, so a clerk can fix a file in one pass.

use super::{
    Attendance, Ballots, Entry, Mark, Meta, Mode, PersonId, Procedure, Profile, Session, SessionId,
    Subject, SubjectId, Tally, UnitId,
};
use chrono::NaiveDate;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One problem in a file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FileError {
    /// A JSON path (`attendance.total`, `subjects[2].id`) or `dòng N` of a CSV file.
    pub at: String,
    /// What is wrong, in Vietnamese.
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else if self.at.starts_with("dòng ") {
            match self.at.split_once('.') {
                Some((line, column)) => write!(
                    f,
                    "{line}, cột «{}»: {}",
                    super::subject_csv::column_label(column),
                    self.message
                ),
                None => write!(f, "{}: {}", self.at, self.message),
            }
        } else {
            write!(f, "{}: {}", place_vi(&self.at), self.message)
        }
    }
}

pub(super) fn err(at: impl Into<String>, message: impl Into<String>) -> FileError {
    FileError {
        at: at.into(),
        message: message.into(),
    }
}

/// Attendance as written in a file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttendanceFile {
    total: Option<u64>,
    present: Option<u64>,
    absent_from_start: Option<u64>,
    present_at_vote: Option<u64>,
}

/// Ballots as written in a file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BallotsFile {
    issued: Option<u64>,
    collected: Option<u64>,
    wholly_invalid: Option<u64>,
}

/// A subject as written in a file (JSON object or CSV row).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectRow {
    /// Line id (`s01`).
    pub id: String,
    /// Person id.
    pub person_id: String,
    /// Full name.
    pub name: String,
    /// Position.
    #[serde(default)]
    pub position: String,
    /// Unit of work.
    #[serde(default)]
    pub unit: String,
    /// Exclusion reason key, if not polled.
    #[serde(default)]
    pub excluded: Option<String>,
}

/// A tally as written in a file: level name → count, plus `invalid`.
pub type TallyFile = BTreeMap<String, u64>;

/// A whole session file (`session import`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionFile {
    id: String,
    #[serde(default)]
    unit: Option<String>,
    profile: String,
    procedure: String,
    #[serde(default)]
    mode: Option<String>,
    body: String,
    #[serde(default)]
    title: Option<String>,
    date: String,
    #[serde(default)]
    place: Option<String>,
    #[serde(default)]
    count_from: Option<String>,
    #[serde(default)]
    count_to: Option<String>,
    #[serde(default)]
    chair: Option<String>,
    #[serde(default)]
    board: Vec<String>,
    #[serde(default)]
    resolution_date: Option<String>,
    #[serde(default)]
    assigned_by: Option<String>,
    #[serde(default)]
    polled_posts: Option<String>,
    opening_date: Option<String>,
    #[serde(default)]
    attendance: AttendanceFile,
    #[serde(default)]
    ballots: BallotsFile,
    #[serde(default)]
    subjects: Vec<SubjectRow>,
    #[serde(default)]
    tallies: Option<BTreeMap<String, TallyFile>>,
    #[serde(default)]
    entries: Option<Vec<BTreeMap<String, String>>>,
}

impl SessionFile {
    /// Parses JSON text. A syntax error is named by line and column; otherwise every
    /// missing field, wrong type and unknown field is listed at once, in Vietnamese, so
    /// a clerk fixes the file in one pass (serde would stop at the first, in English).
    pub fn from_json(text: &str) -> Result<SessionFile, Vec<FileError>> {
        let (f, errs) = Self::walk(text)?;
        match f {
            Some(f) if errs.is_empty() => Ok(f),
            _ => Err(errs),
        }
    }

    /// Reads, checks and builds a session from JSON text in one pass, as `session import`
    /// and the import page do: the shape problems (missing fields, wrong types) and the
    /// value problems (a bad id, an impossible date, an empty body) are listed together,
    /// each at its place, and then the figures are refused when they break a count rule
    /// ([`Problem::is_impossible`]), so nothing impossible is ever stored. What is
    /// normal while counting goes on (numbers not typed yet) is not refused here.
    ///
    /// [`Problem::is_impossible`]: super::Problem::is_impossible
    pub fn read(
        text: &str,
        unit: &UnitId,
        entry_id: impl FnMut() -> String,
    ) -> Result<Session, Vec<FileError>> {
        let (f, mut errs) = Self::walk(text)?;
        let Some(f) = f else {
            return Err(errs);
        };
        match f.into_session(unit, entry_id) {
            Err(more) => {
                let shape = errs.clone();
                // A value left empty because it was missing or of the wrong type is
                // already listed at its place: it is not listed a second time.
                errs.extend(more.into_iter().filter(|e| {
                    e.at.is_empty()
                        || !shape.iter().any(|s| {
                            s.at == e.at
                                || ((e.at.starts_with("tallies.") || e.at.starts_with("entries["))
                                    && s.at.starts_with(&format!("{}.", e.at)))
                        })
                }));
                Err(errs)
            }
            Ok(_) if !errs.is_empty() => Err(errs),
            Ok(s) => {
                let impossible: Vec<FileError> = super::compute(&s)
                    .problems
                    .iter()
                    .filter(|p| p.is_impossible())
                    .map(|p| err(p.file_place(), p.to_string()))
                    .collect();
                if impossible.is_empty() {
                    Ok(s)
                } else {
                    Err(impossible)
                }
            }
        }
    }

    /// Parses JSON and walks it: a syntax error is the only problem; otherwise the file
    /// as far as it could be read (`None` only when it is not an object) and every shape
    /// problem found.
    #[allow(clippy::type_complexity)]
    fn walk(text: &str) -> Result<(Option<SessionFile>, Vec<FileError>), Vec<FileError>> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            vec![err(
                "",
                format!(
                    "tệp không phải JSON hợp lệ ở dòng {}, cột {}: {}",
                    e.line(),
                    e.column(),
                    match e.classify() {
                        serde_json::error::Category::Eof => "tệp kết thúc giữa chừng",
                        serde_json::error::Category::Syntax =>
                            "sai cú pháp (thiếu dấu phẩy, ngoặc hoặc dấu nháy?)",
                        _ => "không đọc được",
                    }
                ),
            )]
        })?;
        let mut errs = Vec::new();
        let f = Walk::new(&mut errs).session(&v);
        Ok((f, errs))
    }

    /// Checks the file against the domain and builds the session for `unit`, reporting
    /// every problem. Entries get random ids from `entry_id`.
    pub fn into_session(
        self,
        unit: &UnitId,
        mut entry_id: impl FnMut() -> String,
    ) -> Result<Session, Vec<FileError>> {
        let mut errs = Vec::new();
        let session = SessionId::new(&self.id)
            .map_err(|e| errs.push(err("id", e.to_string())))
            .ok();
        if let Some(u) = &self.unit {
            if u != unit.as_str() {
                errs.push(err(
                    "unit",
                    format!("tệp thuộc đơn vị «{u}», máy này là đơn vị «{unit}»"),
                ));
            }
        }
        let profile = Profile::parse_or_why(&self.profile)
            .map_err(|why| errs.push(err("profile", why)))
            .ok();
        let procedure = Procedure::parse(&self.procedure);
        if procedure.is_none() {
            errs.push(err(
                "procedure",
                format!(
                    "không biết hình thức «{}»; dùng poll hoặc binding",
                    self.procedure
                ),
            ));
        }
        let date = parse_date("date", &self.date, &mut errs);
        let resolution_date = self
            .resolution_date
            .as_deref()
            .and_then(|s| parse_date("resolution_date", s, &mut errs));
        let opening_date = self
            .opening_date
            .as_deref()
            .and_then(|s| parse_date("opening_date", s, &mut errs));
        if let (Some(o), Some(d)) = (opening_date, date) {
            if o > d {
                errs.push(err(
                    "opening_date",
                    format!("ngày khai mạc {o} sau ngày bỏ phiếu {d}"),
                ));
            }
        }
        for (field, v) in [
            ("count_from", &self.count_from),
            ("count_to", &self.count_to),
        ] {
            if let Some(v) = v {
                if !is_hhmm(v) {
                    errs.push(err(field, format!("giờ «{v}» phải có dạng HH:MM")));
                }
            }
        }
        if let (Some(f), Some(t)) = (&self.count_from, &self.count_to) {
            if let Some(why) = super::when::count_window_refusal(f, t) {
                errs.push(err("count_to", why));
            }
        }
        if self.body.trim().is_empty() {
            errs.push(err("body", "tên cơ quan, tổ chức trống"));
        }
        let texts = [
            ("body", Some(&self.body)),
            ("title", self.title.as_ref()),
            ("place", self.place.as_ref()),
            ("chair", self.chair.as_ref()),
            ("assigned_by", self.assigned_by.as_ref()),
            ("polled_posts", self.polled_posts.as_ref()),
        ];
        for (field, v) in texts {
            if let Some(Err(e)) = v.map(|v| super::limits::check_text(v.trim())) {
                errs.push(err(field, e.to_string()));
            }
        }
        if self.board.len() > super::limits::MAX_BOARD {
            errs.push(err(
                "board",
                format!(
                    "ban kiểm phiếu có {} người, quá {}",
                    self.board.len(),
                    super::limits::MAX_BOARD
                ),
            ));
        }
        for (i, m) in self.board.iter().enumerate() {
            if let Err(e) = super::limits::check_text(m.trim()) {
                errs.push(err(format!("board[{i}]"), e.to_string()));
            }
        }
        if self.subjects.len() > super::limits::MAX_SUBJECTS {
            errs.push(err(
                "subjects",
                format!(
                    "danh sách có {} người, quá giới hạn {}",
                    self.subjects.len(),
                    super::limits::MAX_SUBJECTS
                ),
            ));
        }
        let mode = match (&self.mode, &self.tallies, &self.entries) {
            (_, Some(_), Some(_)) => {
                errs.push(err(
                    "",
                    "tệp có cả «tallies» và «entries»: mỗi phiên chỉ dùng một cách nhập",
                ));
                None
            }
            (Some(m), t, e) => match Mode::parse(m) {
                Some(Mode::Entries) if t.is_some() => {
                    errs.push(err("mode", "mode là entries nhưng tệp có «tallies»"));
                    None
                }
                Some(Mode::Tallies) if e.is_some() => {
                    errs.push(err("mode", "mode là tallies nhưng tệp có «entries»"));
                    None
                }
                Some(m) => Some(m),
                None => {
                    errs.push(err(
                        "mode",
                        format!("không biết cách nhập «{m}»; dùng entries hoặc tallies"),
                    ));
                    None
                }
            },
            (None, Some(_), None) => Some(Mode::Tallies),
            (None, _, _) => Some(Mode::Entries),
        };

        let subjects = subjects_from_rows(&self.subjects, |i| format!("subjects[{i}]"), &mut errs);
        let known: BTreeSet<&str> = subjects
            .iter()
            .filter(|s| s.excluded.is_none())
            .map(|s| s.id.as_str())
            .collect();

        // Rows refused above: a tally or mark given to one is not listed again as
        // "not on the list", the row's own problem says what to fix.
        let refused_rows: BTreeSet<&str> = self
            .subjects
            .iter()
            .map(|r| r.id.trim())
            .filter(|id| !subjects.iter().any(|s| s.id.as_str() == *id))
            .collect();
        let mut tallies = BTreeMap::new();
        let mut entries = Vec::new();
        if let Some(procedure) = procedure {
            for (sid, t) in self.tallies.iter().flatten() {
                let at = format!("tallies.{sid}");
                if refused_rows.contains(sid.as_str()) {
                    continue;
                }
                if !known.contains(sid.as_str()) {
                    errs.push(err(
                        &at,
                        format!("«{sid}» không có trong danh sách lấy phiếu (subjects)"),
                    ));
                    continue;
                }
                match tally_from_map(procedure, t) {
                    Ok(tally) => {
                        if let Ok(id) = SubjectId::new(sid) {
                            tallies.insert(id, tally);
                        }
                    }
                    Err(m) => errs.push(err(at, m)),
                }
            }
            for (i, e) in self.entries.iter().flatten().enumerate() {
                let mut marks = BTreeMap::new();
                for (sid, m) in e {
                    let at = format!("entries[{i}].{sid}");
                    if refused_rows.contains(sid.as_str()) {
                        continue;
                    }
                    if !known.contains(sid.as_str()) {
                        errs.push(err(
                            &at,
                            format!("«{sid}» không có trong danh sách lấy phiếu"),
                        ));
                        continue;
                    }
                    match Mark::parse(m).filter(|m| m.fits(procedure)) {
                        Some(mark) => {
                            if let Ok(id) = SubjectId::new(sid) {
                                marks.insert(id, mark);
                            }
                        }
                        None => errs.push(err(at, bad_mark(procedure, m))),
                    }
                }
                entries.push(Entry {
                    id: entry_id(),
                    marks,
                });
            }
        }

        if !errs.is_empty() {
            return Err(errs);
        }
        let (Some(session), Some(profile), Some(procedure), Some(date), Some(mode)) =
            (session, profile, procedure, date, mode)
        else {
            return Err(vec![err("", "tệp không hợp lệ")]);
        };
        let a = self.attendance;
        let b = self.ballots;
        Ok(Session {
            meta: Meta {
                unit: unit.clone(),
                session,
                profile,
                procedure,
                mode,
                body: self.body,
                title: self.title,
                date,
                place: self.place,
                count_from: self.count_from,
                count_to: self.count_to,
                chair: self.chair,
                board: self.board,
                resolution_date,
                assigned_by: self.assigned_by,
                polled_posts: self.polled_posts,
                opening_date,
            },
            attendance: Attendance {
                total: a.total,
                present: a.present,
                absent_from_start: a.absent_from_start,
                present_at_vote: a.present_at_vote,
            },
            ballots: Ballots {
                issued: b.issued,
                collected: b.collected,
                wholly_invalid: b.wholly_invalid,
            },
            subjects,
            entries,
            tallies,
            conflicts: Vec::new(),
            anomalies: Vec::new(),
        })
    }
}

/// The message for a mark that does not fit the procedure.
pub(crate) fn bad_mark(procedure: Procedure, m: &str) -> String {
    let allowed: Vec<_> = procedure
        .levels()
        .iter()
        .map(|l| l.key())
        .chain(["invalid"])
        .collect();
    format!(
        "mức «{m}» không hợp lệ với hình thức {procedure}; dùng {}",
        allowed.join(", ")
    )
}

/// Builds a tally from `level → count`; `invalid` may be left out (zero).
pub fn tally_from_map(procedure: Procedure, t: &TallyFile) -> Result<Tally, String> {
    let levels = procedure.levels();
    let mut problems = Vec::new();
    for k in t.keys() {
        if k != "invalid" && !levels.iter().any(|l| l.key() == k) {
            problems.push(format!("mức «{k}» không có trong hình thức {procedure}"));
        }
    }
    let mut out = Vec::new();
    for l in levels {
        match t.get(l.key()) {
            Some(n) => out.push(*n),
            None => problems.push(format!("thiếu số phiếu «{}»", l.key())),
        }
    }
    if problems.is_empty() {
        Ok(Tally {
            levels: out,
            invalid: t.get("invalid").copied().unwrap_or(0),
        })
    } else {
        Err(problems.join("; "))
    }
}

fn parse_date(field: &str, s: &str, errs: &mut Vec<FileError>) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| errs.push(err(field, format!("ngày «{s}» phải có dạng YYYY-MM-DD"))))
        .ok()
}

/// Whether `s` is a time of day `HH:MM`.
pub fn is_hhmm(s: &str) -> bool {
    chrono::NaiveTime::parse_from_str(s, "%H:%M").is_ok() && s.len() == 5
}

pub(super) fn subjects_from_rows(
    rows: &[SubjectRow],
    at: impl Fn(usize) -> String,
    errs: &mut Vec<FileError>,
) -> Vec<Subject> {
    let mut out = Vec::new();
    let mut ids = BTreeSet::new();
    for (i, r) in rows.iter().enumerate() {
        let here = at(i);
        let before = errs.len();
        let id = SubjectId::new(r.id.trim())
            .map_err(|e| errs.push(err(format!("{here}.id"), e.to_string())));
        let person = PersonId::new(r.person_id.trim())
            .map_err(|e| errs.push(err(format!("{here}.person_id"), e.to_string())));
        if r.name.trim().is_empty() {
            errs.push(err(format!("{here}.name"), "họ tên trống"));
        }
        for (field, v) in [
            ("name", &r.name),
            ("position", &r.position),
            ("unit", &r.unit),
        ] {
            if let Err(e) = super::limits::check_text(v.trim()) {
                errs.push(err(format!("{here}.{field}"), e.to_string()));
            }
        }
        let excluded =
            match super::subject_csv::exclusion_from_text(r.excluded.as_deref().unwrap_or("")) {
                Ok(e) => e,
                Err(m) => {
                    errs.push(err(format!("{here}.excluded"), m));
                    None
                }
            };
        if let Ok(id) = &id {
            if !ids.insert(id.clone()) {
                errs.push(err(format!("{here}.id"), format!("mã «{id}» bị trùng")));
            }
        }
        if errs.len() == before {
            if let (Ok(id), Ok(person_id)) = (id, person) {
                out.push(Subject {
                    id,
                    person_id,
                    name: r.name.trim().to_owned(),
                    position: r.position.trim().to_owned(),
                    unit: r.unit.trim().to_owned(),
                    order: i as u64 + 1,
                    excluded,
                });
            }
        }
    }
    out
}

/// Reads a session file out of a JSON value by hand, listing every problem instead of
/// stopping at the first as serde's derive does.
struct Walk<'e> {
    errs: &'e mut Vec<FileError>,
}

type Obj = serde_json::Map<String, serde_json::Value>;

fn join(at: &str, key: &str) -> String {
    if at.is_empty() {
        key.to_string()
    } else {
        format!("{at}.{key}")
    }
}

impl<'e> Walk<'e> {
    fn new(errs: &'e mut Vec<FileError>) -> Walk<'e> {
        Walk { errs }
    }

    fn object<'v>(&mut self, at: &str, v: &'v serde_json::Value) -> Option<&'v Obj> {
        match v.as_object() {
            Some(o) => Some(o),
            None => {
                self.errs.push(err(
                    at,
                    "phải là một đối tượng {…} (các mục trong ngoặc nhọn)",
                ));
                None
            }
        }
    }

    fn unknown(&mut self, at: &str, o: &Obj, known: &[&str]) {
        for k in o.keys().filter(|k| !known.contains(&k.as_str())) {
            self.errs.push(err(
                join(at, k),
                format!(
                    "mục «{k}» không có trong mẫu tệp; các mục được dùng: {}",
                    known.join(", ")
                ),
            ));
        }
    }

    fn string(&mut self, at: &str, o: &Obj, key: &str, required: bool) -> Option<String> {
        match o.get(key) {
            None | Some(serde_json::Value::Null) => {
                if required {
                    self.errs.push(err(join(at, key), "còn thiếu (bắt buộc)"));
                }
                None
            }
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.errs.push(err(
                    join(at, key),
                    format!(
                        "phải là chữ trong dấu nháy \"…\", không phải {}",
                        kind(other)
                    ),
                ));
                None
            }
        }
    }

    fn count(&mut self, at: &str, v: &serde_json::Value) -> Option<u64> {
        match v {
            serde_json::Value::Null => None,
            serde_json::Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
            other => {
                self.errs.push(err(
                    at,
                    format!("phải là số nguyên không âm, không phải {}", kind(other)),
                ));
                None
            }
        }
    }

    fn counts<const N: usize>(
        &mut self,
        at: &str,
        v: Option<&serde_json::Value>,
        keys: [&str; N],
    ) -> [Option<u64>; N] {
        let mut out = [None; N];
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return out;
        };
        let Some(o) = self.object(at, v) else {
            return out;
        };
        self.unknown(at, o, &keys);
        for (slot, k) in out.iter_mut().zip(keys) {
            if let Some(x) = o.get(k) {
                *slot = self.count(&join(at, k), x);
            }
        }
        out
    }

    fn subject(&mut self, at: &str, v: &serde_json::Value) -> Option<SubjectRow> {
        let o = self.object(at, v)?;
        self.unknown(
            at,
            o,
            &["id", "person_id", "name", "position", "unit", "excluded"],
        );
        let id = self.string(at, o, "id", true);
        let person_id = self.string(at, o, "person_id", true);
        let name = self.string(at, o, "name", true);
        let position = self.string(at, o, "position", false).unwrap_or_default();
        let unit = self.string(at, o, "unit", false).unwrap_or_default();
        let excluded = self.string(at, o, "excluded", false);
        // A missing field is already listed; the row is kept, empty there, so that the
        // rest of it is still checked in the same pass.
        Some(SubjectRow {
            id: id.unwrap_or_default(),
            person_id: person_id.unwrap_or_default(),
            name: name.unwrap_or_default(),
            position,
            unit,
            excluded,
        })
    }

    fn session(&mut self, v: &serde_json::Value) -> Option<SessionFile> {
        let o = self.object("", v)?;
        self.unknown(
            "",
            o,
            &[
                "id",
                "unit",
                "profile",
                "procedure",
                "mode",
                "body",
                "title",
                "date",
                "place",
                "count_from",
                "count_to",
                "chair",
                "board",
                "resolution_date",
                "assigned_by",
                "polled_posts",
                "opening_date",
                "attendance",
                "ballots",
                "subjects",
                "tallies",
                "entries",
            ],
        );
        let id = self.string("", o, "id", true);
        let unit = self.string("", o, "unit", false);
        let profile = self.string("", o, "profile", true);
        let procedure = self.string("", o, "procedure", true);
        let mode = self.string("", o, "mode", false);
        let body = self.string("", o, "body", true);
        let title = self.string("", o, "title", false);
        let date = self.string("", o, "date", true);
        let place = self.string("", o, "place", false);
        let count_from = self.string("", o, "count_from", false);
        let count_to = self.string("", o, "count_to", false);
        let chair = self.string("", o, "chair", false);
        let resolution_date = self.string("", o, "resolution_date", false);
        let assigned_by = self.string("", o, "assigned_by", false);
        let polled_posts = self.string("", o, "polled_posts", false);
        let opening_date = self.string("", o, "opening_date", false);
        let mut board = Vec::new();
        match o.get("board") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(a)) => {
                for (i, x) in a.iter().enumerate() {
                    match x.as_str() {
                        Some(s) => board.push(s.to_string()),
                        None => self.errs.push(err(
                            format!("board[{i}]"),
                            format!("phải là một tên trong dấu nháy, không phải {}", kind(x)),
                        )),
                    }
                }
            }
            Some(other) => self.errs.push(err(
                "board",
                format!(
                    "phải là danh sách tên [\"…\", \"…\"], không phải {}",
                    kind(other)
                ),
            )),
        }
        let [total, present, absent_from_start, present_at_vote] = self.counts(
            "attendance",
            o.get("attendance"),
            ["total", "present", "absent_from_start", "present_at_vote"],
        );
        let [issued, collected, wholly_invalid] = self.counts(
            "ballots",
            o.get("ballots"),
            ["issued", "collected", "wholly_invalid"],
        );
        let mut subjects = Vec::new();
        match o.get("subjects") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Array(a)) => {
                for (i, x) in a.iter().enumerate() {
                    if let Some(s) = self.subject(&format!("subjects[{i}]"), x) {
                        subjects.push(s);
                    }
                }
            }
            Some(other) => self.errs.push(err(
                "subjects",
                format!("phải là danh sách [{{…}}, …], không phải {}", kind(other)),
            )),
        }
        let tallies = match o.get("tallies") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => {
                let mut out = BTreeMap::new();
                if let Some(t) = self.object("tallies", v) {
                    for (sid, x) in t {
                        let at = format!("tallies.{sid}");
                        let Some(levels) = self.object(&at, x) else {
                            continue;
                        };
                        let mut one = TallyFile::new();
                        for (k, n) in levels {
                            if let Some(n) = self.count(&join(&at, k), n) {
                                one.insert(k.clone(), n);
                            }
                        }
                        out.insert(sid.clone(), one);
                    }
                }
                Some(out)
            }
        };
        let entries = match o.get("entries") {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::Array(a)) => {
                let mut out = Vec::new();
                for (i, x) in a.iter().enumerate() {
                    let at = format!("entries[{i}]");
                    let Some(marks) = self.object(&at, x) else {
                        continue;
                    };
                    let mut one = BTreeMap::new();
                    for (k, m) in marks {
                        match m.as_str() {
                            Some(m) => {
                                one.insert(k.clone(), m.to_string());
                            }
                            None => self.errs.push(err(
                                join(&at, k),
                                format!("phải là một mức trong dấu nháy (\"high\", \"low\", …), không phải {}", kind(m)),
                            )),
                        }
                    }
                    out.push(one);
                }
                Some(out)
            }
            Some(other) => {
                self.errs.push(err(
                    "entries",
                    format!(
                        "phải là danh sách phiếu [{{…}}, …], không phải {}",
                        kind(other)
                    ),
                ));
                None
            }
        };
        // Missing required fields are listed already and left empty here, so that
        // [`SessionFile::read`] still checks every other value in the same pass.
        Some(SessionFile {
            id: id.unwrap_or_default(),
            unit,
            profile: profile.unwrap_or_default(),
            procedure: procedure.unwrap_or_default(),
            mode,
            body: body.unwrap_or_default(),
            title,
            date: date.unwrap_or_default(),
            place,
            count_from,
            count_to,
            chair,
            board,
            resolution_date,
            assigned_by,
            polled_posts,
            opening_date,
            attendance: AttendanceFile {
                total,
                present,
                absent_from_start,
                present_at_vote,
            },
            ballots: BallotsFile {
                issued,
                collected,
                wholly_invalid,
            },
            subjects,
            tallies,
            entries,
        })
    }
}

/// A JSON value's kind, as a clerk would say it.
fn kind(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "giá trị rỗng (null)".into(),
        serde_json::Value::Bool(b) => format!("giá trị đúng/sai ({b})"),
        serde_json::Value::Number(n) => format!("số {n}"),
        serde_json::Value::String(s) => format!("chữ «{}»", s.chars().take(40).collect::<String>()),
        serde_json::Value::Array(_) => "một danh sách [...]".into(),
        serde_json::Value::Object(_) => "một đối tượng {...}".into(),
    }
}

/// A path in a session file (`subjects[2].name`) in the clerk's words: the field's label
/// and where it is, never a bare JSON path.
pub(crate) fn place_vi(at: &str) -> String {
    let mut parts = Vec::new();
    for seg in at.split('.') {
        match seg.split_once('[') {
            Some((name, rest)) => {
                parts.push(format!("«{name}»"));
                let n: usize = rest.trim_end_matches(']').parse().unwrap_or(0);
                parts.push(format!("thứ {}", n + 1));
            }
            None => parts.push(format!("«{seg}»")),
        }
    }
    let last = at.rsplit(['.', '[']).next().unwrap_or(at);
    let label = match last {
        "id" if at.starts_with("subjects") => "Mã dòng",
        "id" => "Mã phiên",
        "person_id" => "Mã người",
        "name" => "Họ tên",
        "position" => "Chức vụ",
        "unit" if at.starts_with("subjects") => "Đơn vị công tác",
        "unit" => "Đơn vị",
        "excluded" => "Lý do không lấy phiếu",
        "profile" => "Quy định",
        "procedure" => "Hình thức",
        "mode" => "Cách nhập",
        "body" => "Cơ quan bỏ phiếu",
        "title" => "Tên kỳ họp",
        "date" => "Ngày bỏ phiếu",
        "place" => "Nơi kiểm phiếu",
        "count_from" => "Giờ bắt đầu kiểm phiếu",
        "count_to" => "Giờ kết thúc kiểm phiếu",
        "chair" => "Trưởng ban kiểm phiếu",
        "resolution_date" => "Ngày nghị quyết xác nhận",
        "assigned_by" => "Cơ quan giao nhiệm vụ kiểm phiếu",
        "polled_posts" => "Chức danh được lấy phiếu",
        "opening_date" => "Ngày khai mạc kỳ họp",
        "total" => "Tổng số đại biểu (thành viên)",
        "present" => "Số có mặt",
        "absent_from_start" => "Số vắng mặt từ đầu",
        "present_at_vote" => "Số có mặt khi bỏ phiếu",
        "issued" => "Số phiếu phát ra",
        "collected" => "Số phiếu thu về",
        "wholly_invalid" => "Số phiếu không hợp lệ hoàn toàn",
        "invalid" => "Số phiếu không hợp lệ",
        "high" => "Tín nhiệm cao",
        "confidence" => "Tín nhiệm",
        "low" => "Tín nhiệm thấp",
        "no_confidence" => "Không tín nhiệm",
        _ if at.starts_with("board") => "Thành viên ban kiểm phiếu",
        _ if at.starts_with("entries") => "Phiếu",
        _ if at.starts_with("tallies") => "Kết quả tổng hợp",
        _ if at.starts_with("subjects") => "Người được lấy phiếu",
        _ => "Mục",
    };
    format!("{label} (mục {})", parts.join(" › "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::subjects_from_csv;

    fn unit() -> UnitId {
        UnitId::new("lai-chau").expect("unit")
    }

    const GOOD: &str = r#"{
      "id": "hdnd-2023-ky-hop-14", "profile": "nq96-2023", "procedure": "poll",
      "body": "HĐND tỉnh Lai Châu", "date": "2023-12-08",
      "attendance": {"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49},
      "ballots": {"issued": 49, "collected": 49, "wholly_invalid": 0},
      "subjects": [{"id": "s01", "person_id": "p-0001", "name": "Nguyễn Văn A", "position": "Chủ tịch HĐND tỉnh", "unit": "HĐND tỉnh"}],
      "tallies": {"s01": {"high": 40, "confidence": 8, "low": 1, "invalid": 0}}
    }"#;

    #[test]
    fn the_issue_example_imports() {
        let f = SessionFile::from_json(GOOD).expect("parse");
        let s = f.into_session(&unit(), || "x".into()).expect("valid");
        assert_eq!(s.meta.mode, Mode::Tallies);
        assert_eq!(s.tallies.len(), 1);
    }

    #[test]
    fn a_negative_number_names_its_field() {
        let bad = GOOD.replace("\"total\": 50", "\"total\": -5");
        let e = SessionFile::from_json(&bad).expect_err("negative");
        assert_eq!(e[0].at, "attendance.total");
        assert_eq!(
            e[0].to_string(),
            "Tổng số đại biểu (thành viên) (mục «attendance» › «total»): phải là số nguyên không âm, không phải số -5"
        );
    }

    #[test]
    fn every_type_error_is_listed_at_once_in_vietnamese() {
        let bad = GOOD
            .replace("\"total\": 50", "\"total\": \"năm mươi\"")
            .replace("\"collected\": 49", "\"collected\": 4.5")
            .replace("\"body\": ", "\"bodi\": \"x\", \"body\": ");
        let e = SessionFile::from_json(&bad).expect_err("three problems");
        let at: Vec<_> = e.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(
            at,
            vec!["bodi", "attendance.total", "ballots.collected"],
            "{e:?}"
        );
        for x in &e {
            let text = x.to_string();
            assert!(
                !text.contains("invalid type") && !text.contains("expected"),
                "{text}"
            );
        }
        let syntax =
            SessionFile::from_json("{\n  \"id\": \"a\",\n  \"body\" \"x\"\n}").expect_err("syntax");
        assert!(syntax[0].to_string().contains("dòng 3"), "{syntax:?}");
    }

    /// The opening day is read when given, refused after the vote, and a regime the
    /// seeds only name is refused saying what they lack.
    #[test]
    fn opening_day_and_profiles_in_a_file() {
        let with = GOOD.replace(
            "\"date\": \"2023-12-08\"",
            "\"date\": \"2023-12-08\", \"opening_date\": \"2023-12-06\"",
        );
        let s = SessionFile::from_json(&with)
            .expect("parse")
            .into_session(&unit(), || "x".into())
            .expect("valid");
        assert_eq!(
            s.meta.opening_date.map(|d| d.to_string()).as_deref(),
            Some("2023-12-06")
        );
        let after = with.replace("2023-12-06", "2023-12-09");
        let errs = SessionFile::from_json(&after)
            .expect("parse")
            .into_session(&unit(), || "x".into())
            .expect_err("after the vote");
        assert_eq!(errs[0].at, "opening_date", "{errs:?}");
        let old = GOOD.replace("nq96-2023", "nq35-2012");
        let errs = SessionFile::from_json(&old)
            .expect("parse")
            .into_session(&unit(), || "x".into())
            .expect_err("undescribed");
        assert_eq!(errs[0].at, "profile");
        assert!(errs[0].to_string().contains("không nêu mẫu số"), "{errs:?}");
    }

    #[test]
    fn every_problem_is_listed() {
        let bad = GOOD
            .replace("\"poll\"", "\"vote\"")
            .replace("2023-12-08", "08/12/2023")
            .replace("\"tallies\": {\"s01\"", "\"tallies\": {\"s09\"");
        let f = SessionFile::from_json(&bad).expect("syntax ok");
        let errs = f.into_session(&unit(), || "x".into()).expect_err("invalid");
        let at: Vec<_> = errs.iter().map(|e| e.at.as_str()).collect();
        assert!(at.contains(&"procedure"), "{at:?}");
        assert!(at.contains(&"date"), "{at:?}");
    }

    #[test]
    fn unknown_marks_and_subjects_in_entries_are_refused() {
        let bad = GOOD.replace(
            "\"tallies\": {\"s01\": {\"high\": 40, \"confidence\": 8, \"low\": 1, \"invalid\": 0}}",
            "\"entries\": [{\"s01\": \"high\"}, {\"s01\": \"maybe\"}, {\"s02\": \"low\"}]",
        );
        let errs = SessionFile::from_json(&bad)
            .expect("syntax")
            .into_session(&unit(), || "x".into())
            .expect_err("invalid");
        let at: Vec<_> = errs.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(at, vec!["entries[1].s01", "entries[2].s02"]);
    }

    /// The user trial's file: missing fields, a bad line id, an impossible date and an
    /// empty body are listed in one pass, each once, at its place.
    #[test]
    fn shape_and_value_problems_are_listed_together() {
        let bad = GOOD
            .replace("\"person_id\": \"p-0001\", \"name\": \"Nguyễn Văn A\", ", "")
            .replace(
                "\"unit\": \"HĐND tỉnh\"}]",
                "\"unit\": \"HĐND tỉnh\"}, {\"id\": \"bad id!\", \"person_id\": \"p-2\", \"name\": \"B\"}]",
            )
            .replace("2023-12-08", "2023-13-45")
            .replace("\"HĐND tỉnh Lai Châu\"", "\"\"");
        let errs = SessionFile::read(&bad, &unit(), || "x".into()).expect_err("five problems");
        let mut at: Vec<_> = errs.iter().map(|e| e.at.as_str()).collect();
        at.sort_unstable();
        assert_eq!(
            at,
            vec![
                "body",
                "date",
                "subjects[0].name",
                "subjects[0].person_id",
                "subjects[1].id"
            ],
            "{errs:?}"
        );
        assert!(SessionFile::from_json(&bad).is_err());
    }

    /// Figures that cannot be are refused as the counts form refuses them; figures not
    /// typed yet are not.
    #[test]
    fn impossible_figures_are_refused_missing_ones_are_not() {
        let bad = GOOD
            .replace(
                "{\"total\": 50, \"present\": 49, \"absent_from_start\": 1, \"present_at_vote\": 49}",
                "{\"total\": 50, \"present\": 52}",
            )
            .replace(
                "{\"issued\": 49, \"collected\": 49, \"wholly_invalid\": 0}",
                "{\"issued\": 5, \"collected\": 60}",
            )
            .replace("\"high\": 40", "\"high\": 90");
        let errs = SessionFile::read(&bad, &unit(), || "x".into()).expect_err("impossible");
        let at: Vec<_> = errs.iter().map(|e| e.at.as_str()).collect();
        assert!(at.contains(&"attendance.present"), "{errs:?}");
        assert!(at.contains(&"ballots.collected"), "{errs:?}");
        assert!(at.contains(&"tallies.s01"), "{errs:?}");
        let present = errs
            .iter()
            .find(|e| e.at == "attendance.present")
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            present.contains("(52) lớn hơn tổng số đại biểu"),
            "{present}"
        );
        let huge = GOOD.replace("\"total\": 50", "\"total\": 99999999");
        let errs = SessionFile::read(&huge, &unit(), || "x".into()).expect_err("too large");
        assert!(errs.iter().any(|e| e.at == "attendance.total"), "{errs:?}");

        let counting = GOOD.replace(
            "{\"issued\": 49, \"collected\": 49, \"wholly_invalid\": 0}",
            "{\"issued\": 49}",
        );
        SessionFile::read(&counting, &unit(), || "x".into()).expect("still counting");
        SessionFile::read(GOOD, &unit(), || "x".into()).expect("good");
    }

    #[test]
    fn csv_with_vietnamese_headers() {
        let text = "ma,ma_ca_nhan,ho_ten,chuc_vu,don_vi\ns01,p-1,Nguyễn Văn A,Chủ tịch,UBND\ns02,p-2,Trần Thị B,Phó Chủ tịch,UBND\n";
        let s = subjects_from_csv(text).expect("csv");
        assert_eq!(s.len(), 2);
        assert_eq!(s[1].name, "Trần Thị B");
        let bad = "id,person_id,name\ns01,p-1,A\ns01,p 2,B\n";
        let errs = subjects_from_csv(bad).expect_err("dups");
        let at: Vec<_> = errs.iter().map(|e| e.at.as_str()).collect();
        assert_eq!(at, vec!["dòng 3.person_id", "dòng 3.id"]);
    }
}
