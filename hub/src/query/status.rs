//! `status`: units reported of those expected, seals accepted and rejected, the next
//! report, papers, the store's health; and the few counts `/metrics` exports.

use super::deadlines::{deadlines, Period, ReportState};
use super::held::{accepted, accepted_seals};
use super::paper::{papers, Paper, PaperState};
use super::rejections::{rejections, Rejection};
use super::units::Units;
use super::Hub;
use crate::leaves::LossRecord;
use crate::registry;
use crate::state::RefusedKey;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use tinnhiem_core::domain::when::moment_vi;
use tinnhiem_store::Store;

/// The answer to `status`: the whole of it, or what can be said while the store is down.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum StatusReport {
    Up(Box<Status>),
    /// Boxed as well: both are large, and only one is made per request.
    Down(Box<StatusDown>),
}

/// `status` with the store working.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Status {
    pub(crate) hub: String,
    /// Present once the store was found to have gone back in time; stays after the
    /// items came back, so that the operator learns of it.
    pub(crate) log_loss: Option<LossRecord>,
    pub(crate) store: StoreState,
    /// The report due next (or the one overdue), with the units still missing.
    pub(crate) next_report: Option<Period>,
    pub(crate) units_expected: usize,
    pub(crate) units_reported: usize,
    pub(crate) seals_accepted: usize,
    pub(crate) seals_rejected: u64,
    pub(crate) units: Vec<UnitStatus>,
    /// The latest 20.
    pub(crate) recent_rejections: Vec<Rejection>,
    /// Kept in the serving process only: empty when answered from the store.
    pub(crate) refused_keys: Vec<RefusedKey>,
    pub(crate) papers: Vec<Paper>,
    /// Delivery to each upper hub (`forward::summary`), when the caller named them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) destinations: Option<serde_json::Value>,
    /// Refused keys no longer shown (serving process only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refused_keys_more: Option<u64>,
}

/// `status` while the store cannot be used: that, and nothing read from it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatusDown {
    pub(crate) hub: String,
    pub(crate) store: StoreState,
    pub(crate) units: Vec<UnitStatus>,
    pub(crate) recent_rejections: Vec<Rejection>,
    pub(crate) refused_keys: Vec<RefusedKey>,
    pub(crate) papers: Vec<Paper>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refused_keys_more: Option<u64>,
}

impl StatusReport {
    /// Adds what only the serving process knows: the keys refused at its door.
    pub(crate) fn with_refused(mut self, keys: Vec<RefusedKey>, more: u64) -> StatusReport {
        match &mut self {
            StatusReport::Up(s) => {
                s.refused_keys = keys;
                s.refused_keys_more = Some(more);
            }
            StatusReport::Down(s) => {
                s.refused_keys = keys;
                s.refused_keys_more = Some(more);
            }
        }
        self
    }

    pub(crate) fn store(&self) -> &StoreState {
        match self {
            StatusReport::Up(s) => &s.store,
            StatusReport::Down(s) => &s.store,
        }
    }

    /// An alarm is printed in red: a store down or failing, or minutes the log signed
    /// still missing from the store.
    pub(crate) fn alarm(&self) -> bool {
        let store = self.store();
        let missing = match self {
            StatusReport::Up(s) => s.log_loss.as_ref().is_some_and(|l| !l.missing.is_empty()),
            StatusReport::Down(_) => false,
        };
        !store.available || store.failing || missing
    }
}

/// One unit expected to report here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UnitStatus {
    pub(crate) unit: String,
    pub(crate) name: Option<String>,
    pub(crate) parent: String,
    /// At least one seal accepted from it or a unit below it.
    pub(crate) reported: bool,
    /// Paper records (QR) still waiting for their document.
    pub(crate) paper_only: usize,
    pub(crate) sessions: usize,
    pub(crate) seals: usize,
    /// Unix seconds.
    pub(crate) last_received_at: Option<i64>,
}

/// The store's state, for `status`, the dashboard and `/metrics`: whether it works,
/// since when it does not and why, how often it came back by itself, and whether it
/// failed in the last minute (a full disk lets the store reopen between refused writes,
/// so `available` alone would read healthy through most of an outage).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StoreState {
    pub(crate) available: bool,
    pub(crate) since: Option<i64>,
    pub(crate) since_vi: Option<String>,
    pub(crate) cause: Option<String>,
    pub(crate) reopened: u64,
    pub(crate) failing: bool,
    pub(crate) failures: u64,
    pub(crate) last_failure: Option<i64>,
    pub(crate) last_failure_vi: Option<String>,
    pub(crate) last_cause: Option<String>,
}

