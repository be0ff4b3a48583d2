//! What must hold after every run, whatever the seed did: read from the processes'
//! stores once everything has settled.

use crate::world::{Broken, NodeOutbox, World, NATIONAL, PARTY, PROVINCE};
use std::collections::{BTreeMap, BTreeSet};
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::merkle::{leaf_of, Tree};
use tinnhiem_net::outbox;

/// Every invariant, the first broken one named.
pub fn all(w: &World) -> Result<(), Broken> {
    // Every district's every seal, received (its receipt verified) at the province.
    let province_key = w.procs[PROVINCE].key.public();
    for (i, p) in w.procs.iter().enumerate().skip(3) {
        let store = w.node_now(i)?;
        for (seal, d) in outbox::deliveries(&NodeOutbox(store), store, &province_key)? {
            if !d.received() {
                return Err(Broken(format!(
                    "{} {} seal {}: {} at the province",
                    p.unit, d.session, seal.body.seq, d.state
                )));
            }
        }
        if let Some(a) = outbox::log_alarm(store, &province_key)? {
            return Err(Broken(format!("{}: log alarm: {}", p.unit, a.detail)));
        }
    }
    let made: BTreeSet<[u8; 32]> = w.made.iter().map(|(_, s)| s.id()).collect();
    for h in [PROVINCE, NATIONAL, PARTY] {
        destination(w, h, &made)?;
    }
    // The province forwarded everything, and heard nothing alarming.
    let hub = w.hub_now(PROVINCE)?;
    for h in [NATIONAL, PARTY] {
        let dest = w.procs[h].key.public();
        for (seal, d) in outbox::deliveries(&hub.outbox(), hub.store(), &dest)? {
            if !d.received() {
                return Err(Broken(format!(
                    "forwarding of {} seal {} to {}: {}",
                    d.session, seal.body.seq, w.procs[h].unit, d.state
                )));
            }
        }
        if let Some(a) = outbox::log_alarm(hub.store(), &dest)? {
            return Err(Broken(format!("province: log alarm: {}", a.detail)));
        }
    }
    Ok(())
}

/// One hub holds every seal made, once, in its log once, each with a receipt at the
/// index the log has it; every head a client adopted is a head of this log; each
/// result recomputed from the stored document is the sealed one.
fn destination(w: &World, h: usize, made: &BTreeSet<[u8; 32]>) -> Result<(), Broken> {
    let unit = &w.procs[h].unit;
    let hub = w.hub_now(h)?;
    let leaves = hub.log().map_err(|e| Broken(format!("{unit}: log: {e}")))?;
    let mut tree = Tree::new();
    let mut at: BTreeMap<[u8; 32], Vec<u64>> = BTreeMap::new();
    for leaf in leaves {
        let i = tree.push(leaf);
        at.entry(leaf).or_default().push(i);
    }
    let accepted = hub.accepted()?;
    let mut held = BTreeSet::new();
    for (u, session, seal, receipt) in &accepted {
        let id = seal.id();
        if !held.insert(id) {
            return Err(Broken(format!("{unit} holds {u}/{session} seal twice")));
        }
        let Some(r) = receipt else {
            return Err(Broken(format!(
                "{unit}: {u}/{session} seal {} without a receipt",
                seal.body.seq
            )));
        };
        let idx = at.get(&leaf_of(&id)).cloned().unwrap_or_default();
        if idx != [r.body.log_index] {
            return Err(Broken(format!(
                "{unit}: {u}/{session} seal {} at log indices {idx:?}, receipt says {}",
                seal.body.seq, r.body.log_index
            )));
        }
        let Some(bytes) = hub.doc(u, session)? else {
            return Err(Broken(format!("{unit}: {u}/{session}: no document")));
        };
        let mut doc = SessionDoc::load(&bytes, b"check")?;
        if let Err(e) = tinnhiem_core::seal::check(seal, &mut doc) {
            return Err(Broken(format!(
                "{unit}: {u}/{session} seal {}: recomputed: {e}",
                seal.body.seq
            )));
        }
    }
    if &held != made {
        let missing = made.difference(&held).count();
        let extra = held.difference(made).count();
        return Err(Broken(format!(
            "{unit}: {missing} seals missing, {extra} not made by anyone"
        )));
    }
    if tree.size() as usize != held.len() {
        return Err(Broken(format!(
            "{unit}: log of {} items for {} seals",
            tree.size(),
            held.len()
        )));
    }
    for (server, size, root) in &w.heads {
        if *server == h && tree.root(*size) != Some(*root) {
            return Err(Broken(format!(
                "{unit}: a head of size {size} a client adopted is not this log's"
            )));
        }
    }
    for ((server, index), id) in &w.signed {
        if *server == h && at.get(&leaf_of(id)).is_none_or(|v| !v.contains(index)) {
            return Err(Broken(format!(
                "{unit}: index {index} was receipted for an item the log does not hold there"
            )));
        }
    }
    Ok(())
}
