//! The hub's end: answer the Hello, sync documents into the unit's own namespace,
//! hand seals to the environment for verification and durable storage, answer with its
//! receipt or a typed rejection.
//!
//! Storage and policy (the registry, verification, the store) come in through
//! [`HubEnv`], a synchronous trait: the machine itself does no IO and reads no clock.

use super::wire::{
    Channel, DocHeads, LogHead, LostItem, Msg, RejectReason, Welcome, EVERY_SEAL, LOST_VERSION,
    MAX_LOST, OLDEST_VERSION, PROTOCOL_VERSION,
};
use crate::doc::SessionDoc;
use crate::domain::{SessionId, UnitId};
use crate::seal::{Receipt, Seal};
use automerge::sync::{self, SyncDoc};
use automerge::AutoCommit;
use std::collections::{BTreeMap, VecDeque};

/// A saved document and its sync state with this peer, either possibly absent.
pub type Saved = (Option<Vec<u8>>, Option<Vec<u8>>);

/// What the hub machine needs from its host.
pub trait HubEnv {
    /// The saved document and sync state of (unit, session), if any.
    fn load(&mut self, unit: &str, session: &str) -> Result<Saved, String>;
    /// Persists a document after new changes arrived, with the sync state.
    fn save(
        &mut self,
        unit: &str,
        session: &str,
        doc: &[u8],
        sync_state: &[u8],
    ) -> Result<(), String>;
    /// Verifies `seal` against `doc` and the registry and stores both durably; returns
    /// the receipt (the same one for the same seal) or a rejection.
    fn ingest(
        &mut self,
        unit: &str,
        seal: &Seal,
        doc: &mut SessionDoc,
    ) -> Result<Receipt, (RejectReason, String)>;
    /// Whether `peer` may deliver `unit`'s documents and seals: its own always; a
    /// descendant's when the registry says so (a hub forwarding its districts).
    /// `UnknownUnit` when the unit is not known (yet), `OtherUnit` when it is another's.
    fn authorize(&mut self, peer: &str, unit: &str) -> Result<(), (RejectReason, String)> {
        if peer == unit {
            Ok(())
        } else {
            Err((
                RejectReason::OtherUnit,
                format!("{peer} does not speak for {unit}"),
            ))
        }
    }
    /// An enrollment record from `peer`'s Hello (`Enrollment::to_bytes()`): verify its
    /// chain and record it. A refusal is the environment's to log; the conversation goes
    /// on, and the unit's seals are refused until an enrollment verifies.
    fn enroll(&mut self, peer: &str, record: &[u8]) -> Result<(), (RejectReason, String)> {
        let _ = (peer, record);
        Err((
            RejectReason::Malformed,
            "this hub takes no enrollments".into(),
        ))
    }
    /// A lower hub's aggregate: verify it (signature by the peer's key, every seal it
    /// names held here, its flags recomputed from them) and store it; the receipt.
    fn aggregate(&mut self, peer: &str, bytes: &[u8]) -> Result<Receipt, (RejectReason, String)> {
        let _ = (peer, bytes);
        Err((
            RejectReason::Malformed,
            "this hub takes no aggregates".into(),
        ))
    }
    /// The transparency log's current head, signed (`TreeHead::to_bytes()`), with its
    /// size; `None` for a hub without a log.
    fn log_head(&mut self) -> Option<(u64, Vec<u8>)> {
        None
    }
    /// The consistency proof between log sizes `old` ≤ `new`.
    fn log_consistency(&mut self, old: u64, new: u64) -> Option<Vec<[u8; 32]>> {
        let _ = (old, new);
        None
    }
    /// Items signed into the log that the store no longer holds, ascending by index,
    /// at most `max`: every peer is told, and the one holding a receipt delivers again.
    fn lost(&mut self, max: usize) -> Vec<LostItem> {
        let _ = max;
        Vec::new()
    }
}

/// Limits a hub applies to one peer.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The most documents one Hello may name.
    pub max_docs_per_hello: usize,
    /// The largest saved document accepted, in bytes.
    pub max_doc_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_docs_per_hello: 1000,
            max_doc_bytes: 16 << 20,
        }
    }
}

struct Held {
    doc: AutoCommit,
    sync: sync::State,
    unit: UnitId,
    session: SessionId,
}

