//! The result of a session: a pure function of the session and its profile.

use super::limits::MAX_COUNT;
use super::{
    Denominator, Exclusion, Mark, Mode, Percent, PersonId, Procedure, Profile, Session, SessionId,
    SubjectId, UnitId,
};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A threshold a subject crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flag {
    /// Nothing crossed.
    None,
    /// Poll: more than half but less than two thirds "low".
    LowOverHalf,
    /// Poll: two thirds or more "low".
    LowTwoThirdsOrMore,
    /// Binding vote: more than half "no confidence".
    NoConfidenceOverHalf,
}

impl Flag {
    /// The stable name used in JSON.
    pub fn key(self) -> &'static str {
        match self {
            Flag::None => "none",
            Flag::LowOverHalf => "low_over_half",
            Flag::LowTwoThirdsOrMore => "low_two_thirds_or_more",
            Flag::NoConfidenceOverHalf => "no_confidence_over_half",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Flag> {
        [
            Flag::None,
            Flag::LowOverHalf,
            Flag::LowTwoThirdsOrMore,
            Flag::NoConfidenceOverHalf,
        ]
        .into_iter()
        .find(|f| f.key() == s)
    }

    /// A short Vietnamese label.
    pub fn title(self) -> &'static str {
        match self {
            Flag::None => "",
            Flag::LowOverHalf => "Quá nửa tín nhiệm thấp",
            Flag::LowTwoThirdsOrMore => "Từ 2/3 tín nhiệm thấp trở lên",
            Flag::NoConfidenceOverHalf => "Quá nửa không tín nhiệm",
        }
    }

    /// What the profile prescribes for this flag, if anything.
    pub fn consequence(self, profile: Profile) -> Option<&'static super::Consequence> {
        let r = profile.rules();
        match self {
            Flag::None => None,
            Flag::LowOverHalf => Some(&r.low_over_half),
            Flag::LowTwoThirdsOrMore => Some(&r.low_two_thirds),
            Flag::NoConfidenceOverHalf => Some(&r.no_confidence_over_half),
        }
    }

    /// The flag of `count` (the "low" or "no confidence" count) against `n`, in integers.
    ///
    /// "More than half" is `2·c > n`; "two thirds or more" is `3·c ≥ 2·n`. A zero
    /// denominator flags nothing: such a session has problems and cannot be sealed.
    pub fn of(procedure: Procedure, count: u64, n: u64) -> Flag {
        if n == 0 {
            return Flag::None;
        }
        let (c, n) = (u128::from(count), u128::from(n));
        match procedure {
            Procedure::Poll if 3 * c >= 2 * n => Flag::LowTwoThirdsOrMore,
            Procedure::Poll if 2 * c > n => Flag::LowOverHalf,
            Procedure::Binding if 2 * c > n => Flag::NoConfidenceOverHalf,
            _ => Flag::None,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One rule a session breaks. Every problem is reported, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A number has not been typed yet.
    Missing {
        /// Dotted path of the field.
        field: &'static str,
    },
    /// `a > b` where the minutes require `a ≤ b`.
    Exceeds {
        /// The field that is too large.
        field: &'static str,
        /// Its value.
        value: u64,
        /// The field it may not exceed.
        limit_field: &'static str,
        /// That field's value.
        limit: u64,
    },
    /// A count above [`MAX_COUNT`]: no body is that large, so it is a typing slip or a
    /// forged document, and no arithmetic is done on it.
    TooLarge {
        /// Dotted path of the field.
        field: &'static str,
        /// Its value.
        value: u64,
    },
    /// A subject's tally holds a count above [`MAX_COUNT`].
    TallyTooLarge {
        /// The subject.
        subject: SubjectId,
        /// The person's name.
        name: String,
        /// The value.
        value: u64,
    },
    /// Present at the session and absent from the start are more than the whole body.
    AttendanceSum {
        /// Present at the session.
        present: u64,
        /// Absent from the start until the vote.
        absent: u64,
        /// Total members.
        total: u64,
    },
    /// More present at the vote than the body minus those absent until the vote.
    AbsentAtVote {
        /// Present at the vote.
        present_at_vote: u64,
        /// Absent from the start until the vote.
        absent: u64,
        /// Total members.
        total: u64,
    },
    /// Zero ballots collected: nothing to count.
    NothingCollected,
    /// Fewer than two thirds attend.
    QuorumNotMet {
        /// Present at the vote.
        present: u64,
        /// The base of the quorum.
        total: u64,
        /// The least number present that meets the quorum.
        needed: u64,
    },
    /// The list has no subject to poll.
    NoSubjects,
    /// A subject has no tally (tallies mode).
    MissingTally {
        /// The subject.
        subject: SubjectId,
        /// The person's name.
        name: String,
    },
    /// levels + invalid for a subject do not add up to the ballots that count.
    SubjectSum {
        /// The subject.
        subject: SubjectId,
        /// The person's name.
        name: String,
        /// levels + invalid as recorded.
        sum: u64,
        /// collected − wholly invalid.
        expected: u64,
    },
    /// The number of entered ballots differs from collected − wholly invalid.
    EntryCount {
        /// Ballots entered.
        entered: u64,
        /// collected − wholly invalid.
        expected: u64,
    },
    /// Data of the other mode is present (tallies in an entries session, or the reverse).
    MixedModes {
        /// The mode of the session.
        mode: Mode,
    },
    /// A ballot or tally names a subject not on the list, or one that is excluded.
    NotOnBallot {
        /// The subject id found.
        subject: String,
    },
    /// One person is polled on two lines of the same session.
    PersonTwice {
        /// The person.
        person: PersonId,
        /// The name on each of the lines.
        names: Vec<String>,
    },
    /// Two clerks set a value concurrently to different things.
    Conflict {
        /// Dotted path of the field.
        field: String,
        /// The values, as text.
        values: Vec<String>,
    },
    /// A person is left off the ballot for a reason the profile does not know (the
    /// nine-month rule of NQ 85 under NQ 96, say).
    ExclusionNotInProfile {
        /// The subject.
        subject: SubjectId,
        /// The person's name.
        name: String,
        /// The reason given.
        reason: Exclusion,
        /// The session's profile.
        profile: Profile,
    },
    /// Something in the document is not in the expected shape.
    Malformed {
        /// What, in words.
        what: String,
    },
}

impl Problem {
    /// A stable code, for JSON and tests.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Missing { .. } => "missing",
            Problem::Exceeds { .. } => "exceeds",
            Problem::TooLarge { .. } => "too_large",
            Problem::TallyTooLarge { .. } => "tally_too_large",
            Problem::AttendanceSum { .. } => "attendance_sum",
            Problem::AbsentAtVote { .. } => "absent_at_vote",
            Problem::NothingCollected => "nothing_collected",
            Problem::QuorumNotMet { .. } => "quorum_not_met",
            Problem::NoSubjects => "no_subjects",
            Problem::MissingTally { .. } => "missing_tally",
            Problem::SubjectSum { .. } => "subject_sum",
            Problem::EntryCount { .. } => "entry_count",
            Problem::MixedModes { .. } => "mixed_modes",
            Problem::NotOnBallot { .. } => "not_on_ballot",
            Problem::PersonTwice { .. } => "person_twice",
            Problem::Conflict { .. } => "conflict",
            Problem::ExclusionNotInProfile { .. } => "exclusion_not_in_profile",
            Problem::Malformed { .. } => "malformed",
        }
    }

    /// Where a person fixes it, as the pages name their fields: `count/NAME` for a
    /// number of the attendance and ballots form, `subject/ID` for a person's line.
    /// `None` when the problem is the session's as a whole.
    pub fn at(&self) -> Option<String> {
        let count = |field: &str| {
            let name = field.rsplit('.').next().unwrap_or(field);
            Some(format!("count/{name}"))
        };
        match self {
            Problem::Missing { field } => count(field),
            Problem::Exceeds { field, .. } | Problem::TooLarge { field, .. } => count(field),
            Problem::AttendanceSum { .. } => count("absent_from_start"),
            Problem::AbsentAtVote { .. } => count("present_at_vote"),
            Problem::NothingCollected => count("collected"),
            Problem::QuorumNotMet { .. } => count("present_at_vote"),
            Problem::MissingTally { subject, .. }
            | Problem::SubjectSum { subject, .. }
            | Problem::TallyTooLarge { subject, .. }
            | Problem::ExclusionNotInProfile { subject, .. } => Some(format!("subject/{subject}")),
            Problem::Conflict { field, .. }
                if field.starts_with("attendance.") || field.starts_with("ballots.") =>
            {
                count(field)
            }
            _ => None,
        }
    }

    /// Whether the problem is one the attendance and ballots form makes impossible by
    /// its own definitions: such counts are refused where they are typed, not saved.
    pub fn is_count_rule(&self) -> bool {
        matches!(
            self,
            Problem::Exceeds { .. }
                | Problem::TooLarge { .. }
                | Problem::AttendanceSum { .. }
                | Problem::AbsentAtVote { .. }
                | Problem::NothingCollected
        )
    }
}

