//! What hub ingest cannot go below on this machine (issue 15 §2), measured in the
//! bench's own process on the same documents and seals it just delivered.
//!
//! Two passes, each the least the hub must do for every sealed session:
//!
//! * **verify** (on as many threads as the machine has cores): load the saved document
//!   once (`SessionDoc::load`: Automerge decode and the shape check), check that it
//!   holds the sealed heads, verify the seal's ed25519 signature, compute the result
//!   once and hash it into the digest the seal signs, and hash the seal's id and log
//!   leaf;
//! * **commit** (one thread, as the hub's committer): in batches of the size given,
//!   append each id to a transparency log, sign its receipt, and write the log leaf,
//!   document, seal and receipt in one durable batch of a real redb store, then append
//!   the batch's leaves to a file and fsync it (the hub's leaf file).
//!
//! The passes overlap in a pipeline, so the ceiling's time is the longer of the verify
//! pass (plus the commit thread's CPU shared over the cores) and the commit pass.

use anyhow::{bail, Context, Result};
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::merkle::{leaf_of, Tree};
use tinnhiem_core::seal::{canonical_result, result_digest, LogPosition, Receipt, Seal, UnitKey};
use tinnhiem_store::{BackendKind, Store, Table, Write};

/// One delivered session, as the hub receives it.
pub struct Item {
    /// The unit that sealed it.
    pub unit: String,
    /// The saved document.
    pub doc: Vec<u8>,
    /// Its seal.
    pub seal: Seal,
}

/// The ceiling's measurements over `n` sessions.
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Sessions.
    pub n: usize,
    /// Threads of the verify pass (the machine's cores).
    pub threads: usize,
    /// Verify pass: wall seconds and CPU seconds of this process.
    pub verify_wall: f64,
    /// CPU seconds the verify pass took, all threads.
    pub verify_cpu: f64,
    /// Sessions per durable batch.
    pub batch: usize,
    /// Commit pass: wall seconds.
    pub commit_wall: f64,
    /// CPU seconds the commit pass took.
    pub commit_cpu: f64,
}

impl Ceiling {
    /// Seconds the whole work cannot go below: see the module doc.
    pub fn secs(&self) -> f64 {
        (self.verify_wall + self.commit_cpu / self.threads as f64).max(self.commit_wall)
    }

    /// Sessions per second at the ceiling.
    pub fn rate(&self) -> f64 {
        self.n as f64 / self.secs()
    }

    /// CPU milliseconds per session, both passes.
    pub fn cpu_ms(&self) -> f64 {
        (self.verify_cpu + self.commit_cpu) * 1000.0 / self.n.max(1) as f64
    }

    /// Durable batches per second in the commit pass.
    pub fn fsync_rate(&self) -> f64 {
        self.n.div_ceil(self.batch.max(1)) as f64 / self.commit_wall
    }
}

/// Measures both passes over `items`; the store is made in a new directory under `dir`
/// (give the filesystem the hub's home is on).
pub fn measure(items: &[Item], batch: usize, dir: &Path) -> Result<Ceiling> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (verify_wall, verify_cpu) = timed(|| verify_all(items, threads))?;
    let tmp = tempfile::tempdir_in(dir)?;
    let (commit_wall, commit_cpu) = timed(|| commit_all(items, batch.max(1), tmp.path()))?;
    Ok(Ceiling {
        n: items.len(),
        threads,
        verify_wall,
        verify_cpu,
        batch: batch.max(1),
        commit_wall,
        commit_cpu,
    })
}

/// Wall and CPU seconds (this process, every thread) that `f` took.
fn timed(f: impl FnOnce() -> Result<()>) -> Result<(f64, f64)> {
    let cpu = cpu_secs(std::process::id()).context("/proc/self/stat")?;
    let t = Instant::now();
    f()?;
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_secs(std::process::id()).context("/proc/self/stat")? - cpu;
    Ok((wall, cpu))
}

