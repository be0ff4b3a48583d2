//! The node's end: deliver seals, syncing each sealed document first.

use super::wire::{
    Channel, DocHeads, Hello, LostItem, Msg, RejectReason, EVERY_SEAL, MAX_LOST, PROTOCOL_VERSION,
};
use crate::doc::SessionDoc;
use crate::merkle::verify_consistency;
use crate::seal::{Aggregate, PublicKey, Receipt, Seal, TreeHead};
use automerge::sync::{self, SyncDoc};
use std::collections::{BTreeMap, VecDeque};

/// One document with the seals still to deliver.
pub struct Job {
    /// The document.
    pub doc: SessionDoc,
    /// The persisted sync state with this hub, if any.
    pub sync_state: Option<Vec<u8>>,
    /// Undelivered seals, any order (sent by ascending `seq`).
    pub seals: Vec<Seal>,
}

/// What the driver must act on.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A seal went out (mark it "sent").
    SealSent {
        /// Session.
        session: String,
        /// Seq.
        seq: u32,
    },
    /// A verified receipt: the delivery is done.
    Receipt {
        /// Session.
        session: String,
        /// Seq.
        seq: u32,
        /// The receipt, verified against the hub key and the seal.
        receipt: Receipt,
    },
    /// The hub refused a seal.
    Rejected {
        /// Session.
        session: String,
        /// Seq. A refusal of the whole connection comes as one event per open seal.
        seq: u32,
        /// Why.
        reason: RejectReason,
        /// Details.
        detail: String,
    },
    /// New sync state to persist for (hub, session).
    SyncState {
        /// Session.
        session: String,
        /// `sync::State::encode()`.
        state: Vec<u8>,
    },
    /// The peer broke the protocol (bad message, forged receipt): drop the connection.
    ProtocolError(String),
    /// One document's seals are all answered: its channel may be closed.
    DocFinished {
        /// Session.
        session: String,
    },
    /// A head of the hub's log, verified consistent with every earlier one: persist it
    /// for the next connection.
    LogHead {
        /// Leaves.
        size: u64,
        /// Root.
        root: [u8; 32],
    },
    /// The hub signed two log states that cannot both be true: it dropped or rewrote
    /// something it had acknowledged. Evidence to keep and show.
    LogInconsistent {
        /// What did not match.
        detail: String,
    },
    /// The hub can no longer prove items it once receipted: those it names (it lost
    /// them from its store but kept its log), and, when its log itself is shorter than
    /// a head it signed before, every index from `from_index` on. The driver delivers
    /// again each item whose receipt it holds there, keeping the old receipt as
    /// evidence; the hub takes it back at its index.
    Lost {
        /// Items the hub named.
        items: Vec<LostItem>,
        /// Receipts at or past this index cannot be proved by the hub's present log.
        from_index: Option<u64>,
    },
    /// Every job is finished (received or rejected).
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for Welcome.
    Hello,
    /// Syncing the document.
    Syncing,
    /// Seals sent, waiting for answers.
    Sealing,
    /// Every seal answered.
    Finished,
}

/// What became of a seal or an aggregate in this conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Sent or to be sent; no answer yet.
    Waiting,
    /// A verified receipt came.
    Receipted,
    /// Refused, or given up with the connection.
    Refused,
}

struct DocState {
    doc: SessionDoc,
    sync: sync::State,
    /// Seals by seq, with their outcome once known.
    seals: BTreeMap<u32, (Seal, Outcome)>,
    phase: Phase,
    last_activity: u64,
    /// No sync state with this hub: most likely it has never seen the document, so it
    /// goes whole, right behind the Hello.
    eager: bool,
}

