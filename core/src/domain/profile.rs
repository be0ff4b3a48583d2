//! Rule profiles as data: adding a regulation is a new table entry, not new code.

use super::Exclusion;
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
    /// Resolution 85/2014/QH13, which NQ 96 replaced: to recompute past council results.
    #[serde(rename = "nq85-2014")]
    Nq85_2014,
    /// Regulation 262-QĐ/TW (2014), which QĐ 96 replaced: past Party results.
    #[serde(rename = "qd262-2014")]
    Qd262_2014,
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
    /// Whether a binding vote has this step too; the seeds word every step for the poll.
    pub binding: bool,
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
    /// The denominator of the percentages printed for each level.
    pub percent_denominator: Denominator,
    /// Whether the vote may only be held with two thirds present.
    pub two_thirds_quorum: bool,
    /// The reasons a listed person is not polled under this profile.
    pub exclusions: &'static [Exclusion],
    /// Whether the preparation deadlines count from the session's opening day
    /// ("trước ngày khai mạc kỳ họp") rather than the day of the vote.
    pub before_counts_from_opening: bool,
    /// What the profile differs in from the one that replaced it, in the seed's words;
    /// empty for the profiles in force.
    pub differences: &'static [&'static str],
    /// Deadlines before the session day.
    pub before: &'static [BeforeRule],
    /// What the council decides at the session itself, before the vote (the list of
    /// those polled), if the profile has such a step.
    pub at_session: Option<&'static str>,
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

/// Step (1) of the session (NQ 96, Article 11.8): the standing committee's draft list,
/// made 45 days before, is decided by the council at the session.
const DECIDE_LIST: &str =
    "HĐND quyết định danh sách người được lấy phiếu tại kỳ họp (trước khi bỏ phiếu)";

