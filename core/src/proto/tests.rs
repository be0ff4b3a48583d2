//! Deterministic tests of the two machines, wired by in-memory queues with a virtual
//! clock and seeded loss, duplication and reordering (like quinn-proto's `Pair`).

use super::hub::{verify_seal, HubEnv, HubSession, Limits};
use super::node::{Event, Job, NodeSession};
use super::wire::{Channel, Framer, Msg, RejectReason};
use crate::doc::{CountField, SessionDoc};
use crate::domain::{SessionFile, UnitId};
use crate::seal::{seal_doc, PublicKey, Receipt, Seal, UnitKey};
use std::collections::BTreeMap;

const FILE: &str = r#"{
  "id": "ky-hop-14", "profile": "nq96-2023", "procedure": "poll",
  "body": "HĐND huyện", "date": "2023-12-08",
  "attendance": {"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49},
  "ballots": {"issued": 49, "collected": 49, "wholly_invalid": 0},
  "subjects": [{"id": "s01", "person_id": "p-0001", "name": "Nguyễn Văn A", "position": "Chủ tịch", "unit": "HĐND"}],
  "entries": []
}"#;

fn unit_key() -> UnitKey {
    UnitKey::from_seed([3; 32])
}
fn hub_key() -> UnitKey {
    UnitKey::from_seed([4; 32])
}

/// A sealed document with `n` ballots of unit `unit`.
fn sealed(unit: &str, session: &str, n: u64, key: &UnitKey) -> (SessionDoc, Seal) {
    let u = UnitId::new(unit).expect("unit");
    let s = SessionFile::from_json(&FILE.replace("ky-hop-14", session))
        .expect("json")
        .into_session(&u, || "x".into())
        .expect("valid");
    let mut d = SessionDoc::from_session(&s, b"laptop", 1).expect("doc");
    for i in 0..n {
        let mut marks = BTreeMap::new();
        marks.insert(
            crate::domain::SubjectId::new("s01").expect("sid"),
            crate::domain::Mark::High,
        );
        d.add_entry(
            &crate::domain::Entry {
                id: format!("{i:016x}"),
                marks,
            },
            "a",
        )
        .expect("entry");
    }
    d.set_count(CountField::Issued, n).expect("c");
    d.set_count(CountField::Collected, n).expect("c");
    d.set_count(CountField::Total, n.max(50)).expect("c");
    d.set_count(CountField::Present, n.max(34)).expect("c");
    d.set_count(CountField::AbsentFromStart, 0).expect("c");
    d.set_count(CountField::PresentAtVote, n.max(34))
        .expect("c");
    d.commit(2, "ballots");
    let (seal, _) = seal_doc(&mut d, key, 1, 3).expect("sealable");
    (d, seal)
}

/// An in-memory hub: documents, sync states, receipts; the registry has one unit.
struct MemEnv {
    key: UnitKey,
    registry: BTreeMap<String, PublicKey>,
    docs: BTreeMap<(String, String), Vec<u8>>,
    states: BTreeMap<(String, String), Vec<u8>>,
    receipts: BTreeMap<[u8; 32], Receipt>,
    accepted: Vec<[u8; 32]>,
    log: crate::merkle::Tree,
    saves: usize,
    /// Items the "store" lost, named to peers of version 4.
    lost: Vec<super::LostItem>,
}

impl MemEnv {
    fn new() -> MemEnv {
        let mut registry = BTreeMap::new();
        registry.insert("phong-tho".to_string(), unit_key().public());
        MemEnv {
            key: hub_key(),
            registry,
            docs: BTreeMap::new(),
            states: BTreeMap::new(),
            receipts: BTreeMap::new(),
            accepted: Vec::new(),
            log: crate::merkle::Tree::new(),
            saves: 0,
            lost: Vec::new(),
        }
    }
}

