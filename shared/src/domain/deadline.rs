//! The legal calendar around a session, computed from its day and its profile.

use super::{Meta, Profile};
use chrono::{Datelike, Days, NaiveDate};
use serde::Serialize;

/// When a deadline falls relative to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// Due on or before a day before the session.
    BeforeSession,
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
/// "At least N days before D" is taken as due on D − N. Publication "within 3 days of
/// the confirming resolution" counts from the resolution's date when known, else from
/// the session day (the resolution is normally passed at the same session).
pub fn deadlines(meta: &Meta) -> Vec<Deadline> {
    deadlines_for(meta.profile, meta.date, meta.resolution_date)
}

/// [`deadlines`] from the bare inputs.
pub fn deadlines_for(
    profile: Profile,
    day: NaiveDate,
    resolution: Option<NaiveDate>,
) -> Vec<Deadline> {
    let rules = profile.rules();
    let mut out: Vec<Deadline> = rules
        .before
        .iter()
        .filter_map(|r| {
            Some(Deadline {
                key: r.key,
                kind: DeadlineKind::BeforeSession,
                due: day.checked_sub_days(Days::new(u64::try_from(r.days).ok()?))?,
                what: r.what,
            })
        })
        .collect();
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
    if rules.report_by_15_january {
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

    #[test]
    fn nq96_calendar() {
        let got = deadlines_for(Profile::Nq96_2023, d("2023-12-08"), None);
        let keys: Vec<_> = got.iter().map(|x| (x.key, x.due.to_string())).collect();
        assert_eq!(
            keys,
            vec![
                ("list_and_reports", "2023-10-24".to_string()),
                ("front_opinions", "2023-11-13".to_string()),
                ("forward_opinions", "2023-11-18".to_string()),
                ("publication", "2023-12-11".to_string()),
                ("provincial_report", "2024-01-15".to_string()),
            ]
        );
    }

    #[test]
    fn qd96_calendar_and_resolution_date() {
        let got = deadlines_for(Profile::Qd96_2023, d("2024-03-01"), Some(d("2024-03-05")));
        let keys: Vec<_> = got.iter().map(|x| (x.key, x.due.to_string())).collect();
        assert_eq!(
            keys,
            vec![
                ("subject_report", "2024-02-10".to_string()),
                ("materials_to_voters", "2024-02-15".to_string()),
                ("voter_questions", "2024-02-20".to_string()),
                ("clarifications", "2024-02-27".to_string()),
            ]
        );
        let nq = deadlines_for(Profile::Nq96_2023, d("2024-12-30"), Some(d("2025-01-02")));
        assert!(nq
            .iter()
            .any(|x| x.key == "publication" && x.due == d("2025-01-05")));
        assert!(nq
            .iter()
            .any(|x| x.key == "provincial_report" && x.due == d("2025-01-15")));
    }
}
