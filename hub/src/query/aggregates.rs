//! Aggregates: the hub's sealed word on a reporting period (`aggregate seal`), and
//! every aggregate held, its own and those received from below (`aggregate list`).

use super::held::held_seal;
use super::sessions::{sessions, SessionOnHub};
use super::units::Units;
use super::Hub;
use crate::keys::{aggregate_key, doc_key};
use crate::registry;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::seal::{
    flagged_of, Aggregate, AggregateBody, Flagged, Included, Receipt, UnitKey,
};
use tinnhiem_store::{Store, Table, Write};

/// Every stored aggregate, in order of owner, period and seq.
pub(crate) fn aggregates(store: &Store) -> Result<Vec<Aggregate>> {
    store
        .scan_table(Table::Meta, b"aggregate/")?
        .into_iter()
        .map(|(_, v)| Aggregate::from_bytes(&v).map_err(anyhow::Error::from))
        .collect()
}

/// The flagged subjects of the sessions `included` names, recomputed from the stored
/// seals and documents; `None` when a seal named is not held here.
pub(crate) fn recompute_flagged(
    store: &Store,
    included: &[Included],
) -> Result<Option<Vec<Flagged>>> {
    let mut out = Vec::new();
    for i in included {
        let Some(seal) = held_seal(store, &i.unit, &i.session, i.seq)? else {
            return Ok(None);
        };
        if seal.id() != i.seal_id || seal.body.result_digest != i.result_digest {
            return Ok(None);
        }
        let Some(doc) = store.read(Table::Docs, &doc_key(&i.unit, &i.session))? else {
            return Ok(None);
        };
        let mut doc = SessionDoc::load(&doc, b"hub")?;
        let r = tinnhiem_core::seal::check(&seal, &mut doc)?;
        out.extend(flagged_of(&r));
    }
    out.sort();
    Ok(Some(out))
}

/// `aggregate seal --period`: every session of that year the hub accepted (latest seal
/// each), units missing, units late against the 15 January report, every flagged
/// subject. Stored, then forwarded.
pub(crate) fn seal_aggregate(
    hub: Hub<'_>,
    key: &UnitKey,
    period: i32,
    now: i64,
) -> Result<Aggregate> {
    use chrono::Datelike;
    let store = hub.store;
    let reg = registry::list(store)?;
    let units = Units::new(&reg);
    let in_period: Vec<SessionOnHub> = sessions(store, hub.cache)?
        .into_iter()
        .filter(|s| s.meta.date.year() == period)
        .collect();
    let due_end = chrono::NaiveDate::from_ymd_opt(period + 1, 1, 16)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp() - 7 * 3600) // end of 15 January, Vietnam time
        .unwrap_or(i64::MAX);
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    let mut included = Vec::new();
    let mut flagged = Vec::new();
    for s in &in_period {
        let at = s.receipt.as_ref().map_or(0, |r| r.body.received_at);
        included.push(Included::of(&s.seal, at));
        flagged.extend(flagged_of(&s.result));
        if let Some(child) = units.reporting_child(&s.unit) {
            let e = first.entry(child).or_insert(at);
            *e = (*e).min(at);
        }
    }
    let missing = units
        .expected(hub.unit)
        .filter(|e| !first.contains_key(e.id.as_str()))
        .map(|e| e.id.clone())
        .collect();
    let late = first
        .iter()
        .filter(|(_, at)| **at > due_end)
        .map(|(u, _)| u.to_string())
        .collect();
    let seq = aggregates(store)?
        .iter()
        .filter(|a| a.body.hub == hub.unit && a.body.period == period)
        .map(|a| a.body.seq)
        .max()
        .unwrap_or(0)
        + 1;
    let agg = Aggregate::sign(
        key,
        AggregateBody {
            hub: hub.unit.to_owned(),
            period,
            seq,
            sealed_at: now,
            signer: [0; 32],
            included,
            missing,
            late,
            flagged,
        },
    );
    store.batch(&[Write::PutNew(
        Table::Meta,
        aggregate_key(hub.unit, period, seq),
        agg.to_bytes(),
    )])?;
    Ok(agg)
}

/// One aggregate as `aggregate list --json` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AggregateView {
    pub(crate) hub: String,
    /// Sealed by this hub (else received from below).
    pub(crate) own: bool,
    pub(crate) period: i32,
    pub(crate) seq: u32,
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) sealed_at: i64,
    pub(crate) included: Vec<IncludedView>,
    pub(crate) missing: Vec<String>,
    pub(crate) late: Vec<String>,
    pub(crate) flagged: Vec<Flagged>,
    /// This hub's receipt of one received from below.
    pub(crate) received_at: Option<i64>,
}

/// A seal an aggregate names.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct IncludedView {
    pub(crate) unit: String,
    pub(crate) session: String,
    pub(crate) seq: u32,
    pub(crate) seal_id: String,
}

impl AggregateView {
    fn of(store: &Store, hub: &str, a: &Aggregate) -> AggregateView {
        let receipt = store
            .read(Table::Receipts, &a.id())
            .ok()
            .flatten()
            .and_then(|r| Receipt::from_bytes(&r).ok());
        AggregateView {
            hub: a.body.hub.clone(),
            own: a.body.hub == hub,
            period: a.body.period,
            seq: a.body.seq,
            id: hex::encode(a.id()),
            sealed_at: a.body.sealed_at,
            included: a
                .body
                .included
                .iter()
                .map(|i| IncludedView {
                    unit: i.unit.clone(),
                    session: i.session.clone(),
                    seq: i.seq,
                    seal_id: hex::encode(i.seal_id),
                })
                .collect(),
            missing: a.body.missing.clone(),
            late: a.body.late.clone(),
            flagged: a.body.flagged.clone(),
            received_at: receipt.map(|r| r.body.received_at),
        }
    }
}

/// `aggregate list --json`.
pub(crate) fn aggregate_list(store: &Store, hub: &str) -> Result<Vec<AggregateView>> {
    Ok(aggregates(store)?
        .iter()
        .map(|a| AggregateView::of(store, hub, a))
        .collect())
}

/// `aggregate seal`'s answer: the new aggregate as the list shows it.
pub(crate) fn aggregate_view(store: &Store, hub: &str, a: &Aggregate) -> AggregateView {
    AggregateView::of(store, hub, a)
}
