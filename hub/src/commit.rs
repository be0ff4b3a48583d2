//! Group commit: every accepted item (a seal, an aggregate) is written by one thread,
//! which takes whatever requests are waiting and makes them one durable batch, one
//! fsync. Verification happens before, in the connections' own threads, in parallel;
//! only the write is serialized, so that log indices stay dense and an item is stored
//! once, and the cost of a sync is shared by everyone who waited for it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use tinnhiem_core::merkle::{leaf_of, Tree};
use tinnhiem_core::proto::RejectReason;
use tinnhiem_core::seal::{LogPosition, Receipt};
use tinnhiem_store::{Store, Table, Write};

/// Makes the receipt once the item's place in the log is known.
pub(crate) type MakeReceipt = Box<dyn FnOnce(&LogPosition) -> Receipt + Send>;

type Answer = Result<Receipt, (RejectReason, String)>;

struct Request {
    /// The item's id (receipts are keyed by it).
    id: [u8; 32],
    /// Everything to store with it, but its receipt and the log length.
    writes: Vec<Write>,
    make: MakeReceipt,
    reply: mpsc::SyncSender<Answer>,
}

/// The most requests one batch takes.
const MAX_BATCH: usize = 256;

/// The handle connections commit through.
pub(crate) struct Committer {
    tx: mpsc::Sender<Request>,
    /// The writer thread, joined when the committer is dropped: the store it holds is
    /// released by then (a process restarted in the same address space, as the
    /// simulator does, must not find the old engine still open).
    thread: Option<std::thread::JoinHandle<()>>,
    /// The transparency log, appended to by the writer thread only; read for tree heads
    /// and proofs.
    pub(crate) tree: Arc<RwLock<Tree>>,
    /// Items the log holds and the store lost (index → leaf): told to every peer.
    pub(crate) lost: Arc<RwLock<BTreeMap<u64, [u8; 32]>>>,
}

