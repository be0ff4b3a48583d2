//! Rule profiles as data: adding a regulation is a new table entry, not new code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which regulation a session follows. The profile decides the quorum, the denominators
/// of the thresholds, the deadlines and the consequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Profile {
    /// Resolution 96/2023/QH15: councils (HĐND) and the National Assembly.
    #[serde(rename = "nq96-2023")]
    Nq96_2023,
    /// Regulation 96-QĐ/TW (2023): Party and political-system posts.
    #[serde(rename = "qd96-2023")]
    Qd96_2023,
}

/// The two procedures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    /// Lấy phiếu tín nhiệm: high / confidence / low.
    Poll,
    /// Bỏ phiếu tín nhiệm: confidence / no confidence.
    Binding,
}

/// Which count a threshold is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Denominator {
    /// The total number of delegates or members (tổng số đại biểu).
    TotalMembers,
    /// The ballots collected (tổng số phiếu thu về).
    BallotsCollected,
}

/// What the profile prescribes when a subject crosses a threshold, and who must act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Consequence {
    /// The consequence, in Vietnamese, as the regulation words it.
    pub what: &'static str,
    /// The body that must act.
    pub who: &'static str,
    /// The article it comes from.
    pub source: &'static str,
}

/// The kind of body that votes, which decides the words of the minutes: Annex 4 of
/// seed 002 prints both alternatives ("ủy viên ban chấp hành (đại biểu)", "hội nghị
/// (kỳ họp)") and a signed paper must carry only the body's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// A People's Council (HĐND): delegates, a session.
    Council,
    /// A Party committee or political-system body: members, a conference.
    PartyCommittee,
}

/// The words of the minutes for one [`BodyKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyWords {
    /// Who makes up the body, after "Tổng số" (`đại biểu`).
    pub members: &'static str,
    /// The meeting (`kỳ họp`).
    pub meeting: &'static str,
}

impl BodyKind {
    /// The words the minutes print for this body.
    pub fn words(self) -> BodyWords {
        match self {
            BodyKind::Council => BodyWords {
                members: "đại biểu",
                meeting: "kỳ họp",
            },
            BodyKind::PartyCommittee => BodyWords {
                members: "ủy viên ban chấp hành",
                meeting: "hội nghị",
            },
        }
    }
}

/// One deadline before the session day, as data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeforeRule {
    /// Stable key used in JSON.
    pub key: &'static str,
    /// How many days before the day at the latest.
    pub days: i64,
    /// What must be done, in Vietnamese.
    pub what: &'static str,
}

/// Everything that differs between profiles.
#[derive(Debug, Clone, Copy)]
pub struct ProfileRules {
    /// The profile's stable name (`nq96-2023`).
    pub key: &'static str,
    /// Its title in Vietnamese.
    pub title: &'static str,
    /// The kind of body that votes under it.
    pub body: BodyKind,
    /// Whether the quorum counts delegates (`đại biểu`) or those summoned (`người được triệu tập`).
    pub quorum_base_vi: &'static str,
    /// The denominator of the thresholds that trigger consequences.
    pub threshold_denominator: Denominator,
    /// Deadlines before the session day.
    pub before: &'static [BeforeRule],
    /// Days after the confirming resolution within which results are published, if any.
    pub publish_within_days: Option<i64>,
    /// Whether the province must report to the upper level by 15 January of the next year.
    pub report_by_15_january: bool,
    /// At most this many places may poll one person, if the profile limits it.
    pub max_places_per_person: Option<usize>,
    /// Poll: more than half but less than two thirds low.
    pub low_over_half: Consequence,
    /// Poll: two thirds or more low.
    pub low_two_thirds: Consequence,
    /// Binding vote: more than half no confidence.
    pub no_confidence_over_half: Consequence,
}