impl HubEnv for MemEnv {
    fn load(&mut self, unit: &str, session: &str) -> Result<super::hub::Saved, String> {
        let k = (unit.to_owned(), session.to_owned());
        Ok((self.docs.get(&k).cloned(), self.states.get(&k).cloned()))
    }
    fn save(&mut self, unit: &str, session: &str, doc: &[u8], state: &[u8]) -> Result<(), String> {
        let k = (unit.to_owned(), session.to_owned());
        self.docs.insert(k.clone(), doc.to_vec());
        self.states.insert(k, state.to_vec());
        self.saves += 1;
        Ok(())
    }
    fn ingest(
        &mut self,
        unit: &str,
        seal: &Seal,
        doc: &mut SessionDoc,
    ) -> Result<Receipt, (RejectReason, String)> {
        if let Some(r) = self.receipts.get(&seal.id()) {
            return Ok(r.clone());
        }
        let key = self
            .registry
            .get(unit)
            .ok_or((RejectReason::UnknownUnit, unit.to_owned()))?;
        let keys = [crate::seal::KeyValidity {
            key: *key,
            valid_from: None,
            revoked_at: None,
        }];
        verify_seal(unit, &keys, seal, doc)?;
        let at = crate::seal::LogPosition::append(&mut self.log, &seal.id());
        let r = Receipt::sign(&self.key, seal, 10, &at);
        self.accepted.push(seal.id());
        self.receipts.insert(seal.id(), r.clone());
        Ok(r)
    }
    fn log_head(&mut self) -> Option<(u64, Vec<u8>)> {
        let size = self.log.size();
        let root = self.log.root(size)?;
        Some((
            size,
            crate::seal::TreeHead::sign(&self.key, size, root, 10).to_bytes(),
        ))
    }
    fn log_consistency(&mut self, old: u64, new: u64) -> Option<Vec<[u8; 32]>> {
        self.log.consistency(old, new)
    }
    fn lost(&mut self, max: usize) -> Vec<super::LostItem> {
        self.lost.iter().take(max).copied().collect()
    }
}

/// The link between the machines: seeded faults on every message.
#[derive(Clone, Copy)]
struct Faults {
    loss_pct: u64,
    dup_pct: u64,
    reorder_pct: u64,
}

struct Rng(u64);
impl Rng {
    fn pct(&mut self, p: u64) -> bool {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % 100 < p
    }
}

/// Runs one connection to completion (or until `max_ms` of virtual time); returns the
/// node's events and the bytes that crossed the link.
fn run(
    node: &mut NodeSession,
    hub: &mut HubSession,
    env: &mut MemEnv,
    faults: Faults,
    seed: u64,
    max_ms: u64,
) -> (Vec<Event>, usize) {
    let mut rng = Rng(seed | 1);
    let mut now = 0u64;
    let mut to_hub: Vec<(Channel, Msg)> = Vec::new();
    let mut to_node: Vec<(Channel, Msg)> = Vec::new();
    let mut events = Vec::new();
    let mut bytes = 0;
    let deliver =
        |q: &mut Vec<(Channel, Msg)>, m: (Channel, Msg), rng: &mut Rng, bytes: &mut usize| {
            *bytes += m.1.encode().expect("encode").len();
            if rng.pct(faults.loss_pct) {
                return;
            }
            if rng.pct(faults.dup_pct) {
                q.push(m.clone());
            }
            if rng.pct(faults.reorder_pct) && !q.is_empty() {
                q.insert(0, m);
            } else {
                q.push(m);
            }
        };
    loop {
        while let Some(m) = node.poll_transmit() {
            deliver(&mut to_hub, m, &mut rng, &mut bytes);
        }
        while let Some(e) = node.poll_event() {
            events.push(e);
        }
        if node.is_done() || now > max_ms {
            return (events, bytes);
        }
        if !to_hub.is_empty() {
            let (ch, m) = to_hub.remove(0);
            // Through the framing, as on the wire.
            let mut f = Framer::new(1 << 20);
            f.push(&m.encode().expect("encode")).expect("frame");
            let m = f.next_msg().expect("decode").expect("whole");
            hub.handle(env, ch, m);
            while let Some(m) = hub.poll_transmit() {
                deliver(&mut to_node, m, &mut rng, &mut bytes);
            }
            continue;
        }
        if !to_node.is_empty() {
            let (ch, m) = to_node.remove(0);
            node.handle(ch, m, now);
            continue;
        }
        // Idle: jump the virtual clock to the next timer.
        match node.poll_timeout() {
            Some(t) => {
                now = now.max(t);
                node.handle_timeout(now);
            }
            None => return (events, bytes),
        }
    }
}