/// CPU seconds the calling thread has used so far (`/proc/thread-self/stat`).
fn thread_cpu_secs() -> Option<f64> {
    stat_cpu_secs(&std::fs::read_to_string("/proc/thread-self/stat").ok()?)
}

/// CPU seconds (user and system) a process has used so far, from `/proc/PID/stat`
/// (clock ticks of 1/100 s, Linux's fixed USER_HZ).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    stat_cpu_secs(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// utime + stime of a `/proc/…/stat` line, in seconds.
fn stat_cpu_secs(s: &str) -> Option<f64> {
    // The command name may hold spaces; the fields after it are plain.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

fn verify_all(items: &[Item], threads: usize) -> Result<()> {
    let chunk = items.len().div_ceil(threads).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().try_for_each(verify_one)))
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a verify thread panicked"))??;
        }
        Ok(())
    })
}

fn verify_one(item: &Item) -> Result<()> {
    let seal = &item.seal;
    let mut doc = SessionDoc::load(&item.doc, b"hub")?;
    if !doc.has_heads(&seal.body.heads) {
        bail!("{}: the sealed heads are missing", seal.body.session);
    }
    seal.verify_signature()?;
    // Sealed as it is now: the result at the heads is the document's result.
    let s = doc.read()?;
    let r = tinnhiem_core::domain::compute(&s);
    let canon = canonical_result(&r, s.meta.mode, &s.meta.body, s.meta.date);
    if result_digest(&canon) != seal.body.result_digest || !r.sealable() {
        bail!("{}: the result does not match its seal", seal.body.session);
    }
    std::hint::black_box(leaf_of(&seal.id()));
    Ok(())
}

fn commit_all(items: &[Item], batch: usize, dir: &Path) -> Result<()> {
    let store = Store::open(
        &dir.join("store"),
        BackendKind::Redb,
        Duration::from_secs(5),
    )?;
    let mut leaves = std::fs::File::create(dir.join("log-leaves"))?;
    let key = UnitKey::from_seed([5; 32]);
    let mut tree = Tree::new();
    for part in items.chunks(batch) {
        let mut writes = Vec::new();
        let mut bytes = Vec::new();
        for item in part {
            let seal = &item.seal;
            let id = seal.id();
            if store.read(Table::Receipts, &id)?.is_some() {
                bail!("the same seal twice");
            }
            let at = LogPosition::append(&mut tree, &id);
            let receipt = Receipt::sign(&key, seal, 1_702_022_400, &at);
            let doc_key = format!("{}/{}", item.unit, seal.body.session).into_bytes();
            let mut seal_key = doc_key.clone();
            seal_key.push(0);
            seal_key.extend(seal.body.seq.to_be_bytes());
            let leaf = leaf_of(&id);
            bytes.extend_from_slice(&leaf);
            writes.push(Write::Put(
                Table::Log,
                at.index.to_be_bytes().to_vec(),
                leaf.to_vec(),
            ));
            writes.push(Write::Put(Table::Docs, doc_key, item.doc.clone()));
            writes.push(Write::Put(Table::Seals, seal_key, seal.to_bytes()));
            writes.push(Write::PutNew(
                Table::Receipts,
                id.to_vec(),
                receipt.to_bytes(),
            ));
        }
        store.batch(&writes)?;
        leaves.write_all(&bytes)?;
        leaves.sync_data()?;
    }
    Ok(())
}