/// The node side of one connection.
pub struct NodeSession {
    unit: String,
    hub_key: PublicKey,
    /// Documents by wire name ([`super::doc_name`]).
    docs: BTreeMap<String, DocState>,
    enrollments: Vec<Vec<u8>>,
    /// A forwarding hub's aggregates by name, sent once every document is answered.
    aggregates: BTreeMap<String, AggState>,
    /// The latest head of the hub's log verified so far (size, root).
    log: Option<(u64, [u8; 32])>,
    /// The head the Welcome proved consistent: this connection's receipts are proved
    /// against it.
    welcome_log: Option<(u64, [u8; 32])>,
    /// The connection was refused as a whole: nothing more will come.
    ended: bool,
    out: VecDeque<(Channel, Msg)>,
    events: VecDeque<Event>,
    welcomed: bool,
    hello_sent_at: u64,
    retry_ms: u64,
    done_reported: bool,
    /// The hub's heads per document, from the Welcome.
    theirs: BTreeMap<String, Vec<[u8; 32]>>,
    /// Documents not started yet: at most `max_active` run at once, so that a node with
    /// many sessions never needs more streams than the hub grants.
    queue: VecDeque<String>,
    max_active: usize,
    /// Document messages that arrived before the Welcome (streams race), handled after
    /// it, so that receipts are checked against the Welcome's log head.
    early: Vec<(Channel, Msg)>,
}

/// The most bytes of whole-document sync messages sent before the Welcome (the hub
/// holds what comes before it reads the Hello, up to [`super::hub::EARLY_BYTES`]).
pub const EAGER_BYTES: usize = 512 << 10;

/// What a connection carries besides documents and seals.
#[derive(Default)]
pub struct Extras {
    /// Enrollments of a forwarding hub's descendants, parents first.
    pub enrollments: Vec<Vec<u8>>,
    /// A forwarding hub's sealed aggregates.
    pub aggregates: Vec<Aggregate>,
    /// The latest head (size, root) of this hub's log verified before: the hub must
    /// prove its log still extends it.
    pub known_log: Option<(u64, [u8; 32])>,
}

struct AggState {
    agg: Aggregate,
    outcome: Outcome,
    sent_at: Option<u64>,
}

/// Documents in flight at once on one connection (each holds a stream).
pub const MAX_ACTIVE_DOCS: usize = 16;

impl NodeSession {
    /// Starts a conversation delivering `jobs` to the hub whose key is `hub_key`.
    /// `retry_ms` is how long to wait for an answer before sending again.
    pub fn new(
        unit: &str,
        hub_key: PublicKey,
        jobs: Vec<Job>,
        now: u64,
        retry_ms: u64,
    ) -> NodeSession {
        Self::forwarding(unit, hub_key, jobs, Extras::default(), now, retry_ms)
    }

    /// A hub delivering to an upper hub: `jobs` may hold its descendants' documents
    /// (named `unit/session` on the wire), and `enrollments` (parents first) tell the
    /// upper hub whose keys those are.
    pub fn forwarding(
        unit: &str,
        hub_key: PublicKey,
        jobs: Vec<Job>,
        extras: Extras,
        now: u64,
        retry_ms: u64,
    ) -> NodeSession {
        let Extras {
            enrollments,
            aggregates,
            known_log,
        } = extras;
        let aggregates = aggregates
            .into_iter()
            .map(|agg| {
                let st = AggState {
                    agg,
                    outcome: Outcome::Waiting,
                    sent_at: None,
                };
                (st.agg.name(), st)
            })
            .collect();
        let mut docs = BTreeMap::new();
        for mut j in jobs {
            let Ok((doc_unit, session)) = j.doc.identity() else {
                continue;
            };
            let name = super::doc_name(unit, doc_unit.as_str(), session.as_str());
            let eager = j.sync_state.is_none();
            let sync = j
                .sync_state
                .as_deref()
                .and_then(|b| sync::State::decode(b).ok())
                .unwrap_or_default();
            let seals = j
                .seals
                .drain(..)
                .map(|s| (s.body.seq, (s, Outcome::Waiting)))
                .collect();
            docs.insert(
                name,
                DocState {
                    doc: j.doc,
                    sync,
                    seals,
                    phase: Phase::Hello,
                    last_activity: now,
                    eager,
                },
            );
        }
        let mut s = NodeSession {
            unit: unit.to_owned(),
            hub_key,
            docs,
            enrollments,
            aggregates,
            log: known_log,
            welcome_log: None,
            ended: false,
            out: VecDeque::new(),
            events: VecDeque::new(),
            welcomed: false,
            hello_sent_at: now,
            retry_ms,
            done_reported: false,
            theirs: BTreeMap::new(),
            queue: VecDeque::new(),
            max_active: MAX_ACTIVE_DOCS,
            early: Vec::new(),
        };
        s.send_hello(now);
        s.push_eagerly(now);
        s.check_done(now);
        s
    }

