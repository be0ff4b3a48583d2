//! The hub's state behind the server: ingest (verify, store, receipt) and the queries
//! `status` and `result` answer from.

use crate::commit::Committer;
use crate::registry;
use anyhow::Result;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::proto::hub::{verify_seal, HubEnv};
use tinnhiem_core::proto::RejectReason;
use tinnhiem_core::seal::{
    flagged_of, Aggregate, AggregateBody, Flagged, Included, PublicKey, Receipt, Seal, UnitKey,
};
use tinnhiem_net::server::Host;
use tinnhiem_store::{Store, Table, Write};

/// `unit/session`: the hub's key of a document (ids never contain `/`).
pub(crate) fn doc_key(unit: &str, session: &str) -> Vec<u8> {
    format!("{unit}/{session}").into_bytes()
}

fn seal_key(unit: &str, session: &str, seq: u32) -> Vec<u8> {
    let mut k = doc_key(unit, session);
    k.push(0);
    k.extend(seq.to_be_bytes());
    k
}

/// The key of a (unit, reason) rejection record. Records from before the counting
/// (one per rejection, keyed by time) are read as counts of one.
fn reject_key(unit: &str, reason: &str) -> Vec<u8> {
    format!("by/{unit}\0{reason}").into_bytes()
}

/// Every rejection record as (count, JSON with `unit`, `reason`, `count`, `first`,
/// `last`, and the sample's `session`, `seal_id`, `detail` at the top for older readers).
fn rejections(store: &Store) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (_, v) in store.scan_table(Table::Rejects, b"")? {
        let Ok(mut r) = serde_json::from_slice::<Value>(&v) else {
            continue;
        };
        // Transient protocol answers recorded by older releases are not rejections.
        if matches!(r["reason"].as_str(), Some("heads_missing" | "unavailable")) {
            continue;
        }
        if r.get("count").is_none() {
            // A record of one rejection, as written before.
            let at = r["at"].clone();
            r["count"] = json!(1);
            r["first"] = at.clone();
            r["last"] = at;
        } else {
            for f in ["session", "seal_id", "detail"] {
                r[f] = r["sample"][f].clone();
            }
            r["at"] = r["last"].clone();
        }
        out.push(r);
    }
    out.sort_by_key(|r| std::cmp::Reverse(r["last"].as_i64().unwrap_or(0)));
    Ok(out)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(crate) struct HubState {
    pub(crate) unit: String,
    pub(crate) key: UnitKey,
    pub(crate) store: Arc<Store>,
    /// Writes accepted items: dense log indices, each item stored once, one fsync per
    /// group of concurrent requests.
    committer: Committer,
    /// Serializes registry writes from enrollments.
    registry_lock: Mutex<()>,
    /// Which unit each registered key belongs to, built from the registry on first use
    /// and dropped whenever this process writes the registry (enrollments, admin
    /// commands): every handshake asks, and a national registry is long.
    key_index: Mutex<Option<KeyIndex>>,
    /// Woken after each durable batch of accepted items: the forwarders start at once
    /// instead of at their next poll.
    pub(crate) accepted: Arc<tokio::sync::Notify>,
    traffic: Traffic,
    /// Keys refused at the handshake, by key: in memory and bounded
    /// ([`REFUSED_KEYS`]), since anyone can make one with a fresh key per attempt.
    refused: Mutex<std::collections::HashMap<[u8; 32], RefusedAttempt>>,
    /// Serializes the read-modify-write of rejection records.
    rejects_lock: Mutex<()>,
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

/// Registered keys → (unit, validity).
type KeyIndex =
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

    /// The keys refused at the handshake, most recent first, each with the command
    /// that would enrol it (to run only after the district confirms the fingerprint).
    pub(crate) fn refused_keys(&self) -> Value {
        let Ok(m) = self.refused.lock() else {
            return json!([]);
        };
        let mut all: Vec<&RefusedAttempt> = m.values().collect();
        all.sort_by_key(|a| std::cmp::Reverse(a.last_at));
        Value::Array(
            all.into_iter()
                .map(|a| {
                    let unit = a.claimed_unit.as_deref().unwrap_or("ĐƠN-VỊ");
                    let has = a
                        .claimed_unit
                        .as_deref()
                        .map(|u| registry::open_key_fingerprints(&self.store, u))
                        .unwrap_or_default();
                    if !has.is_empty() && !a.revoked {
                        // A unit that already has a key: an impostor, or the district's
                        // new key. Never suggest adding a second key.
                        return json!({
                            "key": a.key.to_hex(), "fingerprint": a.key.fingerprint(),
                            "claimed_unit": a.claimed_unit, "revoked": a.revoked,
                            "address": a.last_address.to_string(),
                            "first_at": a.first_at, "last_at": a.last_at, "count": a.count,
                            "unit_has_key": has,
                            "warning": "đơn vị đã có khóa — có thể mạo danh",
                            "enrol": format!(
                                "chỉ sau khi gọi điện xác nhận đơn vị đã đổi khóa: tinnhiem-hub registry rotate --unit {unit} --key {}",
                                a.key.to_hex()),
                        });
                    }
                    json!({
                        "key": a.key.to_hex(), "fingerprint": a.key.fingerprint(),
                        "claimed_unit": a.claimed_unit, "revoked": a.revoked,
                        "address": a.last_address.to_string(),
                        "first_at": a.first_at, "last_at": a.last_at, "count": a.count,
                        // A closed key is never opened again: the district makes a new one.
                        "enrol": (!a.revoked).then(|| format!(
                            "tinnhiem-hub registry add --unit {unit} --key {} --parent {}",
                            a.key.to_hex(), self.unit)),
                    })
                })
                .collect(),
        )
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

    fn registered_keys(&self, unit: &str) -> Option<Vec<tinnhiem_core::seal::KeyValidity>> {
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
        if self.unit_of(key).is_some() {
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

    /// Counts a rejection in its (unit, reason) record: count, first and last time, and
    /// the latest one as a sample. A peer refused in a loop grows a counter, never the
    /// store; written without waiting for the disk (a count lost in a crash is a count).
    fn record_reject(
        &self,
        unit: &str,
        session: &str,
        seal_id: &[u8; 32],
        reason: RejectReason,
        detail: &str,
    ) {
        if reason == RejectReason::Unavailable {
            // Our failure, not the peer's: it retries, and the store is down anyway.
            self.traffic
                .unavailable
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        if reason == RejectReason::HeadsMissing {
            // A normal step of sync (the node sends the document again, then the
            // seal), common after a full disk or a restore: not a rejection of a seal.
            self.traffic
                .resync
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        let t = now();
        let k = reject_key(unit, reason.code());
        let sample = json!({"session": session, "seal_id": hex::encode(seal_id), "detail": detail});
        let r = (|| -> Result<bool> {
            let _g = self
                .rejects_lock
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?;
            let old: Option<Value> = self
                .store
                .read(Table::Rejects, &k)?
                .and_then(|v| serde_json::from_slice(&v).ok());
            let (count, first) = match &old {
                Some(o) => (
                    o["count"].as_u64().unwrap_or(1),
                    o["first"].as_i64().unwrap_or(t),
                ),
                None => (0, t),
            };
            let v = json!({"unit": unit, "reason": reason.code(), "count": count + 1,
                           "first": first, "last": t, "sample": sample});
            self.store
                .batch_lazy(&[Write::Put(Table::Rejects, k, v.to_string().into_bytes())])?;
            Ok(old.is_none())
        })();
        match r {
            // The first of its kind is worth a line in the log; the rest are counted.
            Ok(true) => {
                tracing::warn!(unit, session, reason = reason.code(), "rejected: {detail}")
            }
            Ok(false) => {
                tracing::debug!(unit, session, reason = reason.code(), "rejected: {detail}")
            }
            // The store's own line says when it goes down; not one per refusal.
            Err(e)
                if e.downcast_ref::<tinnhiem_store::StoreError>()
                    .is_some_and(|e| {
                        matches!(e, tinnhiem_store::StoreError::Unavailable { .. })
                    }) =>
            {
                self.traffic
                    .unavailable
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Err(e) => tracing::error!("could not record a rejection: {e:#}"),
        }
    }

    fn ingest(
        &self,
        unit: &str,
        seal: &Seal,
        doc: &mut SessionDoc,
    ) -> Result<Receipt, (RejectReason, String)> {
        let id = seal.id();
        let unavailable =
            |e: tinnhiem_store::StoreError| (RejectReason::Unavailable, e.to_string());
        // The same seal again gets the same receipt (the committer checks again, for
        // two copies verified at once).
        if let Some(r) = self.store.read(Table::Receipts, &id).map_err(unavailable)? {
            let r =
                Receipt::from_bytes(&r).map_err(|e| (RejectReason::Unavailable, e.to_string()))?;
            // A batch reported failed that reached the disk anyway: its receipt names a
            // log the heads signed now do not reach until the committer has read it back
            // (commit.rs). Then it goes through the committer, which reads the log back
            // first and answers this stored receipt.
            let published = self.committer.tree.read().map_or(0, |t| t.size());
            if r.body.tree_size <= published {
                return Ok(r);
            }
        }
        let Some(keys) = self.registered_keys(unit) else {
            return Err((RejectReason::UnknownUnit, unit.to_owned()));
        };
        // Verified here, in the connection's thread, in parallel with other connections.
        verify_seal(unit, &keys, seal, doc)?;
        let s = seal.body.session.as_str();
        let writes = vec![
            Write::Put(Table::Docs, doc_key(unit, s), doc.save()),
            Write::Put(
                Table::Seals,
                seal_key(unit, s, seal.body.seq),
                seal.to_bytes(),
            ),
        ];
        let key = UnitKey::from_seed(self.key.seed());
        let sealed = seal.clone();
        let receipt = self.committer.commit(
            id,
            writes,
            Box::new(move |at| Receipt::sign(&key, &sealed, now(), at)),
        )?;
        tracing::info!(unit, session = %s, seq = seal.body.seq, index = receipt.body.log_index, "seal accepted");
        Ok(receipt)
    }
}

impl HubState {
    /// A lower hub's aggregate, verified: signed by a key of `peer` (its own), every
    /// seal it names held here with the same id and digest, its flags equal to those
    /// recomputed from them. Stored with a receipt; the same aggregate again gets the
    /// same receipt.
    fn accept_aggregate(
        &self,
        peer: &str,
        bytes: &[u8],
    ) -> Result<Receipt, (RejectReason, String)> {
        let unavailable = |e: anyhow::Error| (RejectReason::Unavailable, format!("{e:#}"));
        let agg =
            Aggregate::from_bytes(bytes).map_err(|e| (RejectReason::Malformed, e.to_string()))?;
        let id = agg.id();
        if let Some(r) = self
            .store
            .read(Table::Receipts, &id)
            .map_err(|e| unavailable(e.into()))?
        {
            let r =
                Receipt::from_bytes(&r).map_err(|e| (RejectReason::Unavailable, e.to_string()))?;
            // As in `ingest`: a receipt past the published log goes through the committer.
            let published = self.committer.tree.read().map_or(0, |t| t.size());
            if r.body.tree_size <= published {
                return Ok(r);
            }
        }
        if agg.body.hub != peer {
            return Err((
                RejectReason::OtherUnit,
                format!("aggregate of {}", agg.body.hub),
            ));
        }
        let keys = self
            .registered_keys(peer)
            .ok_or_else(|| (RejectReason::UnknownUnit, peer.to_owned()))?;
        agg.verify(&keys).map_err(|e| match e {
            tinnhiem_core::seal::SealError::BadKey => (RejectReason::WrongKey, e.to_string()),
            _ => (RejectReason::BadSignature, e.to_string()),
        })?;
        let mut claimed = agg.body.flagged.clone();
        claimed.sort();
        match recompute_flagged(&self.store, &agg.body.included).map_err(unavailable)? {
            None => {
                return Err((
                    RejectReason::HeadsMissing,
                    "a seal the aggregate names is not held here yet".into(),
                ))
            }
            Some(f) if f != claimed => {
                return Err((
                    RejectReason::ResultMismatch,
                    "flagged subjects differ from the named seals".into(),
                ))
            }
            Some(_) => {}
        }
        let key = UnitKey::from_seed(self.key.seed());
        let stored = agg.clone();
        let receipt = self.committer.commit(
            id,
            vec![Write::Put(
                Table::Meta,
                aggregate_key(peer, agg.body.period, agg.body.seq),
                bytes.to_vec(),
            )],
            Box::new(move |at| Receipt::sign_aggregate(&key, &stored, now(), at)),
        )?;
        tracing::info!(
            hub = peer,
            period = agg.body.period,
            seq = agg.body.seq,
            "aggregate accepted"
        );
        Ok(receipt)
    }
}

impl Host for HubState {
    type Env = Conn;
    fn hub_unit(&self) -> String {
        self.unit.clone()
    }
    /// A key connects while it is valid now; seals it made earlier are judged by their
    /// own time in `verify_seal`.
    fn unit_of(&self, key: &PublicKey) -> Option<String> {
        let t = now();
        let mut index = self.key_index.lock().ok()?;
        if index.is_none() {
            let mut m = KeyIndex::new();
            for e in registry::list(&self.store).ok()? {
                for k in e.keys().unwrap_or_default() {
                    m.entry(k.key.0).or_default().push((e.id.clone(), k));
                }
            }
            *index = Some(m);
        }
        index
            .as_ref()?
            .get(&key.0)?
            .iter()
            .find(|(_, k)| k.valid_at(t))
            .map(|(unit, _)| unit.clone())
    }
    fn env(self: &Arc<Self>, _unit: &str) -> Conn {
        Conn(Arc::clone(self))
    }
    fn rejected(
        &self,
        unit: &str,
        session: &str,
        seal_id: &[u8; 32],
        reason: RejectReason,
        detail: &str,
    ) {
        self.record_reject(unit, session, seal_id, reason, detail);
    }
    fn refused_key(&self, r: &tinnhiem_net::RefusedKey, from: std::net::SocketAddr) {
        self.record_refused_key(r, from);
    }
    fn door(&self, counts: tinnhiem_net::gate::GateCounts, in_progress: u32) {
        use std::sync::atomic::Ordering::Relaxed;
        self.traffic.retries.store(counts.retried, Relaxed);
        self.traffic.shed.store(counts.shed, Relaxed);
        self.traffic
            .handshakes
            .store(u64::from(in_progress), Relaxed);
    }
    fn connection_closed(&self, unit: &str, bytes: u64, messages: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.traffic.connections.fetch_add(1, Relaxed);
        self.traffic.messages.fetch_add(messages, Relaxed);
        self.traffic.bytes.fetch_add(bytes, Relaxed);
        tracing::debug!(unit, bytes, messages, "connection closed");
    }
}

/// One connection's environment.
pub struct Conn(Arc<HubState>);

impl HubEnv for Conn {
    fn load(
        &mut self,
        unit: &str,
        session: &str,
    ) -> Result<tinnhiem_core::proto::hub::Saved, String> {
        let k = doc_key(unit, session);
        let d = self
            .0
            .store
            .read(Table::Docs, &k)
            .map_err(|e| e.to_string())?;
        let s = self
            .0
            .store
            .read(Table::SyncState, &k)
            .map_err(|e| e.to_string())?;
        Ok((d, s))
    }
    /// Sync progress, not yet anyone's word: written without waiting for the disk. A
    /// crash that loses it is a crash a moment earlier; the node syncs again (and a
    /// seal is only receipted after `ingest` stored the document durably).
    fn save(&mut self, unit: &str, session: &str, doc: &[u8], state: &[u8]) -> Result<(), String> {
        let k = doc_key(unit, session);
        self.0
            .store
            .batch_lazy(&[
                Write::Put(Table::Docs, k.clone(), doc.to_vec()),
                Write::Put(Table::SyncState, k, state.to_vec()),
            ])
            .map_err(|e| e.to_string())
    }
    fn ingest(
        &mut self,
        unit: &str,
        seal: &Seal,
        doc: &mut SessionDoc,
    ) -> Result<Receipt, (RejectReason, String)> {
        self.0.ingest(unit, seal, doc)
    }
    fn authorize(&mut self, peer: &str, unit: &str) -> Result<(), (RejectReason, String)> {
        match registry::speaks_for(&self.0.store, peer, unit) {
            Ok(Some(true)) => Ok(()),
            Ok(Some(false)) => Err((
                RejectReason::OtherUnit,
                format!("{peer} does not speak for {unit}"),
            )),
            Ok(None) => Err((RejectReason::UnknownUnit, unit.to_owned())),
            Err(e) => Err((RejectReason::Unavailable, format!("{e:#}"))),
        }
    }
    fn aggregate(&mut self, peer: &str, bytes: &[u8]) -> Result<Receipt, (RejectReason, String)> {
        self.0.accept_aggregate(peer, bytes)
    }
    fn log_head(&mut self) -> Option<(u64, Vec<u8>)> {
        let tree = self.0.committer.tree.read().ok()?;
        let size = tree.size();
        let root = tree.root(size)?;
        let head = tinnhiem_core::seal::TreeHead::sign(&self.0.key, size, root, now());
        Some((size, head.to_bytes()))
    }
    fn lost(&mut self, max: usize) -> Vec<tinnhiem_core::proto::LostItem> {
        match self.0.committer.lost.read() {
            Ok(l) => l
                .iter()
                .take(max)
                .map(|(index, leaf)| tinnhiem_core::proto::LostItem {
                    index: *index,
                    leaf: *leaf,
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }
    fn log_consistency(&mut self, old: u64, new: u64) -> Option<Vec<[u8; 32]>> {
        self.0.committer.tree.read().ok()?.consistency(old, new)
    }
    fn enroll(&mut self, peer: &str, record: &[u8]) -> Result<(), (RejectReason, String)> {
        let _guard = self
            .0
            .registry_lock
            .lock()
            .map_err(|_| (RejectReason::Unavailable, "lock".into()))?;
        let r = registry::enroll(&self.0.store, peer, record);
        self.0.registry_changed();
        r.map_err(|e| {
            let detail = format!("enrollment: {e:#}");
            self.0
                .record_reject(peer, "", &[0; 32], RejectReason::WrongKey, &detail);
            (RejectReason::WrongKey, detail)
        })
    }
}

/// An accepted seal: (unit, session, seal, its receipt).
type Accepted = (String, String, Seal, Option<Receipt>);

/// Every accepted seal as (unit, session, seal), by document and seq.
pub(crate) fn accepted_seals(store: &Store) -> Result<Vec<(String, String, Seal)>> {
    let mut out = Vec::new();
    for (k, v) in store.scan_table(Table::Seals, b"")? {
        let seal = Seal::from_bytes(&v)?;
        let Some(name) = k.split(|b| *b == 0).next() else {
            continue;
        };
        let name = String::from_utf8_lossy(name).into_owned();
        let Some((unit, session)) = name.split_once('/') else {
            continue;
        };
        out.push((unit.to_owned(), session.to_owned(), seal));
    }
    Ok(out)
}

/// Every accepted seal with its receipt.
fn accepted(store: &Store) -> Result<Vec<Accepted>> {
    let mut out = Vec::new();
    for (unit, session, seal) in accepted_seals(store)? {
        let receipt = store
            .read(Table::Receipts, &seal.id())?
            .and_then(|r| Receipt::from_bytes(&r).ok());
        out.push((unit, session, seal, receipt));
    }
    Ok(out)
}

/// The unit that reports here directly (registered by hand) that `unit` rolls up to:
/// itself, or the hand-registered ancestor of a unit a child hub enrolled.
fn reporting_child<'a>(reg: &'a [registry::Entry], unit: &str) -> Option<&'a str> {
    let mut u = unit;
    for _ in 0..8 {
        let e = reg.iter().find(|e| e.id == u)?;
        if e.enrollment.is_none() {
            return Some(&e.id);
        }
        u = &e.parent;
    }
    None
}

/// The units this hub expects reports from: those registered here by hand. Units that a
/// child hub enrolled are that child's to count.
fn expected_units<'a>(
    reg: &'a [registry::Entry],
    hub: &str,
) -> impl Iterator<Item = &'a registry::Entry> + 'a {
    let hub = hub.to_owned();
    reg.iter()
        .filter(move |e| e.id != hub && e.enrollment.is_none())
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
    let seals = accepted_seals(store)?;
    let reporting: std::collections::BTreeSet<&str> = seals
        .iter()
        .filter_map(|s| reporting_child(&reg, &s.0))
        .collect();
    let expected: Vec<&str> = expected_units(&reg, hub).map(|e| e.id.as_str()).collect();
    Ok(Counts {
        seals_accepted: seals.len() as u64,
        seals_rejected: rejections(store)?
            .iter()
            .map(|r| r["count"].as_u64().unwrap_or(1))
            .sum(),
        units_expected: expected.len() as u64,
        units_reported: expected.iter().filter(|u| reporting.contains(*u)).count() as u64,
    })
}

/// The store's state, for `status`, the dashboard and `/metrics`: whether it works,
/// since when it does not and why, how often it came back by itself, and whether it
/// failed in the last minute (a full disk lets the store reopen between refused writes,
/// so `available` alone would read healthy through most of an outage).
pub(crate) fn store_state(store: &Store) -> Value {
    let h = store.health();
    json!({
        "available": h.available,
        "since": h.since,
        "since_vi": h.since.map(tinnhiem_core::domain::when::moment_vi),
        "cause": h.cause,
        "reopened": h.reopened,
        "failing": h.failing,
        "failures": h.failures,
        "last_failure": h.last_failure,
        "last_failure_vi": h.last_failure.map(tinnhiem_core::domain::when::moment_vi),
        "last_cause": h.last_cause,
    })
}

/// What `status` says while the store cannot be used: that, and nothing read from it.
pub(crate) fn status_unavailable(hub: &str, store: &Store) -> Value {
    json!({
        "hub": hub,
        "store": store_state(store),
        "units": [],
        "recent_rejections": [],
        "refused_keys": [],
        "papers": [],
    })
}

/// `status --json`.
pub(crate) fn status(store: &Store, hub: &str) -> Result<Value> {
    let reg = registry::list(store)?;
    let seals = accepted(store)?;
    let rejects = rejections(store)?;
    let papers_all = papers(store)?;
    let units: Vec<Value> = expected_units(&reg, hub)
        .map(|e| {
            let mine: Vec<_> = seals
                .iter()
                .filter(|s| reporting_child(&reg, &s.0) == Some(e.id.as_str()))
                .collect();
            let sessions: std::collections::BTreeSet<_> =
                mine.iter().map(|s| (s.0.clone(), s.1.clone())).collect();
            let last = mine
                .iter()
                .filter_map(|s| s.3.as_ref().map(|r| r.body.received_at))
                .max();
            let paper_only = papers_all
                .iter()
                .filter(|p| p["state"] == "paper_only")
                .filter(|p| {
                    p["unit"].as_str().and_then(|u| reporting_child(&reg, u)) == Some(e.id.as_str())
                })
                .count();
            json!({"unit": e.id, "name": e.name, "parent": e.parent, "reported": !mine.is_empty(),
                   "paper_only": paper_only,
                   "sessions": sessions.len(), "seals": mine.len(), "last_received_at": last})
        })
        .collect();
    let reported = units.iter().filter(|u| u["reported"] == true).count();
    let rejected: u64 = rejects
        .iter()
        .map(|r| r["count"].as_u64().unwrap_or(1))
        .sum();
    let last_rejects: Vec<Value> = rejects.into_iter().take(20).collect();
    // The report due next (or the one overdue), with the units still missing.
    let periods = deadlines(store, hub, chrono::Utc::now().date_naive())?["periods"].clone();
    let next_report = periods
        .as_array()
        .and_then(|ps| {
            ps.iter()
                .rev()
                .find(|p| p["state"] != "overdue")
                .or(ps.last())
                .cloned()
        })
        .unwrap_or(Value::Null);
    let loss = crate::leaves::LossRecord::read(store).map_err(|e| anyhow::anyhow!(e))?;
    Ok(json!({
        "hub": hub,
        // Present once the store was found to have gone back in time; stays after the
        // items came back, so that the operator learns of it.
        "log_loss": (!loss.events.is_empty()).then_some(loss),
        "store": store_state(store),
        "next_report": next_report,
        "units_expected": units.len(),
        "units_reported": reported,
        "seals_accepted": seals.len(),
        "seals_rejected": rejected,
        "units": units,
        "recent_rejections": last_rejects,
        "refused_keys": [],
        "papers": papers_all,
    }))
}

/// The latest accepted seal of one session, recomputed at its heads.
pub(crate) struct SessionOnHub {
    pub(crate) unit: String,
    pub(crate) seal: Seal,
    pub(crate) receipt: Option<Receipt>,
    pub(crate) meta: tinnhiem_core::domain::Meta,
    pub(crate) result: tinnhiem_core::domain::SessionResult,
}

/// Every session with an accepted seal, at its latest accepted seal.
pub(crate) fn sessions(store: &Store) -> Result<Vec<SessionOnHub>> {
    let mut latest: std::collections::BTreeMap<(String, String), (Seal, Option<Receipt>)> =
        Default::default();
    for (unit, session, seal, receipt) in accepted(store)? {
        latest.insert((unit, session), (seal, receipt)); // scan order is by seq
    }
    let mut out = Vec::new();
    for ((unit, session), (seal, receipt)) in latest {
        let id = seal.id();
        let (meta, result) = match computed(&id) {
            Some(c) => c,
            None => {
                let Some(bytes) = store.read(Table::Docs, &doc_key(&unit, &session))? else {
                    continue;
                };
                let mut doc = SessionDoc::load(&bytes, b"hub")?;
                let result = tinnhiem_core::seal::check(&seal, &mut doc)?;
                let meta = doc.at(&seal.body.heads)?.read()?.meta;
                remember(id, &meta, &result);
                (meta, result)
            }
        };
        out.push(SessionOnHub {
            unit,
            seal,
            receipt,
            meta,
            result,
        });
    }
    Ok(out)
}

type Computed = (
    tinnhiem_core::domain::Meta,
    tinnhiem_core::domain::SessionResult,
);

/// Results by seal id, computed once per process: a seal names its document's heads and
/// signs the result's digest, so what it computes to never changes. Without this every
/// query (`status` runs `deadlines`) loads and recomputes every session of the hub.
fn memo() -> &'static Mutex<std::collections::HashMap<[u8; 32], Computed>> {
    static MEMO: std::sync::OnceLock<Mutex<std::collections::HashMap<[u8; 32], Computed>>> =
        std::sync::OnceLock::new();
    MEMO.get_or_init(Default::default)
}

fn computed(id: &[u8; 32]) -> Option<Computed> {
    memo().lock().ok()?.get(id).cloned()
}

fn remember(
    id: [u8; 32],
    meta: &tinnhiem_core::domain::Meta,
    result: &tinnhiem_core::domain::SessionResult,
) {
    if let Ok(mut m) = memo().lock() {
        // Bounded: a national hub's sessions fit many times over; past that, start again.
        if m.len() >= 200_000 {
            m.clear();
        }
        m.insert(id, (meta.clone(), result.clone()));
    }
}

/// `result --json`: the latest accepted seal of every session, recomputed at its heads.
pub(crate) fn results(store: &Store) -> Result<Value> {
    let mut out = Vec::new();
    for s in sessions(store)? {
        let mut j = s.result.to_json();
        if let Some(o) = j.as_object_mut() {
            o.insert("body".into(), json!(s.meta.body));
            o.insert("date".into(), json!(s.meta.date.to_string()));
            o.insert(
                "seal".into(),
                json!({
                    "seq": s.seal.body.seq,
                    "seal_id": hex::encode(s.seal.id()),
                    "sealed_at": s.seal.body.sealed_at,
                    "received_at": s.receipt.as_ref().map(|r| r.body.received_at),
                    "log_index": s.receipt.as_ref().map(|r| r.body.log_index),
                }),
            );
        }
        out.push(j);
    }
    Ok(Value::Array(out))
}

fn subject_json(s: &SessionOnHub, x: &tinnhiem_core::domain::SubjectResult) -> Value {
    let levels = s.result.procedure.levels();
    let counts: serde_json::Map<String, Value> = levels
        .iter()
        .zip(&x.counts)
        .map(|(l, c)| (l.key().to_string(), json!(c)))
        .collect();
    let percent: serde_json::Map<String, Value> = levels
        .iter()
        .zip(&x.percent)
        .map(|(l, p)| (l.key().to_string(), json!(p.dot())))
        .collect();
    let consequence = x
        .flag
        .consequence(s.result.profile)
        .map(|c| json!({"what": c.what, "who": c.who, "source": c.source}));
    json!({
        "unit": s.unit, "session": s.result.session, "body": s.meta.body, "date": s.meta.date.to_string(),
        "profile": s.result.profile.key(), "procedure": s.result.procedure.key(),
        "subject": x.id, "person_id": x.person_id, "name": x.name, "position": x.position,
        "collected": s.result.collected, "total": s.result.total, "valid": x.valid,
        "counts": counts, "percent": percent, "flag": x.flag.key(), "flag_title": x.flag.title(),
        "consequence": consequence,
    })
}

/// `person QUERY`: every place a person was polled, by person id or by name (with or
/// without diacritics), side by side, with data problems flagged.
pub(crate) fn person(store: &Store, query: &str) -> Result<Value> {
    let all = sessions(store)?;
    let by_id: Vec<_> = all
        .iter()
        .flat_map(|s| {
            s.result
                .subjects
                .iter()
                .filter(|x| x.person_id.as_str() == query)
                .map(move |x| (s, x))
        })
        .collect();
    let hits = if by_id.is_empty() {
        all.iter()
            .flat_map(|s| {
                s.result
                    .subjects
                    .iter()
                    .filter(|x| tinnhiem_core::domain::text::name_matches(&x.name, query))
                    .map(move |x| (s, x))
            })
            .collect()
    } else {
        by_id
    };
    let mut people: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let mut names: std::collections::BTreeMap<String, String> = Default::default();
    // QĐ 96's limit counts the places a cadre is polled in one year, and names the
    // council (HĐND) among them: every poll counts, whatever its profile, once any poll
    // of that year falls under a profile with a limit.
    type Year = (usize, Option<usize>);
    let mut places: std::collections::BTreeMap<(String, i32), Year> = Default::default();
    for (s, x) in &hits {
        people
            .entry(x.person_id.to_string())
            .or_default()
            .push(subject_json(s, x));
        names
            .entry(x.person_id.to_string())
            .or_insert_with(|| x.name.clone());
        if s.result.procedure == tinnhiem_core::domain::Procedure::Poll {
            use chrono::Datelike;
            let e = places
                .entry((x.person_id.to_string(), s.meta.date.year()))
                .or_default();
            e.0 += 1;
            e.1 = e.1.max(s.result.profile.rules().max_places_per_person);
        }
    }
    let people: Vec<Value> = people
        .into_iter()
        .map(|(id, results)| {
            let mut problems = Vec::new();
            for ((_, year), (n, max)) in places.range((id.clone(), i32::MIN)..=(id.clone(), i32::MAX)) {
                if let Some(max) = max.filter(|m| n > m) {
                    problems.push(format!(
                        "năm {year} được lấy phiếu ở {n} nơi (kể cả HĐND); QĐ 96 cho tối đa {max} nơi: dữ liệu cần kiểm tra"
                    ));
                }
            }
            json!({"person_id": id, "name": names.get(&id), "places": results.len(), "results": results, "problems": problems})
        })
        .collect();
    Ok(json!({"query": query, "people": people}))
}

/// `flagged`: every subject over a threshold, with the prescribed consequence and who acts.
pub(crate) fn flagged(store: &Store) -> Result<Value> {
    let all = sessions(store)?;
    let list: Vec<Value> = all
        .iter()
        .flat_map(|s| {
            s.result
                .subjects
                .iter()
                .filter(|x| x.flag != tinnhiem_core::domain::Flag::None)
                .map(move |x| subject_json(s, x))
        })
        .collect();
    Ok(Value::Array(list))
}

/// `deadlines`: every legal deadline of every accepted session, by date, with its state
/// on `today`; and, per reporting period, the provincial report due on 15 January with
/// the units that have not reported yet.
pub(crate) fn deadlines(store: &Store, hub: &str, today: chrono::NaiveDate) -> Result<Value> {
    use chrono::Datelike;
    let all = sessions(store)?;
    let state = |due: chrono::NaiveDate| -> (String, i64) {
        let days = (due - today).num_days();
        match days {
            d if d < 0 => ("passed".into(), d),
            0 => ("due_today".into(), 0),
            d => ("due".into(), d),
        }
    };
    let mut list = Vec::new();
    for s in &all {
        for d in tinnhiem_core::domain::deadlines(&s.meta) {
            let (st, days) = state(d.due);
            list.push(
                json!({"unit": s.unit, "session": s.result.session, "key": d.key, "kind": d.kind,
                             "due": d.due.to_string(), "what": d.what, "state": st, "days": days}),
            );
        }
    }
    list.sort_by(|a, b| a["due"].as_str().cmp(&b["due"].as_str()));
    // Reporting periods: the years of the sessions received, or this year.
    let mut years: std::collections::BTreeSet<i32> =
        all.iter().map(|s| s.meta.date.year()).collect();
    if years.is_empty() {
        years.insert(today.year());
    }
    let reg = registry::list(store)?;
    let expected: Vec<_> = expected_units(&reg, hub).collect();
    // When each unit first reported for a period: the hub's own receipt time, as the
    // day in Vietnam. A seal without a receipt (never the case for one accepted over the
    // network) counts by its sealing time.
    let mut first: std::collections::BTreeMap<(String, i32), chrono::NaiveDate> =
        Default::default();
    let year_of: std::collections::HashMap<(&str, &str), i32> = all
        .iter()
        .map(|s| {
            (
                (s.unit.as_str(), s.result.session.as_str()),
                s.meta.date.year(),
            )
        })
        .collect();
    for (unit, session, seal, receipt) in accepted(store)? {
        let Some(&year) = year_of.get(&(unit.as_str(), session.as_str())) else {
            continue;
        };
        let Some(child) = reporting_child(&reg, &unit) else {
            continue;
        };
        let at = receipt.map_or(seal.body.sealed_at, |r| r.body.received_at);
        let Some(day) = tinnhiem_core::domain::when::in_vietnam(at).map(|t| t.date_naive()) else {
            continue;
        };
        let e = first.entry((child.to_string(), year)).or_insert(day);
        *e = (*e).min(day);
    }
    let mut periods = Vec::new();
    for y in years {
        let due = chrono::NaiveDate::from_ymd_opt(y + 1, 1, 15).unwrap_or(today);
        let named = |e: &registry::Entry, day: Option<chrono::NaiveDate>| json!({"unit": e.id, "name": e.name, "reported_on": day.map(|d| d.to_string())});
        let mut missing = Vec::new();
        let mut late = Vec::new();
        let mut on_time = 0usize;
        for e in &expected {
            match first.get(&(e.id.clone(), y)) {
                None => missing.push(named(e, None)),
                Some(d) if *d > due => late.push(named(e, Some(*d))),
                Some(_) => on_time += 1,
            }
        }
        let (st, days) = state(due);
        // "đủ" only when every expected unit reported by the due day; none expected is
        // its own state, never "đủ".
        let st = if expected.is_empty() {
            "no_units"
        } else if missing.is_empty() && late.is_empty() {
            "met"
        } else if missing.is_empty() {
            "late"
        } else if st == "passed" {
            "overdue"
        } else {
            "due"
        };
        periods.push(json!({"period": y, "report_due": due.to_string(), "state": st, "days": days,
                            "units_expected": expected.len(), "units_reported": expected.len() - missing.len(),
                            "units_on_time": on_time, "late": late, "missing": missing}));
    }
    Ok(json!({"today": today.to_string(), "periods": periods, "sessions": list}))
}

fn aggregate_key(owner: &str, period: i32, seq: u32) -> Vec<u8> {
    format!("aggregate/{owner}/{period:04}/{seq:08}").into_bytes()
}

/// Every stored aggregate (this hub's own and those received from below), in order of
/// owner, period and seq.
pub(crate) fn aggregates(store: &Store) -> Result<Vec<Aggregate>> {
    store
        .scan_table(Table::Meta, b"aggregate/")?
        .into_iter()
        .map(|(_, v)| Aggregate::from_bytes(&v).map_err(anyhow::Error::from))
        .collect()
}

/// The flagged subjects of the sessions `included` names, recomputed from the stored
/// seals and documents; `None` when a seal named is not held here.
fn recompute_flagged(store: &Store, included: &[Included]) -> Result<Option<Vec<Flagged>>> {
    let mut out = Vec::new();
    for i in included {
        let Some(bytes) = store.read(Table::Seals, &seal_key(&i.unit, &i.session, i.seq))? else {
            return Ok(None);
        };
        let seal = Seal::from_bytes(&bytes)?;
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

/// `aggregate seal --period`: the hub's sealed word on a reporting period: every
/// session of that year it accepted (latest seal each), units missing, units late
/// against the 15 January report, every flagged subject. Stored, then forwarded.
pub(crate) fn seal_aggregate(
    store: &Store,
    hub: &str,
    key: &UnitKey,
    period: i32,
    now: i64,
) -> Result<Aggregate> {
    use chrono::Datelike;
    let reg = registry::list(store)?;
    let in_period: Vec<SessionOnHub> = sessions(store)?
        .into_iter()
        .filter(|s| s.meta.date.year() == period)
        .collect();
    let due_end = chrono::NaiveDate::from_ymd_opt(period + 1, 1, 16)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp() - 7 * 3600) // end of 15 January, Vietnam time
        .unwrap_or(i64::MAX);
    let mut first: std::collections::BTreeMap<&str, i64> = Default::default();
    let mut included = Vec::new();
    let mut flagged = Vec::new();
    for s in &in_period {
        let at = s.receipt.as_ref().map_or(0, |r| r.body.received_at);
        included.push(Included::of(&s.seal, at));
        flagged.extend(flagged_of(&s.result));
        if let Some(child) = reporting_child(&reg, &s.unit) {
            let e = first.entry(child).or_insert(at);
            *e = (*e).min(at);
        }
    }
    let missing = expected_units(&reg, hub)
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
        .filter(|a| a.body.hub == hub && a.body.period == period)
        .map(|a| a.body.seq)
        .max()
        .unwrap_or(0)
        + 1;
    let agg = Aggregate::sign(
        key,
        AggregateBody {
            hub: hub.to_owned(),
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
        aggregate_key(hub, period, seq),
        agg.to_bytes(),
    )])?;
    Ok(agg)
}

/// `aggregate list --json`.
pub(crate) fn aggregates_json(store: &Store, hub: &str) -> Result<Value> {
    let list: Vec<Value> = aggregates(store)?
        .iter()
        .map(|a| {
            let receipt = store
                .read(Table::Receipts, &a.id())
                .ok()
                .flatten()
                .and_then(|r| Receipt::from_bytes(&r).ok());
            json!({
                "hub": a.body.hub, "own": a.body.hub == hub, "period": a.body.period,
                "seq": a.body.seq, "id": hex::encode(a.id()), "sealed_at": a.body.sealed_at,
                "included": a.body.included.iter().map(|i| json!({"unit": i.unit, "session": i.session,
                    "seq": i.seq, "seal_id": hex::encode(i.seal_id)})).collect::<Vec<_>>(),
                "missing": a.body.missing, "late": a.body.late,
                "flagged": a.body.flagged.iter().map(|f| json!({"unit": f.unit, "session": f.session,
                    "subject": f.subject, "person_id": f.person_id, "name": f.name, "flag": f.flag}))
                    .collect::<Vec<_>>(),
                "received_at": receipt.as_ref().map(|r| r.body.received_at),
            })
        })
        .collect();
    Ok(Value::Array(list))
}

/// `log verify`: the whole log against every receipt this hub signed.
pub(crate) fn log_verify(store: &Store) -> Result<Value> {
    use tinnhiem_core::merkle::{leaf_of, verify_inclusion};
    let mut problems: Vec<String> = Vec::new();
    let tree = match crate::commit::load_log(store) {
        Ok(t) => t,
        Err(e) => {
            return Ok(
                json!({"ok": false, "size": 0, "problems": [format!("log unreadable: {e}")]}),
            )
        }
    };
    let size = tree.size();
    let mut checked = 0u64;
    let mut ids = std::collections::BTreeSet::new();
    for (k, v) in store.scan_table(Table::Receipts, b"")? {
        let r = match Receipt::from_bytes(&v) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("receipt {}: {e}", hex::encode(&k)));
                continue;
            }
        };
        checked += 1;
        ids.insert(r.body.seal_id);
        let b = &r.body;
        let name = format!("{}/{} seq {}", b.unit, b.session, b.seq);
        if b.tree_size > size || b.log_index >= b.tree_size {
            problems.push(format!(
                "{name}: signed a log of {} items, the log has {size}",
                b.tree_size
            ));
            continue;
        }
        // The root the hub signed is a root of this log: nothing before it changed.
        if tree.root(b.tree_size) != Some(b.root) {
            problems.push(format!(
                "{name}: the root signed at size {} is not this log's",
                b.tree_size
            ));
        }
        let proof = tree.inclusion(b.log_index, b.tree_size).unwrap_or_default();
        if !verify_inclusion(
            &leaf_of(&b.seal_id),
            b.log_index,
            b.tree_size,
            &proof,
            &b.root,
        ) {
            problems.push(format!("{name}: not at index {} of the log", b.log_index));
        }
    }
    for (unit, session, seal) in accepted_seals(store)? {
        if !ids.contains(&seal.id()) {
            problems.push(format!(
                "{unit}/{session} seq {}: accepted without a receipt",
                seal.body.seq
            ));
        }
    }
    // Items the store lost (found on start against the log file): named as such, not
    // as a miscount, until their districts deliver them again.
    let loss = crate::leaves::LossRecord::read(store).map_err(|e| anyhow::anyhow!(e))?;
    let missing = loss.missing.len() as u64;
    if missing > 0 {
        let first: Vec<String> = loss
            .missing
            .iter()
            .take(20)
            .map(|i| format!("#{i}"))
            .collect();
        problems.push(format!(
            "{missing} items lost by the store, waiting for their districts to deliver them again: {}",
            first.join(", ")
        ));
    }
    if checked + missing != size {
        problems.push(format!("{size} leaves for {checked} receipts"));
    }
    let root = tree.root(size).map(hex::encode).unwrap_or_default();
    Ok(
        json!({"ok": problems.is_empty(), "size": size, "root": root,
              "receipts_checked": checked, "problems": problems,
              "lost": missing, "loss_events": loss.events.len(), "recovered": loss.recovered}),
    )
}

/// `log show`.
pub(crate) fn log_show(store: &Store) -> Result<Value> {
    let tree = crate::commit::load_log(store).map_err(|e| anyhow::anyhow!(e))?;
    let size = tree.size();
    Ok(json!({"size": size, "root": tree.root(size).map(hex::encode).unwrap_or_default()}))
}

fn paper_key(unit: &str, session: &str, seq: u32) -> Vec<u8> {
    format!("{unit}/{session}/{seq:08}").into_bytes()
}

/// `ingest-qr`: a result from a photographed paper record. Verified like a seal (the
/// signature, the digest over the result, a key of that unit valid when it sealed) and
/// kept as paper-delivered until the document itself arrives with the same seal.
pub(crate) fn ingest_paper(store: &Store, record: &[u8], now: i64) -> Result<Value> {
    use tinnhiem_core::seal::paper;
    let p = paper::decode(record)?;
    p.verify()?;
    let b = &p.seal.body;
    let entry = registry::get(store, b.unit.as_str())?.ok_or_else(|| {
        anyhow::anyhow!("đơn vị «{}» không có trong sổ đăng ký của máy chủ", b.unit)
    })?;
    if !entry
        .keys()?
        .iter()
        .any(|k| k.key.0 == b.signer && k.valid_at(b.sealed_at))
    {
        anyhow::bail!(
            "biên bản giấy ký bằng khóa {} không phải khóa của «{}» lúc niêm phong",
            hex::encode(b.signer),
            b.unit
        );
    }
    if let Some((seq, at)) =
        latest_seq(store, b.unit.as_str(), b.session.as_str())?.filter(|l| l.0 > b.seq)
    {
        anyhow::bail!(
            "bản giấy phiên «{}» của «{}» là niêm phong lần {}, đã bị thay thế bởi niêm phong lần {} lúc {}: \
             không nhận làm kết quả hiện hành (cần bản giấy hoặc bản điện tử của lần {seq})",
            b.session,
            b.unit,
            b.seq,
            seq,
            tinnhiem_core::domain::when::moment_vi(at)
        );
    }
    let id = p.seal.id();
    store.batch(&[Write::Put(
        Table::Paper,
        paper_key(b.unit.as_str(), b.session.as_str(), b.seq),
        postcard::to_stdvec(&(record, now))?,
    )])?;
    let digital = store.read(Table::Receipts, &id)?.is_some();
    tracing::info!(unit = %b.unit, session = %b.session, seq = b.seq, digital, "paper record accepted");
    Ok(
        json!({"unit": b.unit, "session": b.session, "seq": b.seq, "seal_id": hex::encode(id),
              "digital": digital, "subjects": p.result.subjects.len()}),
    )
}

/// The latest seal the hub holds of a session, from a document or a paper record, with
/// its sealing time: a paper older than it is not the session's current result.
fn latest_seq(store: &Store, unit: &str, session: &str) -> Result<Option<(u32, i64)>> {
    use tinnhiem_core::seal::paper;
    let mut prefix = doc_key(unit, session);
    prefix.push(0);
    let mut latest: Option<(u32, i64)> = None;
    let mut see = |seq: u32, at: i64| {
        if latest.is_none_or(|l| seq > l.0) {
            latest = Some((seq, at));
        }
    };
    for (_, v) in store.scan_table(Table::Seals, &prefix)? {
        if let Ok(s) = Seal::from_bytes(&v) {
            see(s.body.seq, s.body.sealed_at);
        }
    }
    for (_, v) in store.scan_table(Table::Paper, format!("{unit}/{session}/").as_bytes())? {
        if let Some(p) = postcard::from_bytes::<(Vec<u8>, i64)>(&v)
            .ok()
            .and_then(|(r, _)| paper::decode(&r).ok())
        {
            see(p.seal.body.seq, p.seal.body.sealed_at);
        }
    }
    Ok(latest)
}

/// Every paper record held, with its state: `superseded` when a later seal of the
/// session is held (document or paper), else `matched` when the document arrived with
/// the same seal, `differs` when a document arrived sealed otherwise at that seq,
/// `paper_only` while waiting.
pub(crate) fn papers(store: &Store) -> Result<Vec<Value>> {
    use tinnhiem_core::seal::paper;
    let mut out = Vec::new();
    for (_, v) in store.scan_table(Table::Paper, b"")? {
        let Ok((record, at)) = postcard::from_bytes::<(Vec<u8>, i64)>(&v) else {
            continue;
        };
        let Ok(p) = paper::decode(&record) else {
            continue;
        };
        let b = &p.seal.body;
        let id = p.seal.id();
        let digital = store.read(
            Table::Seals,
            &seal_key(b.unit.as_str(), b.session.as_str(), b.seq),
        )?;
        let superseded =
            latest_seq(store, b.unit.as_str(), b.session.as_str())?.filter(|l| l.0 > b.seq);
        let state = match digital.and_then(|d| Seal::from_bytes(&d).ok()) {
            _ if superseded.is_some() => "superseded",
            Some(d) if d.id() == id => "matched",
            Some(_) => "differs",
            None => "paper_only",
        };
        out.push(
            json!({"unit": b.unit, "session": b.session, "seq": b.seq, "body": p.result.body,
                        "seal_id": hex::encode(id), "received_at": at, "state": state,
                        "superseded_by": superseded.map(|l| l.0)}),
        );
    }
    Ok(out)
}
