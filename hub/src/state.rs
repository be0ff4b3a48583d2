//! The hub's state behind the server: its store, key and committer, the keys its
//! registry accepts, what it counts since start (traffic, keys refused at the door),
//! and the results cache the queries share. Ingest is in [`crate::ingest`], the
//! queries in [`crate::query`].

use crate::commit::Committer;
use crate::query::{self, ResultCache};
use crate::registry;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tinnhiem_core::seal::{PublicKey, UnitKey};
use tinnhiem_store::Store;

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) struct HubState {
    pub(crate) unit: String,
    pub(crate) key: UnitKey,
    pub(crate) store: Arc<Store>,
    /// Writes accepted items: dense log indices, each item stored once, one fsync per
    /// group of concurrent requests.
    pub(crate) committer: Committer,
    /// Serializes registry writes from enrollments.
    pub(crate) registry_lock: Mutex<()>,
    /// Which unit each registered key belongs to, built from the registry on first use
    /// and dropped whenever this process writes the registry (enrollments, admin
    /// commands): every handshake asks, and a national registry is long.
    pub(crate) key_index: Mutex<Option<KeyIndex>>,
    /// Woken after each durable batch of accepted items: the forwarders start at once
    /// instead of at their next poll.
    pub(crate) accepted: Arc<tokio::sync::Notify>,
    pub(crate) traffic: Traffic,
    /// Each accepted seal's computed result, shared by every query of this process.
    pub(crate) results: ResultCache,
    /// Keys refused at the handshake, by key: in memory and bounded
    /// ([`REFUSED_KEYS`]), since anyone can make one with a fresh key per attempt.
    refused: Mutex<std::collections::HashMap<[u8; 32], RefusedAttempt>>,
    /// Serializes the read-modify-write of rejection records.
    pub(crate) rejects_lock: Mutex<()>,
    /// Refused keys forgotten at the bound: the list says how many it does not show.
    refused_forgotten: std::sync::atomic::AtomicU64,
}

/// The most refused keys remembered; the one seen least recently goes first.
pub(crate) const REFUSED_KEYS: usize = 64;

/// Attempts by one key the registry did not know (or no longer accepts).
#[derive(Debug, Clone)]
pub(crate) struct RefusedAttempt {
    key: PublicKey,
    claimed_unit: Option<String>,
    revoked: bool,
    last_address: std::net::SocketAddr,
    first_at: i64,
    last_at: i64,
    count: u64,
}

/// A key refused at the handshake, as `status` and the dashboard show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RefusedKey {
    /// Hex.
    pub(crate) key: String,
    pub(crate) fingerprint: String,
    /// The unit its Hello named, if any.
    pub(crate) claimed_unit: Option<String>,
    pub(crate) revoked: bool,
    /// The last address it came from.
    pub(crate) address: String,
    /// Unix seconds.
    pub(crate) first_at: i64,
    pub(crate) last_at: i64,
    pub(crate) count: u64,
    /// The claimed unit's open keys, when it has some: then this one is an impostor or
    /// the district's new key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) unit_has_key: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) warning: Option<String>,
    /// The command that would take it in, for after a phone call; none for a revoked
    /// key (the district makes a new one).
    pub(crate) enrol: Option<String>,
}

/// Registered keys → (unit, validity).
pub(crate) type KeyIndex =
    std::collections::HashMap<[u8; 32], Vec<(String, tinnhiem_core::seal::KeyValidity)>>;

/// Counters for `/metrics`, since the process started.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    pub(crate) connections: std::sync::atomic::AtomicU64,
    pub(crate) messages: std::sync::atomic::AtomicU64,
    pub(crate) bytes: std::sync::atomic::AtomicU64,
    /// QUIC Retries sent (handshakes asked to prove their address).
    pub(crate) retries: std::sync::atomic::AtomicU64,
    /// Handshakes dropped or refused over a bound.
    pub(crate) shed: std::sync::atomic::AtomicU64,
    /// Handshakes in progress at the last decision.
    pub(crate) handshakes: std::sync::atomic::AtomicU64,
    /// Deliveries refused because the store could not be used (counted here, not
    /// stored or logged: the store is what failed, one log line says so).
    pub(crate) unavailable: std::sync::atomic::AtomicU64,
    /// Seals answered `heads_missing` (the node resyncs the document first): counted,
    /// not stored as rejections.
    pub(crate) resync: std::sync::atomic::AtomicU64,
}

/// A reading of [`Traffic`].
pub(crate) struct TrafficNow {
    pub(crate) connections: u64,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) retries: u64,
    pub(crate) shed: u64,
    pub(crate) handshakes: u64,
    pub(crate) refused_keys: u64,
    pub(crate) unavailable: u64,
    pub(crate) resync: u64,
}

impl HubState {
    /// The hub's state over `store`, with the log's leaves also kept in the file
    /// `leaves` (see [`crate::leaves`]).
    pub(crate) fn new(unit: String, key: UnitKey, store: Store, leaves: &Path) -> HubState {
        let store = Arc::new(store);
        let accepted = Arc::new(tokio::sync::Notify::new());
        let wake = accepted.clone();
        HubState {
            unit,
            key,
            committer: Committer::start(store.clone(), leaves, move || wake.notify_waiters()),
            store,
            registry_lock: Mutex::new(()),
            key_index: Mutex::new(None),
            accepted,
            traffic: Traffic::default(),
            results: ResultCache::default(),
            refused: Mutex::new(Default::default()),
            rejects_lock: Mutex::new(()),
            refused_forgotten: Default::default(),
        }
    }