fn receipts(events: &[Event]) -> Vec<(String, u32)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Receipt { session, seq, .. } => Some((session.clone(), *seq)),
            _ => None,
        })
        .collect()
}

fn job(doc: &mut SessionDoc, seal: &Seal, state: Option<Vec<u8>>) -> Job {
    Job {
        doc: SessionDoc::load(&doc.save(), b"node").expect("load"),
        sync_state: state,
        seals: vec![seal.clone()],
    }
}

/// A node delivering `job` (retry after 1 s) and a fresh hub conversation.
fn pair(job: Job) -> (NodeSession, HubSession) {
    (
        NodeSession::new("phong-tho", hub_key().public(), vec![job], 0, 1000),
        HubSession::new("lai-chau", "phong-tho", Limits::default()),
    )
}

#[test]
fn a_clean_link_delivers_and_the_receipt_verifies() {
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-14", 20, &unit_key());
    let mut env = MemEnv::new();
    let (mut node, mut hub) = pair(job(&mut doc, &seal, None));
    let (events, _) = run(
        &mut node,
        &mut hub,
        &mut env,
        Faults {
            loss_pct: 0,
            dup_pct: 0,
            reorder_pct: 0,
        },
        1,
        60_000,
    );
    assert_eq!(receipts(&events), vec![("ky-hop-14".to_string(), 1)]);
    assert!(events.contains(&Event::Done));
    assert_eq!(env.accepted, vec![seal.id()]);
}

#[test]
fn loss_duplication_and_reordering_still_deliver_exactly_once() {
    for seed in 1..40u64 {
        let (mut a, seal_a) = sealed("phong-tho", "ky-hop-14", 30, &unit_key());
        let (mut b, seal_b) = sealed("phong-tho", "ky-hop-15", 5, &unit_key());
        let mut env = MemEnv::new();
        let mut all = Vec::new();
        // Reconnect until done, as the driver would: each connection is a new pair of
        // machines; the hub's store and the node's sync state carry over.
        let mut states: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut delivered: BTreeMap<String, bool> = BTreeMap::new();
        for attempt in 0..30 {
            let mut jobs = Vec::new();
            for (d, s, name) in [
                (&mut a, &seal_a, "ky-hop-14"),
                (&mut b, &seal_b, "ky-hop-15"),
            ] {
                if !delivered.get(name).copied().unwrap_or(false) {
                    jobs.push(job(d, s, states.get(name).cloned()));
                }
            }
            if jobs.is_empty() {
                break;
            }
            let mut node = NodeSession::new("phong-tho", hub_key().public(), jobs, 0, 500);
            let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
            let f = Faults {
                loss_pct: 30,
                dup_pct: 20,
                reorder_pct: 30,
            };
            let (events, _) = run(
                &mut node,
                &mut hub,
                &mut env,
                f,
                seed * 1000 + attempt,
                5_000,
            );
            for e in &events {
                match e {
                    Event::SyncState { session, state } => {
                        states.insert(session.clone(), state.clone());
                    }
                    Event::Receipt { session, .. } => {
                        delivered.insert(session.clone(), true);
                    }
                    Event::ProtocolError(p) => panic!("seed {seed}: {p}"),
                    _ => {}
                }
            }
            all.extend(events);
        }
        let mut got = receipts(&all);
        got.sort();
        assert_eq!(
            got,
            vec![("ky-hop-14".into(), 1), ("ky-hop-15".into(), 1)],
            "seed {seed}"
        );
        assert_eq!(env.accepted.len(), 2, "seed {seed}: each seal stored once");
    }
}

/// What a conversation cost: round trips, the node's events, and the bytes of Automerge
/// sync data the node sent.
struct Cost {
    trips: usize,
    events: Vec<Event>,
    sync_bytes: usize,
}