impl Drop for Committer {
    fn drop(&mut self) {
        // Closing the channel ends the writer's loop once its batch is done.
        let (closed, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, closed));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What readers see of the writer's state, once on disk.
struct Published {
    tree: Arc<RwLock<Tree>>,
    lost: Arc<RwLock<BTreeMap<u64, [u8; 32]>>>,
}

/// The writer thread's own state.
struct Log {
    tree: Tree,
    /// The leaves' own file: appended and fsynced before any receipt is answered.
    file: crate::leaves::LeafFile,
    /// Lost items by leaf: a delivery of one goes back at its index.
    by_leaf: HashMap<[u8; 32], u64>,
}

impl Committer {
    /// Starts the writer thread over `store`, with the log's leaves also in the file
    /// `leaves` ([`crate::leaves`]); `committed` runs after each durable batch (it
    /// wakes the forwarders).
    pub(crate) fn start(
        store: Arc<Store>,
        leaves: &Path,
        committed: impl Fn() + Send + 'static,
    ) -> Committer {
        let (tx, rx) = mpsc::channel::<Request>();
        let loaded = crate::leaves::reconcile(&store, leaves, chrono::Utc::now().timestamp());
        let (tree, lost) = match &loaded {
            Ok(r) => (r.tree.clone(), r.lost.clone()),
            Err(_) => Default::default(),
        };
        let tree = Arc::new(RwLock::new(tree));
        let lost = Arc::new(RwLock::new(lost));
        let shared = Published {
            tree: tree.clone(),
            lost: lost.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("commit".into())
            .spawn(move || {
                // The thread's own copy: appended while a batch is prepared, published
                // to readers only once the batch is on disk, so that no signed head ever
                // names a leaf a crash could lose, and readers never wait on an fsync.
                let mut log = match loaded {
                    Ok(r) => Log {
                        tree: r.tree,
                        file: r.file,
                        by_leaf: r.lost.iter().map(|(i, l)| (*l, *i)).collect(),
                    },
                    Err(e) => {
                        // Refuse every commit rather than sign receipts over a log we could
                        // not read.
                        tracing::error!("cannot read the transparency log: {e}");
                        while let Ok(r) = rx.recv() {
                            let _ = r.reply.send(Err((
                                RejectReason::Unavailable,
                                format!("transparency log: {e}"),
                            )));
                        }
                        return;
                    }
                };
                // After a failed batch the log is read again from the store before the
                // next one: a batch that failed may still have reached the disk (redb
                // writes its header before the fsync that failed), and a log assumed
                // shorter than stored would give its last index to another item.
                // While stale it is tried again every 200 ms, not only at the next batch,
                // so that the heads readers sign catch up as soon as the store is back.
                let mut stale = false;
                loop {
                    let first = if stale {
                        match rx.recv_timeout(std::time::Duration::from_millis(200)) {
                            Ok(r) => Some(r),
                            Err(mpsc::RecvTimeoutError::Timeout) => None,
                            Err(mpsc::RecvTimeoutError::Disconnected) => break,
                        }
                    } else {
                        match rx.recv() {
                            Ok(r) => Some(r),
                            Err(_) => break,
                        }
                    };
                    if stale {
                        // What was committed before the failure is the same in both; the
                        // store may hold the failed batch's leaves past it. Published only
                        // once the leaves' file holds them too (no receipt before that).
                        let reloaded = load_log(&store).and_then(|stored| {
                            log.tree.catch_up(&stored);
                            log.file
                                .catch_up(&log.tree)
                                .map_err(|e| format!("log file: {e}"))
                        });
                        match reloaded {
                            Ok(()) => {
                                if let Ok(mut p) = shared.tree.write() {
                                    p.catch_up(&log.tree);
                                }
                                stale = false;
                            }
                            Err(e) => {
                                if let Some(r) = first {
                                    let _ = r.reply.send(Err((
                                        RejectReason::Unavailable,
                                        format!("transparency log: {e}"),
                                    )));
                                }
                                continue;
                            }
                        }
                    }
                    let Some(first) = first else { continue };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(r) => batch.push(r),
                            Err(_) => break,
                        }
                    }
                    stale = !write(&store, &mut log, &shared, batch);
                    committed();
                }
            })
            .map_err(|e| tracing::error!("could not start the commit thread: {e}"))
            .ok();
        Committer {
            tx,
            thread,
            tree,
            lost,
        }
    }

    /// Stores `writes` and a receipt for item `id` durably, or returns the receipt it
    /// already has. Blocks until the batch holding it is on disk.
    pub(crate) fn commit(&self, id: [u8; 32], writes: Vec<Write>, make: MakeReceipt) -> Answer {
        let (reply, answer) = mpsc::sync_channel(1);
        let unavailable = || {
            (
                RejectReason::Unavailable,
                "the commit thread stopped".to_string(),
            )
        };
        self.tx
            .send(Request {
                id,
                writes,
                make,
                reply,
            })
            .map_err(|_| unavailable())?;
        answer.recv().map_err(|_| unavailable())?
    }
}

/// The log's key of leaf `index`.
pub(crate) fn log_key(index: u64) -> Vec<u8> {
    index.to_be_bytes().to_vec()
}

/// The transparency log as stored. A store from before the log existed gets one leaf
/// per receipt, in log-index order, written once.
pub(crate) fn load_log(store: &Store) -> Result<Tree, String> {
    let leaves = store
        .scan_table(Table::Log, b"")
        .map_err(|e| e.to_string())?;
    let mut tree = Tree::new();
    for (i, (k, v)) in leaves.into_iter().enumerate() {
        let leaf: [u8; 32] = v.as_slice().try_into().map_err(|_| format!("leaf {i}"))?;
        if k != log_key(i as u64) {
            return Err(format!("leaf {i} missing"));
        }
        tree.push(leaf);
    }
    if tree.size() == 0 {
        let mut old: Vec<Receipt> = store
            .scan_table(Table::Receipts, b"")
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter_map(|(_, v)| Receipt::from_bytes(&v).ok())
            .collect();
        if !old.is_empty() {
            old.sort_by_key(|r| r.body.log_index);
            let writes: Vec<Write> = old
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let leaf = leaf_of(&r.body.seal_id);
                    tree.push(leaf);
                    Write::Put(Table::Log, log_key(i as u64), leaf.to_vec())
                })
                .collect();
            store.batch(&writes).map_err(|e| e.to_string())?;
        }
    }
    Ok(tree)
}

