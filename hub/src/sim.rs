//! The hub's real parts, for the whole-system simulator (crate `tinnhiem-sim`): ingest,
//! the group commit, the log's leaves file, the registry and the forwarding outbox,
//! driven without tokio or quinn. The simulator owns the clock of the conversation and
//! the network; everything a hub decides is this crate's own code, not a copy.
//!
//! Not for the binaries: nothing here is needed to run a hub.

use crate::forward::HubOutbox;
use crate::keys::doc_key;
use crate::query::held::accepted_seals;
use crate::registry;
use crate::state::HubState;
use std::path::Path;
use std::sync::Arc;
use tinnhiem_core::proto::RejectReason;
use tinnhiem_core::seal::{PublicKey, Receipt, Seal, UnitKey};
use tinnhiem_net::outbox::Outbox;
use tinnhiem_net::server::Host;
use tinnhiem_store::{Store, Table};

pub use crate::ingest::Conn;

/// An accepted seal: (unit, session, seal, its receipt if stored).
pub type Accepted = (String, String, Seal, Option<Receipt>);

/// A hub process: its state over a store and its leaves file. Dropping it ends the
/// process (the commit thread is joined, the store released).
pub struct SimHub {
    state: Arc<HubState>,
}

impl SimHub {
    /// A hub of `unit` over `store`, its log's leaves in `leaves` (reconciled with the
    /// store as at every start).
    pub fn open(unit: &str, key: UnitKey, store: Store, leaves: &Path) -> SimHub {
        SimHub {
            state: Arc::new(HubState::new(unit.to_owned(), key, store, leaves)),
        }
    }

    /// Registers units by hand, as `registry import` does with this TOML.
    pub fn register(&self, toml: &str) -> anyhow::Result<()> {
        registry::add(&self.state.store, &registry::parse_file(toml)?, false)?;
        self.state.registry_changed();
        Ok(())
    }

    /// The unit whose key this is, as the handshake asks.
    pub fn unit_of(&self, key: &PublicKey) -> Option<String> {
        self.state.unit_of(key)
    }

    /// One connection's environment, as the server gives each connection.
    pub fn env(&self, peer: &str) -> Conn {
        Host::env(&self.state, peer)
    }

    /// A rejection sent to a peer, as the server reports it.
    pub fn rejected(
        &self,
        unit: &str,
        session: &str,
        seal_id: &[u8; 32],
        reason: RejectReason,
        detail: &str,
    ) {
        self.state.rejected(unit, session, seal_id, reason, detail);
    }

    /// The hub's store.
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// The forwarding outbox: every accepted seal, named `unit/session`, with the
    /// enrollments of this hub's units.
    pub fn outbox(&self) -> impl Outbox + '_ {
        HubOutbox {
            store: &self.state.store,
            hub: &self.state.unit,
            key: Some(&self.state.key),
        }
    }

    /// Every accepted seal as (unit, session, seal), with its receipt if stored.
    pub fn accepted(&self) -> anyhow::Result<Vec<Accepted>> {
        let mut out = Vec::new();
        for (unit, session, seal) in accepted_seals(&self.state.store)? {
            let r = self
                .state
                .store
                .read(Table::Receipts, &seal.id())?
                .and_then(|b| Receipt::from_bytes(&b).ok());
            out.push((unit, session, seal, r));
        }
        Ok(out)
    }

    /// The saved document of (unit, session).
    pub fn doc(&self, unit: &str, session: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self
            .state
            .store
            .read(Table::Docs, &doc_key(unit, session))?)
    }

    /// The transparency log's leaves as stored, by index.
    pub fn log(&self) -> Result<Vec<[u8; 32]>, String> {
        let mut out = Vec::new();
        for (i, (k, v)) in self
            .state
            .store
            .scan_table(Table::Log, b"")
            .map_err(|e| e.to_string())?
            .into_iter()
            .enumerate()
        {
            if k != (i as u64).to_be_bytes() {
                return Err(format!("leaf {i} missing"));
            }
            out.push(v.try_into().map_err(|_| format!("leaf {i}"))?);
        }
        Ok(out)
    }
}