    /// First deliveries go right behind the Hello, without waiting a round trip for the
    /// Welcome to say the hub has none of them: a few documents, small enough together
    /// for the hub to hold before it reads the Hello. A document the hub did have after
    /// all costs only the bytes (Automerge applies what it already holds as nothing).
    /// Seals of documents the hub already holds whole go the same way, alone.
    fn push_eagerly(&mut self, now: u64) {
        if !self.aggregates.is_empty() || !self.enrollments.is_empty() {
            return; // a forwarding hub: its documents need the enrollments read first
        }
        let mut budget = EAGER_BYTES;
        let mut pushed = 0;
        let names: Vec<String> = self.docs.keys().cloned().collect();
        for name in names {
            if pushed >= self.max_active {
                break;
            }
            let Some(d) = self.docs.get_mut(&name) else {
                continue;
            };
            if d.seals.is_empty() {
                continue;
            }
            if d.eager {
                if self.push_whole(&name, now, &mut budget) {
                    pushed += 1;
                }
            } else if holds_all(&d.sync.shared_heads, &d.doc.heads()) {
                // Our last sync left the hub with every change we have (a receipt lost
                // with the link, say): the seals alone, behind the Hello.
                self.send_seals(&name, now);
                pushed += 1;
            }
        }
    }

    fn send_hello(&mut self, now: u64) {
        let docs = self
            .docs
            .iter_mut()
            .map(|(session, d)| DocHeads {
                session: session.clone(),
                heads: d.doc.heads(),
            })
            .collect();
        self.out.push_back((
            Channel::Control,
            Msg::Hello(Hello {
                version: PROTOCOL_VERSION,
                unit: self.unit.clone(),
                docs,
                enrollments: self.enrollments.clone(),
                known_log: self.log.map_or(0, |(size, _)| size),
            }),
        ));
        self.hello_sent_at = now;
    }