/// Writes one batch and answers its requests; false when the store refused the batch.
fn write(store: &Store, log: &mut Log, published: &Published, batch: Vec<Request>) -> bool {
    let unavailable = |e: &dyn std::fmt::Display| (RejectReason::Unavailable, e.to_string());
    let fail_all = |batch: Vec<Request>, why: (RejectReason, String)| {
        for r in batch {
            let _ = r.reply.send(Err(why.clone()));
        }
    };
    // A previous batch stored but could not append to the log file: nothing is
    // answered (not even a stored receipt) until the file holds every leaf.
    if let Err(e) = log.file.catch_up(&log.tree) {
        tracing::error!("the log file: {e}");
        fail_all(batch, unavailable(&format!("log file: {e}")));
        return true;
    }
    let tree = &mut log.tree;
    let start = tree.size();
    let mut writes = Vec::new();
    // Lost items this batch takes back, at their own index.
    let mut restored: Vec<u64> = Vec::new();
    // Answers by request, and the receipt of each id this batch stores.
    let mut answers: Vec<(mpsc::SyncSender<Answer>, [u8; 32])> = Vec::new();
    let mut receipts: BTreeMap<[u8; 32], Answer> = BTreeMap::new();
    for r in batch {
        if let std::collections::btree_map::Entry::Vacant(slot) = receipts.entry(r.id) {
            let stored = match store.read(Table::Receipts, &r.id) {
                Ok(Some(b)) => Some(Receipt::from_bytes(&b).map_err(|e| unavailable(&e))),
                Ok(None) => None,
                Err(e) => Some(Err(unavailable(&e))),
            };
            let leaf = leaf_of(&r.id);
            let answer = match stored {
                // The same item again gets the same receipt.
                Some(a) => a,
                // An item the store lost: back at the index it was signed at, never a
                // new one (its leaf is already in the log, in the store and the file).
                None if log.by_leaf.contains_key(&leaf) => {
                    let index = log.by_leaf[&leaf];
                    match LogPosition::at(tree, index) {
                        Some(at) => {
                            let receipt = (r.make)(&at);
                            writes.extend(r.writes);
                            writes.push(Write::PutNew(
                                Table::Receipts,
                                r.id.to_vec(),
                                receipt.to_bytes(),
                            ));
                            restored.push(index);
                            Ok(receipt)
                        }
                        None => Err(unavailable(&format!("lost item at {index}"))),
                    }
                }
                None => {
                    let at = LogPosition::append(tree, &r.id);
                    let receipt = (r.make)(&at);
                    writes.push(Write::Put(Table::Log, log_key(at.index), leaf.to_vec()));
                    writes.extend(r.writes);
                    writes.push(Write::PutNew(
                        Table::Receipts,
                        r.id.to_vec(),
                        receipt.to_bytes(),
                    ));
                    Ok(receipt)
                }
            };
            slot.insert(answer);
        }
        answers.push((r.reply, r.id));
    }
    if !restored.is_empty() {
        // The record of losses says which items are back, in the same batch.
        match crate::leaves::LossRecord::read(store) {
            Ok(mut rec) => {
                rec.missing.retain(|i| !restored.contains(i));
                rec.recovered += restored.len() as u64;
                writes.push(rec.write());
            }
            Err(e) => tracing::error!("the record of lost items: {e}"),
        }
    }
    if !writes.is_empty() {
        if let Err(e) = store.batch(&writes) {
            // Nothing of the batch is stored: every new item fails, retry later.
            tree.truncate(start);
            for (reply, _) in answers {
                let _ = reply.send(Err(unavailable(&e)));
            }
            return false;
        }
        if !restored.is_empty() {
            log.by_leaf.retain(|_, i| !restored.contains(i));
            tracing::info!(indices = ?restored, "lost items delivered again, back at their index");
        }
        // The leaves' own copy, before anyone holds a receipt naming them.
        if let Err(e) = log.file.catch_up(tree) {
            tracing::error!("the log file: {e}");
            for (reply, _) in answers {
                let _ = reply.send(Err(unavailable(&format!("log file: {e}"))));
            }
            return true;
        }
        // On disk: readers may see it now, before anyone holds a receipt for it.
        let ok = match (published.tree.write(), published.lost.write()) {
            (Ok(mut p), Ok(mut l)) => {
                p.catch_up(tree);
                l.retain(|i, _| !restored.contains(i));
                true
            }
            _ => false,
        };
        if !ok {
            for (reply, _) in answers {
                let _ = reply.send(Err((RejectReason::Unavailable, "log lock".into())));
            }
            return true;
        }
    }
    for (reply, id) in answers {
        let a = receipts
            .get(&id)
            .cloned()
            .unwrap_or_else(|| Err((RejectReason::Unavailable, "lost".into())));
        let _ = reply.send(a);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinnhiem_core::seal::UnitKey;
    use tinnhiem_store::BackendKind;

    fn receipt_for(id: [u8; 32]) -> MakeReceipt {
        Box::new(move |at| {
            let key = UnitKey::from_seed([1; 32]);
            let agg = tinnhiem_core::seal::Aggregate::sign(
                &key,
                tinnhiem_core::seal::AggregateBody {
                    hub: "h".into(),
                    period: i32::from(id[0]),
                    seq: 1,
                    sealed_at: 0,
                    signer: [0; 32],
                    included: vec![],
                    missing: vec![],
                    late: vec![],
                    flagged: vec![],
                },
            );
            Receipt::sign_aggregate(&key, &agg, 0, at)
        })
    }

    #[test]
    fn concurrent_commits_get_dense_indices_and_one_receipt_per_item() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Arc::new(
            Store::open(dir.path(), BackendKind::Redb, std::time::Duration::ZERO).expect("store"),
        );
        let c = Arc::new(Committer::start(
            store.clone(),
            &dir.path().join("log.leaves"),
            || {},
        ));
        // 40 threads, 20 distinct items, each item committed twice at once.
        let threads: Vec<_> = (0..40u8)
            .map(|i| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let id = [i / 2; 32];
                    let w = vec![Write::Put(Table::Docs, vec![i / 2], vec![i])];
                    c.commit(id, w, receipt_for(id)).expect("commit")
                })
            })
            .collect();
        let receipts: Vec<Receipt> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        // Thread i committed item i / 2.
        let mut by_item: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
        for (i, r) in receipts.iter().enumerate() {
            by_item
                .entry(i as u8 / 2)
                .or_default()
                .push(r.body.log_index);
            // Each receipt proves its item is in the log it signs.
            assert!(tinnhiem_core::merkle::verify_inclusion(
                &leaf_of(&[i as u8 / 2; 32]),
                r.body.log_index,
                r.body.tree_size,
                &r.inclusion,
                &r.body.root
            ));
        }
        // Both copies of an item got the same receipt.
        assert!(by_item.values().all(|v| v.len() == 2 && v[0] == v[1]));
        // Indices are dense: 0..20, each once.
        let mut indices: Vec<u64> = by_item.values().map(|v| v[0]).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..20).collect::<Vec<u64>>());
        assert_eq!(store.scan_table(Table::Log, b"").expect("log").len(), 20);
        // Again, later: the stored receipt, no new index.
        let again = c
            .commit([3; 32], vec![], receipt_for([3; 32]))
            .expect("commit");
        assert_eq!(Some(&again.body.log_index), by_item[&3].first());
        // The stored log is the tree every receipt was signed over.
        let tree = load_log(&store).expect("log");
        assert_eq!(tree.size(), 20);
        for r in &receipts {
            assert_eq!(tree.root(r.body.tree_size), Some(r.body.root));
        }
    }
}