impl Problem {
    /// Whether the figures cannot be, whatever is typed later: the count rules the form
    /// refuses ([`Problem::is_count_rule`]), a tally row that does not add up to the
    /// ballots counted or holds a count past the limit (refused where a tally is typed),
    /// and more ballots entered than were counted. An imported file with one of these is
    /// refused; a number not typed yet, or fewer ballots entered so far, is not.
    pub fn is_impossible(&self) -> bool {
        match self {
            Problem::SubjectSum { .. } | Problem::TallyTooLarge { .. } => true,
            Problem::EntryCount { entered, expected } => entered > expected,
            p => p.is_count_rule(),
        }
    }

    /// Where the problem is in a session file (`attendance.present`, `tallies.s01`), as
    /// [`super::FileError::at`] names places.
    pub fn file_place(&self) -> String {
        match self {
            Problem::Missing { field }
            | Problem::Exceeds { field, .. }
            | Problem::TooLarge { field, .. } => (*field).to_string(),
            Problem::AttendanceSum { .. } => "attendance.absent_from_start".into(),
            Problem::AbsentAtVote { .. } | Problem::QuorumNotMet { .. } => {
                "attendance.present_at_vote".into()
            }
            Problem::NothingCollected => "ballots.collected".into(),
            Problem::MissingTally { subject, .. }
            | Problem::SubjectSum { subject, .. }
            | Problem::TallyTooLarge { subject, .. } => format!("tallies.{subject}"),
            Problem::EntryCount { .. } => "entries".into(),
            _ => String::new(),
        }
    }
}

/// The form's own label of a count, as the clerk reads it on the page.
fn field_vi(field: &str) -> &str {
    match field {
        "attendance.total" => "tổng số đại biểu (thành viên)",
        "attendance.present" => "số có mặt dự kỳ họp (hội nghị)",
        "attendance.absent_from_start" => "số vắng mặt từ đầu đến trước khi bỏ phiếu",
        "attendance.present_at_vote" => "số có mặt khi bỏ phiếu",
        "ballots.issued" => "số phiếu phát ra",
        "ballots.collected" => "số phiếu thu về",
        "ballots.wholly_invalid" => "số phiếu không hợp lệ hoàn toàn",
        _ => "một ô số liệu",
    }
}

