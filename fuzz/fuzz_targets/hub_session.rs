//! A hostile peer's whole conversation with the hub's protocol machine: any sequence of
//! framed messages on any channels. The machine answers or rejects, never panics, and
//! stores nothing outside the peer's own namespace.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::proto::hub::{verify_seal, HubEnv, HubSession, Limits, Saved};
use tinnhiem_core::proto::{Framer, RejectReason};
use tinnhiem_core::seal::{KeyValidity, LogPosition, PublicKey, Receipt, Seal, UnitKey};

struct Env {
    docs: BTreeMap<(String, String), Vec<u8>>,
    key: UnitKey,
    log: tinnhiem_core::merkle::Tree,
}

impl HubEnv for Env {
    fn load(&mut self, unit: &str, session: &str) -> Result<Saved, String> {
        Ok((self.docs.get(&(unit.into(), session.into())).cloned(), None))
    }
    fn save(&mut self, unit: &str, session: &str, doc: &[u8], _: &[u8]) -> Result<(), String> {
        assert_eq!(unit, "peer", "only the peer's own namespace");
        self.docs
            .insert((unit.into(), session.into()), doc.to_vec());
        Ok(())
    }
    fn ingest(
        &mut self,
        unit: &str,
        seal: &Seal,
        doc: &mut SessionDoc,
    ) -> Result<Receipt, (RejectReason, String)> {
        let keys = [KeyValidity {
            key: PublicKey(UnitKey::from_seed([2; 32]).public().0),
            valid_from: None,
            revoked_at: None,
        }];
        verify_seal(unit, &keys, seal, doc)?;
        let at = LogPosition::append(&mut self.log, &seal.id());
        Ok(Receipt::sign(&self.key, seal, 0, &at))
    }
}

fuzz_target!(|data: &[u8]| {
    // Panics that our code catches (Automerge's decoder on bad bytes, see
    // `tinnhiem_core::doc::guard`) must not abort: libfuzzer-sys's own hook would.
    // A panic that escapes still fails the run, through libfuzzer-sys's catch.
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    let mut env = Env {
        docs: BTreeMap::new(),
        key: UnitKey::from_seed([1; 32]),
        log: tinnhiem_core::merkle::Tree::new(),
    };
    let mut hub = HubSession::new(
        "hub",
        "peer",
        Limits {
            max_docs_per_hello: 8,
            max_doc_bytes: 1 << 16,
        },
    );
    let mut f = Framer::new(1 << 16);
    if f.push(data).is_err() {
        return;
    }
    while let Ok(Some(m)) = f.next_msg() {
        let ch = m.channel();
        hub.handle(&mut env, ch, m);
        while hub.poll_transmit().is_some() {}
    }
});