/// The hub side of one connection from an authenticated unit.
pub struct HubSession {
    peer: String,
    hub: String,
    limits: Limits,
    docs: BTreeMap<String, Held>,
    out: VecDeque<(Channel, Msg)>,
    greeted: bool,
    /// What answered the Hello (the `Lost` list and the Welcome): a Hello sent again
    /// (the node's timer on a lossy link) gets the same answer, never a newer log head,
    /// since this connection's receipts are proved from the head the node adopted.
    answer: Vec<(Channel, Msg)>,
    closed: Option<(RejectReason, String)>,
    /// The log size the Welcome announced: receipts prove consistency with it.
    welcome_log: Option<u64>,
    /// Document messages that arrived before the Hello (streams race; a node sends a
    /// first delivery right behind its Hello), handled once the Hello is.
    early: Vec<(Channel, Msg)>,
    /// Their bytes, bounded by [`EARLY_BYTES`].
    early_bytes: usize,
}

/// What a peer may send before its Hello has been read, in bytes: a node sends at most
/// [`super::node::EAGER_BYTES`] of documents that way; more is a hostile peer holding
/// memory without saying who it is.
pub const EARLY_BYTES: usize = 1 << 20;

/// The bytes a message holds, roughly (for the early-message budget).
fn size_of(m: &Msg) -> usize {
    64 + match m {
        Msg::Sync { data, .. } => data.len(),
        Msg::Seal { seal, .. } => seal.len(),
        Msg::Aggregate { aggregate, .. } => aggregate.len(),
        _ => 0,
    }
}

impl HubSession {
    /// A conversation with `peer`, whose key the transport has already matched to that
    /// unit in the registry.
    pub fn new(hub: &str, peer: &str, limits: Limits) -> HubSession {
        HubSession {
            peer: peer.to_owned(),
            hub: hub.to_owned(),
            limits,
            docs: BTreeMap::new(),
            out: VecDeque::new(),
            greeted: false,
            answer: Vec::new(),
            closed: None,
            welcome_log: None,
            early: Vec::new(),
            early_bytes: 0,
        }
    }

    fn reject(
        &mut self,
        ch: Channel,
        session: &str,
        seal_id: [u8; 32],
        reason: RejectReason,
        detail: String,
    ) {
        self.out.push_back((
            ch,
            Msg::Reject {
                session: session.to_owned(),
                seal_id,
                reason,
                detail,
            },
        ));
    }

    fn close(&mut self, reason: RejectReason, detail: String) {
        self.reject(Channel::Control, "", EVERY_SEAL, reason, detail.clone());
        self.closed = Some((reason, detail));
    }

    /// Why the connection must be closed, once it must.
    pub fn closed(&self) -> Option<&(RejectReason, String)> {
        self.closed.as_ref()
    }

    /// The (unit, session) a document name stands for, if the peer may deliver it.
    fn resolve(
        &self,
        env: &mut impl HubEnv,
        name: &str,
    ) -> Result<(UnitId, SessionId), (RejectReason, String)> {
        let (unit, session) = super::parse_doc_name(&self.peer, name)
            .ok_or_else(|| (RejectReason::Malformed, format!("document name {name:?}")))?;
        env.authorize(&self.peer, unit.as_str())?;
        Ok((unit, session))
    }

    /// The hub's heads of a document, sorted; the document is not kept in memory (a
    /// Hello may name hundreds; only those a message arrives for are held).
    fn heads(
        &mut self,
        env: &mut impl HubEnv,
        name: &str,
    ) -> Result<Vec<[u8; 32]>, (RejectReason, String)> {
        let mut h: Vec<[u8; 32]> = match self.docs.get_mut(name) {
            Some(held) => held.doc.get_heads().into_iter().map(|c| c.0).collect(),
            None => self
                .load_held(env, name)?
                .doc
                .get_heads()
                .into_iter()
                .map(|c| c.0)
                .collect(),
        };
        h.sort_unstable();
        Ok(h)
    }