/// Round trips (hub answers) until the node holds every receipt, each side sending all it
/// has before the other answers, as on a clean link.
fn round_trips(node: &mut NodeSession, hub: &mut HubSession, env: &mut MemEnv) -> Cost {
    let mut trips = 0;
    let mut got = Vec::new();
    let mut sync_bytes = 0;
    while !node.is_done() && trips < 20 {
        while let Some((ch, m)) = node.poll_transmit() {
            if let Msg::Sync { data, .. } = &m {
                sync_bytes += data.len();
            }
            hub.handle(env, ch, m);
        }
        trips += 1;
        while let Some((ch, m)) = hub.poll_transmit() {
            node.handle(ch, m, 0);
        }
        while let Some(e) = node.poll_event() {
            got.push(e);
        }
    }
    assert_eq!(receipts(&got).len(), 1, "{got:?}");
    Cost {
        trips,
        events: got,
        sync_bytes,
    }
}

#[test]
fn a_first_delivery_takes_one_round_trip_and_a_later_one_sends_only_what_is_new() {
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-14", 40, &unit_key());
    let mut env = MemEnv::new();
    let (mut node, mut hub) = pair(job(&mut doc, &seal, None));
    // Hello, the whole document and the seal → Welcome and Receipt.
    let first = round_trips(&mut node, &mut hub, &mut env);
    assert_eq!(first.trips, 1);
    assert_eq!(env.accepted.len(), 1);
    let state = first.events.iter().rev().find_map(|e| match e {
        Event::SyncState { state, .. } => Some(state.clone()),
        _ => None,
    });

    // A later seal of the same document, which the hub holds in part, from a node that
    // kept its sync state: Automerge's sync sends only the new change, then the seal.
    let key = unit_key();
    let mut d2 = SessionDoc::load(&doc.save(), b"laptop").expect("load");
    d2.set_count(CountField::Total, 60).expect("count");
    d2.commit(4, "total");
    let (seal2, _) = seal_doc(&mut d2, &key, 2, 5).expect("sealable");
    let (mut node, mut hub) = pair(job(&mut d2, &seal2, state));
    let second = round_trips(&mut node, &mut hub, &mut env);
    assert!(
        (3..=5).contains(&second.trips),
        "{} round trips",
        second.trips
    );
    assert_eq!(env.accepted.len(), 2);
    // What the hub acknowledged is not sent again: the second conversation carries
    // the one new change, not the document.
    let whole = d2.save().len();
    assert!(
        second.sync_bytes * 4 < whole && second.sync_bytes * 4 < first.sync_bytes,
        "second delivery sent {} bytes of sync; first {}, whole document {whole}",
        second.sync_bytes,
        first.sync_bytes
    );
    eprintln!(
        "sync bytes: first delivery {} (whole document), second seal {} (document now {whole})",
        first.sync_bytes, second.sync_bytes
    );
}

#[test]
fn messages_that_outrun_the_hello_or_the_welcome_wait_for_it() {
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-14", 40, &unit_key());
    let mut env = MemEnv::new();
    let (mut node, mut hub) = pair(job(&mut doc, &seal, None));
    // The document's stream overtakes the control stream, both ways (each stream
    // keeps its own order).
    let control_last = |v: &mut Vec<(Channel, Msg)>| {
        v.sort_by_key(|(ch, _)| *ch == Channel::Control);
    };
    let mut out = Vec::new();
    while let Some(m) = node.poll_transmit() {
        out.push(m);
    }
    assert!(out.len() >= 3, "Hello, the document, the seal");
    control_last(&mut out);
    assert_eq!(out.last().map(|m| m.0.clone()), Some(Channel::Control));
    for (ch, m) in out {
        hub.handle(&mut env, ch, m);
    }
    assert!(hub.closed().is_none());
    let mut back = Vec::new();
    while let Some(m) = hub.poll_transmit() {
        back.push(m);
    }
    control_last(&mut back);
    for (ch, m) in back {
        node.handle(ch, m, 0);
    }
    let mut got = Vec::new();
    while let Some(e) = node.poll_event() {
        got.push(e);
    }
    assert_eq!(receipts(&got).len(), 1, "{got:?}");
    assert!(got.iter().any(|e| matches!(e, Event::LogHead { .. })));
    assert!(node.is_done());

    // A peer that sends more than the budget before saying who it is is cut off.
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    for i in 0..40 {
        hub.handle(
            &mut env,
            Channel::Doc(format!("s{i}")),
            Msg::Sync {
                session: format!("s{i}"),
                data: vec![0; 32 << 10],
            },
        );
    }
    let closed = hub.closed().map(|c| c.0);
    assert_eq!(closed, Some(RejectReason::TooLarge));
}