/// What the hub's own path costs per session, step by step, on one thread: the steps
/// between a first delivery's Hello and its receipt (`shared::proto::hub` and the hub's
/// `ingest`), each timed alone over every item, in CPU milliseconds of this thread per session. The
/// ceiling does the first and the last once; the hub does some of them more than once,
/// the count of which is each step's second number.
pub fn hub_steps(items: &[Item]) -> Result<Vec<(&'static str, u32, f64)>> {
    use automerge::sync::{self, SyncDoc};
    use automerge::AutoCommit;
    let n = items.len().max(1) as f64;
    // CPU time of this thread, not wall time: the machine is shared, and a step's cost
    // should not depend on what else runs (1/100 s ticks: whole passes, not items).
    let ms = |t0: f64| (thread_cpu_secs().unwrap_or(t0) - t0) * 1000.0 / n;
    let cpu_now = || thread_cpu_secs().unwrap_or(0.0);
    // The node's first-delivery message (`NodeSession::push_whole`): the whole document.
    let mut messages = Vec::new();
    for item in items {
        let mut doc = SessionDoc::load(&item.doc, b"node")?;
        let mut st = sync::State::new();
        st.their_heads = Some(Vec::new());
        st.their_need = Some(Vec::new());
        st.their_have = Some(vec![sync::Have {
            last_sync: Vec::new(),
            bloom: sync::BloomFilter::default(),
        }]);
        st.their_capabilities = Some(vec![sync::Capability::MessageV2]);
        let m = doc
            .automerge()
            .sync()
            .generate_sync_message(&mut st)
            .context("no sync message")?;
        messages.push(m.encode());
    }
    let mut steps = Vec::new();
    let t = cpu_now();
    for item in items {
        std::hint::black_box(SessionDoc::load(&item.doc, b"hub")?);
    }
    steps.push((
        "load the saved document (the ceiling's one decode)",
        1,
        ms(t),
    ));

    let t = cpu_now();
    let mut held = Vec::new();
    for m in &messages {
        let msg = tinnhiem_core::doc::decode_sync(m)?;
        let mut doc = AutoCommit::new();
        let mut st = sync::State::new();
        doc.sync().receive_sync_message(&mut st, msg)?;
        held.push((doc, st));
    }
    steps.push((
        "apply the whole-document sync message to an empty document",
        1,
        ms(t),
    ));

    let t = cpu_now();
    for (doc, _) in &mut held {
        std::hint::black_box(doc.save());
    }
    steps.push((
        "save (encode) the document: after the sync, again at ingest",
        2,
        ms(t),
    ));

    let t = cpu_now();
    for (doc, st) in &mut held {
        std::hint::black_box(doc.sync().generate_sync_message(st));
        std::hint::black_box(st.encode());
    }
    steps.push(("the sync reply and the sync state", 1, ms(t)));

    let t = cpu_now();
    let mut forks = Vec::new();
    for (doc, _) in &mut held {
        forks.push(SessionDoc::from_automerge(doc.fork())?);
    }
    steps.push(("fork the held document for ingest", 1, ms(t)));

    let t = cpu_now();
    for (f, item) in forks.iter_mut().zip(items) {
        std::hint::black_box(tinnhiem_core::seal::check(&item.seal, f)?);
    }
    steps.push((
        "check the seal (`seal::check`: read at the sealed heads, compute, digest, verify)",
        1,
        ms(t),
    ));

    // The path before issue 15 §2, for comparison: a fork at the sealed heads, then a
    // read by two lookups per field (the lookups are gone; the fork is what remains
    // comparable).
    let t = cpu_now();
    for (f, item) in forks.iter_mut().zip(items) {
        std::hint::black_box(f.at(&item.seal.body.heads)?);
    }
    steps.push((
        "for comparison (no longer a hub step): fork the document at the sealed heads",
        0,
        ms(t),
    ));

    // Not a step of the hub: what reading the sealed state could cost, every value of
    // the document materialised in one walk at the sealed heads, instead of a fork
    // there and a lookup per field (winners only: a reader would still ask `get_all`
    // where `map_range` reports a conflict).
    let t = cpu_now();
    for ((doc, _), item) in held.iter().zip(items) {
        use automerge::ReadDoc;
        let heads: Vec<automerge::ChangeHash> = item
            .seal
            .body
            .heads
            .iter()
            .map(|h| automerge::ChangeHash(*h))
            .collect();
        std::hint::black_box(doc.hydrate(automerge::ROOT, Some(&heads))?);
    }
    steps.push((
        "for comparison (not a hub step): hydrate the whole document once at the sealed heads",
        0,
        ms(t),
    ));
    Ok(steps)
}