    /// A document the peer may deliver, as stored (empty when new), with its sync state.
    fn load_held(&self, env: &mut impl HubEnv, name: &str) -> Result<Held, (RejectReason, String)> {
        let (unit, session) = self.resolve(env, name)?;
        let (doc, state) = env
            .load(unit.as_str(), session.as_str())
            .map_err(|e| (RejectReason::Unavailable, e))?;
        let doc = match doc {
            Some(b) => crate::doc::guard(|| AutoCommit::load(&b))
                .map_err(|e| (RejectReason::Unavailable, format!("stored document: {e}")))?,
            None => AutoCommit::new(),
        };
        let sync = state
            .and_then(|b| sync::State::decode(&b).ok())
            .unwrap_or_default();
        Ok(Held {
            doc,
            sync,
            unit,
            session,
        })
    }

    fn held(
        &mut self,
        env: &mut impl HubEnv,
        name: &str,
    ) -> Result<&mut Held, (RejectReason, String)> {
        if !self.docs.contains_key(name) {
            let held = self.load_held(env, name)?;
            self.docs.insert(name.to_owned(), held);
        }
        self.docs
            .get_mut(name)
            .ok_or((RejectReason::Unavailable, "document".into()))
    }

    /// Documents held in memory for this connection (tests check the bound).
    pub fn held_docs(&self) -> usize {
        self.docs.len()
    }