#[test]
fn an_unchanged_document_costs_one_small_round_trip() {
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-14", 40, &unit_key());
    let mut env = MemEnv::new();
    let clean = Faults {
        loss_pct: 0,
        dup_pct: 0,
        reorder_pct: 0,
    };
    let (mut node, mut hub) = pair(job(&mut doc, &seal, None));
    let (events, first) = run(&mut node, &mut hub, &mut env, clean, 1, 60_000);
    let saves = env.saves;
    let state = events.iter().rev().find_map(|e| match e {
        Event::SyncState { state, .. } => Some(state.clone()),
        _ => None,
    });
    assert!(state.is_some(), "the node persists its sync state");
    // Same seal again (the node lost its outbox record, say, but kept its sync state):
    // Hello/Welcome show equal heads, so no sync message is sent; the Seal gets the
    // same receipt back.
    let (mut node, mut hub) = pair(job(&mut doc, &seal, state.clone()));
    let again = round_trips(&mut node, &mut hub, &mut env);
    assert_eq!(again.trips, 1, "Hello and Seal, then Welcome and Receipt");
    assert_eq!(again.sync_bytes, 0, "no sync message");
    let (mut node, mut hub) = pair(job(&mut doc, &seal, state));
    let (events, second) = run(&mut node, &mut hub, &mut env, clean, 1, 60_000);
    assert_eq!(receipts(&events).len(), 1);
    assert_eq!(env.saves, saves, "nothing written again");
    assert_eq!(env.accepted.len(), 1, "the same seal is stored once");
    assert!(
        second < first,
        "resync {second} bytes vs first sync {first} bytes"
    );
    eprintln!("first delivery {first} bytes, unchanged re-delivery {second} bytes");
}

#[test]
fn hostile_peers_get_typed_rejections() {
    let mut env = MemEnv::new();
    let clean = Faults {
        loss_pct: 0,
        dup_pct: 0,
        reorder_pct: 0,
    };
    let rejected = |events: &[Event]| -> Vec<RejectReason> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Rejected { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect()
    };

    // A seal signed by a key that is not the unit's.
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-14", 10, &UnitKey::from_seed([9; 32]));
    let (mut node, mut hub) = pair(job(&mut doc, &seal, None));
    let (ev, _) = run(&mut node, &mut hub, &mut env, clean, 1, 10_000);
    assert_eq!(rejected(&ev), vec![RejectReason::WrongKey]);

    // A forged seal: the unit's key, a digest that is not the document's result.
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-20", 10, &unit_key());
    let mut body = seal.body.clone();
    body.result_digest = [1; 32];
    let forged = Seal::sign(&unit_key(), body);
    let (mut node, mut hub) = pair(job(&mut doc, &forged, None));
    let (ev, _) = run(&mut node, &mut hub, &mut env, clean, 1, 10_000);
    assert_eq!(rejected(&ev), vec![RejectReason::ResultMismatch]);

    // Another unit's document pushed by phong-tho.
    let (mut other, other_seal) = sealed("muong-te", "ky-hop-21", 3, &unit_key());
    let (mut node, mut hub) = pair(job(&mut other, &other_seal, None));
    let (ev, _) = run(&mut node, &mut hub, &mut env, clean, 1, 10_000);
    assert!(rejected(&ev).contains(&RejectReason::OtherUnit), "{ev:?}");
    assert!(
        !env.docs.keys().any(|(_, s)| s == "ky-hop-21"),
        "nothing of it was stored"
    );

    // A Hello that claims another unit than the authenticated key.
    let (mut doc, seal) = sealed("phong-tho", "ky-hop-22", 3, &unit_key());
    let mut node = NodeSession::new(
        "muong-te",
        hub_key().public(),
        vec![job(&mut doc, &seal, None)],
        0,
        1000,
    );
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    let (ev, _) = run(&mut node, &mut hub, &mut env, clean, 1, 10_000);
    assert_eq!(rejected(&ev), vec![RejectReason::OtherUnit]);
    assert!(hub.closed().is_some());

    // A document over the hub's size limit.
    let (mut big, big_seal) = sealed("phong-tho", "ky-hop-23", 200, &unit_key());
    let mut node = NodeSession::new(
        "phong-tho",
        hub_key().public(),
        vec![job(&mut big, &big_seal, None)],
        0,
        1000,
    );
    let mut hub = HubSession::new(
        "lai-chau",
        "phong-tho",
        Limits {
            max_doc_bytes: 300,
            ..Limits::default()
        },
    );
    let (ev, _) = run(&mut node, &mut hub, &mut env, clean, 1, 3_000);
    assert!(
        !ev.iter().any(|e| matches!(e, Event::Receipt { .. })),
        "{ev:?}"
    );
    assert!(!env.docs.keys().any(|(_, s)| s == "ky-hop-23"));

    // A receipt that is not the hub's is not accepted by the node.
    let mut wrong_hub = NodeSession::new(
        "phong-tho",
        UnitKey::from_seed([8; 32]).public(),
        vec![job(&mut doc, &seal, None)],
        0,
        1000,
    );
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    let (ev, _) = run(&mut wrong_hub, &mut hub, &mut env, clean, 1, 3_000);
    assert!(ev.iter().any(|e| matches!(e, Event::ProtocolError(_))));
    assert!(!ev.iter().any(|e| matches!(e, Event::Receipt { .. })));
}

