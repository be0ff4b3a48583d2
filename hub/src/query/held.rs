//! What the hub holds: every accepted seal, with its receipt.

use crate::keys::seal_key_names;
use anyhow::Result;
use tinnhiem_core::seal::{Receipt, Seal};
use tinnhiem_store::{Store, Table};

/// An accepted seal of a unit's session.
pub(crate) struct Accepted {
    pub(crate) unit: String,
    pub(crate) session: String,
    pub(crate) seal: Seal,
    /// The hub's receipt (always there for a seal accepted over the network).
    pub(crate) receipt: Option<Receipt>,
}

/// Every accepted seal as (unit, session, seal), by document and seq.
pub(crate) fn accepted_seals(store: &Store) -> Result<Vec<(String, String, Seal)>> {
    let mut out = Vec::new();
    for (k, v) in store.scan_table(Table::Seals, b"")? {
        let seal = Seal::from_bytes(&v)?;
        let Some((unit, session)) = seal_key_names(&k) else {
            continue;
        };
        out.push((unit, session, seal));
    }
    Ok(out)
}

/// Every accepted seal with its receipt, by document and seq.
pub(crate) fn accepted(store: &Store) -> Result<Vec<Accepted>> {
    let mut out = Vec::new();
    for (unit, session, seal) in accepted_seals(store)? {
        let receipt = store
            .read(Table::Receipts, &seal.id())?
            .and_then(|r| Receipt::from_bytes(&r).ok());
        out.push(Accepted {
            unit,
            session,
            seal,
            receipt,
        });
    }
    Ok(out)
}

/// The accepted seal of a unit's session at `seq`, if held.
pub(crate) fn held_seal(
    store: &Store,
    unit: &str,
    session: &str,
    seq: u32,
) -> Result<Option<Seal>> {
    match store.read(Table::Seals, &crate::keys::seal_key(unit, session, seq))? {
        Some(bytes) => Ok(Some(Seal::from_bytes(&bytes)?)),
        None => Ok(None),
    }
}