    /// Handles a message from the hub.
    pub fn handle(&mut self, ch: Channel, msg: Msg, now: u64) {
        match (ch, msg) {
            (Channel::Control, Msg::Welcome(w)) => {
                if self.welcomed {
                    return; // a duplicate
                }
                if w.version != PROTOCOL_VERSION {
                    self.ended = true;
                    self.fail_all(
                        RejectReason::Version,
                        format!("hub speaks version {}", w.version),
                    );
                    return;
                }
                self.welcomed = true;
                if let Some(l) = &w.log {
                    self.on_log_head(&l.head, &l.consistency);
                }
                self.theirs = w.docs.into_iter().map(|d| (d.session, d.heads)).collect();
                self.queue = self.docs.keys().cloned().collect();
                self.start_more(now);
                for (ch, m) in std::mem::take(&mut self.early) {
                    self.handle(ch, m, now);
                }
            }
            (ch @ Channel::Doc(_), m) if !self.welcomed => {
                // Bounded: a few answers (the hub's sync, a receipt or rejection per
                // seal) for each document in flight.
                if self.early.len() < 4 * self.max_active {
                    self.early.push((ch, m));
                }
            }
            (Channel::Control, Msg::Reject { reason, detail, .. }) => {
                self.ended = true;
                self.fail_all(reason, detail);
            }
            (Channel::Control, Msg::Lost { mut items }) => {
                items.truncate(MAX_LOST);
                self.events.push_back(Event::Lost {
                    items,
                    from_index: None,
                });
            }
            (Channel::Doc(s), Msg::Sync { session, data }) if s == session => {
                self.on_sync(&s, &data, now)
            }
            (
                Channel::Doc(s),
                Msg::Receipt {
                    session,
                    receipt,
                    consistency,
                },
            ) if s == session && self.aggregates.contains_key(&s) => {
                if self.on_aggregate_answer(&s, Ok(&receipt)) {
                    self.check_receipt_log(&receipt, &consistency);
                }
            }
            (
                Channel::Doc(s),
                Msg::Reject {
                    session,
                    reason,
                    detail,
                    ..
                },
            ) if s == session && self.aggregates.contains_key(&s) => {
                self.on_aggregate_answer(&s, Err((reason, detail)));
            }
            (
                Channel::Doc(s),
                Msg::Receipt {
                    session,
                    receipt,
                    consistency,
                },
            ) if s == session => {
                if self.on_receipt(&s, &receipt, now) {
                    self.check_receipt_log(&receipt, &consistency);
                }
            }
            (
                Channel::Doc(s),
                Msg::Reject {
                    session,
                    seal_id,
                    reason,
                    detail,
                },
            ) if s == session => self.on_reject(&s, seal_id, reason, detail, now),
            (ch, m) => self.events.push_back(Event::ProtocolError(format!(
                "unexpected {} on {ch:?}",
                kind(&m)
            ))),
        }
        self.check_done(now);
    }

    /// A receipt or a rejection of an aggregate; whether a receipt verified.
    fn on_aggregate_answer(
        &mut self,
        name: &str,
        answer: Result<&[u8], (RejectReason, String)>,
    ) -> bool {
        let hub = self.hub_key;
        let Some(a) = self.aggregates.get_mut(name) else {
            return false;
        };
        if a.outcome != Outcome::Waiting {
            return false; // a duplicate
        }
        let seq = a.agg.body.seq;
        match answer {
            Ok(bytes) => {
                let Some(receipt) = decode_receipt(&mut self.events, bytes) else {
                    return false;
                };
                if let Err(e) = receipt.verify_aggregate(&hub, &a.agg) {
                    self.events.push_back(Event::ProtocolError(format!(
                        "aggregate receipt does not verify: {e}"
                    )));
                    return false;
                }
                a.outcome = Outcome::Receipted;
                self.events.push_back(Event::Receipt {
                    session: name.to_owned(),
                    seq,
                    receipt,
                });
                true
            }
            Err((reason, detail)) => {
                a.outcome = Outcome::Refused;
                self.events.push_back(Event::Rejected {
                    session: name.to_owned(),
                    seq,
                    reason,
                    detail,
                });
                false
            }
        }
    }

    /// The Welcome's log head: signed by the hub, and extending the head known before.
    fn on_log_head(&mut self, head: &[u8], proof: &[[u8; 32]]) {
        let head = match TreeHead::from_bytes(head).and_then(|h| {
            h.verify(&self.hub_key)?;
            Ok(h)
        }) {
            Ok(h) => h,
            Err(e) => {
                self.events
                    .push_back(Event::ProtocolError(format!("bad log head: {e}")));
                return;
            }
        };
        self.extend_log(head.body.size, head.body.root, proof, "log head");
    }