#[test]
fn the_framer_cuts_off_oversized_and_garbage_messages() {
    let mut f = Framer::new(100);
    assert!(f.push(&[0, 0, 0, 50]).is_ok());
    assert_eq!(f.next_msg(), Ok(None), "incomplete is 'read more'");
    let mut f = Framer::new(100);
    assert!(matches!(
        f.push(&[0, 0, 1, 0]),
        Err(super::FrameError::TooLarge { size: 256, .. })
    ));
    let mut f = Framer::new(100);
    f.push(&[0, 0, 0, 3, 250, 251, 252]).expect("size ok");
    assert!(matches!(f.next_msg(), Err(super::FrameError::Malformed(_))));
    // Two messages in one read, split across reads.
    let m = Msg::Sync {
        session: "a".into(),
        data: vec![1, 2, 3],
    };
    let mut bytes = m.encode().expect("encode");
    bytes.extend(m.encode().expect("encode"));
    let mut f = Framer::new(100);
    f.push(&bytes[..5]).expect("push");
    assert_eq!(f.next_msg(), Ok(None));
    f.push(&bytes[5..]).expect("push");
    assert_eq!(f.next_msg(), Ok(Some(m.clone())));
    assert_eq!(f.next_msg(), Ok(Some(m)));
    assert_eq!(f.pending(), 0);
}

#[test]
fn many_documents_run_a_bounded_number_at_a_time() {
    // A node with more sessions than the hub grants streams (the benchmark's 100 per
    // node once deadlocked on the 64-stream limit): documents are started a few at a
    // time, each closed when its seals are answered.
    let mut env = MemEnv::new();
    let jobs: Vec<Job> = (0..40)
        .map(|i| {
            let (mut d, s) = sealed("phong-tho", &format!("ky-{i:02}"), 3, &unit_key());
            job(&mut d, &s, None)
        })
        .collect();
    let mut node = NodeSession::new("phong-tho", hub_key().public(), jobs, 0, 1000);
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    // Count the documents in flight as the hub sees them: first message to last answer.
    let mut in_flight = std::collections::BTreeSet::new();
    let mut most = 0;
    let mut most_held = 0;
    let mut events = Vec::new();
    let mut to_hub: Vec<(Channel, Msg)> = Vec::new();
    for _ in 0..100_000 {
        // Events first: a document that finished in the last step frees its slot
        // before the next one's first message is counted.
        while let Some(e) = node.poll_event() {
            if let Event::DocFinished { session } = &e {
                in_flight.remove(session);
            }
            events.push(e);
        }
        while let Some(m) = node.poll_transmit() {
            if let Channel::Doc(s) = &m.0 {
                in_flight.insert(s.clone());
                most = most.max(in_flight.len());
            }
            to_hub.push(m);
        }
        if node.is_done() || to_hub.is_empty() {
            break;
        }
        let (ch, m) = to_hub.remove(0);
        hub.handle(&mut env, ch, m);
        most_held = most_held.max(hub.held_docs());
        while let Some((ch, m)) = hub.poll_transmit() {
            node.handle(ch, m, 0);
        }
    }
    assert_eq!(receipts(&events).len(), 40);
    // The hub holds no more documents than are in flight: each is dropped once stored.
    assert!(
        most_held <= super::node::MAX_ACTIVE_DOCS,
        "the hub held {most_held} documents at once"
    );
    assert_eq!(hub.held_docs(), 0);
    assert!(
        most <= super::node::MAX_ACTIVE_DOCS,
        "{most} documents in flight at once"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, Event::DocFinished { .. }))
            .count(),
        40
    );
}