    /// Handles one message from the peer.
    pub fn handle(&mut self, env: &mut impl HubEnv, ch: Channel, msg: Msg) {
        if self.closed.is_some() {
            return;
        }
        match (ch, msg) {
            (Channel::Control, Msg::Hello(_)) if self.greeted => {
                self.out.extend(self.answer.iter().cloned());
            }
            (Channel::Control, Msg::Hello(h)) => {
                if !(OLDEST_VERSION..=PROTOCOL_VERSION).contains(&h.version) {
                    return self.close(
                        RejectReason::Version,
                        format!(
                            "hub speaks versions {OLDEST_VERSION} to {PROTOCOL_VERSION}, peer {}",
                            h.version
                        ),
                    );
                }
                if h.unit != self.peer {
                    return self.close(
                        RejectReason::OtherUnit,
                        format!("key belongs to {}, Hello says {}", self.peer, h.unit),
                    );
                }
                if h.docs.len() > self.limits.max_docs_per_hello {
                    return self.close(
                        RejectReason::TooLarge,
                        format!("{} documents in one Hello", h.docs.len()),
                    );
                }
                // Enrollments first: the documents below may be their units'.
                for record in &h.enrollments {
                    let _ = env.enroll(&self.peer, record);
                }
                let mut docs = Vec::new();
                for d in h.docs {
                    if super::parse_doc_name(&self.peer, &d.session).is_none() {
                        return self.close(
                            RejectReason::Malformed,
                            format!("document name {:?}", d.session),
                        );
                    }
                    // A document the peer may not deliver gets no heads; its sync and
                    // seals are refused with the reason on its own channel.
                    let heads = match self.heads(env, &d.session) {
                        Ok(h) => h,
                        Err((RejectReason::Unavailable, detail)) => {
                            return self.close(RejectReason::Unavailable, detail)
                        }
                        Err(_) => Vec::new(),
                    };
                    docs.push(DocHeads {
                        session: d.session,
                        heads,
                    });
                }
                self.greeted = true;
                let log = env.log_head().map(|(size, head)| {
                    self.welcome_log = Some(size);
                    let consistency = if h.known_log > 0 && h.known_log <= size {
                        env.log_consistency(h.known_log, size).unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    LogHead { head, consistency }
                });
                if h.version >= LOST_VERSION {
                    let items = env.lost(MAX_LOST);
                    if !items.is_empty() {
                        // Before the Welcome, on the same stream: a peer that reads the
                        // Welcome already knows what to deliver again.
                        self.answer.push((Channel::Control, Msg::Lost { items }));
                    }
                }
                self.answer.push((
                    Channel::Control,
                    Msg::Welcome(Welcome {
                        version: h.version,
                        hub: self.hub.clone(),
                        docs,
                        log,
                    }),
                ));
                self.out.extend(self.answer.iter().cloned());
                for (ch, m) in std::mem::take(&mut self.early) {
                    self.handle(env, ch, m);
                }
                self.early_bytes = 0;
            }
            (ch @ Channel::Doc(_), m) if !self.greeted => {
                self.early_bytes += size_of(&m);
                if self.early_bytes > EARLY_BYTES {
                    return self.close(
                        RejectReason::TooLarge,
                        format!("over {EARLY_BYTES} bytes before the Hello"),
                    );
                }
                self.early.push((ch, m));
            }
            (_, _) if !self.greeted => {
                self.close(RejectReason::Malformed, "a message before Hello".into())
            }
            (Channel::Doc(s), Msg::Sync { session, data }) if s == session => {
                self.on_sync(env, &s, &data)
            }
            (Channel::Doc(s), Msg::Seal { session, seal }) if s == session => {
                self.on_seal(env, &s, &seal)
            }
            (Channel::Doc(s), Msg::Aggregate { name, aggregate }) if s == name => {
                let ch = Channel::Doc(s.clone());
                match env.aggregate(&self.peer, &aggregate) {
                    Ok(r) => {
                        let consistency = self.receipt_consistency(env, &r);
                        self.out.push_back((
                            ch,
                            Msg::Receipt {
                                session: s,
                                receipt: r.to_bytes(),
                                consistency,
                            },
                        ))
                    }
                    Err((reason, detail)) => self.reject(ch, &s, EVERY_SEAL, reason, detail),
                }
            }
            (ch, _) => self.close(
                RejectReason::Malformed,
                format!("unexpected message on {ch:?}"),
            ),
        }
    }

    fn on_sync(&mut self, env: &mut impl HubEnv, s: &str, data: &[u8]) {
        let ch = Channel::Doc(s.to_owned());
        let msg = match crate::doc::decode_sync(data) {
            Ok(m) => m,
            Err(e) => {
                return self.reject(
                    ch,
                    s,
                    EVERY_SEAL,
                    RejectReason::Malformed,
                    format!("sync message: {e}"),
                )
            }
        };
        let limit = self.limits.max_doc_bytes;
        let held = match self.held(env, s) {
            Ok(h) => h,
            Err((reason, detail)) => return self.reject(ch, s, EVERY_SEAL, reason, detail),
        };
        // Apply the message; any failure forgets the document (nothing of it is stored).
        let outcome: Result<(), (RejectReason, String)> = (|| {
            let before = held.doc.get_heads();
            let (doc, state) = (&mut held.doc, &mut held.sync);
            crate::doc::guard(|| doc.sync().receive_sync_message(state, msg))
                .map_err(|e| (RejectReason::Malformed, format!("sync: {e}")))?;
            if held.doc.get_heads() == before {
                return Ok(());
            }
            // The document must be the one its name says: a peer writes only the
            // namespaces it may deliver, and nothing else is ever stored.
            if let Some((u, sess)) = identity(&held.doc) {
                if u != held.unit.as_str() || sess != held.session.as_str() {
                    return Err((RejectReason::OtherUnit, format!("document of {u}/{sess}")));
                }
            }
            let bytes = held.doc.save();
            if bytes.len() > limit {
                return Err((
                    RejectReason::TooLarge,
                    format!("document of {} bytes", bytes.len()),
                ));
            }
            env.save(
                held.unit.as_str(),
                held.session.as_str(),
                &bytes,
                &held.sync.encode(),
            )
            .map_err(|e| (RejectReason::Unavailable, e))
        })();
        if let Err((reason, detail)) = outcome {
            self.docs.remove(s);
            return self.reject(ch, s, EVERY_SEAL, reason, detail);
        }
        let Some(held) = self.docs.get_mut(s) else {
            return;
        };
        if let Some(m) = held.doc.sync().generate_sync_message(&mut held.sync) {
            self.out.push_back((
                ch,
                Msg::Sync {
                    session: s.to_owned(),
                    data: m.encode(),
                },
            ));
        }
    }

    fn on_seal(&mut self, env: &mut impl HubEnv, s: &str, bytes: &[u8]) {
        let ch = Channel::Doc(s.to_owned());
        let seal = match Seal::from_bytes(bytes) {
            Ok(x) => x,
            Err(e) => {
                return self.reject(ch, s, EVERY_SEAL, RejectReason::Malformed, e.to_string())
            }
        };
        let id = seal.id();
        let held = match self.held(env, s) {
            Ok(h) => h,
            Err((reason, detail)) => return self.reject(ch, s, id, reason, detail),
        };
        if seal.body.unit != held.unit || seal.body.session != held.session {
            let detail = format!("seal of {}/{}", seal.body.unit, seal.body.session);
            return self.reject(ch, s, id, RejectReason::OtherUnit, detail);
        }
        let unit = held.unit.clone();
        // A fork shares nothing mutable with the held copy and costs no save and load.
        let mut doc = match SessionDoc::from_automerge(held.doc.fork()).map_err(|e| e.to_string()) {
            Ok(d) => d,
            Err(_) => {
                return self.reject(
                    ch,
                    s,
                    id,
                    RejectReason::HeadsMissing,
                    "hub has no such document yet".into(),
                )
            }
        };
        match env.ingest(unit.as_str(), &seal, &mut doc) {
            Ok(r) => {
                // Stored with the seal: nothing of it needs to stay in memory. Another
                // message for it (a later seal of the same document) loads it again.
                // This bounds a connection's memory by the documents in flight, not by
                // every document it ever delivered.
                self.docs.remove(s);
                let consistency = self.receipt_consistency(env, &r);
                self.out.push_back((
                    ch,
                    Msg::Receipt {
                        session: s.to_owned(),
                        receipt: r.to_bytes(),
                        consistency,
                    },
                ))
            }
            Err((reason, detail)) => self.reject(ch, s, id, reason, detail),
        }
    }

    /// The proof joining a receipt's tree to the Welcome's log head.
    fn receipt_consistency(&self, env: &mut impl HubEnv, r: &Receipt) -> Vec<[u8; 32]> {
        let Some(w) = self.welcome_log else {
            return Vec::new();
        };
        let t = r.body.tree_size;
        env.log_consistency(w.min(t), w.max(t)).unwrap_or_default()
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(Channel, Msg)> {
        self.out.pop_front()
    }
}

fn identity(doc: &AutoCommit) -> Option<(String, String)> {
    use automerge::{ReadDoc, Value, ROOT};
    let meta = match doc.get(ROOT, "meta").ok()?? {
        (Value::Object(_), id) => id,
        _ => return None,
    };
    let text = |k: &str| match doc.get(&meta, k).ok()?? {
        (Value::Scalar(v), _) => v.as_str().map(str::to_owned),
        _ => None,
    };
    Some((text("unit")?, text("session")?))
}

/// The checks a hub makes on a seal before storing it, in order: the key is one of the
/// unit's registered keys and was valid when the seal was made, the signature verifies, the seal and document are the unit's, the
/// document holds the sealed heads, the result recomputed there matches the digest, and
/// the quorum and consistency rules hold.
pub fn verify_seal(
    unit: &str,
    keys: &[crate::seal::KeyValidity],
    seal: &Seal,
    doc: &mut SessionDoc,
) -> Result<crate::domain::SessionResult, (RejectReason, String)> {
    use crate::seal::SealError;
    let Some(k) = keys.iter().find(|k| k.key.0 == seal.body.signer) else {
        return Err((
            RejectReason::WrongKey,
            format!("signed by {}", hex::encode(seal.body.signer)),
        ));
    };
    if !k.valid_at(seal.body.sealed_at) {
        return Err((
            RejectReason::RevokedKey,
            format!(
                "key {} not valid at {}",
                k.key.to_hex(),
                seal.body.sealed_at
            ),
        ));
    }
    if seal.body.unit.as_str() != unit {
        return Err((
            RejectReason::OtherUnit,
            format!("seal of {}", seal.body.unit),
        ));
    }
    match crate::seal::check(seal, doc) {
        Ok(r) if r.sealable() => Ok(r),
        Ok(r) => Err((
            RejectReason::Inconsistent,
            r.problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )),
        Err(SealError::BadSignature) | Err(SealError::BadKey) => {
            Err((RejectReason::BadSignature, String::new()))
        }
        Err(SealError::WrongDocument) => Err((
            RejectReason::OtherUnit,
            "document of another unit or session".into(),
        )),
        Err(SealError::HeadsMissing) => Err((RejectReason::HeadsMissing, String::new())),
        Err(SealError::ResultMismatch) => Err((RejectReason::ResultMismatch, String::new())),
        Err(SealError::Decode(e)) => Err((RejectReason::Malformed, e)),
        Err(SealError::NotInLog) => Err((RejectReason::Malformed, "not in log".into())),
    }
}