    /// A verified receipt's tree must extend (or be extended by) the Welcome's head:
    /// the hub proves it from that head, whatever order receipts arrive in.
    fn check_receipt_log(&mut self, bytes: &[u8], proof: &[[u8; 32]]) {
        let Ok(r) = Receipt::from_bytes(bytes) else {
            return;
        };
        let (size, root) = (r.body.tree_size, r.body.root);
        if let Some((w, w_root)) = self.welcome_log {
            let ok = if size >= w {
                verify_consistency(w, size, proof, &w_root, &root)
            } else {
                verify_consistency(size, w, proof, &root, &w_root)
            };
            if !ok {
                self.events.push_back(Event::LogInconsistent {
                    detail: format!(
                        "receipt: the hub's log of {size} items does not extend the one of {w} it signed at this connection's start"
                    ),
                });
                return;
            }
        }
        self.adopt_log(size, root);
    }

    /// Keeps (size, root) as the latest verified head when it is larger.
    fn adopt_log(&mut self, size: u64, root: [u8; 32]) {
        if self.log.is_none_or(|(known, _)| size > known) {
            self.log = Some((size, root));
            self.events.push_back(Event::LogHead { size, root });
        }
    }

    /// Checks that the head (size, root), signed by the hub, extends the latest head
    /// verified before (by `proof`); keeps it, and it anchors this connection's receipts.
    fn extend_log(&mut self, size: u64, root: [u8; 32], proof: &[[u8; 32]], what: &str) {
        if let Some((known, known_root)) = self.log {
            if size < known || !verify_consistency(known, size, proof, &known_root, &root) {
                self.events.push_back(Event::LogInconsistent {
                    detail: format!(
                        "{what}: the hub's log of {size} items does not extend the one of {known} it signed before"
                    ),
                });
                // The hub went back in time or forked (a store restored with its log,
                // or without it and already grown again): we cannot tell which of our
                // receipts its present log still proves, so every one goes again; a
                // seal it holds gets its stored receipt back, one it lost is taken in.
                self.events.push_back(Event::Lost {
                    items: Vec::new(),
                    from_index: Some(0),
                });
                // Then follow the log it signs now: the alarm stays as the evidence, and
                // keeping the old head would raise it, and send everything again, at
                // every connection from now on.
                self.log = Some((size, root));
                self.welcome_log = Some((size, root));
                self.events.push_back(Event::LogHead { size, root });
                return;
            }
        }
        self.welcome_log = Some((size, root));
        self.adopt_log(size, root);
    }

    /// Sends the aggregates not answered yet, once every document is answered (their
    /// seals must be upstairs first); again after `retry_ms` without an answer.
    fn send_aggregates(&mut self, now: u64) {
        if !self.welcomed || self.docs.values().any(|d| d.phase != Phase::Finished) {
            return;
        }
        for (name, a) in self.aggregates.iter_mut() {
            let due = a.sent_at.is_none_or(|t| now >= t + self.retry_ms);
            if a.outcome == Outcome::Waiting && due {
                a.sent_at = Some(now);
                self.out.push_back((
                    Channel::Doc(name.clone()),
                    Msg::Aggregate {
                        name: name.clone(),
                        aggregate: a.agg.to_bytes(),
                    },
                ));
                self.events.push_back(Event::SealSent {
                    session: name.clone(),
                    seq: a.agg.body.seq,
                });
            }
        }
    }

    fn fail_all(&mut self, reason: RejectReason, detail: String) {
        for (name, a) in self.aggregates.iter_mut() {
            if a.outcome == Outcome::Waiting {
                a.outcome = Outcome::Refused;
                self.events.push_back(Event::Rejected {
                    session: name.clone(),
                    seq: a.agg.body.seq,
                    reason,
                    detail: detail.clone(),
                });
            }
        }
        for (session, d) in self.docs.iter_mut() {
            for (seq, (_, outcome)) in d.seals.iter_mut() {
                if *outcome == Outcome::Waiting {
                    *outcome = Outcome::Refused;
                    self.events.push_back(Event::Rejected {
                        session: session.clone(),
                        seq: *seq,
                        reason,
                        detail: detail.clone(),
                    });
                }
            }
            d.phase = Phase::Finished;
        }
    }