pub(crate) fn store_state(store: &Store) -> StoreState {
    let h = store.health();
    StoreState {
        available: h.available,
        since: h.since,
        since_vi: h.since.map(moment_vi),
        cause: h.cause,
        reopened: h.reopened,
        failing: h.failing,
        failures: h.failures,
        last_failure: h.last_failure,
        last_failure_vi: h.last_failure.map(moment_vi),
        last_cause: h.last_cause,
    }
}

/// What `status` says while the store cannot be used.
pub(crate) fn status_down(hub: &str, store: &Store) -> StatusDown {
    StatusDown {
        hub: hub.to_owned(),
        store: store_state(store),
        units: Vec::new(),
        recent_rejections: Vec::new(),
        refused_keys: Vec::new(),
        papers: Vec::new(),
        refused_keys_more: None,
    }
}

/// What one reporting unit sent, its own and its descendants'.
#[derive(Default)]
struct Sent<'a> {
    sessions: BTreeSet<(&'a str, &'a str)>,
    seals: usize,
    last: Option<i64>,
    paper_only: usize,
}

/// `status` on `today`, in time linear in the seals, papers and units it reports: the
/// registry is indexed once and each seal is counted once for the unit it rolls up to.
pub(crate) fn status(hub: Hub<'_>, today: chrono::NaiveDate) -> Result<Status> {
    let store = hub.store;
    let reg = registry::list(store)?;
    let units = Units::new(&reg);
    let seals = accepted(store)?;
    let rejects = rejections(store)?;
    let papers = papers(store)?;
    let mut sent: HashMap<&str, Sent<'_>> = HashMap::new();
    for a in &seals {
        let Some(child) = units.reporting_child(&a.unit) else {
            continue;
        };
        let s = sent.entry(child).or_default();
        s.sessions.insert((&a.unit, &a.session));
        s.seals += 1;
        if let Some(r) = &a.receipt {
            s.last = s.last.max(Some(r.body.received_at));
        }
    }
    for p in papers.iter().filter(|p| p.state == PaperState::PaperOnly) {
        if let Some(child) = units.reporting_child(&p.unit) {
            sent.entry(child).or_default().paper_only += 1;
        }
    }
    let list: Vec<UnitStatus> = units
        .expected(hub.unit)
        .map(|e| {
            let s = sent.get(e.id.as_str());
            UnitStatus {
                unit: e.id.clone(),
                name: e.name.clone(),
                parent: e.parent.clone(),
                reported: s.is_some_and(|s| s.seals > 0),
                paper_only: s.map_or(0, |s| s.paper_only),
                sessions: s.map_or(0, |s| s.sessions.len()),
                seals: s.map_or(0, |s| s.seals),
                last_received_at: s.and_then(|s| s.last),
            }
        })
        .collect();
    let rejected = rejects.iter().map(|r| r.count).sum();
    let periods = deadlines(hub, today)?.periods;
    let next_report = periods
        .iter()
        .rev()
        .find(|p| p.state != ReportState::Overdue)
        .or(periods.last())
        .cloned();
    let loss = LossRecord::read(store).map_err(|e| anyhow::anyhow!(e))?;
    Ok(Status {
        hub: hub.unit.to_owned(),
        log_loss: (!loss.events.is_empty()).then_some(loss),
        store: store_state(store),
        next_report,
        units_expected: list.len(),
        units_reported: list.iter().filter(|u| u.reported).count(),
        seals_accepted: seals.len(),
        seals_rejected: rejected,
        units: list,
        recent_rejections: rejects.into_iter().take(20).collect(),
        refused_keys: Vec::new(),
        papers,
        destinations: None,
        refused_keys_more: None,
    })
}

/// The figures `/metrics` exports, counted without the deadline calendar or any
/// result, so that a scrape every few seconds costs a scan of seals and rejections only.
pub(crate) struct Counts {
    /// Seals accepted.
    pub(crate) seals_accepted: u64,
    /// Rejections recorded.
    pub(crate) seals_rejected: u64,
    /// Units registered to report here.
    pub(crate) units_expected: u64,
    /// Of those, units with at least one accepted seal (theirs or a descendant's).
    pub(crate) units_reported: u64,
}

/// [`Counts`]; the same figures as [`status`] gives.
pub(crate) fn counts(store: &Store, hub: &str) -> Result<Counts> {
    let reg = registry::list(store)?;
    let units = Units::new(&reg);
    let seals = accepted_seals(store)?;
    let reporting: BTreeSet<&str> = seals
        .iter()
        .filter_map(|s| units.reporting_child(&s.0))
        .collect();
    let expected: Vec<&str> = units.expected(hub).map(|e| e.id.as_str()).collect();
    Ok(Counts {
        seals_accepted: seals.len() as u64,
        seals_rejected: rejections(store)?.iter().map(|r| r.count).sum(),
        units_expected: expected.len() as u64,
        units_reported: expected.iter().filter(|u| reporting.contains(*u)).count() as u64,
    })
}