/// A conflicting field's label: a count's label, or a header field's, never a path.
pub fn conflict_vi(field: &str) -> String {
    if field.starts_with("attendance.") || field.starts_with("ballots.") {
        return field_vi(field).to_string();
    }
    let last = field.rsplit(['.', '/']).next().unwrap_or(field);
    match last {
        "body" => "tên cơ quan".into(),
        "title" => "tên kỳ họp".into(),
        "place" => "nơi kiểm phiếu".into(),
        "count_from" => "giờ bắt đầu kiểm phiếu".into(),
        "count_to" => "giờ kết thúc kiểm phiếu".into(),
        "chair" => "trưởng ban kiểm phiếu".into(),
        "board" => "thành viên ban kiểm phiếu".into(),
        "name" => "họ tên".into(),
        "position" => "chức vụ".into(),
        "unit" => "đơn vị công tác".into(),
        "excluded" => "lý do không lấy phiếu".into(),
        _ => "một ô đã nhập".into(),
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing { field } => write!(f, "Chưa nhập {}", field_vi(field)),
            Problem::Exceeds { field, value, limit_field, limit } => write!(
                f,
                "{} ({value}) lớn hơn {} ({limit})",
                capitalize(field_vi(field)),
                field_vi(limit_field)
            ),
            Problem::TooLarge { field, value } => write!(
                f,
                "{} ({value}) quá lớn: không cơ quan nào có quá {MAX_COUNT}",
                capitalize(field_vi(field))
            ),
            Problem::TallyTooLarge { name, value, .. } => write!(
                f,
                "{name}: số {value} quá lớn (tối đa {MAX_COUNT})"
            ),
            Problem::AttendanceSum { present, absent, total } => write!(
                f,
                "Số có mặt ({present}) cộng số vắng mặt từ đầu ({absent}) lớn hơn tổng số đại biểu (thành viên) ({total})"
            ),
            Problem::AbsentAtVote { present_at_vote, absent, total } => write!(
                f,
                "Số có mặt khi bỏ phiếu ({present_at_vote}) lớn hơn tổng số ({total}) trừ số vắng mặt từ đầu ({absent})"
            ),
            Problem::NothingCollected => write!(f, "Số phiếu thu về là 0: không có phiếu nào để kiểm"),
            Problem::QuorumNotMet { present, total, needed } => write!(
                f,
                "Không đủ 2/3: có mặt khi bỏ phiếu {present}/{total}, cần ít nhất {needed}"
            ),
            Problem::NoSubjects => write!(f, "Chưa có người được lấy phiếu nào"),
            Problem::MissingTally { name, .. } => {
                write!(f, "Chưa nhập kết quả kiểm phiếu của {name}")
            }
            Problem::SubjectSum { name, sum, expected, .. } => write!(
                f,
                "{name}: tổng các mức và phiếu không hợp lệ là {sum}, phải bằng số phiếu thu về trừ phiếu không hợp lệ hoàn toàn ({expected})"
            ),
            Problem::EntryCount { entered, expected } => write!(
                f,
                "Đã nhập {entered} phiếu, phải bằng số phiếu thu về trừ phiếu không hợp lệ hoàn toàn ({expected})"
            ),
            Problem::MixedModes { mode } => write!(
                f,
                "Phiên nhập theo «{}» nhưng có dữ liệu của cách nhập kia",
                match mode {
                    Mode::Entries => "từng phiếu",
                    Mode::Tallies => "tổng hợp",
                }
            ),
            Problem::ExclusionNotInProfile {
                name,
                reason,
                profile,
                ..
            } => write!(
                f,
                "{name}: lý do không lấy phiếu «{}» không có trong quy định {profile}",
                reason.title()
            ),
            Problem::NotOnBallot { subject } => write!(
                f,
                "Có phiếu hoặc kết quả ghi cho dòng «{subject}», dòng này không có trong danh sách lấy phiếu"
            ),
            Problem::PersonTwice { names, .. } => write!(
                f,
                "{} có tên ở {} dòng: người giữ nhiều chức vụ chỉ được lấy phiếu một lần",
                names.first().map(String::as_str).unwrap_or("Một người"),
                names.len()
            ),
            Problem::Conflict { field, values } => write!(
                f,
                "Hai máy nhập khác nhau cho {}: {}; hãy nhập lại giá trị đúng",
                conflict_vi(field),
                values.join(" / ")
            ),
            Problem::Malformed { what } => write!(f, "Dữ liệu không đúng dạng: {what}"),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// One subject's line of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubjectResult {
    /// The line's id.
    pub id: SubjectId,
    /// The person.
    pub person_id: PersonId,
    /// Full name.
    pub name: String,
    /// Position.
    pub position: String,
    /// Unit of work.
    pub unit: String,
    /// Valid ballots for this subject.
    pub valid: u64,
    /// Ballots invalid for this subject only.
    pub invalid: u64,
    /// One count per level of the procedure, in ballot order.
    pub counts: Vec<u64>,
    /// One percentage per level, over ballots collected.
    pub percent: Vec<Percent>,
    /// The threshold crossed, if any.
    pub flag: Flag,
}

/// A listed subject who is not polled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExcludedSubject {
    /// The line's id.
    pub id: SubjectId,
    /// The person.
    pub person_id: PersonId,
    /// Full name.
    pub name: String,
    /// Why.
    pub reason: Exclusion,
}