    /// How many refused keys were forgotten at the bound of [`REFUSED_KEYS`] (not shown).
    pub(crate) fn refused_keys_more(&self) -> u64 {
        self.refused_forgotten
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The queries' view of this hub.
    pub(crate) fn queries(&self) -> query::Hub<'_> {
        query::Hub {
            store: &self.store,
            unit: &self.unit,
            cache: &self.results,
        }
    }

    /// The keys refused at the handshake, most recent first, each with the command
    /// that would enrol it (to run only after the district confirms the fingerprint).
    pub(crate) fn refused_keys(&self) -> Vec<RefusedKey> {
        let Ok(m) = self.refused.lock() else {
            return Vec::new();
        };
        let mut all: Vec<&RefusedAttempt> = m.values().collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.last_at));
        all.into_iter()
            .map(|a| {
                let unit = a.claimed_unit.as_deref().unwrap_or("ĐƠN-VỊ");
                let has = a
                    .claimed_unit
                    .as_deref()
                    .map(|u| registry::open_key_fingerprints(&self.store, u))
                    .unwrap_or_default();
                let mut k = RefusedKey {
                    key: a.key.to_hex(),
                    fingerprint: a.key.fingerprint(),
                    claimed_unit: a.claimed_unit.clone(),
                    revoked: a.revoked,
                    address: a.last_address.to_string(),
                    first_at: a.first_at,
                    last_at: a.last_at,
                    count: a.count,
                    unit_has_key: None,
                    warning: None,
                    // A closed key is never opened again: the district makes a new one.
                    enrol: (!a.revoked).then(|| {
                        format!(
                            "tinnhiem-hub registry add --unit {unit} --key {} --parent {}",
                            a.key.to_hex(),
                            self.unit
                        )
                    }),
                };
                if !has.is_empty() && !a.revoked {
                    // A unit that already has a key: an impostor, or the district's new
                    // key. Never suggest adding a second key.
                    k.unit_has_key = Some(has);
                    k.warning = Some("đơn vị đã có khóa — có thể mạo danh".into());
                    k.enrol = Some(format!(
                        "chỉ sau khi gọi điện xác nhận đơn vị đã đổi khóa: tinnhiem-hub registry rotate --unit {unit} --key {}",
                        a.key.to_hex()
                    ));
                }
                k
            })
            .collect()
    }

    /// Records a handshake refused for its key: one record per key, counted.
    pub(crate) fn record_refused_key(
        &self,
        r: &tinnhiem_net::RefusedKey,
        from: std::net::SocketAddr,
    ) {
        let t = now();
        let Ok(mut m) = self.refused.lock() else {
            return;
        };
        let first = !m.contains_key(&r.key.0);
        if first && m.len() >= REFUSED_KEYS {
            if let Some(oldest) = m.values().min_by_key(|a| a.last_at).map(|a| a.key.0) {
                m.remove(&oldest);
                self.refused_forgotten
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let a = m.entry(r.key.0).or_insert_with(|| RefusedAttempt {
            key: r.key,
            claimed_unit: None,
            revoked: r.revoked,
            last_address: from,
            first_at: t,
            last_at: t,
            count: 0,
        });
        a.claimed_unit = r.claimed_unit.clone();
        a.revoked = r.revoked;
        a.last_address = from;
        a.last_at = t;
        a.count += 1;
        // Once per key in the log; the count is in `status`.
        if first {
            tracing::warn!(key = %r.key.fingerprint(), unit = ?r.claimed_unit, %from,
                revoked = r.revoked, "handshake refused: key not registered");
        }
    }

    pub(crate) fn traffic(&self) -> TrafficNow {
        use std::sync::atomic::Ordering::Relaxed;
        TrafficNow {
            connections: self.traffic.connections.load(Relaxed),
            messages: self.traffic.messages.load(Relaxed),
            bytes: self.traffic.bytes.load(Relaxed),
            retries: self.traffic.retries.load(Relaxed),
            shed: self.traffic.shed.load(Relaxed),
            handshakes: self.traffic.handshakes.load(Relaxed),
            unavailable: self.traffic.unavailable.load(Relaxed),
            resync: self.traffic.resync.load(Relaxed),
            refused_keys: self
                .refused
                .lock()
                .map(|m| m.values().map(|a| a.count).sum())
                .unwrap_or(0),
        }
    }

    pub(crate) fn registered_keys(
        &self,
        unit: &str,
    ) -> Option<Vec<tinnhiem_core::seal::KeyValidity>> {
        registry::get(&self.store, unit).ok()??.keys().ok()
    }

    /// Forgets the key index: the registry changed.
    pub(crate) fn registry_changed(&self) {
        if let Ok(mut i) = self.key_index.lock() {
            *i = None;
        }
    }

    /// What the registry says of a key at the handshake.
    pub(crate) fn key_verdict(&self, key: &PublicKey) -> tinnhiem_net::KeyVerdict {
        use tinnhiem_net::KeyVerdict;
        if tinnhiem_net::server::Host::unit_of(self, key).is_some() {
            return KeyVerdict::Known;
        }
        let known = self
            .key_index
            .lock()
            .ok()
            .and_then(|i| i.as_ref().map(|m| m.contains_key(&key.0)))
            .unwrap_or(false);
        if known {
            KeyVerdict::Revoked
        } else {
            KeyVerdict::Unknown
        }
    }
}
