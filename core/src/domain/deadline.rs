//! The legal calendar around a session, computed from its day and its profile.

use super::{Meta, Procedure, Profile};
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

/// When a deadline falls relative to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// Due on or before a day before the session.
    BeforeSession,
    /// Done at the session, by the vote day at the latest.
    AtSession,
    /// Due within some days after the confirming resolution.
    AfterResolution,
    /// The provincial report to the upper level (15 January of the next year).
    ProvincialReport,
}

/// One deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// Stable key (`front_opinions`).
    pub key: &'static str,
    /// Kind.
    pub kind: DeadlineKind,
    /// The last day on which it is met.
    pub due: NaiveDate,
    /// What must be done, in Vietnamese.
    pub what: &'static str,
}

/// Every deadline of a session, in date order.
///
/// "At least N days before D" is taken as due on D − N. NQ 96 counts its steps from the
/// opening day ("trước ngày khai mạc kỳ họp"), QĐ 96 from the day of the poll ("trước
/// ngày lấy phiếu tín nhiệm"). Publication "within 3 days of the confirming resolution"
/// counts from the resolution's date when known, else from the vote day (the resolution
/// is normally passed at the same session). A binding vote gets only what the seeds
/// word for it: every preparation step and the 15 January report are worded for the
/// poll ("người được lấy phiếu", "kết quả lấy phiếu"); publication names both.
pub fn deadlines(meta: &Meta) -> Vec<Deadline> {
    deadlines_for(
        meta.profile,
        meta.procedure,
        meta.date,
        meta.opening_day(),
        meta.resolution_date,
    )
}