/// Connects `node` to a clean in-memory link with `env`; the node's events.
fn clean_run(node: &mut NodeSession, env: &mut MemEnv) -> Vec<Event> {
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    let faults = Faults {
        loss_pct: 0,
        dup_pct: 0,
        reorder_pct: 0,
    };
    run(node, &mut hub, env, faults, 1, 60_000).0
}

fn known_head(events: &[Event]) -> Option<(u64, [u8; 32])> {
    events.iter().rev().find_map(|e| match e {
        Event::LogHead { size, root } => Some((*size, *root)),
        _ => None,
    })
}

fn with_log(doc: &mut SessionDoc, seal: &Seal, known: Option<(u64, [u8; 32])>) -> NodeSession {
    knowing(vec![job(doc, seal, None)], known)
}

/// A node delivering `jobs` (none: a check-in) that verified the hub's head `known`.
fn knowing(jobs: Vec<Job>, known: Option<(u64, [u8; 32])>) -> NodeSession {
    let extras = super::node::Extras {
        known_log: known,
        ..Default::default()
    };
    NodeSession::forwarding("phong-tho", hub_key().public(), jobs, extras, 0, 1000)
}

#[test]
fn a_node_follows_the_hubs_log_and_catches_a_rewritten_history() {
    let mut env = MemEnv::new();
    let (mut d1, s1) = sealed("phong-tho", "ky-1", 20, &unit_key());
    let ev = clean_run(&mut with_log(&mut d1, &s1, None), &mut env);
    assert_eq!(receipts(&ev).len(), 1);
    let head = known_head(&ev).expect("a verified head");
    assert_eq!(head.0, 1);

    // The log grows honestly: the next connection proves it extends the known head.
    let (mut d2, s2) = sealed("phong-tho", "ky-2", 21, &unit_key());
    let ev = clean_run(&mut with_log(&mut d2, &s2, Some(head)), &mut env);
    assert_eq!(receipts(&ev).len(), 1);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::LogInconsistent { .. })),
        "{ev:?}"
    );
    let head = known_head(&ev).expect("head");
    assert_eq!(head.0, 2);

    // The hub rewrites its first entry (drops ky-1 for something else) and goes on.
    let mut forged = crate::merkle::Tree::new();
    forged.push(crate::merkle::leaf_of(&[9; 32]));
    forged.push(crate::merkle::leaf_of(&s2.id()));
    env.log = forged;
    let (mut d3, s3) = sealed("phong-tho", "ky-3", 22, &unit_key());
    let ev = clean_run(&mut with_log(&mut d3, &s3, Some(head)), &mut env);
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::LogInconsistent { .. })),
        "the rewrite goes unnoticed: {ev:?}"
    );
    // Caught, it asks for every receipted item again (the hub answers a seal it
    // holds with its stored receipt), then follows the log the hub signs now: the
    // alarm is the evidence, kept by the driver; holding on to the old head would
    // raise it, and send everything again, at every connection.
    let alarm_at = ev
        .iter()
        .position(|e| matches!(e, Event::LogInconsistent { .. }))
        .expect("alarm");
    assert!(ev[alarm_at..].iter().any(|e| matches!(
        e,
        Event::Lost {
            from_index: Some(0),
            ..
        }
    )));
    let new_head = known_head(&ev).expect("the new head");
    assert_eq!(new_head.1, env.log.root(3).expect("root"));
    let (mut d4, s4) = sealed("phong-tho", "ky-4", 23, &unit_key());
    let ev = clean_run(&mut with_log(&mut d4, &s4, Some(new_head)), &mut env);
    assert!(
        !ev.iter()
            .any(|e| matches!(e, Event::LogInconsistent { .. } | Event::Lost { .. })),
        "one alarm, not one per connection: {ev:?}"
    );
    assert_eq!(receipts(&ev).len(), 1);
}

