//! The transparency log's leaves in a file of their own, `HOME/log.leaves`, beside the
//! store: 32 bytes per leaf, appended and fsynced before any receipt that names them
//! leaves the hub.
//!
//! Why a second copy: the store can go back in time without saying so (redb falls back
//! to its previous commit when the newest one fails its checksum; an operator restores
//! an older backup of `store/`). A hub that trusted only its store would then sign a
//! new seal at an index it had already signed for another, and the districts holding
//! the first receipt would be the only ones to notice. With the leaves kept apart, the
//! hub knows on start how far it had signed, keeps signing after that, names the items
//! its store lost, and takes each back at its own index when a district delivers it
//! again (Certificate Transparency's rule: an index, once signed, is that item's).

use crate::commit::{load_log, log_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use tinnhiem_core::merkle::{leaf_of, Tree};
use tinnhiem_core::seal::Receipt;
use tinnhiem_store::{Store, Table, Write};

/// The file's name in the hub's home.
pub(crate) const FILE: &str = "log.leaves";

const LEAF: usize = 32;

/// The file, open for appending.
pub(crate) struct LeafFile {
    file: File,
    path: PathBuf,
    /// Leaves in the file, all fsynced.
    len: u64,
}

impl LeafFile {
    /// Opens (or creates) the file and reads every leaf. A torn last leaf (a crash in
    /// the middle of an append, before its fsync, so before any receipt named it) is
    /// cut off.
    pub(crate) fn open(path: &Path) -> std::io::Result<(LeafFile, Vec<[u8; 32]>)> {
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let whole = bytes.len() / LEAF * LEAF;
        if whole != bytes.len() {
            tracing::warn!(path = %path.display(), "cutting a torn leaf off the log file");
            file.set_len(whole as u64)?;
            file.sync_all()?;
        }
        let leaves: Vec<[u8; 32]> = bytes[..whole]
            .chunks_exact(LEAF)
            .filter_map(|c| c.try_into().ok())
            .collect();
        file.seek(SeekFrom::End(0))?;
        if let Some(dir) = path.parent() {
            // The file's name must survive a power cut as much as its bytes.
            File::open(dir).and_then(|d| d.sync_all())?;
        }
        let len = leaves.len() as u64;
        Ok((
            LeafFile {
                file,
                path: path.to_owned(),
                len,
            },
            leaves,
        ))
    }

    /// Appends the leaves of `tree` the file does not have yet, then fsyncs. On error
    /// nothing counts as written (a torn tail is cut at the next open).
    pub(crate) fn catch_up(&mut self, tree: &Tree) -> std::io::Result<()> {
        if faults::log_fails(&self.path) {
            return Err(std::io::Error::other("injected fault (test)"));
        }
        if self.len >= tree.size() {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(((tree.size() - self.len) as usize) * LEAF);
        for i in self.len..tree.size() {
            let leaf = tree.leaf(i).ok_or_else(|| {
                std::io::Error::other(format!("leaf {i} missing from the tree in memory"))
            })?;
            bytes.extend_from_slice(&leaf);
        }
        if let Err(e) = self
            .file
            .write_all(&bytes)
            .and_then(|()| self.file.sync_data())
        {
            // Put the file back where it was durably, so the next append is whole.
            let _ = self.file.set_len(self.len * LEAF as u64);
            return Err(e);
        }
        self.len = tree.size();
        Ok(())
    }
}

/// Test-only (debug builds): a file `log.leaves.fail` beside the log makes every
/// write of the log file fail, as a failing disk would, so that the paths where the
/// hub must answer nothing are exercised by the tests.
mod faults {
    use std::path::Path;

    pub(super) fn log_fails(path: &Path) -> bool {
        cfg!(debug_assertions) && path.with_extension("leaves.fail").exists()
    }
}

/// A loss of items found on start: the store held fewer leaves than the log file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LossEvent {
    /// Unix seconds.
    pub(crate) detected_at: i64,
    /// Leaves the store held.
    pub(crate) store_size: u64,
    /// Leaves the log file held (what the hub had signed).
    pub(crate) log_size: u64,
    /// Items whose seal or aggregate the store no longer held.
    pub(crate) missing: u64,
}

/// What the hub knows of its losses, kept in the store (`Meta`, [`LOSS_KEY`]) and
/// shown by `status`, the dashboard and `/metrics`. The events stay after the items
/// come back: an operator should know the store once went back in time.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct LossRecord {
    /// Each detection, oldest first.
    pub(crate) events: Vec<LossEvent>,
    /// Log indices still missing: waiting for a district to deliver them again.
    pub(crate) missing: Vec<u64>,
    /// Items delivered again and taken back at their index.
    pub(crate) recovered: u64,
}

/// Where the record lives.
pub(crate) const LOSS_KEY: &[u8] = b"log_loss";