    fn start_sync(&mut self, s: &str, now: u64) {
        let Some(d) = self.docs.get_mut(s) else {
            return;
        };
        d.phase = Phase::Syncing;
        d.last_activity = now;
        self.pump(s, now);
    }

    /// Sends what Automerge wants to send, and the seals once the hub has our heads.
    fn pump(&mut self, s: &str, now: u64) {
        let Some(d) = self.docs.get_mut(s) else {
            return;
        };
        if queue_sync(&mut self.out, s, d) {
            d.last_activity = now;
        }
        let ours = d.doc.heads();
        let hub_has_ours = d
            .sync
            .their_heads
            .as_ref()
            .is_some_and(|theirs| holds_all(theirs, &ours));
        if d.phase == Phase::Syncing && hub_has_ours {
            self.send_seals(s, now);
        }
    }

    /// The hub has none of this document (its Welcome says so, or we never synced it
    /// with this hub): skip Automerge's negotiation of what each side has, which costs
    /// two round trips to learn exactly that, and send the whole document in one sync
    /// message with the seals right behind it on the same stream. The hub applies the
    /// document before it reads the seals; if it could not, it answers `HeadsMissing`
    /// and we sync the slow way.
    ///
    /// On a link at 300 ms RTT this is the difference between a delivery in three
    /// round trips after the Welcome and one (none, sent with the Hello).
    ///
    /// Sends nothing, and says so, when the message would take more than `budget`
    /// bytes (what is left of it is returned through `budget`).
    fn push_whole(&mut self, s: &str, now: u64, budget: &mut usize) -> bool {
        let Some(d) = self.docs.get_mut(s) else {
            return false;
        };
        let mut st = sync::State::new();
        st.their_heads = Some(Vec::new());
        st.their_need = Some(Vec::new());
        st.their_have = Some(vec![sync::Have {
            last_sync: Vec::new(),
            bloom: sync::BloomFilter::default(),
        }]);
        st.their_capabilities = Some(vec![sync::Capability::MessageV2]);
        let Some(m) = d.doc.automerge().sync().generate_sync_message(&mut st) else {
            return false;
        };
        let data = m.encode();
        if data.len() > *budget {
            return false;
        }
        *budget -= data.len();
        d.sync = st;
        d.phase = Phase::Syncing;
        d.last_activity = now;
        self.out.push_back(sync_msg(s, data));
        self.send_seals(s, now);
        true
    }

    fn send_seals(&mut self, s: &str, now: u64) {
        let Some(d) = self.docs.get_mut(s) else {
            return;
        };
        d.phase = Phase::Sealing;
        d.last_activity = now;
        for (seq, (seal, outcome)) in &d.seals {
            if *outcome == Outcome::Waiting {
                self.out.push_back((
                    Channel::Doc(s.to_owned()),
                    Msg::Seal {
                        session: s.to_owned(),
                        seal: seal.to_bytes(),
                    },
                ));
                self.events.push_back(Event::SealSent {
                    session: s.to_owned(),
                    seq: *seq,
                });
            }
        }
    }

    fn on_sync(&mut self, s: &str, data: &[u8], now: u64) {
        let Some(d) = self.docs.get_mut(s) else {
            return;
        };
        let msg = match crate::doc::decode_sync(data) {
            Ok(m) => m,
            Err(e) => {
                self.events
                    .push_back(Event::ProtocolError(format!("bad sync message: {e}")));
                return;
            }
        };
        let (doc, state) = (d.doc.automerge(), &mut d.sync);
        if let Err(e) = crate::doc::guard(|| doc.sync().receive_sync_message(state, msg)) {
            self.events
                .push_back(Event::ProtocolError(format!("sync message refused: {e}")));
            return;
        }
        d.last_activity = now;
        self.events.push_back(Event::SyncState {
            session: s.to_owned(),
            state: d.sync.encode(),
        });
        if d.phase == Phase::Syncing {
            self.pump(s, now);
        }
    }