/// [`deadlines`] from the bare inputs: the vote day and the session's opening day.
pub fn deadlines_for(
    profile: Profile,
    procedure: Procedure,
    day: NaiveDate,
    opening: NaiveDate,
    resolution: Option<NaiveDate>,
) -> Vec<Deadline> {
    let rules = profile.rules();
    let from = if rules.before_counts_from_opening {
        opening
    } else {
        day
    };
    let mut out: Vec<Deadline> = rules
        .before
        .iter()
        .filter(|r| procedure == Procedure::Poll || r.binding)
        .filter_map(|r| {
            Some(Deadline {
                key: r.key,
                kind: DeadlineKind::BeforeSession,
                due: from.checked_sub_days(Days::new(u64::try_from(r.days).ok()?))?,
                what: r.what,
            })
        })
        .collect();
    if let (Some(what), Procedure::Poll) = (rules.at_session, procedure) {
        out.push(Deadline {
            key: "decide_list",
            kind: DeadlineKind::AtSession,
            due: day,
            what,
        });
    }
    if let Some(n) = rules.publish_within_days {
        let from = resolution.unwrap_or(day);
        if let Some(due) = from.checked_add_days(Days::new(u64::try_from(n).unwrap_or(0))) {
            out.push(Deadline {
                key: "publication",
                kind: DeadlineKind::AfterResolution,
                due,
                what: "Công bố kết quả trên phương tiện thông tin đại chúng",
            });
        }
    }
    if rules.report_by_15_january && procedure == Procedure::Poll {
        if let Some(due) = NaiveDate::from_ymd_opt(day.year() + 1, 1, 15) {
            out.push(Deadline {
                key: "provincial_report",
                kind: DeadlineKind::ProvincialReport,
                due,
                what: "Thường trực HĐND tỉnh tổng hợp, báo cáo UBTVQH",
            });
        }
    }
    out.sort_by_key(|d| d.due);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn poll(
        p: Profile,
        day: &str,
        opening: &str,
        res: Option<&str>,
    ) -> Vec<(&'static str, String)> {
        deadlines_for(p, Procedure::Poll, d(day), d(opening), res.map(d))
            .iter()
            .map(|x| (x.key, x.due.to_string()))
            .collect()
    }

    #[test]
    fn nq96_calendar() {
        assert_eq!(
            poll(Profile::Nq96_2023, "2023-12-08", "2023-12-08", None),
            vec![
                ("list_and_reports", "2023-10-24".to_string()),
                ("front_opinions", "2023-11-13".to_string()),
                ("forward_opinions", "2023-11-18".to_string()),
                ("decide_list", "2023-12-08".to_string()),
                ("publication", "2023-12-11".to_string()),
                ("provincial_report", "2024-01-15".to_string()),
            ]
        );
    }

    /// A session that opens on the 6th and votes on the 8th: the 45, 25 and 20 days
    /// count from the 6th; publication still from the vote (its resolution).
    #[test]
    fn nq96_counts_from_the_opening_day() {
        assert_eq!(
            poll(Profile::Nq96_2023, "2023-12-08", "2023-12-06", None),
            vec![
                ("list_and_reports", "2023-10-22".to_string()),
                ("front_opinions", "2023-11-11".to_string()),
                ("forward_opinions", "2023-11-16".to_string()),
                ("decide_list", "2023-12-08".to_string()),
                ("publication", "2023-12-11".to_string()),
                ("provincial_report", "2024-01-15".to_string()),
            ]
        );
        let got = deadlines_for(
            Profile::Nq96_2023,
            Procedure::Poll,
            d("2023-12-08"),
            d("2023-12-06"),
            None,
        );
        assert!(got[0].what.contains("dự kiến danh sách"), "{}", got[0].what);
        assert!(!got[0].what.starts_with("Quyết định danh sách"));
        assert!(
            got[3].what.contains("quyết định danh sách"),
            "{}",
            got[3].what
        );
    }

    /// QĐ 96 counts from the poll day whatever the opening day is.
    #[test]
    fn qd96_counts_from_the_poll_day() {
        assert_eq!(
            poll(Profile::Qd96_2023, "2024-03-01", "2024-02-27", None),
            poll(Profile::Qd96_2023, "2024-03-01", "2024-03-01", None)
        );
    }

    #[test]
    fn binding_vote_has_no_preparation_steps_nor_january_report() {
        let got: Vec<_> = deadlines_for(
            Profile::Nq96_2023,
            Procedure::Binding,
            d("2023-12-08"),
            d("2023-12-06"),
            Some(d("2023-12-09")),
        )
        .iter()
        .map(|x| (x.key, x.due.to_string()))
        .collect();
        assert_eq!(got, vec![("publication", "2023-12-12".to_string())]);
        assert!(deadlines_for(
            Profile::Qd96_2023,
            Procedure::Binding,
            d("2024-03-01"),
            d("2024-03-01"),
            None
        )
        .is_empty());
    }

    /// NQ 85 has none of the steps NQ 96 added, only the list decided at the session;
    /// QĐ 262 keeps QĐ 96's.
    #[test]
    fn older_profiles() {
        assert_eq!(
            poll(Profile::Nq85_2014, "2018-12-08", "2018-12-05", None),
            vec![("decide_list", "2018-12-08".to_string())]
        );
        assert_eq!(
            poll(Profile::Qd262_2014, "2018-03-01", "2018-03-01", None),
            poll(Profile::Qd96_2023, "2018-03-01", "2018-03-01", None)
        );
    }

    #[test]
    fn qd96_calendar_and_resolution_date() {
        assert_eq!(
            poll(
                Profile::Qd96_2023,
                "2024-03-01",
                "2024-03-01",
                Some("2024-03-05")
            ),
            vec![
                ("subject_report", "2024-02-10".to_string()),
                ("materials_to_voters", "2024-02-15".to_string()),
                ("voter_questions", "2024-02-20".to_string()),
                ("clarifications", "2024-02-27".to_string()),
            ]
        );
        let nq = poll(
            Profile::Nq96_2023,
            "2024-12-30",
            "2024-12-30",
            Some("2025-01-02"),
        );
        assert!(nq.contains(&("publication", "2025-01-05".to_string())));
        assert!(nq.contains(&("provincial_report", "2025-01-15".to_string())));
    }
}
