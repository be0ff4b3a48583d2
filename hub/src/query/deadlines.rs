//! `deadlines`: every legal deadline of every accepted session, and per reporting
//! period the report due on 15 January with the units that have not reported.

use super::held::accepted;
use super::sessions::sessions;
use super::units::Units;
use super::Hub;
use crate::registry;
use anyhow::Result;
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a deadline stands on the day asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DeadlineState {
    Passed,
    DueToday,
    Due,
}

/// Where a period's report stands: `Met` ("đủ") only when every expected unit reported
/// by the due day; no unit expected is its own state, never `Met`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ReportState {
    NoUnits,
    Met,
    /// Every unit reported, some after the due day.
    Late,
    /// Past the due day with units missing.
    Overdue,
    /// Before (or on) the due day with units missing.
    Due,
}

/// The answer to `deadlines`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Deadlines {
    pub(crate) today: NaiveDate,
    /// One per year of the sessions received (or this year), oldest first.
    pub(crate) periods: Vec<Period>,
    /// Every deadline of every session, by due day.
    pub(crate) sessions: Vec<SessionDeadline>,
}

/// A reporting period (a year) and its report to the level above.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Period {
    pub(crate) period: i32,
    pub(crate) report_due: NaiveDate,
    pub(crate) state: ReportState,
    /// Days from the day asked to the due day (negative once passed).
    pub(crate) days: i64,
    pub(crate) units_expected: usize,
    pub(crate) units_reported: usize,
    pub(crate) units_on_time: usize,
    pub(crate) late: Vec<NamedUnit>,
    pub(crate) missing: Vec<NamedUnit>,
}

/// A unit named in a period: late (with the day it first reported) or missing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NamedUnit {
    pub(crate) unit: String,
    pub(crate) name: Option<String>,
    pub(crate) reported_on: Option<NaiveDate>,
}

/// One legal deadline of one session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionDeadline {
    pub(crate) unit: String,
    pub(crate) session: String,
    /// The domain's stable key (`front_opinions`).
    pub(crate) key: String,
    /// [`tinnhiem_core::domain::DeadlineKind`] as its JSON name.
    pub(crate) kind: String,
    pub(crate) due: NaiveDate,
    /// In Vietnamese.
    pub(crate) what: String,
    pub(crate) state: DeadlineState,
    pub(crate) days: i64,
}

fn state_on(today: NaiveDate, due: NaiveDate) -> (DeadlineState, i64) {
    let days = (due - today).num_days();
    let st = match days {
        d if d < 0 => DeadlineState::Passed,
        0 => DeadlineState::DueToday,
        _ => DeadlineState::Due,
    };
    (st, days)
}

/// The deadlines on `today`.
pub(crate) fn deadlines(hub: Hub<'_>, today: NaiveDate) -> Result<Deadlines> {
    let all = sessions(hub.store, hub.cache)?;
    let mut list = Vec::new();
    for s in &all {
        for d in tinnhiem_core::domain::deadlines(&s.meta) {
            let (state, days) = state_on(today, d.due);
            list.push(SessionDeadline {
                unit: s.unit.clone(),
                session: s.result.session.to_string(),
                key: d.key.to_string(),
                kind: serde_json::to_value(d.kind)?
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                due: d.due,
                what: d.what.to_string(),
                state,
                days,
            });
        }
    }
    list.sort_by_key(|d| d.due);
    // Reporting periods: the years of the sessions received, or this year.
    let mut years: BTreeSet<i32> = all.iter().map(|s| s.meta.date.year()).collect();
    if years.is_empty() {
        years.insert(today.year());
    }
    let reg = registry::list(hub.store)?;
    let units = Units::new(&reg);
    let expected: Vec<_> = units.expected(hub.unit).collect();
    // When each unit first reported for a period: the hub's own receipt time, as the
    // day in Vietnam. A seal without a receipt (never the case for one accepted over the
    // network) counts by its sealing time.
    let year_of: HashMap<(&str, &str), i32> = all
        .iter()
        .map(|s| {
            (
                (s.unit.as_str(), s.result.session.as_str()),
                s.meta.date.year(),
            )
        })
        .collect();
    let mut first: BTreeMap<(&str, i32), NaiveDate> = BTreeMap::new();
    for a in accepted(hub.store)? {
        let Some(&year) = year_of.get(&(a.unit.as_str(), a.session.as_str())) else {
            continue;
        };
        let Some(child) = units.reporting_child(&a.unit) else {
            continue;
        };
        let at = a
            .receipt
            .as_ref()
            .map_or(a.seal.body.sealed_at, |r| r.body.received_at);
        let Some(day) = tinnhiem_core::domain::when::in_vietnam(at).map(|t| t.date_naive()) else {
            continue;
        };
        let e = first.entry((child, year)).or_insert(day);
        *e = (*e).min(day);
    }
    let mut periods = Vec::new();
    for y in years {
        let due = NaiveDate::from_ymd_opt(y + 1, 1, 15).unwrap_or(today);
        let named = |e: &registry::Entry, day: Option<NaiveDate>| NamedUnit {
            unit: e.id.clone(),
            name: e.name.clone(),
            reported_on: day,
        };
        let mut missing = Vec::new();
        let mut late = Vec::new();
        let mut on_time = 0usize;
        for e in &expected {
            match first.get(&(e.id.as_str(), y)) {
                None => missing.push(named(e, None)),
                Some(d) if *d > due => late.push(named(e, Some(*d))),
                Some(_) => on_time += 1,
            }
        }
        let (st, days) = state_on(today, due);
        let state = if expected.is_empty() {
            ReportState::NoUnits
        } else if missing.is_empty() && late.is_empty() {
            ReportState::Met
        } else if missing.is_empty() {
            ReportState::Late
        } else if st == DeadlineState::Passed {
            ReportState::Overdue
        } else {
            ReportState::Due
        };
        periods.push(Period {
            period: y,
            report_due: due,
            state,
            days,
            units_expected: expected.len(),
            units_reported: expected.len() - missing.len(),
            units_on_time: on_time,
            late,
            missing,
        });
    }
    Ok(Deadlines {
        today,
        periods,
        sessions: list,
    })
}