/// The result of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionResult {
    /// The unit.
    pub unit: UnitId,
    /// The session.
    pub session: SessionId,
    /// The profile.
    pub profile: Profile,
    /// The procedure.
    pub procedure: Procedure,
    /// Total delegates or members (0 when not typed).
    pub total: u64,
    /// Present at the session.
    pub present: u64,
    /// Absent from the start.
    pub absent_from_start: u64,
    /// Present at the vote.
    pub present_at_vote: u64,
    /// Ballots issued.
    pub issued: u64,
    /// Ballots collected.
    pub collected: u64,
    /// Ballots invalid as a whole.
    pub wholly_invalid: u64,
    /// Whether two thirds attend.
    pub quorum_met: bool,
    /// Whether every consistency rule holds (the quorum aside).
    pub consistent: bool,
    /// Every rule broken, the quorum included.
    pub problems: Vec<Problem>,
    /// Per subject, in ballot order.
    pub subjects: Vec<SubjectResult>,
    /// Listed but not polled.
    pub excluded: Vec<ExcludedSubject>,
}

impl SessionResult {
    /// Whether the minutes may be sealed: quorum met and consistent.
    pub fn sealable(&self) -> bool {
        self.quorum_met && self.consistent
    }

    /// The `result --json` shape, shared by the node and the hub.
    pub fn to_json(&self) -> Value {
        let levels = self.procedure.levels();
        let subjects: Vec<Value> = self
            .subjects
            .iter()
            .map(|s| {
                let mut counts = serde_json::Map::new();
                let mut percent = serde_json::Map::new();
                for (i, m) in levels.iter().enumerate() {
                    counts.insert(m.key().into(), json!(s.counts.get(i).copied().unwrap_or(0)));
                    percent.insert(
                        m.key().into(),
                        json!(s.percent.get(i).copied().unwrap_or_default().dot()),
                    );
                }
                json!({
                    "id": s.id, "person_id": s.person_id, "name": s.name,
                    "position": s.position, "unit": s.unit,
                    "valid": s.valid, "invalid": s.invalid,
                    "counts": counts, "percent": percent, "flag": s.flag.key(),
                })
            })
            .collect();
        let problems: Vec<Value> = self
            .problems
            .iter()
            .map(|p| json!({"code": p.code(), "message": p.to_string(), "at": p.at()}))
            .collect();
        let excluded: Vec<Value> = self
            .excluded
            .iter()
            .map(|e| json!({"id": e.id, "person_id": e.person_id, "name": e.name, "reason": e.reason.key()}))
            .collect();
        json!({
            "unit": self.unit, "session": self.session,
            "profile": self.profile.key(), "procedure": self.procedure.key(),
            "total": self.total, "present": self.present,
            "absent_from_start": self.absent_from_start,
            "present_at_vote": self.present_at_vote,
            "issued": self.issued, "collected": self.collected,
            "wholly_invalid": self.wholly_invalid,
            "quorum_met": self.quorum_met, "consistent": self.consistent,
            "problems": problems, "subjects": subjects, "excluded": excluded,
        })
    }
}

