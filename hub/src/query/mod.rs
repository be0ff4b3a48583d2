//! The hub's queries: what `status`, `result`, `person`, `flagged`, `deadlines`,
//! `aggregate list`, `log show|verify` and the paper records answer, each as a typed
//! report (`Serialize` for the admin socket, the pages and `--json`; `Deserialize` for
//! the CLI's printers, which read the admin socket's answer). Field order is the JSON's
//! order, checked byte for byte by `tests/tests/snapshots.rs`.

pub(crate) mod aggregates;
pub(crate) mod deadlines;
pub(crate) mod held;
pub(crate) mod log;
pub(crate) mod paper;
pub(crate) mod person;
pub(crate) mod rejections;
pub(crate) mod results;
pub(crate) mod sessions;
pub(crate) mod status;
#[cfg(test)]
mod tests;
pub(crate) mod units;

pub(crate) use sessions::ResultCache;

use tinnhiem_store::Store;

/// One query's view of the hub: its store, its unit, and the results already computed.
#[derive(Clone, Copy)]
pub(crate) struct Hub<'a> {
    pub(crate) store: &'a Store,
    /// The hub's own unit.
    pub(crate) unit: &'a str,
    pub(crate) cache: &'a ResultCache,
}