    /// Whether a receipt verified (a duplicate of one already recorded counts: its log
    /// position is checked all the same).
    fn on_receipt(&mut self, s: &str, bytes: &[u8], now: u64) -> bool {
        let hub = self.hub_key;
        let Some(d) = self.docs.get_mut(s) else {
            return false;
        };
        let Some(receipt) = decode_receipt(&mut self.events, bytes) else {
            return false;
        };
        let Some((seal, outcome)) = d.seals.get_mut(&receipt.body.seq) else {
            return false; // a receipt for a seal we did not send (a duplicate after restart)
        };
        if let Err(e) = receipt.verify(&hub, seal) {
            self.events.push_back(Event::ProtocolError(format!(
                "receipt does not verify: {e}"
            )));
            return false;
        }
        d.last_activity = now;
        if *outcome == Outcome::Waiting {
            *outcome = Outcome::Receipted;
            self.events.push_back(Event::Receipt {
                session: s.to_owned(),
                seq: receipt.body.seq,
                receipt,
            });
        }
        true
    }

    fn on_reject(
        &mut self,
        s: &str,
        seal_id: [u8; 32],
        reason: RejectReason,
        detail: String,
        now: u64,
    ) {
        let Some(d) = self.docs.get_mut(s) else {
            return;
        };
        d.last_activity = now;
        if reason == RejectReason::HeadsMissing && d.phase == Phase::Sealing {
            // The hub lost part of the document (a crash, a stale sync state): sync again
            // from scratch, then resend.
            d.sync = sync::State::new();
            self.start_sync(s, now);
            return;
        }
        for (seq, (seal, outcome)) in d.seals.iter_mut() {
            if *outcome == Outcome::Waiting && (seal.id() == seal_id || seal_id == EVERY_SEAL) {
                *outcome = Outcome::Refused;
                self.events.push_back(Event::Rejected {
                    session: s.to_owned(),
                    seq: *seq,
                    reason,
                    detail: detail.clone(),
                });
            }
        }
    }

    /// Re-sends whatever has waited longer than the retry interval: the Hello, a stalled
    /// sync (restarted from the persisted state), unanswered seals. The hub answers
    /// duplicates idempotently.
    pub fn handle_timeout(&mut self, now: u64) {
        if !self.welcomed {
            if now >= self.hello_sent_at + self.retry_ms {
                self.send_hello(now);
            }
            return;
        }
        let stalled: Vec<(String, Phase)> = self
            .docs
            .iter()
            .filter(|(_, d)| {
                matches!(d.phase, Phase::Syncing | Phase::Sealing)
                    && now >= d.last_activity + self.retry_ms
            })
            .map(|(s, d)| (s.clone(), d.phase))
            .collect();
        for (s, phase) in stalled {
            match phase {
                Phase::Syncing => {
                    if let Some(d) = self.docs.get_mut(&s) {
                        // Forget in-flight bookkeeping; keep what both sides surely share.
                        d.sync = sync::State::decode(&d.sync.encode()).unwrap_or_default();
                    }
                    self.start_sync(&s, now);
                }
                Phase::Sealing => self.send_seals(&s, now),
                _ => {}
            }
        }
        self.send_aggregates(now);
    }

    /// Starts queued documents while fewer than `max_active` are in flight: straight to
    /// the seals when the hub already has our heads, else through a sync.
    fn start_more(&mut self, now: u64) {
        loop {
            let active = self
                .docs
                .values()
                .filter(|d| matches!(d.phase, Phase::Syncing | Phase::Sealing))
                .count();
            if active >= self.max_active {
                return;
            }
            let Some(s) = self.queue.pop_front() else {
                return;
            };
            let in_sync = {
                let Some(d) = self.docs.get_mut(&s) else {
                    continue;
                };
                if d.phase != Phase::Hello {
                    continue;
                }
                let ours = d.doc.heads();
                self.theirs.get(&s).is_some_and(|h| *h == ours)
            };
            let hub_has_none = self.theirs.get(&s).is_some_and(|h| h.is_empty());
            if in_sync {
                self.send_seals(&s, now);
            } else {
                let mut unbounded = usize::MAX;
                if !(hub_has_none && self.push_whole(&s, now, &mut unbounded)) {
                    self.start_sync(&s, now);
                }
            }
        }
    }