/// Computes the result of `session` under its profile, listing every problem.
pub fn compute(session: &Session) -> SessionResult {
    let meta = &session.meta;
    let procedure = meta.procedure;
    let levels = procedure.levels();
    let mut problems = Vec::new();

    for c in &session.conflicts {
        problems.push(Problem::Conflict {
            field: c.field.clone(),
            values: c.values.clone(),
        });
    }
    for a in &session.anomalies {
        problems.push(Problem::Malformed { what: a.clone() });
    }

    // Every count bounded first: above MAX_COUNT a value is a slip or a forgery, and
    // it takes part in no comparison (the arithmetic below is saturating anyway).
    let mut a = session.attendance;
    let mut b = session.ballots;
    let mut bound = |field: &'static str, v: &mut Option<u64>| {
        if let Some(x) = *v {
            if x > MAX_COUNT {
                problems.push(Problem::TooLarge { field, value: x });
                *v = None;
            }
        }
    };
    bound("attendance.total", &mut a.total);
    bound("attendance.present", &mut a.present);
    bound("attendance.absent_from_start", &mut a.absent_from_start);
    bound("attendance.present_at_vote", &mut a.present_at_vote);
    bound("ballots.issued", &mut b.issued);
    bound("ballots.collected", &mut b.collected);
    bound("ballots.wholly_invalid", &mut b.wholly_invalid);
    let too_large = problems
        .iter()
        .any(|p| matches!(p, Problem::TooLarge { .. }));

    let mut need = |field: &'static str, v: Option<u64>| -> u64 {
        v.unwrap_or_else(|| {
            if !too_large {
                problems.push(Problem::Missing { field });
            }
            0
        })
    };
    let total = need("attendance.total", a.total);
    let present = need("attendance.present", a.present);
    let absent = a.absent_from_start.unwrap_or(0);
    let present_at_vote = need("attendance.present_at_vote", a.present_at_vote);
    let issued = need("ballots.issued", b.issued);
    let collected = need("ballots.collected", b.collected);
    let wholly_invalid = b.wholly_invalid.unwrap_or(0);

    // The form's own definitions (seed 002, Annex 4), as ARCHITECTURE.md explains.
    let mut le = |field, value: Option<u64>, limit_field, limit: Option<u64>| {
        if let (Some(value), Some(limit)) = (value, limit) {
            if value > limit {
                problems.push(Problem::Exceeds {
                    field,
                    value,
                    limit_field,
                    limit,
                });
            }
        }
    };
    le("attendance.present", a.present, "attendance.total", a.total);
    le(
        "attendance.absent_from_start",
        a.absent_from_start,
        "attendance.total",
        a.total,
    );
    le(
        "attendance.present_at_vote",
        a.present_at_vote,
        "attendance.total",
        a.total,
    );
    le(
        "ballots.issued",
        b.issued,
        "attendance.present_at_vote",
        a.present_at_vote,
    );
    le("ballots.collected", b.collected, "ballots.issued", b.issued);
    le(
        "ballots.wholly_invalid",
        b.wholly_invalid,
        "ballots.collected",
        b.collected,
    );
    if let (Some(t), Some(p), Some(ab)) = (a.total, a.present, a.absent_from_start) {
        if p <= t && ab <= t && p + ab > t {
            problems.push(Problem::AttendanceSum {
                present: p,
                absent: ab,
                total: t,
            });
        }
    }
    if let (Some(t), Some(v), Some(ab)) = (a.total, a.present_at_vote, a.absent_from_start) {
        if v <= t && ab <= t && v > t - ab {
            problems.push(Problem::AbsentAtVote {
                present_at_vote: v,
                absent: ab,
                total: t,
            });
        }
    }
    if b.collected == Some(0) {
        problems.push(Problem::NothingCollected);
    }
    // Quorum is never met on figures that cannot all be true.
    let attendance_possible = !problems.iter().any(|p| {
        matches!(
            p,
            Problem::TooLarge { .. } | Problem::AttendanceSum { .. } | Problem::AbsentAtVote { .. }
        ) || matches!(p, Problem::Exceeds { field, .. } if field.starts_with("attendance."))
    });

    let counted = collected.saturating_sub(wholly_invalid);

    // Subjects: polled ones in ballot order, excluded ones aside, one person once.
    let polled: Vec<_> = session
        .subjects
        .iter()
        .filter(|s| s.excluded.is_none())
        .collect();
    let excluded = session
        .subjects
        .iter()
        .filter_map(|s| {
            s.excluded.map(|reason| ExcludedSubject {
                id: s.id.clone(),
                person_id: s.person_id.clone(),
                name: s.name.clone(),
                reason,
            })
        })
        .collect();
    if polled.is_empty() {
        problems.push(Problem::NoSubjects);
    }
    let rules = meta.profile.rules();
    for s in &session.subjects {
        if let Some(reason) = s.excluded {
            if !rules.exclusions.contains(&reason) {
                problems.push(Problem::ExclusionNotInProfile {
                    subject: s.id.clone(),
                    name: s.name.clone(),
                    reason,
                    profile: meta.profile,
                });
            }
        }
    }
    let mut seen: BTreeMap<&PersonId, usize> = BTreeMap::new();
    for s in &polled {
        *seen.entry(&s.person_id).or_default() += 1;
    }
    for (person, n) in seen {
        if n > 1 {
            problems.push(Problem::PersonTwice {
                person: person.clone(),
                names: polled
                    .iter()
                    .filter(|s| &s.person_id == person)
                    .map(|s| s.name.clone())
                    .collect(),
            });
        }
    }
    let on_ballot = |id: &SubjectId| polled.iter().any(|s| &s.id == id);

    // Counts per subject: [levels..., invalid].
    let mut counts: BTreeMap<&SubjectId, (Vec<u64>, u64)> = BTreeMap::new();
    match meta.mode {
        Mode::Entries => {
            if !session.tallies.is_empty() {
                problems.push(Problem::MixedModes {
                    mode: Mode::Entries,
                });
            }
            for s in &polled {
                counts.insert(&s.id, (vec![0; levels.len()], 0));
            }
            let mut strays = std::collections::BTreeSet::new();
            for e in &session.entries {
                for (sid, mark) in &e.marks {
                    if !on_ballot(sid) {
                        strays.insert(sid.to_string());
                    }
                    if !mark.fits(procedure) {
                        problems.push(Problem::Malformed {
                            what: format!("phiếu {} ghi mức «{mark}» cho {sid}", e.id),
                        });
                    }
                }
                for s in &polled {
                    let slot = counts
                        .entry(&s.id)
                        .or_insert_with(|| (vec![0; levels.len()], 0));
                    match e
                        .marks
                        .get(&s.id)
                        .and_then(|m| levels.iter().position(|l| l == m))
                    {
                        Some(i) => slot.0[i] += 1,
                        None => slot.1 += 1,
                    }
                }
            }
            for subject in strays {
                problems.push(Problem::NotOnBallot { subject });
            }
            let entered = session.entries.len() as u64;
            if b.collected.is_some() && entered != counted {
                problems.push(Problem::EntryCount {
                    entered,
                    expected: counted,
                });
            }
        }
        Mode::Tallies => {
            if !session.entries.is_empty() {
                problems.push(Problem::MixedModes {
                    mode: Mode::Tallies,
                });
            }
            for sid in session.tallies.keys() {
                if !on_ballot(sid) {
                    problems.push(Problem::NotOnBallot {
                        subject: sid.to_string(),
                    });
                }
            }
            for s in &polled {
                match session.tallies.get(&s.id) {
                    Some(t) if t.levels.len() == levels.len() => {
                        if let Some(&value) = t
                            .levels
                            .iter()
                            .chain([&t.invalid])
                            .find(|&&v| v > MAX_COUNT)
                        {
                            problems.push(Problem::TallyTooLarge {
                                subject: s.id.clone(),
                                name: s.name.clone(),
                                value,
                            });
                        }
                        counts.insert(&s.id, (t.levels.clone(), t.invalid));
                    }
                    Some(_) => problems.push(Problem::Malformed {
                        what: format!("kết quả của {} không đúng số mức", s.id),
                    }),
                    None => problems.push(Problem::MissingTally {
                        subject: s.id.clone(),
                        name: s.name.clone(),
                    }),
                }
            }
        }
    }

    let denominator = match rules.threshold_denominator {
        Denominator::TotalMembers => total,
        Denominator::BallotsCollected => collected,
    };
    let percent_of = match rules.percent_denominator {
        Denominator::TotalMembers => total,
        Denominator::BallotsCollected => collected,
    };
    let flagged = match procedure {
        Procedure::Poll => Mark::Low,
        Procedure::Binding => Mark::NoConfidence,
    };
    let flag_index = levels.iter().position(|m| *m == flagged).unwrap_or(0);

    let mut subjects = Vec::new();
    for s in &polled {
        let recorded = counts.get(&s.id).cloned();
        let has_tally = recorded.is_some();
        let (c, invalid) = recorded.unwrap_or_else(|| (vec![0; levels.len()], 0));
        // Saturating: a forged tally near u64::MAX must not wrap into a "consistent" sum
        // (it is already a TallyTooLarge problem).
        let valid: u64 = c.iter().fold(0u64, |acc, &n| acc.saturating_add(n));
        let sum = valid.saturating_add(invalid);
        if has_tally && b.collected.is_some() && sum != counted && meta.mode == Mode::Tallies {
            problems.push(Problem::SubjectSum {
                subject: s.id.clone(),
                name: s.name.clone(),
                sum,
                expected: counted,
            });
        }
        subjects.push(SubjectResult {
            id: s.id.clone(),
            person_id: s.person_id.clone(),
            name: s.name.clone(),
            position: s.position.clone(),
            unit: s.unit.clone(),
            valid,
            invalid,
            percent: c.iter().map(|&n| Percent::of(n, percent_of)).collect(),
            flag: Flag::of(procedure, c[flag_index], denominator),
            counts: c,
        });
    }

    // NQ 85 sets no two-thirds condition: only figures that can all be true are needed.
    let two_thirds =
        !rules.two_thirds_quorum || 3 * u128::from(present_at_vote) >= 2 * u128::from(total);
    let quorum_met = a.present_at_vote.is_some() && total > 0 && attendance_possible && two_thirds;
    if !two_thirds && a.present_at_vote.is_some() && a.total.is_some() {
        problems.push(Problem::QuorumNotMet {
            present: present_at_vote,
            total,
            needed: (2 * u128::from(total)).div_ceil(3) as u64,
        });
    }
    let consistent = problems
        .iter()
        .all(|p| matches!(p, Problem::QuorumNotMet { .. }));

    SessionResult {
        unit: meta.unit.clone(),
        session: meta.session.clone(),
        profile: meta.profile,
        procedure,
        total,
        present,
        absent_from_start: absent,
        present_at_vote,
        issued,
        collected,
        wholly_invalid,
        quorum_met,
        consistent,
        problems,
        subjects,
        excluded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Attendance, Ballots, Meta, Subject, Tally};
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn check(procedure: Procedure, count: u64, n: u64, expect: Flag) {
        assert_eq!(
            Flag::of(procedure, count, n),
            expect,
            "{procedure} {count}/{n}"
        );
    }

    #[test]
    fn thresholds_at_exactly_one_half_and_two_thirds() {
        use Flag::*;
        use Procedure::*;
        // n = 60: half is 30 (not "more than half"), two thirds is 40.
        check(Poll, 30, 60, None);
        check(Poll, 31, 60, LowOverHalf);
        check(Poll, 39, 60, LowOverHalf);
        check(Poll, 40, 60, LowTwoThirdsOrMore);
        // n = 49 (odd, not a multiple of 3): 24.5 and 32.67.
        check(Poll, 24, 49, None);
        check(Poll, 25, 49, LowOverHalf);
        check(Poll, 32, 49, LowOverHalf);
        check(Poll, 33, 49, LowTwoThirdsOrMore);
        // n = 3: 2 is both more than half and two thirds.
        check(Poll, 2, 3, LowTwoThirdsOrMore);
        check(Poll, 1, 3, None);
        check(Binding, 30, 60, None);
        check(Binding, 31, 60, NoConfidenceOverHalf);
        check(Binding, 60, 60, NoConfidenceOverHalf);
        check(Poll, 0, 0, None);
    }

    proptest! {
        /// The integer rules against an independent formulation with floor divisions.
        #[test]
        fn flags_match_floor_division_formulation(n in 1u64..100_000, frac in 0u64..=1000) {
            let c = n * frac / 1000;
            let half = n / 2;                 // c > n/2  <=>  c > floor(n/2)
            let two_thirds = (2 * n).div_ceil(3); // c >= 2n/3 <=> c >= ceil(2n/3)
            let poll = if c >= two_thirds { Flag::LowTwoThirdsOrMore }
                else if c > half { Flag::LowOverHalf } else { Flag::None };
            prop_assert_eq!(Flag::of(Procedure::Poll, c, n), poll);
            let binding = if c > half { Flag::NoConfidenceOverHalf } else { Flag::None };
            prop_assert_eq!(Flag::of(Procedure::Binding, c, n), binding);
        }

        /// Any consistent tally computes without problems, its percentages add up to
        /// about 100 over the valid share, and the flag follows the profile's denominator.
        #[test]
        fn consistent_tallies_have_no_problems(
            total in 3u64..500, high in 0u64..200, conf in 0u64..200, low in 0u64..200,
            invalid in 0u64..5, wholly in 0u64..5,
        ) {
            let collected = high + conf + low + invalid + wholly;
            prop_assume!(collected > 0 && collected <= total);
            for profile in Profile::ALL {
                let s = session(profile, total, collected, wholly, vec![high, conf, low], invalid);
                let r = compute(&s);
                let quorum = !profile.rules().two_thirds_quorum || 3 * collected >= 2 * total;
                prop_assert_eq!(r.quorum_met, quorum);
                prop_assert!(r.consistent, "{:?}", r.problems);
                let sr = &r.subjects[0];
                prop_assert_eq!(sr.valid, high + conf + low);
                let n = match profile.rules().threshold_denominator {
                    Denominator::TotalMembers => total,
                    Denominator::BallotsCollected => collected,
                };
                prop_assert_eq!(sr.flag, Flag::of(Procedure::Poll, low, n));
                let sum: u32 = sr.percent.iter().map(|p| p.0).sum();
                let of = match profile.rules().percent_denominator {
                    Denominator::TotalMembers => total,
                    Denominator::BallotsCollected => collected,
                };
                let exact = (high + conf + low) * 10_000 / of;
                prop_assert!((i64::from(sum) - exact as i64).abs() <= 2);
            }
        }
    }

    proptest! {
        /// Counts from a file, a form or a peer's document are arbitrary u64: nothing
        /// wraps or panics (debug builds panic on overflow, so this fails on any unchecked
        /// sum), and a session holding a value past MAX_COUNT is never sealable.
        #[test]
        fn arbitrary_u64_counts_never_wrap_or_pass(
            counts in proptest::collection::vec(
                prop_oneof![0u64..60, Just(u64::MAX), Just(u64::MAX / 2 + 1), any::<u64>()], 7),
            levels in proptest::collection::vec(
                prop_oneof![0u64..60, Just(u64::MAX), any::<u64>()], 3),
            invalid in prop_oneof![0u64..5, Just(u64::MAX), any::<u64>()],
        ) {
            let mut s = session(Profile::Nq96_2023, 50, 49, 0, levels.clone(), invalid);
            s.attendance = Attendance {
                total: Some(counts[0]), present: Some(counts[1]),
                absent_from_start: Some(counts[2]), present_at_vote: Some(counts[3]),
            };
            s.ballots = Ballots {
                issued: Some(counts[4]), collected: Some(counts[5]), wholly_invalid: Some(counts[6]),
            };
            let r = compute(&s);
            let huge = counts.iter().chain(&levels).chain([&invalid]).any(|&v| v > MAX_COUNT);
            if huge {
                prop_assert!(!r.sealable(), "{:?}", r.problems);
            }
            if r.quorum_met {
                prop_assert!(counts[1] <= counts[0] && counts[3] <= counts[0]);
                prop_assert!(counts[0] <= MAX_COUNT);
            }
            for p in &r.problems {
                let text = p.to_string();
                prop_assert!(!text.contains("attendance.") && !text.contains("ballots."), "{}", text);
            }
        }
    }

    #[test]
    fn impossible_attendance_is_named_and_never_meets_the_quorum() {
        let case = |f: &dyn Fn(&mut Session)| {
            let mut s = session(Profile::Nq96_2023, 50, 40, 0, vec![30, 8, 2], 0);
            f(&mut s);
            compute(&s)
        };
        // 52 present of 50: the present-at-vote figure alone would meet two thirds.
        let r = case(&|s| s.attendance.present = Some(52));
        assert!(!r.quorum_met);
        assert_eq!(r.problems[0].code(), "exceeds");
        assert_eq!(r.problems[0].at().as_deref(), Some("count/present"));
        assert_eq!(
            r.problems[0].to_string(),
            "Số có mặt dự kỳ họp (hội nghị) (52) lớn hơn tổng số đại biểu (thành viên) (50)"
        );
        // 40 present and 15 absent from the start, of 50.
        let r = case(&|s| s.attendance.absent_from_start = Some(15));
        assert!(!r.quorum_met);
        let codes: Vec<_> = r.problems.iter().map(Problem::code).collect();
        assert!(codes.contains(&"attendance_sum"), "{codes:?}");
        // 45 at the vote although 10 of 50 were absent until the vote.
        let r = case(&|s| {
            s.attendance.absent_from_start = Some(10);
            s.attendance.present = Some(40);
            s.attendance.present_at_vote = Some(45);
        });
        assert!(!r.quorum_met);
        assert!(r.problems.iter().any(|p| p.code() == "absent_at_vote"));
        // Nothing collected.
        let r = case(&|s| s.ballots.collected = Some(0));
        assert!(r.problems.iter().any(|p| p.code() == "nothing_collected"));
        assert!(!r.sealable());
    }

    #[test]
    fn a_tally_of_u64_max_is_refused_not_wrapped() {
        // high = 2^64 − 1 and confidence = 1 once wrapped to a "consistent" sum.
        let s = session(Profile::Nq96_2023, 50, 49, 0, vec![u64::MAX, 1, 49], 0);
        let r = compute(&s);
        assert!(!r.sealable());
        let tl = r
            .problems
            .iter()
            .find(|p| p.code() == "tally_too_large")
            .expect("too large named");
        assert_eq!(tl.at().as_deref(), Some("subject/s01"));
        assert!(tl.to_string().starts_with("A: số"), "{tl}");
        let sum = r.problems.iter().find(|p| p.code() == "subject_sum");
        assert!(
            sum.is_some_and(|p| p.to_string().starts_with("A: tổng")),
            "{:?}",
            r.problems
        );
    }

    fn session(
        profile: Profile,
        total: u64,
        collected: u64,
        wholly: u64,
        levels: Vec<u64>,
        invalid: u64,
    ) -> Session {
        Session {
            meta: Meta {
                unit: UnitId::new("u").expect("id"),
                session: SessionId::new("s").expect("id"),
                profile,
                procedure: Procedure::Poll,
                mode: Mode::Tallies,
                body: "HĐND".into(),
                title: None,
                date: NaiveDate::from_ymd_opt(2023, 12, 8).expect("date"),
                place: None,
                count_from: None,
                count_to: None,
                chair: None,
                board: vec![],
                resolution_date: None,
                assigned_by: None,
                polled_posts: None,
                opening_date: None,
            },
            attendance: Attendance {
                total: Some(total),
                present: Some(collected),
                absent_from_start: Some(0),
                present_at_vote: Some(collected),
            },
            ballots: Ballots {
                issued: Some(collected),
                collected: Some(collected),
                wholly_invalid: Some(wholly),
            },
            subjects: vec![Subject {
                id: SubjectId::new("s01").expect("id"),
                person_id: PersonId::new("p1").expect("id"),
                name: "A".into(),
                position: "P".into(),
                unit: "U".into(),
                order: 1,
                excluded: None,
            }],
            entries: vec![],
            tallies: [(
                SubjectId::new("s01").expect("id"),
                Tally { levels, invalid },
            )]
            .into_iter()
            .collect(),
            conflicts: vec![],
            anomalies: vec![],
        }
    }

    #[test]
    fn inconsistent_numbers_are_all_listed() {
        let mut s = session(Profile::Nq96_2023, 50, 49, 0, vec![40, 8, 1], 0);
        s.attendance.present_at_vote = Some(60);
        s.ballots.issued = Some(48);
        s.tallies.insert(
            SubjectId::new("s09").expect("id"),
            Tally {
                levels: vec![1, 1, 1],
                invalid: 0,
            },
        );
        let mut twin = s.subjects[0].clone();
        twin.id = SubjectId::new("s02").expect("id");
        s.subjects.push(twin);
        let r = compute(&s);
        let codes: Vec<_> = r.problems.iter().map(Problem::code).collect();
        assert_eq!(
            codes,
            vec![
                "exceeds",
                "exceeds",
                "person_twice",
                "not_on_ballot",
                "missing_tally"
            ],
            "{:?}",
            r.problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        );
        assert!(!r.consistent);
        let text = r.problems[0].to_string();
        assert!(text.contains("Số có mặt khi bỏ phiếu (60)"), "{text}");
    }

    #[test]
    fn excluded_subjects_are_listed_not_polled() {
        let mut s = session(Profile::Nq96_2023, 50, 49, 0, vec![40, 8, 1], 0);
        let mut retiring = s.subjects[0].clone();
        retiring.id = SubjectId::new("s02").expect("id");
        retiring.person_id = PersonId::new("p2").expect("id");
        retiring.excluded = Some(crate::domain::Exclusion::Retiring);
        s.subjects.push(retiring);
        let r = compute(&s);
        assert!(r.consistent, "{:?}", r.problems);
        assert_eq!(r.subjects.len(), 1);
        assert_eq!(r.excluded.len(), 1);
        let j = r.to_json();
        assert_eq!(j["subjects"][0]["percent"]["high"], "81.63");
        assert_eq!(j["excluded"][0]["reason"], "retiring");
    }

    /// NQ 85: percentages over all delegates and no two-thirds condition, so 30 of 50
    /// present computes (not a quorum problem) and 40 high is 80.00 %, not 40/30.
    #[test]
    fn nq85_counts_over_total_delegates_without_quorum() {
        let mut s = session(Profile::Nq85_2014, 50, 30, 0, vec![20, 6, 4], 0);
        s.attendance.present = Some(30);
        s.attendance.present_at_vote = Some(30);
        let r = compute(&s);
        assert!(r.quorum_met, "{:?}", r.problems);
        assert!(r.consistent, "{:?}", r.problems);
        assert_eq!(r.to_json()["subjects"][0]["percent"]["high"], "40.00");
        let mut s96 = s.clone();
        s96.meta.profile = Profile::Nq96_2023;
        let r96 = compute(&s96);
        assert!(!r96.quorum_met);
        assert_eq!(r96.to_json()["subjects"][0]["percent"]["high"], "66.67");
    }

    /// The nine-month rule is NQ 85's only: under NQ 96 it is a problem at the line.
    #[test]
    fn exclusions_follow_the_profile() {
        let mut s = session(Profile::Nq96_2023, 50, 49, 0, vec![40, 8, 1], 0);
        let mut new = s.subjects[0].clone();
        new.id = SubjectId::new("s02").expect("id");
        new.person_id = PersonId::new("p2").expect("id");
        new.excluded = Some(crate::domain::Exclusion::UnderNineMonths);
        s.subjects.push(new);
        let r = compute(&s);
        assert_eq!(
            r.problems.iter().map(Problem::code).collect::<Vec<_>>(),
            vec!["exclusion_not_in_profile"]
        );
        assert_eq!(r.problems[0].at().as_deref(), Some("subject/s02"));
        s.meta.profile = Profile::Nq85_2014;
        s.attendance.present_at_vote = Some(49);
        assert!(compute(&s).consistent);
        s.subjects[1].excluded = Some(crate::domain::Exclusion::Retiring);
        assert!(!compute(&s).consistent);
    }
}