impl LossRecord {
    /// The record in `store`, empty if none.
    pub(crate) fn read(store: &Store) -> Result<LossRecord, String> {
        match store.read(Table::Meta, LOSS_KEY) {
            Ok(Some(v)) => serde_json::from_slice(&v).map_err(|e| format!("{e}")),
            Ok(None) => Ok(LossRecord::default()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(crate) fn write(&self) -> Write {
        Write::Put(
            Table::Meta,
            LOSS_KEY.to_vec(),
            serde_json::to_vec(self).unwrap_or_default(),
        )
    }
}

/// The log as the hub signed it, and what the store lost of it.
pub(crate) struct Reconciled {
    pub(crate) tree: Tree,
    pub(crate) file: LeafFile,
    /// Missing items: index → leaf.
    pub(crate) lost: BTreeMap<u64, [u8; 32]>,
}

/// Reads the log from the store and from the file and makes them one:
/// - the file behind the store (a crash between the store's commit and the file's
///   append, or a hub from before the file existed): the file catches up; nothing was
///   receipted past the file, so nothing is lost;
/// - the store behind the file: the store went back in time. The file's leaves are the
///   log (every index stays signed for its item), the store gets the missing leaves
///   back, the items without a receipt are lost until delivered again, and the loss
///   is recorded;
/// - the two disagree on a leaf both hold: an error (the hub signs nothing).
pub(crate) fn reconcile(store: &Store, path: &Path, now: i64) -> Result<Reconciled, String> {
    let in_store = load_log(store)?;
    let (mut file, leaves) =
        LeafFile::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let n_store = in_store.size();
    let n_file = leaves.len() as u64;
    for (i, leaf) in leaves.iter().enumerate().take(n_store as usize) {
        if in_store.leaf(i as u64) != Some(*leaf) {
            return Err(format!(
                "the log file {} and the store disagree at leaf {i}: one of them was replaced by another hub's",
                path.display()
            ));
        }
    }
    if n_file <= n_store {
        file.catch_up(&in_store)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let lost = missing(store, &in_store)?;
        return Ok(Reconciled {
            tree: in_store,
            file,
            lost,
        });
    }
    // The store went back in time.
    let tree = Tree::from_leaves(leaves.iter().copied());
    let lost = missing(store, &tree)?;
    let mut record = LossRecord::read(store)?;
    record.events.push(LossEvent {
        detected_at: now,
        store_size: n_store,
        log_size: n_file,
        missing: lost.len() as u64,
    });
    record.missing = lost.keys().copied().collect();
    let mut writes: Vec<Write> = (n_store..n_file)
        .map(|i| Write::Put(Table::Log, log_key(i), leaves[i as usize].to_vec()))
        .collect();
    writes.push(record.write());
    store.batch(&writes).map_err(|e| e.to_string())?;
    tracing::error!(
        store = n_store,
        log = n_file,
        missing = lost.len(),
        "THE STORE WENT BACK IN TIME: it holds {n_store} of the {n_file} items this hub signed; \
         the log keeps every index, the missing items are asked back from the districts"
    );
    Ok(Reconciled { tree, file, lost })
}

/// The leaves of `tree` whose item has no receipt in the store.
fn missing(store: &Store, tree: &Tree) -> Result<BTreeMap<u64, [u8; 32]>, String> {
    let held: HashSet<[u8; 32]> = store
        .scan_table(Table::Receipts, b"")
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|(_, v)| Receipt::from_bytes(&v).ok())
        .map(|r| leaf_of(&r.body.seal_id))
        .collect();
    Ok((0..tree.size())
        .filter_map(|i| tree.leaf(i).map(|l| (i, l)))
        .filter(|(_, l)| !held.contains(l))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tinnhiem_store::BackendKind;

    fn leaf(i: u8) -> [u8; 32] {
        leaf_of(&[i; 32])
    }

    /// A store whose log holds `n` leaves, with a receipt row for each item in `held`.
    fn store_with(dir: &Path, n: u8) -> Store {
        let store =
            Store::open(&dir.join("store"), BackendKind::Redb, Duration::ZERO).expect("store");
        let writes: Vec<Write> = (0..n)
            .map(|i| Write::Put(Table::Log, log_key(u64::from(i)), leaf(i).to_vec()))
            .collect();
        if !writes.is_empty() {
            store.batch(&writes).expect("log");
        }
        store
    }

    #[test]
    fn a_missing_file_is_made_from_the_store_and_a_torn_leaf_is_cut() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = store_with(dir.path(), 3);
        let path = dir.path().join(FILE);
        let r = reconcile(&store, &path, 1).expect("reconcile");
        assert_eq!(r.tree.size(), 3);
        assert_eq!(std::fs::metadata(&path).expect("file").len(), 96);
        drop(r);
        // Half a leaf at the end: a crash mid-append, before its fsync and so before
        // any receipt named it.
        let mut bytes = std::fs::read(&path).expect("read");
        bytes.extend([1; 10]);
        std::fs::write(&path, bytes).expect("write");
        let r = reconcile(&store, &path, 1).expect("reconcile");
        assert_eq!(r.tree.size(), 3);
        assert_eq!(std::fs::metadata(&path).expect("file").len(), 96);
        assert!(LossRecord::read(&store).expect("record").events.is_empty());
    }

    #[test]
    fn a_store_behind_its_log_keeps_every_index_and_records_the_loss() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(FILE);
        let leaves: Vec<u8> = (0..5).flat_map(leaf).collect();
        std::fs::write(&path, leaves).expect("file");
        let store = store_with(dir.path(), 3);
        let r = reconcile(&store, &path, 77).expect("reconcile");
        assert_eq!(
            r.tree.size(),
            5,
            "the log as signed, not as the store has it"
        );
        // No receipts in this store: every item is missing, the ones past the store's
        // log and the ones before it alike.
        assert_eq!(
            r.lost.keys().copied().collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4]
        );
        assert_eq!(r.lost[&4], leaf(4));
        let rec = LossRecord::read(&store).expect("record");
        assert_eq!(
            rec.events,
            vec![LossEvent {
                detected_at: 77,
                store_size: 3,
                log_size: 5,
                missing: 5
            }]
        );
        // The store's log is whole again.
        assert_eq!(load_log(&store).expect("log").size(), 5);
    }

    #[test]
    fn a_file_and_a_store_that_disagree_sign_nothing() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(FILE);
        let mut other: Vec<u8> = (0..3).flat_map(leaf).collect();
        other[40] ^= 1;
        std::fs::write(&path, other).expect("file");
        let store = store_with(dir.path(), 3);
        let e = reconcile(&store, &path, 1).err().expect("refused");
        assert!(e.contains("leaf 1"), "{e}");
    }
}