    fn check_done(&mut self, now: u64) {
        let mut finished = Vec::new();
        for (s, d) in self.docs.iter_mut() {
            if d.phase != Phase::Finished && d.seals.values().all(|(_, o)| *o != Outcome::Waiting) {
                d.phase = Phase::Finished;
                finished.push(s.clone());
            }
        }
        for session in finished {
            self.events.push_back(Event::DocFinished { session });
        }
        if self.welcomed {
            self.start_more(now);
        }
        self.send_aggregates(now);
        // Not before the Welcome (or a refusal): even a connection with nothing to
        // deliver learns the hub's log head and what it lost.
        if !self.done_reported
            && (self.welcomed || self.ended)
            && self.docs.values().all(|d| d.phase == Phase::Finished)
            && self
                .aggregates
                .values()
                .all(|a| a.outcome != Outcome::Waiting)
        {
            self.done_reported = true;
            self.events.push_back(Event::Done);
        }
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<(Channel, Msg)> {
        self.out.pop_front()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`NodeSession::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.done_reported {
            return None;
        }
        if !self.welcomed {
            return Some(self.hello_sent_at + self.retry_ms);
        }
        let docs = self
            .docs
            .values()
            .filter(|d| matches!(d.phase, Phase::Syncing | Phase::Sealing))
            .map(|d| d.last_activity + self.retry_ms);
        let aggregates = self
            .aggregates
            .values()
            .filter(|a| a.outcome == Outcome::Waiting)
            .filter_map(|a| a.sent_at)
            .map(|t| t + self.retry_ms);
        docs.chain(aggregates).min()
    }

    /// Whether every seal has an answer.
    pub fn is_done(&self) -> bool {
        self.done_reported
    }
}

/// Queues the sync message Automerge wants to send for `d`, if any; whether it did.
fn queue_sync(out: &mut VecDeque<(Channel, Msg)>, s: &str, d: &mut DocState) -> bool {
    let Some(m) = d.doc.automerge().sync().generate_sync_message(&mut d.sync) else {
        return false;
    };
    out.push_back(sync_msg(s, m.encode()));
    true
}

/// A sync message for document `s`, on its channel.
fn sync_msg(s: &str, data: Vec<u8>) -> (Channel, Msg) {
    (
        Channel::Doc(s.to_owned()),
        Msg::Sync {
            session: s.to_owned(),
            data,
        },
    )
}

/// Whether `theirs` (the hub's heads, as Automerge knows them) includes all of `ours`.
fn holds_all(theirs: &[automerge::ChangeHash], ours: &[[u8; 32]]) -> bool {
    ours.iter().all(|h| theirs.iter().any(|t| t.0 == *h))
}

/// A receipt from the hub's bytes; undecodable is a protocol error (drop the connection).
fn decode_receipt(events: &mut VecDeque<Event>, bytes: &[u8]) -> Option<Receipt> {
    match Receipt::from_bytes(bytes) {
        Ok(r) => Some(r),
        Err(e) => {
            events.push_back(Event::ProtocolError(format!("bad receipt: {e}")));
            None
        }
    }
}

fn kind(m: &Msg) -> &'static str {
    match m {
        Msg::Hello(_) => "Hello",
        Msg::Welcome(_) => "Welcome",
        Msg::Sync { .. } => "Sync",
        Msg::Seal { .. } => "Seal",
        Msg::Receipt { .. } => "Receipt",
        Msg::Reject { .. } => "Reject",
        Msg::Aggregate { .. } => "Aggregate",
        Msg::Lost { .. } => "Lost",
    }
}
