//! The session as the domain sees it: a plain value read out of a document.

use super::{PersonId, Procedure, Profile, SessionId, SubjectId, UnitId};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A voter's mark for one subject on one ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    /// Tín nhiệm cao (poll).
    High,
    /// Tín nhiệm (both procedures).
    Confidence,
    /// Tín nhiệm thấp (poll).
    Low,
    /// Không tín nhiệm (binding vote).
    NoConfidence,
    /// Crossed out, no box, or several boxes: invalid for this subject only.
    Invalid,
}

impl Mark {
    /// The stable name, as in files and on the command line.
    pub fn key(self) -> &'static str {
        match self {
            Mark::High => "high",
            Mark::Confidence => "confidence",
            Mark::Low => "low",
            Mark::NoConfidence => "no_confidence",
            Mark::Invalid => "invalid",
        }
    }

    /// Parses a stable name, or a Vietnamese short form a clerk may type
    /// (`cao`, `tn`, `thap`, `ktn`, `hong`).
    pub fn parse(s: &str) -> Option<Mark> {
        Some(match s.trim().to_lowercase().as_str() {
            "high" | "cao" | "h" => Mark::High,
            "confidence" | "tn" | "tin-nhiem" | "c" => Mark::Confidence,
            "low" | "thap" | "thấp" | "l" => Mark::Low,
            "no_confidence" | "no-confidence" | "ktn" | "n" => Mark::NoConfidence,
            "invalid" | "hong" | "hỏng" | "x" => Mark::Invalid,
            _ => return None,
        })
    }

    /// The level's label in Vietnamese.
    pub fn title(self) -> &'static str {
        match self {
            Mark::High => "Tín nhiệm cao",
            Mark::Confidence => "Tín nhiệm",
            Mark::Low => "Tín nhiệm thấp",
            Mark::NoConfidence => "Không tín nhiệm",
            Mark::Invalid => "Không hợp lệ",
        }
    }

    /// Whether a ballot of `procedure` may carry this mark.
    pub fn fits(self, procedure: Procedure) -> bool {
        self == Mark::Invalid || procedure.levels().contains(&self)
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// How the ballots of a session are recorded. A document uses one mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// One entry per ballot valid as a whole, typed on one or several laptops.
    Entries,
    /// Per-subject totals typed from the paper count.
    Tallies,
}

impl Mode {
    /// The stable name.
    pub fn key(self) -> &'static str {
        match self {
            Mode::Entries => "entries",
            Mode::Tallies => "tallies",
        }
    }
    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "entries" => Some(Mode::Entries),
            "tallies" => Some(Mode::Tallies),
            _ => None,
        }
    }
}

/// Why a subject is on the list but not polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Exclusion {
    /// Has announced retirement (đã có thông báo nghỉ hưu).
    Retiring,
    /// Elected in the year of the poll.
    ElectedThisYear,
    /// Appointed in the year of the poll.
    AppointedThisYear,
    /// Holds several positions and is polled once, on another line.
    PolledOnAnotherLine,
    /// NQ 85/2014: held the post continuously for less than nine months on the
    /// session's opening day.
    UnderNineMonths,
}

impl Exclusion {
    /// The stable name.
    pub fn key(self) -> &'static str {
        match self {
            Exclusion::Retiring => "retiring",
            Exclusion::ElectedThisYear => "elected_this_year",
            Exclusion::AppointedThisYear => "appointed_this_year",
            Exclusion::PolledOnAnotherLine => "polled_on_another_line",
            Exclusion::UnderNineMonths => "under_nine_months",
        }
    }
    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Exclusion> {
        [
            Exclusion::Retiring,
            Exclusion::ElectedThisYear,
            Exclusion::AppointedThisYear,
            Exclusion::PolledOnAnotherLine,
            Exclusion::UnderNineMonths,
        ]
        .into_iter()
        .find(|e| e.key() == s)
    }
    /// The reason in Vietnamese.
    pub fn title(self) -> &'static str {
        match self {
            Exclusion::Retiring => "Đã có thông báo nghỉ hưu",
            Exclusion::ElectedThisYear => "Được bầu trong năm lấy phiếu",
            Exclusion::AppointedThisYear => "Được phê chuẩn, bổ nhiệm trong năm lấy phiếu",
            Exclusion::PolledOnAnotherLine => "Giữ nhiều chức vụ, lấy phiếu một lần ở dòng khác",
            Exclusion::UnderNineMonths => {
                "Đảm nhiệm chức vụ liên tục chưa đủ 09 tháng tính đến ngày khai mạc kỳ họp"
            }
        }
    }
}

