//! The two storage engines behind [`super::Store`]: sled (the chosen stack) and redb.
//!
//! Both offer the same three operations: a point read, a prefix scan, and an atomic,
//! durable batch of writes. Everything above is written once, against these.
//!
//! Why two: the SIGKILL crash loop in `tests/tests/crash.rs` finds sled 0.34 stores
//! that no longer open ("Read corrupted data at file offset None") after roughly one
//! kill in two hundred, the failure of sled issues #1509/#1533. DESIGN.md asks for
//! redb as the second backend in that case; new homes use redb, existing sled homes
//! keep working, and `--store sled` still makes one (see ARCHITECTURE.md).

use super::faults::{Faults, FaultyFile, Io};
use super::StoreError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A key and its value, as scans return them.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// Which engine a store uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// redb: copy-on-write B-trees with checksummed commits. The default.
    Redb,
    /// sled 0.34.
    Sled,
}

impl BackendKind {
    /// Parses `redb` or `sled`.
    pub fn parse(s: &str) -> Option<BackendKind> {
        match s {
            "redb" => Some(BackendKind::Redb),
            "sled" => Some(BackendKind::Sled),
            _ => None,
        }
    }

    /// The engine of an existing store in `dir`, if there is one.
    pub fn detect(dir: &Path) -> Option<BackendKind> {
        if dir.join(REDB_FILE).exists() {
            Some(BackendKind::Redb)
        } else if dir.join("conf").exists() || dir.join("db").exists() {
            Some(BackendKind::Sled)
        } else {
            None
        }
    }
}

pub(crate) const REDB_FILE: &str = "tinnhiem.redb";

/// One write of a batch.
#[derive(Clone, Copy)]
pub(crate) enum Op<'a> {
    /// Insert or replace.
    Put(&'static str, &'a [u8], &'a [u8]),
    /// Insert; the whole batch fails with [`StoreError::Exists`] when the key is there.
    PutNew(&'static str, &'a [u8], &'a [u8]),
    /// Remove the key, if there.
    Delete(&'static str, &'a [u8]),
}

pub(crate) enum Backend {
    Sled {
        db: sled::Db,
        trees: Vec<sled::Tree>,
        index: BTreeMap<&'static str, usize>,
        /// sled has no storage hook: test faults are injected here instead.
        faults: Option<Arc<Faults>>,
    },
    Redb {
        db: redb::Database,
    },
}

fn corrupt(path: &Path, detail: impl ToString) -> StoreError {
    StoreError::Corrupt {
        path: path.to_owned(),
        detail: detail.to_string(),
    }
}

fn from_sled(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            StoreError::Locked(path.to_owned())
        }
        sled::Error::Io(io) => from_io(path, io),
        other => corrupt(path, other),
    }
}

/// An OS error: a full disk is told apart, since the clerk can act on it.
fn from_io(path: &Path, io: std::io::Error) -> StoreError {
    if io.kind() == std::io::ErrorKind::StorageFull {
        StoreError::NoSpace(path.to_owned())
    } else {
        StoreError::Io(io.to_string())
    }
}

/// A fault injected in front of sled (see [`super::faults`]).
fn sled_fault(path: &Path, faults: &Option<Arc<Faults>>, io: Io) -> Result<(), StoreError> {
    match faults {
        Some(f) => f.check(io).map_err(|e| from_io(path, e)),
        None => Ok(()),
    }
}

fn from_redb(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    match e.into() {
        redb::Error::DatabaseAlreadyOpen => StoreError::Locked(path.to_owned()),
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock => {
            StoreError::Locked(path.to_owned())
        }
        redb::Error::Io(io) => from_io(path, io),
        // redb refuses everything after a failed write until it is opened again; the
        // store does that by itself (see `Store`), this error only starts it.
        redb::Error::PreviousIo => {
            StoreError::Io("một lỗi đọc/ghi trước đó; kho cần được mở lại".into())
        }
        redb::Error::Corrupted(c) => corrupt(path, c),
        redb::Error::UpgradeRequired(v) => corrupt(path, format!("định dạng redb cũ ({v})")),
        other => StoreError::Io(other.to_string()),
    }
}

/// Runs an engine call, turning a panic inside the engine into [`StoreError::Corrupt`]:
/// redb 4 panics on some damaged files ("Malformed allocator state") instead of
/// returning an error, and a damaged file must give the clerk a clear error, not a crash.
fn guarded<T>(path: &Path, f: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let what = p
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| p.downcast_ref::<&str>().copied())
                .unwrap_or("engine panic");
            Err(corrupt(path, what))
        }
    }
}

fn def(name: &str) -> redb::TableDefinition<'_, &'static [u8], &'static [u8]> {
    redb::TableDefinition::new(name)
}

/// A batch that was refused before anything was written.
enum Refused {
    Exists(Vec<u8>),
}

