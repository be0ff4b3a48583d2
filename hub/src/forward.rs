//! Forwarding up the tree: every seal this hub accepted, with its document, goes to each
//! upper destination of `hub.toml`, unchanged (the upper hub verifies each district's
//! own signature), through the same outbox machinery a node uses. The enrollments of
//! this hub's units go in each Hello, so the upper hub learns whose keys those are.

use crate::home::{Destination, Home};
use crate::keys::doc_key;
use crate::query::{aggregates::aggregates, held::accepted_seals};
use crate::registry;
use crate::state::HubState;
use anyhow::Result;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tinnhiem_core::proto::node::Event;
use tinnhiem_core::proto::{doc_name, parse_doc_name};
use tinnhiem_core::seal::{Aggregate, Seal, UnitKey};
use tinnhiem_net::outbox::{self, DeliveryState, Outbox, OutboxError, Sender};
use tinnhiem_store::{Store, Table};

/// A hub's outbox: its accepted seals, named `unit/session` on the wire.
pub(crate) struct HubOutbox<'a> {
    pub(crate) store: &'a Store,
    pub(crate) hub: &'a str,
    /// Signs the enrollments of the hub's direct children; `None` when only counting.
    pub(crate) key: Option<&'a UnitKey>,
}

impl Outbox for HubOutbox<'_> {
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        f(self.store)
    }
    fn sealed(&self, store: &Store) -> Result<Vec<(String, Seal)>, OutboxError> {
        Ok(accepted_seals(store)
            .map_err(|e| OutboxError::Source(format!("{e:#}")))?
            .into_iter()
            .map(|(unit, session, seal)| (doc_name(self.hub, &unit, &session), seal))
            .collect())
    }
    fn doc(&self, store: &Store, name: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        let (unit, session) = parse_doc_name(self.hub, name)
            .ok_or_else(|| OutboxError::Source(format!("document name {name:?}")))?;
        Ok(store.read(Table::Docs, &doc_key(unit.as_str(), session.as_str()))?)
    }
    fn aggregates(&self, store: &Store) -> Result<Vec<Aggregate>, OutboxError> {
        Ok(aggregates(store)
            .map_err(|e| OutboxError::Source(format!("{e:#}")))?
            .into_iter()
            .filter(|a| a.body.hub == self.hub)
            .collect())
    }
    fn enrollments(&self, store: &Store) -> Result<Vec<Vec<u8>>, OutboxError> {
        let Some(key) = self.key else {
            return Ok(Vec::new());
        };
        registry::enrollments_to_forward(store, self.hub, key, chrono::Utc::now().timestamp())
            .map_err(|e| OutboxError::Source(format!("{e:#}")))
    }
}

/// Keeps one delivery task per destination of `hub.toml`, started, replaced or stopped
/// as the file changes (checked every two seconds).
pub(crate) async fn run(state: Arc<HubState>, dir: PathBuf) {
    let mut running: BTreeMap<String, (Destination, tokio::task::JoinHandle<()>)> = BTreeMap::new();
    loop {
        let wanted = match Home::open(&dir) {
            Ok(h) => h.config.destination,
            Err(e) => {
                tracing::warn!("hub.toml: {e:#}");
                running.values().map(|(d, _)| d.clone()).collect()
            }
        };
        running.retain(|unit, (d, task)| {
            let keep = wanted.iter().any(|w| w == d) && !task.is_finished();
            if !keep {
                tracing::info!(destination = %unit, "forwarding stopped");
                task.abort();
            }
            keep
        });
        for d in wanted {
            if running.contains_key(d.unit.as_str()) {
                continue;
            }
            tracing::info!(destination = %d.unit, addr = %d.addr, "forwarding started");
            let task = tokio::spawn(deliver_forever(state.clone(), d.clone()));
            running.insert(d.unit.to_string(), (d, task));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn deliver_forever(state: Arc<HubState>, dest: Destination) {
    let device = state.store.device().unwrap_or_default();
    let target = dest.target();
    let mut checked_at: Option<Instant> = None;
    loop {
        // Registered before the round: a seal accepted during it wakes the next one.
        let woken = state.accepted.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let ob = HubOutbox {
            store: &state.store,
            hub: &state.unit,
            key: Some(&state.key),
        };
        let from = Sender {
            unit: &state.unit,
            key: &state.key,
            device: &device,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // Now and then even with nothing to forward: the destination may have lost
        // what it receipted, and says so only to a peer that connects.
        let check = checked_at.is_none_or(|t| t.elapsed() >= outbox::check_interval());
        if check {
            checked_at = Some(Instant::now());
        }
        let run = outbox::run_until(&ob, &from, &target, deadline, false, check, |ev| {
            log(&dest, ev)
        });
        match run.await {
            Ok(s) if s.connections > 0 => {
                tracing::info!(destination = %dest.unit, connections = s.connections,
                    bytes = s.wire_bytes, "forwarding round done");
            }
            Ok(_) => {}
            // The store down has its own line (once); not one per round.
            Err(e) if !state.store.health().available => {
                tracing::debug!(destination = %dest.unit, "forwarding: {e}")
            }
            Err(e) => tracing::warn!(destination = %dest.unit, "forwarding: {e}"),
        }
        tokio::select! {
            _ = woken => {}
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
        }
    }
}

fn log(dest: &Destination, ev: &Event) {
    match ev {
        Event::Receipt { session, seq, .. } => {
            tracing::info!(destination = %dest.unit, doc = %session, seq, "forwarded, receipt")
        }
        Event::Rejected {
            session,
            seq,
            reason,
            detail,
        } => tracing::warn!(destination = %dest.unit, doc = %session, seq,
            reason = reason.code(), "forward rejected: {detail}"),
        _ => {}
    }
}

/// Per destination: counts of deliveries by state, and what is not received yet.
pub(crate) fn summary(store: &Store, hub: &str, dests: &[Destination]) -> Result<Value> {
    let ob = HubOutbox {
        store,
        hub,
        key: None,
    };
    let mut out = Vec::new();
    for d in dests {
        let key = d.target().key()?;
        let all: Vec<outbox::Delivery> = outbox::deliveries_read(&ob, store, &key)?
            .into_iter()
            .map(|(_, x)| x)
            .chain(
                outbox::aggregate_deliveries_read(&ob, store, &key)?
                    .into_iter()
                    .map(|(_, x)| x),
            )
            .collect();
        let count = |s: DeliveryState| all.iter().filter(|x| x.state == s).count();
        let open: Vec<Value> = all
            .iter()
            .filter(|x| !x.received())
            .map(|x| {
                json!({"doc": x.session, "seq": x.seq, "state": x.state,
                       "last_error": x.last_error, "reject_reason": x.reject_reason,
                       "reject_detail": x.reject_detail})
            })
            .collect();
        out.push(
            json!({"unit": d.unit, "name": d.name, "addr": d.addr, "key": d.key,
            "total": all.len(), "received": count(DeliveryState::Received),
            "sent": count(DeliveryState::Sent), "pending": count(DeliveryState::Pending),
            "rejected": count(DeliveryState::Rejected), "open": open}),
        );
    }
    Ok(Value::Array(out))
}
