//! Every session the hub accepted, at its latest seal, recomputed at the seal's heads;
//! and the cache that makes that cheap.

use super::held::accepted;
use crate::keys::doc_key;
use anyhow::Result;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{Meta, SessionResult};
use tinnhiem_core::seal::{Receipt, Seal};
use tinnhiem_store::{Store, Table};

/// The latest accepted seal of one session, recomputed at its heads.
pub(crate) struct SessionOnHub {
    pub(crate) unit: String,
    pub(crate) seal: Seal,
    pub(crate) receipt: Option<Receipt>,
    pub(crate) meta: Meta,
    pub(crate) result: SessionResult,
}

/// The most results kept: a national hub's sessions fit many times over; past that,
/// the cache starts again.
const CACHE_MAX: usize = 200_000;

/// Results by seal id: a seal names its document's heads and signs the result's
/// digest, so what it computes to never changes. Without this every query (`status`
/// runs `deadlines`) loads and recomputes every session of the hub. Owned by the
/// serving hub's state; a command that answers from the store itself starts empty.
#[derive(Default)]
pub(crate) struct ResultCache(Mutex<HashMap<[u8; 32], (Meta, SessionResult)>>);

impl ResultCache {
    fn get(&self, id: &[u8; 32]) -> Option<(Meta, SessionResult)> {
        self.0.lock().ok()?.get(id).cloned()
    }

    fn put(&self, id: [u8; 32], meta: &Meta, result: &SessionResult) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(id, (meta.clone(), result.clone()));
        }
    }

    /// How many results are kept (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.0.lock().map_or(0, |m| m.len())
    }
}

/// Every session with an accepted seal, at its latest accepted seal, in order of unit
/// and session.
pub(crate) fn sessions(store: &Store, cache: &ResultCache) -> Result<Vec<SessionOnHub>> {
    let mut latest: BTreeMap<(String, String), (Seal, Option<Receipt>)> = BTreeMap::new();
    for a in accepted(store)? {
        latest.insert((a.unit, a.session), (a.seal, a.receipt)); // scan order is by seq
    }
    let mut out = Vec::new();
    for ((unit, session), (seal, receipt)) in latest {
        let id = seal.id();
        let (meta, result) = match cache.get(&id) {
            Some(c) => c,
            None => {
                let Some(bytes) = store.read(Table::Docs, &doc_key(&unit, &session))? else {
                    continue;
                };
                let mut doc = SessionDoc::load(&bytes, b"hub")?;
                // One read of the sealed state gives both the check and the header.
                let (sealed, result) = tinnhiem_core::seal::check_session(&seal, &mut doc)?;
                let meta = sealed.meta;
                cache.put(id, &meta, &result);
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