impl Backend {
    pub(crate) fn open(
        dir: &Path,
        kind: BackendKind,
        tables: &[&'static str],
        faults: Option<&Arc<Faults>>,
    ) -> Result<Backend, StoreError> {
        guarded(dir, || Backend::open_inner(dir, kind, tables, faults))
    }

    fn open_inner(
        dir: &Path,
        kind: BackendKind,
        tables: &[&'static str],
        faults: Option<&Arc<Faults>>,
    ) -> Result<Backend, StoreError> {
        match kind {
            BackendKind::Sled => {
                let faults = faults.cloned();
                sled_fault(dir, &faults, Io::Read)?;
                let db = sled::Config::new()
                    .path(dir)
                    .open()
                    .map_err(|e| from_sled(dir, e))?;
                let mut trees = Vec::new();
                let mut index = BTreeMap::new();
                for (i, t) in tables.iter().enumerate() {
                    trees.push(db.open_tree(t).map_err(|e| from_sled(dir, e))?);
                    index.insert(*t, i);
                }
                Ok(Backend::Sled {
                    db,
                    trees,
                    index,
                    faults,
                })
            }
            BackendKind::Redb => {
                std::fs::create_dir_all(dir).map_err(|e| from_io(dir, e))?;
                let file = dir.join(REDB_FILE);
                let db = match faults {
                    None => redb::Database::create(file).map_err(|e| from_redb(dir, e))?,
                    Some(f) => {
                        let file = std::fs::OpenOptions::new()
                            .read(true)
                            .write(true)
                            .create(true)
                            .truncate(false)
                            .open(file)
                            .map_err(|e| from_io(dir, e))?;
                        let inner = redb::backends::FileBackend::new(file)
                            .map_err(|e| from_redb(dir, e))?;
                        redb::Builder::new()
                            .create_with_backend(FaultyFile {
                                inner,
                                faults: f.clone(),
                            })
                            .map_err(|e| from_redb(dir, e))?
                    }
                };
                // Create the tables only when one is missing (a new or an older store):
                // a durable commit at every open cost a district node's `sync --once`
                // six fsyncs per open, and it opens its store several times a run.
                let missing = {
                    use redb::ReadableDatabase as _;
                    let rx = db.begin_read().map_err(|e| from_redb(dir, e))?;
                    let mut missing = false;
                    for t in tables {
                        match rx.open_table(def(t)) {
                            Ok(_) => {}
                            Err(redb::TableError::TableDoesNotExist(_)) => missing = true,
                            Err(e) => return Err(from_redb(dir, e)),
                        }
                    }
                    missing
                };
                if missing {
                    let tx = db.begin_write().map_err(|e| from_redb(dir, e))?;
                    for t in tables {
                        tx.open_table(def(t)).map_err(|e| from_redb(dir, e))?;
                    }
                    tx.commit().map_err(|e| from_redb(dir, e))?;
                }
                Ok(Backend::Redb { db })
            }
        }
    }

    pub(crate) fn get(
        &self,
        path: &Path,
        table: &'static str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        guarded(path, || self.get_inner(path, table, key))
    }

    fn get_inner(
        &self,
        path: &Path,
        table: &'static str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, StoreError> {
        match self {
            Backend::Sled {
                trees,
                index,
                faults,
                ..
            } => {
                sled_fault(path, faults, Io::Read)?;
                let t = &trees[index[table]];
                Ok(t.get(key)
                    .map_err(|e| from_sled(path, e))?
                    .map(|v| v.to_vec()))
            }
            Backend::Redb { db } => {
                use redb::ReadableDatabase;
                let rx = db.begin_read().map_err(|e| from_redb(path, e))?;
                let t = rx.open_table(def(table)).map_err(|e| from_redb(path, e))?;
                let v = t.get(key).map_err(|e| from_redb(path, e))?;
                Ok(v.map(|g| g.value().to_vec()))
            }
        }
    }

    pub(crate) fn scan(
        &self,
        path: &Path,
        table: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<KeyValue>, StoreError> {
        guarded(path, || self.scan_inner(path, table, prefix))
    }

    fn scan_inner(
        &self,
        path: &Path,
        table: &'static str,
        prefix: &[u8],
    ) -> Result<Vec<KeyValue>, StoreError> {
        match self {
            Backend::Sled {
                trees,
                index,
                faults,
                ..
            } => {
                sled_fault(path, faults, Io::Read)?;
                let t = &trees[index[table]];
                let mut out = Vec::new();
                for kv in t.scan_prefix(prefix) {
                    let (k, v) = kv.map_err(|e| from_sled(path, e))?;
                    out.push((k.to_vec(), v.to_vec()));
                }
                Ok(out)
            }
            Backend::Redb { db } => {
                use redb::ReadableDatabase;
                let rx = db.begin_read().map_err(|e| from_redb(path, e))?;
                let t = rx.open_table(def(table)).map_err(|e| from_redb(path, e))?;
                let mut out = Vec::new();
                for kv in t.range::<&[u8]>(prefix..).map_err(|e| from_redb(path, e))? {
                    let (k, v) = kv.map_err(|e| from_redb(path, e))?;
                    if !k.value().starts_with(prefix) {
                        break;
                    }
                    out.push((k.value().to_vec(), v.value().to_vec()));
                }
                Ok(out)
            }
        }
    }

    /// Applies every op or none; when `durable`, returns only once they are on disk,
    /// else they reach the disk with the next durable write (a crash before it loses
    /// them, whole, and leaves the store as it was).
    pub(crate) fn write(
        &self,
        path: &Path,
        ops: &[Op<'_>],
        durable: bool,
    ) -> Result<(), StoreError> {
        guarded(path, || self.write_inner(path, ops, durable))
    }

    fn write_inner(&self, path: &Path, ops: &[Op<'_>], durable: bool) -> Result<(), StoreError> {
        match self {
            Backend::Sled {
                db,
                trees,
                index,
                faults,
            } => {
                sled_fault(path, faults, Io::Write)?;
                use sled::transaction::{ConflictableTransactionError as C, TransactionError};
                use sled::Transactional;
                let r = trees.as_slice().transaction(|tx| {
                    for op in ops {
                        match op {
                            Op::Put(t, k, v) => {
                                tx[index[t]].insert(*k, *v)?;
                            }
                            Op::PutNew(t, k, v) => {
                                if tx[index[t]].get(*k)?.is_some() {
                                    return Err(C::Abort(Refused::Exists(k.to_vec())));
                                }
                                tx[index[t]].insert(*k, *v)?;
                            }
                            Op::Delete(t, k) => {
                                tx[index[t]].remove(*k)?;
                            }
                        }
                    }
                    Ok(())
                });
                match r {
                    Ok(()) => {}
                    Err(TransactionError::Abort(Refused::Exists(k))) => {
                        return Err(StoreError::Exists(String::from_utf8_lossy(&k).into_owned()))
                    }
                    Err(TransactionError::Storage(e)) => return Err(from_sled(path, e)),
                }
                if durable {
                    sled_fault(path, faults, Io::Sync)?;
                    db.flush().map_err(|e| from_sled(path, e))?;
                }
                Ok(())
            }
            Backend::Redb { db } => {
                use redb::ReadableTable;
                let mut tx = db.begin_write().map_err(|e| from_redb(path, e))?;
                if !durable {
                    tx.set_durability(redb::Durability::None)
                        .map_err(|e| from_redb(path, e))?;
                }
                for op in ops {
                    match op {
                        Op::Put(t, k, v) => {
                            let mut tb = tx.open_table(def(t)).map_err(|e| from_redb(path, e))?;
                            tb.insert(*k, *v).map_err(|e| from_redb(path, e))?;
                        }
                        Op::PutNew(t, k, v) => {
                            let mut tb = tx.open_table(def(t)).map_err(|e| from_redb(path, e))?;
                            if tb.get(*k).map_err(|e| from_redb(path, e))?.is_some() {
                                drop(tb);
                                tx.abort().map_err(|e| from_redb(path, e))?;
                                return Err(StoreError::Exists(
                                    String::from_utf8_lossy(k).into_owned(),
                                ));
                            }
                            tb.insert(*k, *v).map_err(|e| from_redb(path, e))?;
                        }
                        Op::Delete(t, k) => {
                            let mut tb = tx.open_table(def(t)).map_err(|e| from_redb(path, e))?;
                            tb.remove(*k).map_err(|e| from_redb(path, e))?;
                        }
                    }
                }
                // Durability::Immediate is redb's default: commit returns after fsync.
                // Durability::None commits are made durable by the next Immediate one.
                tx.commit().map_err(|e| from_redb(path, e))?;
                Ok(())
            }
        }
    }
}

impl Backend {
    /// Every record of `tables` as one consistent state: one read transaction with redb
    /// (writers go on; the snapshot is what was committed when it began). sled has no
    /// snapshot across trees; its trees are read one after the other.
    pub(crate) fn snapshot(
        &self,
        path: &Path,
        tables: &[&'static str],
    ) -> Result<Vec<(&'static str, Vec<KeyValue>)>, StoreError> {
        guarded(path, || match self {
            Backend::Sled { .. } => tables
                .iter()
                .map(|t| Ok((*t, self.scan_inner(path, t, b"")?)))
                .collect(),
            Backend::Redb { db } => {
                use redb::{ReadableDatabase, ReadableTable};
                let rx = db.begin_read().map_err(|e| from_redb(path, e))?;
                let mut out = Vec::new();
                for t in tables {
                    let tb = rx.open_table(def(t)).map_err(|e| from_redb(path, e))?;
                    let mut rows = Vec::new();
                    for kv in tb.iter().map_err(|e| from_redb(path, e))? {
                        let (k, v) = kv.map_err(|e| from_redb(path, e))?;
                        rows.push((k.value().to_vec(), v.value().to_vec()));
                    }
                    out.push((*t, rows));
                }
                Ok(out)
            }
        })
    }
}

/// The path of the store's files, for messages.
pub(crate) fn describe(dir: &Path, kind: BackendKind) -> PathBuf {
    match kind {
        BackendKind::Redb => dir.join(REDB_FILE),
        BackendKind::Sled => dir.to_owned(),
    }
}
