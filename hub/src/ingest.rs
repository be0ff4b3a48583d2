//! Ingest: what the hub does with what a peer sends (verify, store, receipt), as the
//! `net::server::Host` and `proto::hub::HubEnv` of the hub; and the rejections counted.

use crate::keys::{aggregate_key, doc_key, reject_key, seal_key};
use crate::query::aggregates::recompute_flagged;
use crate::query::rejections::{Sample, Stored};
use crate::registry;
use crate::state::{now, HubState, KeyIndex};
use anyhow::Result;
use std::sync::Arc;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::proto::hub::{verify_seal, HubEnv};
use tinnhiem_core::proto::RejectReason;
use tinnhiem_core::seal::{Aggregate, PublicKey, Receipt, Seal, UnitKey};
use tinnhiem_net::server::Host;
use tinnhiem_store::{Table, Write};

impl HubState {
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
        let sample = Sample {
            session: session.to_owned(),
            seal_id: hex::encode(seal_id),
            detail: detail.to_owned(),
        };
        let r = (|| -> Result<bool> {
            let _g = self
                .rejects_lock
                .lock()
                .map_err(|_| anyhow::anyhow!("lock"))?;
            let old: Option<Stored> = self
                .store
                .read(Table::Rejects, &k)?
                .and_then(|v| serde_json::from_slice(&v).ok());
            let (count, first) = match &old {
                Some(o) => (o.count.unwrap_or(1), o.first.unwrap_or(t)),
                None => (0, t),
            };
            let v = Stored::counted(unit, reason.code(), count + 1, first, t, sample);
            self.store
                .batch_lazy(&[Write::Put(Table::Rejects, k, serde_json::to_vec(&v)?)])?;
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