#[test]
fn a_hub_names_what_it_lost_and_a_node_with_nothing_to_send_still_hears_it() {
    let mut env = MemEnv::new();
    let (mut d1, s1) = sealed("phong-tho", "ky-1", 20, &unit_key());
    let ev = clean_run(&mut with_log(&mut d1, &s1, None), &mut env);
    let head = known_head(&ev).expect("head");
    let lost = super::LostItem {
        index: 0,
        leaf: crate::merkle::leaf_of(&s1.id()),
    };
    env.lost = vec![lost];

    // Nothing to deliver: the node still waits for the Welcome (and what comes before
    // it), instead of calling itself done at once.
    let mut idle = knowing(vec![], Some(head));
    assert!(!idle.is_done(), "done before the hub answered");
    let ev = clean_run(&mut idle, &mut env);
    assert!(idle.is_done());
    let named: Vec<_> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Lost { items, from_index } => Some((items.clone(), *from_index)),
            _ => None,
        })
        .collect();
    assert_eq!(named, vec![(vec![lost], None)], "{ev:?}");
    // It came before the Welcome's head was adopted: the driver acts on it in order.
    let lost_at = ev.iter().position(|e| matches!(e, Event::Lost { .. }));
    let done_at = ev.iter().position(|e| matches!(e, Event::Done));
    assert!(lost_at < done_at, "{ev:?}");

    // A version-3 peer is never sent the message it could not decode.
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    hub.handle(
        &mut env,
        Channel::Control,
        Msg::Hello(super::wire::Hello {
            version: 3,
            unit: "phong-tho".into(),
            docs: vec![],
            enrollments: vec![],
            known_log: 0,
        }),
    );
    let out: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    assert!(
        out.iter().all(|(_, m)| !matches!(m, Msg::Lost { .. })),
        "{out:?}"
    );
    assert!(out.iter().any(|(_, m)| matches!(m, Msg::Welcome(_))));
}

#[test]
fn a_log_shorter_than_a_head_the_hub_signed_asks_for_everything_past_it() {
    let mut env = MemEnv::new();
    let (mut d1, s1) = sealed("phong-tho", "ky-1", 20, &unit_key());
    let (mut d2, s2) = sealed("phong-tho", "ky-2", 21, &unit_key());
    clean_run(&mut with_log(&mut d1, &s1, None), &mut env);
    let ev = clean_run(&mut with_log(&mut d2, &s2, None), &mut env);
    let head = known_head(&ev).expect("head");
    assert_eq!(head.0, 2);
    // The hub is put back to its first item, log and all (an old backup, whole).
    env.log.truncate(1);
    let mut idle = knowing(vec![], Some(head));
    let ev = clean_run(&mut idle, &mut env);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::LogInconsistent { .. })));
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::Lost {
                from_index: Some(0),
                ..
            }
        )),
        "{ev:?}"
    );
}

#[test]
fn a_hello_sent_again_gets_the_same_welcome_even_after_the_log_grew() {
    // On a lossy link the node's timer sends its Hello again; meanwhile other units'
    // seals grow the log. This connection's receipts are proved from the head the node
    // adopted from the first Welcome, so a second Welcome must not name a newer one
    // (the twenty-node lossy test caught receipts "not extending" the Welcome's head).
    let mut env = MemEnv::new();
    let (mut d1, s1) = sealed("phong-tho", "ky-1", 20, &unit_key());
    clean_run(&mut with_log(&mut d1, &s1, None), &mut env);
    let hello = Msg::Hello(super::wire::Hello {
        version: super::PROTOCOL_VERSION,
        unit: "phong-tho".into(),
        docs: vec![],
        enrollments: vec![],
        known_log: 0,
    });
    let mut hub = HubSession::new("lai-chau", "phong-tho", Limits::default());
    hub.handle(&mut env, Channel::Control, hello.clone());
    let first: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    env.log.push(crate::merkle::leaf_of(&[5; 32]));
    hub.handle(&mut env, Channel::Control, hello);
    let again: Vec<_> = std::iter::from_fn(|| hub.poll_transmit()).collect();
    assert_eq!(first, again);
}