const NQ96: ProfileRules = ProfileRules {
    key: "nq96-2023",
    title: "Nghị quyết 96/2023/QH15 (HĐND)",
    body: BodyKind::Council,
    quorum_base_vi: "tổng số đại biểu",
    threshold_denominator: Denominator::TotalMembers,
    percent_denominator: Denominator::BallotsCollected,
    two_thirds_quorum: true,
    exclusions: &[
        Exclusion::Retiring,
        Exclusion::ElectedThisYear,
        Exclusion::AppointedThisYear,
        Exclusion::PolledOnAnotherLine,
    ],
    before_counts_from_opening: true,
    differences: &[],
    at_session: Some(DECIDE_LIST),
    before: &[
        BeforeRule {
            key: "list_and_reports",
            days: 45,
            binding: false,
            what: "Thường trực HĐND dự kiến danh sách người được lấy phiếu (HĐND quyết định danh sách tại kỳ họp); yêu cầu gửi báo cáo và bản kê khai tài sản, thu nhập",
        },
        BeforeRule {
            key: "front_opinions",
            days: 25,
            binding: false,
            what: "Ủy ban MTTQ gửi ý kiến, kiến nghị của cử tri",
        },
        BeforeRule {
            key: "forward_opinions",
            days: 20,
            binding: false,
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

/// QĐ 96's steps, counted from the day of the poll ("trước ngày lấy phiếu tín nhiệm").
const QD96_BEFORE: &[BeforeRule] = &[
    BeforeRule {
        key: "subject_report",
        days: 20,
        binding: false,
        what: "Người được lấy phiếu nộp báo cáo, hồ sơ",
    },
    BeforeRule {
        key: "materials_to_voters",
        days: 15,
        binding: false,
        what: "Gửi tài liệu đến người ghi phiếu",
    },
    BeforeRule {
        key: "voter_questions",
        days: 10,
        binding: false,
        what: "Người ghi phiếu gửi câu hỏi bằng văn bản",
    },
    BeforeRule {
        key: "clarifications",
        days: 3,
        binding: false,
        what: "Người được lấy phiếu trả lời, làm rõ",
    },
];

const QD96: ProfileRules = ProfileRules {
    key: "qd96-2023",
    title: "Quy định 96-QĐ/TW (2023)",
    body: BodyKind::PartyCommittee,
    quorum_base_vi: "số người được triệu tập",
    threshold_denominator: Denominator::BallotsCollected,
    percent_denominator: Denominator::BallotsCollected,
    two_thirds_quorum: true,
    exclusions: &[
        Exclusion::Retiring,
        Exclusion::ElectedThisYear,
        Exclusion::AppointedThisYear,
        Exclusion::PolledOnAnotherLine,
    ],
    before_counts_from_opening: false,
    differences: &[],
    at_session: None,
    before: QD96_BEFORE,
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

/// What the seeds do not give for NQ 85, said where a consequence would be printed.
const NQ85_NOT_IN_SEEDS: &str =
    "Tài liệu gốc không nêu hệ quả theo NQ 85/2014/QH13; đối chiếu văn bản Nghị quyết 85";

const NQ85: ProfileRules = ProfileRules {
    body: BodyKind::Council,
    key: "nq85-2014",
    title: "Nghị quyết 85/2014/QH13 (HĐND, trước NQ 96)",
    quorum_base_vi: "tổng số đại biểu",
    threshold_denominator: Denominator::TotalMembers,
    percent_denominator: Denominator::TotalMembers,
    two_thirds_quorum: false,
    exclusions: &[Exclusion::UnderNineMonths, Exclusion::PolledOnAnotherLine],
    before_counts_from_opening: true,
    differences: &[
        "Tỷ lệ các mức tín nhiệm tính trên tổng số đại biểu (NQ 96: \"Nghị quyết số 85, kết quả các mức tín nhiệm được tính trên tỷ lệ phần trăm so với tổng số đại biểu Quốc hội hoặc đại biểu Hội đồng nhân dân\")",
        "Lấy phiếu ở HĐND cả ba cấp (\"Nghị quyết số 85/2014/QH13 quy định lấy phiếu tín nhiệm ở Hội đồng nhân dân cả cả ba cấp (cấp tỉnh, cấp huyện, cấp xã)\")",
        "Không lấy phiếu người \"có thời gian đảm nhiệm chức vụ liên tục chưa đủ 09 tháng, tính đến ngày khai mạc kỳ họp\"",
        "Không có điều kiện hai phần ba đại biểu tham dự (NQ 96 \"bổ sung quy định phiên họp ... chỉ được tiến hành khi có ít nhất hai phần ba tổng số đại biểu\")",
        "Không có các mốc 45, 25, 20 ngày trước khai mạc, công bố trong 03 ngày, báo cáo trước 15 tháng 01 (NQ 96 \"bổ sung\" các mốc này)",
    ],
    before: &[],
    at_session: Some(DECIDE_LIST),
    publish_within_days: None,
    report_by_15_january: false,
    max_places_per_person: None,
    low_over_half: Consequence {
        what: NQ85_NOT_IN_SEEDS,
        who: "Cơ quan, người có thẩm quyền giới thiệu để HĐND bầu hoặc phê chuẩn",
        source: "NQ 85/2014/QH13 (tài liệu gốc không nêu)",
    },
    low_two_thirds: Consequence {
        what: NQ85_NOT_IN_SEEDS,
        who: "Cơ quan, người có thẩm quyền giới thiệu để HĐND bầu hoặc phê chuẩn",
        source: "NQ 85/2014/QH13 (tài liệu gốc không nêu)",
    },
    no_confidence_over_half: Consequence {
        what: NQ85_NOT_IN_SEEDS,
        who: "Cơ quan, người có thẩm quyền giới thiệu để HĐND bầu hoặc phê chuẩn",
        source: "NQ 85/2014/QH13 (tài liệu gốc không nêu)",
    },
};

/// QĐ 262 as seed 001 contrasts it with QĐ 96, which "về cơ bản giữ nguyên như Quy định
/// 262": same denominators, quorum and calendar; the consequences in QĐ 262's own words.
const QD262: ProfileRules = ProfileRules {
    body: BodyKind::PartyCommittee,
    key: "qd262-2014",
    title: "Quy định 262-QĐ/TW (2014, trước QĐ 96)",
    quorum_base_vi: "số người được triệu tập",
    threshold_denominator: Denominator::BallotsCollected,
    percent_denominator: Denominator::BallotsCollected,
    two_thirds_quorum: true,
    exclusions: &[
        Exclusion::Retiring,
        Exclusion::ElectedThisYear,
        Exclusion::AppointedThisYear,
        Exclusion::PolledOnAnotherLine,
    ],
    before_counts_from_opening: false,
    differences: &[
        "Kết quả \"được sử dụng để tham khảo trong đánh giá cán bộ\" (QĐ 96: để \"đánh giá\")",
        "Trên 50% tín nhiệm thấp: \"cần được xem xét đưa ra khỏi danh sách quy hoạch các chức vụ cao hơn khi rà soát, bổ sung quy hoạch và xem xét bố trí, sắp xếp công tác phù hợp\"",
        "Từ 2/3 tín nhiệm thấp: \"cần kịp thời xem xét, nếu xét thấy không đáp ứng yêu cầu nhiệm vụ thì cho từ chức hoặc cho thôi giữ chức vụ để bố trí công tác khác\"",
        "Tiêu chí: \"phẩm chất chính trị, đạo đức, lối sống và năng lực thực tiễn\"",
        "Giới hạn 2 nơi lấy phiếu là quy định của QĐ 96; tài liệu gốc không nói QĐ 262 có giới hạn này",
    ],
    before: QD96_BEFORE,
    at_session: None,
    publish_within_days: None,
    report_by_15_january: false,
    max_places_per_person: None,
    low_over_half: Consequence {
        what: "Cần được xem xét đưa ra khỏi danh sách quy hoạch các chức vụ cao hơn khi rà soát, bổ sung quy hoạch và xem xét bố trí, sắp xếp công tác phù hợp",
        who: "Cấp có thẩm quyền quản lý cán bộ",
        source: "QĐ 262-QĐ/TW",
    },
    low_two_thirds: Consequence {
        what: "Cần kịp thời xem xét, nếu xét thấy không đáp ứng yêu cầu nhiệm vụ thì cho từ chức hoặc cho thôi giữ chức vụ để bố trí công tác khác, không chờ hết nhiệm kỳ, hết tuổi công tác",
        who: "Cấp có thẩm quyền quản lý cán bộ",
        source: "QĐ 262-QĐ/TW",
    },
    no_confidence_over_half: Consequence {
        what: "Tài liệu gốc không nêu hệ quả bỏ phiếu tín nhiệm theo QĐ 262-QĐ/TW",
        who: "Cấp có thẩm quyền quản lý cán bộ",
        source: "QĐ 262-QĐ/TW (tài liệu gốc không nêu)",
    },
};

/// Regulations the seeds name but do not describe enough to compute under, with what
/// they lack: a result under them is refused rather than computed under guessed rules.
const UNDESCRIBED: &[(&str, &str)] = &[
    (
        "nq35-2012",
        "Nghị quyết 35/2012/QH13 chỉ được nhắc tên trong tài liệu gốc (Chỉ thị của Tỉnh ủy); tài liệu không nêu mẫu số, điều kiện tham dự, các mốc thời gian hay hệ quả, nên không tính được kết quả theo quy định này",
    ),
    (
        "qd165-2013",
        "Quy định 165-QĐ/TW (2013) chỉ được nhắc tên trong tài liệu gốc (Chỉ thị của Tỉnh ủy); tài liệu không nêu mẫu số, điều kiện tham dự, các mốc thời gian hay hệ quả, nên không tính được kết quả theo quy định này",
    ),
];

impl Profile {
    /// Every profile this build knows.
    pub const ALL: [Profile; 4] = [
        Profile::Nq96_2023,
        Profile::Qd96_2023,
        Profile::Nq85_2014,
        Profile::Qd262_2014,
    ];

    /// The profile's rules.
    pub fn rules(self) -> &'static ProfileRules {
        match self {
            Profile::Nq96_2023 => &NQ96,
            Profile::Qd96_2023 => &QD96,
            Profile::Nq85_2014 => &NQ85,
            Profile::Qd262_2014 => &QD262,
        }
    }

    /// Whether this is a Party profile (its polls count toward QĐ 96's places).
    pub fn is_party(self) -> bool {
        matches!(self, Profile::Qd96_2023 | Profile::Qd262_2014)
    }

    /// Whether the profile is in force, or an older one kept to recompute past results.
    pub fn in_force(self) -> bool {
        self.rules().differences.is_empty()
    }

    /// One line for `profile list`, in Vietnamese.
    pub fn line_vi(self) -> String {
        let r = self.rules();
        let of = |d: Denominator| match d {
            Denominator::TotalMembers => "tổng số đại biểu (thành viên)",
            Denominator::BallotsCollected => "số phiếu thu về",
        };
        let steps = match r.before.len() {
            0 => "không có hạn chuẩn bị trước kỳ họp".to_string(),
            n => format!(
                "{n} hạn trước ngày {}",
                if r.before_counts_from_opening {
                    "khai mạc"
                } else {
                    "lấy phiếu"
                }
            ),
        };
        let places = r
            .max_places_per_person
            .map(|m| format!("; một người lấy phiếu tối đa {m} nơi mỗi năm"))
            .unwrap_or_default();
        format!(
            "{:<11} {}: {}; tỷ lệ trên {}, ngưỡng trên {}; {}; {steps}{places}",
            r.key,
            r.title,
            if self.in_force() {
                "đang áp dụng"
            } else {
                "quy định cũ, để tính lại kết quả đã có"
            },
            of(r.percent_denominator),
            of(r.threshold_denominator),
            if r.two_thirds_quorum {
                format!("cần 2/3 {} có mặt", r.quorum_base_vi)
            } else {
                "không có điều kiện 2/3 có mặt".to_string()
            },
        )
    }

    /// `profile list --json`: every profile with its rules, then the regimes refused.
    pub fn list_json() -> serde_json::Value {
        let profiles: Vec<serde_json::Value> = Profile::ALL
            .iter()
            .map(|p| {
                let r = p.rules();
                serde_json::json!({
                    "key": r.key, "title": r.title, "in_force": p.in_force(), "party": p.is_party(),
                    "line": p.line_vi(),
                    "percent_denominator": r.percent_denominator,
                    "threshold_denominator": r.threshold_denominator,
                    "two_thirds_quorum": r.two_thirds_quorum,
                    "exclusions": r.exclusions.iter().map(|e| e.key()).collect::<Vec<_>>(),
                    "deadlines_from": if r.before_counts_from_opening { "opening_day" } else { "vote_day" },
                    "before": r.before.iter().map(|b| serde_json::json!({"key": b.key, "days": b.days, "what": b.what})).collect::<Vec<_>>(),
                    "at_session": r.at_session,
                    "publish_within_days": r.publish_within_days,
                    "report_by_15_january": r.report_by_15_january,
                    "max_places_per_person": r.max_places_per_person,
                    "differences": r.differences,
                })
            })
            .collect();
        let refused: Vec<serde_json::Value> = UNDESCRIBED
            .iter()
            .map(|(k, why)| serde_json::json!({"key": k, "why": why}))
            .collect();
        serde_json::json!({"profiles": profiles, "refused": refused})
    }

    /// `profile list`: a line per profile, then one per regime refused.
    pub fn list_text() -> String {
        let mut out: Vec<String> = Profile::ALL.iter().map(|p| p.line_vi()).collect();
        for (k, why) in UNDESCRIBED {
            out.push(format!("{k:<11} không dùng được: {why}"));
        }
        out.join("\n")
    }

    /// Why a regime the seeds only name cannot be a profile, if `s` names one.
    pub fn undescribed(s: &str) -> Option<&'static str> {
        UNDESCRIBED
            .iter()
            .find(|(k, _)| *k == s.trim())
            .map(|(_, why)| *why)
    }

    /// Parses a stable name, or says in Vietnamese why it is not a profile: a regime
    /// the seeds name without describing it, or a name nobody knows.
    pub fn parse_or_why(s: &str) -> Result<Profile, String> {
        if let Some(p) = Profile::parse(s) {
            return Ok(p);
        }
        if let Some((_, why)) = UNDESCRIBED.iter().find(|(k, _)| *k == s.trim()) {
            return Err(format!("«{}»: {why}", s.trim()));
        }
        let known: Vec<&str> = Profile::ALL.iter().map(|p| p.key()).collect();
        Err(format!(
            "«{}» không phải quy định đã biết; chọn một trong: {}",
            s.trim(),
            known.join(", ")
        ))
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