/// The header of the counting minutes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The unit that holds the session.
    pub unit: UnitId,
    /// The session's id.
    pub session: SessionId,
    /// The regulation in force.
    pub profile: Profile,
    /// Poll or binding vote.
    pub procedure: Procedure,
    /// Per-ballot entries or tallies.
    pub mode: Mode,
    /// The voting body (`HĐND tỉnh Lai Châu`).
    pub body: String,
    /// The session or conference name (`Kỳ họp thứ 14`), if given.
    pub title: Option<String>,
    /// The day of the vote.
    pub date: NaiveDate,
    /// Where the count took place.
    pub place: Option<String>,
    /// Counting time window, start (`14:05`).
    pub count_from: Option<String>,
    /// Counting time window, end.
    pub count_to: Option<String>,
    /// The counting board's chair.
    pub chair: Option<String>,
    /// The counting board's members, chair included.
    pub board: Vec<String>,
    /// The date of the resolution confirming the results, once passed.
    pub resolution_date: Option<NaiveDate>,
    /// The body that assigned the count ("Thực hiện nhiệm vụ do … giao", Annex 4).
    /// Like every header field it is outside the sealed result, so documents and seals
    /// made before it existed still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_by: Option<String>,
    /// The posts polled ("… đối với …", Annex 4), in the clerk's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub polled_posts: Option<String>,
    /// The session's opening day (ngày khai mạc), when it is not the vote day. NQ 96
    /// counts its preparation deadlines from it; absent in documents made before it
    /// existed, and never part of the sealed result, so their seals still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening_date: Option<NaiveDate>,
}

impl Meta {
    /// The opening day: the one typed, else the vote day.
    pub fn opening_day(&self) -> NaiveDate {
        self.opening_date.unwrap_or(self.date)
    }

    /// What of the counting board is not yet written, by its label: a board signs the
    /// printed minutes as they are, so a sealed paper may not carry "…" where the
    /// chair, the members or the counting times belong.
    pub fn board_missing(&self) -> Vec<&'static str> {
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|x| x.trim().is_empty());
        let mut missing = Vec::new();
        if blank(&self.chair) {
            missing.push("trưởng ban kiểm phiếu");
        }
        if self.board.iter().all(|m| m.trim().is_empty()) {
            missing.push("thành viên ban kiểm phiếu");
        }
        if blank(&self.count_from) {
            missing.push("giờ bắt đầu kiểm phiếu");
        }
        if blank(&self.count_to) {
            missing.push("giờ kết thúc kiểm phiếu");
        }
        missing
    }

    /// The refusal to seal while [`Meta::board_missing`] names anything, in Vietnamese.
    pub fn board_refusal(&self) -> Option<String> {
        let missing = self.board_missing();
        (!missing.is_empty()).then(|| {
            format!(
                "Chưa ghi đủ ban kiểm phiếu: còn thiếu {}. Ghi ở mục «Ban kiểm phiếu» (thẻ Thông tin) hoặc bằng lệnh «board set», rồi niêm phong.",
                missing.join(", ")
            )
        })
    }
}

/// Attendance counts; `None` until typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Attendance {
    /// Total delegates or members summoned.
    pub total: Option<u64>,
    /// Present at the session.
    pub present: Option<u64>,
    /// Absent from the start until the vote.
    pub absent_from_start: Option<u64>,
    /// Present when the vote was held.
    pub present_at_vote: Option<u64>,
}

/// Ballot counts; `None` until typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ballots {
    /// Ballots issued by the counting board.
    pub issued: Option<u64>,
    /// Ballots collected.
    pub collected: Option<u64>,
    /// Collected ballots invalid as a whole (not issued by the board).
    pub wholly_invalid: Option<u64>,
}

/// One line of the ballot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    /// The line's id.
    pub id: SubjectId,
    /// The person, across sessions.
    pub person_id: PersonId,
    /// Full name.
    pub name: String,
    /// Position (chức vụ).
    pub position: String,
    /// Unit of work (đơn vị công tác).
    pub unit: String,
    /// Ballot order.
    pub order: u64,
    /// Set when the person is listed but not polled.
    pub excluded: Option<Exclusion>,
}

/// One ballot valid as a whole. Its id is random; nothing ties it to a voter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Random id (hex).
    pub id: String,
    /// The mark per subject; a subject missing here had no box marked.
    pub marks: BTreeMap<SubjectId, Mark>,
}

/// Per-subject totals typed from paper, aligned with [`Procedure::levels`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tally {
    /// One count per level, in ballot order.
    pub levels: Vec<u64>,
    /// Ballots invalid for this subject only.
    pub invalid: u64,
}

/// A value two clerks set concurrently to different things.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// Where, as a dotted path (`ballots.collected`).
    pub field: String,
    /// Every value present, as text.
    pub values: Vec<String>,
}

/// A whole session as read from its document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Header.
    pub meta: Meta,
    /// Attendance.
    pub attendance: Attendance,
    /// Ballot counts.
    pub ballots: Ballots,
    /// Subjects, in ballot order.
    pub subjects: Vec<Subject>,
    /// Per-ballot entries (entries mode).
    pub entries: Vec<Entry>,
    /// Per-subject tallies (tallies mode).
    pub tallies: BTreeMap<SubjectId, Tally>,
    /// Concurrent edits left unresolved; a session with any cannot be sealed.
    pub conflicts: Vec<Conflict>,
    /// Structural oddities found while reading (a mark that is not a mark, say).
    pub anomalies: Vec<String>,
}

impl Session {
    /// The subject with this id.
    pub fn subject(&self, id: &SubjectId) -> Option<&Subject> {
        self.subjects.iter().find(|s| &s.id == id)
    }
}