const NQ96: ProfileRules = ProfileRules {
    key: "nq96-2023",
    title: "Nghị quyết 96/2023/QH15 (HĐND)",
    body: BodyKind::Council,
    quorum_base_vi: "tổng số đại biểu",
    threshold_denominator: Denominator::TotalMembers,
    before: &[
        BeforeRule {
            key: "list_and_reports",
            days: 45,
            what: "Quyết định danh sách; đề nghị người được lấy phiếu gửi báo cáo và bản kê khai tài sản",
        },
        BeforeRule {
            key: "front_opinions",
            days: 25,
            what: "Ủy ban MTTQ gửi ý kiến, kiến nghị của cử tri",
        },
        BeforeRule {
            key: "forward_opinions",
            days: 20,
            what: "Thường trực HĐND chuyển ý kiến cử tri đến người được lấy phiếu",
        },
    ],
    publish_within_days: Some(3),
    report_by_15_january: true,
    max_places_per_person: None,
    low_over_half: Consequence {
        what: "Có thể xin từ chức; nếu không từ chức, cơ quan giới thiệu phải trình HĐND bỏ phiếu tín nhiệm tại kỳ họp đó hoặc kỳ họp gần nhất",
        who: "Cơ quan, người có thẩm quyền giới thiệu để HĐND bầu hoặc phê chuẩn",
        source: "NQ 96/2023/QH15, Điều 12",
    },
    low_two_thirds: Consequence {
        what: "Cơ quan giới thiệu phải trình HĐND miễn nhiệm tại kỳ họp đó hoặc kỳ họp gần nhất",
        who: "Cơ quan, người có thẩm quyền giới thiệu để HĐND bầu hoặc phê chuẩn",
        source: "NQ 96/2023/QH15, Điều 12",
    },
    no_confidence_over_half: Consequence {
        what: "Cơ quan giới thiệu phải trình HĐND miễn nhiệm",
        who: "Cơ quan, người có thẩm quyền giới thiệu để HĐND bầu hoặc phê chuẩn",
        source: "NQ 96/2023/QH15",
    },
};

const QD96: ProfileRules = ProfileRules {
    key: "qd96-2023",
    title: "Quy định 96-QĐ/TW (2023)",
    body: BodyKind::PartyCommittee,
    quorum_base_vi: "số người được triệu tập",
    threshold_denominator: Denominator::BallotsCollected,
    before: &[
        BeforeRule {
            key: "subject_report",
            days: 20,
            what: "Người được lấy phiếu nộp báo cáo, hồ sơ",
        },
        BeforeRule {
            key: "materials_to_voters",
            days: 15,
            what: "Gửi tài liệu đến người ghi phiếu",
        },
        BeforeRule {
            key: "voter_questions",
            days: 10,
            what: "Người ghi phiếu gửi câu hỏi bằng văn bản",
        },
        BeforeRule {
            key: "clarifications",
            days: 3,
            what: "Người được lấy phiếu trả lời, làm rõ",
        },
    ],
    publish_within_days: None,
    report_by_15_january: false,
    max_places_per_person: Some(2),
    low_over_half: Consequence {
        what: "Đưa ra khỏi quy hoạch chức vụ cao hơn; xem xét cho thôi giữ chức vụ, bố trí công tác khác, cho từ chức hoặc bỏ phiếu tín nhiệm",
        who: "Cấp có thẩm quyền quản lý cán bộ",
        source: "QĐ 96-QĐ/TW, Điều 11",
    },
    low_two_thirds: Consequence {
        what: "Miễn nhiệm chức vụ đang đảm nhiệm và bố trí công tác khác (thấp hơn), không chờ hết nhiệm kỳ",
        who: "Cấp có thẩm quyền quản lý cán bộ",
        source: "QĐ 96-QĐ/TW, Điều 11",
    },
    no_confidence_over_half: Consequence {
        what: "Xem xét miễn nhiệm theo quy định",
        who: "Cấp có thẩm quyền quản lý cán bộ",
        source: "QĐ 96-QĐ/TW",
    },
};

impl Profile {
    /// Every profile this build knows.
    pub const ALL: [Profile; 2] = [Profile::Nq96_2023, Profile::Qd96_2023];

    /// The profile's rules.
    pub fn rules(self) -> &'static ProfileRules {
        match self {
            Profile::Nq96_2023 => &NQ96,
            Profile::Qd96_2023 => &QD96,
        }
    }

    /// The stable name, as in files (`nq96-2023`).
    pub fn key(self) -> &'static str {
        self.rules().key
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Profile> {
        Profile::ALL.into_iter().find(|p| p.key() == s)
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Procedure {
    /// The stable name (`poll`, `binding`).
    pub fn key(self) -> &'static str {
        match self {
            Procedure::Poll => "poll",
            Procedure::Binding => "binding",
        }
    }

    /// Parses a stable name.
    pub fn parse(s: &str) -> Option<Procedure> {
        match s {
            "poll" => Some(Procedure::Poll),
            "binding" => Some(Procedure::Binding),
            _ => None,
        }
    }

    /// The levels a voter may choose, in ballot order.
    pub fn levels(self) -> &'static [super::Mark] {
        use super::Mark;
        match self {
            Procedure::Poll => &[Mark::High, Mark::Confidence, Mark::Low],
            Procedure::Binding => &[Mark::Confidence, Mark::NoConfidence],
        }
    }

    /// The procedure's name in Vietnamese.
    pub fn title(self) -> &'static str {
        match self {
            Procedure::Poll => "Lấy phiếu tín nhiệm",
            Procedure::Binding => "Bỏ phiếu tín nhiệm",
        }
    }
}

impl fmt::Display for Procedure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}
