//! The store both binaries use. Every call into a storage engine is in this crate.
//!
//! Tables: `meta` (store version, device actor), `docs` (session → saved Automerge
//! bytes), `seals` (session ‖ 0 ‖ seq big-endian → seal bytes), `audit` (time-ordered
//! log of who did what).
//!
//! Durability: every public write is one atomic batch that is on disk when the call
//! returns, so an acknowledged write survives `kill -9` and power loss. A seal and the
//! document bytes it names are written in one batch: after a crash either both are
//! there or neither is.
#![warn(missing_docs)]

mod backend;
pub mod faults;
pub mod file;
pub mod home;

pub use backend::BackendKind;

pub use backend::KeyValue;
use backend::{Backend, Op};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};
use tinnhiem_core::domain::SessionId;
use tinnhiem_core::seal::Seal;

/// The on-disk format this build writes. Bumped with a migration in [`Store::open`].
pub const STORE_VERSION: u64 = 2;

/// Every table, for the binaries' own records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// Store version, device id, counters.
    Meta,
    /// Saved Automerge documents.
    Docs,
    /// Seals by document key and seq.
    Seals,
    /// Who did what, when.
    Audit,
    /// Receipts by seal id (hub: given; node: received).
    Receipts,
    /// Automerge sync state per (peer, document).
    SyncState,
    /// The hub's registry of units.
    Registry,
    /// Deliveries per (destination, seal).
    Outbox,
    /// Rejected seals (hub).
    Rejects,
    /// The hub's transparency log: leaf hashes by index (8 bytes, big-endian).
    Log,
    /// Results received on paper (a photographed QR code), by unit/session/seq.
    Paper,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Docs => "docs",
            Table::Seals => "seals",
            Table::Audit => "audit",
            Table::Receipts => "receipts",
            Table::SyncState => "sync_state",
            Table::Registry => "registry",
            Table::Outbox => "outbox",
            Table::Rejects => "rejects",
            Table::Log => "log",
            Table::Paper => "paper",
        }
    }
}

pub(crate) const TABLES: [&str; 11] = [
    "log",
    "paper",
    "meta",
    "docs",
    "seals",
    "audit",
    "receipts",
    "sync_state",
    "registry",
    "outbox",
    "rejects",
];

/// One write of an atomic batch.
#[derive(Debug, Clone)]
pub enum Write {
    /// Insert or replace.
    Put(Table, Vec<u8>, Vec<u8>),
    /// Insert; the whole batch fails with [`StoreError::Exists`] when the key is there.
    PutNew(Table, Vec<u8>, Vec<u8>),
}

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store open.
    #[error("kho dữ liệu {0} đang được một tiến trình khác dùng (ví dụ `sync --daemon` hoặc `serve`); hãy dừng tiến trình đó hoặc thử lại")]
    Locked(PathBuf),
    /// The engine reports corruption or an unreadable file.
    #[error("kho dữ liệu {path} bị hỏng hoặc không đọc được: {detail}. Không ghi gì thêm; hãy khôi phục từ bản sao lưu gần nhất bằng lệnh `restore` (lệnh này kiểm từng bản ghi). Bản sao trong thư mục sealed/ chỉ dùng được sau khi đã kiểm chữ ký niêm phong (`verify`); đừng dùng bản chưa kiểm")]
    Corrupt {
        /// Which store.
        path: PathBuf,
        /// The engine's words.
        detail: String,
    },
    /// Written by a newer version of tinnhiem.
    #[error("kho dữ liệu có phiên bản {found}, bản này chỉ đọc được đến {STORE_VERSION}; hãy cập nhật phần mềm")]
    NewerVersion {
        /// The version found.
        found: u64,
    },
    /// An OS error.
    #[error("lỗi đọc/ghi kho dữ liệu: {0}")]
    Io(String),
    /// The disk holding the store is full. Batches are atomic: none of it was written, or
    /// (a full disk seen only at the fsync) all of it.
    #[error("đĩa chứa kho dữ liệu {0} đã đầy: lần ghi này không hoàn tất. Kho vẫn nguyên vẹn (mỗi lần ghi hoặc trọn vẹn hoặc không có gì). Hãy giải phóng chỗ trống trên đĩa rồi làm lại")]
    NoSpace(PathBuf),
    /// The store failed (a full disk, an I/O error) and has not been opened again yet; it
    /// reopens by itself (see [`Store`]).
    #[error("kho dữ liệu {path} tạm thời không dùng được từ {since}: {cause}. Máy đang tự mở lại kho; hãy thử lại sau ít phút")]
    Unavailable {
        /// Which store.
        path: PathBuf,
        /// Since when, in Vietnam time.
        since: String,
        /// The failure that took it down.
        cause: String,
    },
    /// A value stored under a key does not decode.
    #[error("bản ghi {key} trong kho không đọc được: {detail}")]
    BadRecord {
        /// The key.
        key: String,
        /// Why.
        detail: String,
    },
    /// The key already exists (on create).
    #[error("«{0}» đã có")]
    Exists(String),
}

impl StoreError {
    /// A failure of the disk or of the engine's hold on it: the engine is closed and
    /// opened again (see [`Store`]), not used further.
    fn takes_down(&self) -> bool {
        matches!(self, StoreError::Io(_) | StoreError::NoSpace(_))
    }
}

/// Whether the store can be used now, for `status`, dashboards and metrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// Reads and writes work (as far as the last one tells).
    pub available: bool,
    /// Unix seconds since it is unavailable.
    pub since: Option<i64>,
    /// The failure that took it down.
    pub cause: Option<String>,
    /// How many times it was opened again after a failure, in this process.
    pub reopened: u64,
    /// Failures of the disk seen, in this process. A full disk may take a small probe
    /// write while refusing every real one, so the store comes back within a second of
    /// each failure: this and [`Health::last_failure`] keep the outage visible.
    pub failures: u64,
    /// Unix seconds of the last failure of the disk, in this process.
    pub last_failure: Option<i64>,
    /// What that failure was.
    pub last_cause: Option<String>,
    /// Down now, or a failure within [`FAILING_FOR`]: what an operator is shown as
    /// "degraded", because `available` alone reads healthy between refused writes.
    pub failing: bool,
}

/// How long after a failure of the disk the store is still reported as failing.
pub const FAILING_FOR: Duration = Duration::from_secs(60);

/// How often a failed store is tried again: often enough that a hub is back within a
/// second of the disk, rarely enough that a refusing disk costs nothing.
const REOPEN_EVERY: Duration = Duration::from_millis(500);

/// What a backup holds.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct BackupSummary {
    /// Records in all tables.
    pub records: usize,
    /// Records per table.
    pub tables: Vec<(&'static str, usize)>,
}

/// An open store: a cheap, clonable handle on one engine.
///
/// Within one process a store directory is open at most once. A second
/// [`Store::open`] of a directory this process already holds gets a handle on the same
/// engine at once, instead of waiting for a lock that only its own caller could
/// release (the web server and its sync loop share a home; a request that holds the
/// store and asks for it again must not wait for itself). The engine closes when the
/// last handle is dropped.
///
/// A failed disk does not need a restart. redb refuses everything after a failed write
/// ("Previous I/O error … re-open the database"); so the first error of the disk (full,
/// EIO) closes the engine, every call meanwhile gets [`StoreError::Unavailable`] at once
/// (no I/O, nothing to log per call), and the next call after [`REOPEN_EVERY`] opens
/// the engine again and proves it with a durable write. A generation number makes sure
/// a late error of an engine already replaced does not take down its successor. One log
/// line when it goes down, one when it is back.
#[derive(Clone)]
pub struct Store {
    engine: Arc<Engine>,
}

struct Engine {
    dir: PathBuf,
    path: PathBuf,
    kind: BackendKind,
    faults: Option<Arc<faults::Faults>>,
    state: RwLock<EngineState>,
}

struct EngineState {
    /// The open engine; `None` while down.
    backend: Option<Arc<Backend>>,
    /// Bumped at each reopen.
    generation: u64,
    down: Option<Down>,
    /// Failures of the disk seen (see [`Health::failures`]).
    failures: u64,
    /// When the last one was.
    last_failure: Option<(i64, Instant, String)>,
}

impl EngineState {
    fn failed(&mut self, e: &StoreError) {
        self.failures += 1;
        self.last_failure = Some((now_unix(), Instant::now(), e.to_string()));
    }
}

struct Down {
    since: i64,
    cause: String,
    last_try: Instant,
}

impl Engine {
    fn unavailable(&self, d: &Down) -> StoreError {
        StoreError::Unavailable {
            path: self.path.clone(),
            since: tinnhiem_core::domain::when::moment_vi(d.since),
            cause: d.cause.clone(),
        }
    }

    /// The open engine, reopening it when it is down and the last try is old enough.
    fn current(&self) -> Result<(Arc<Backend>, u64), StoreError> {
        {
            let s = self.state.read().unwrap_or_else(|e| e.into_inner());
            match (&s.backend, &s.down) {
                (Some(b), _) => return Ok((b.clone(), s.generation)),
                (None, Some(d)) if d.last_try.elapsed() < REOPEN_EVERY => {
                    return Err(self.unavailable(d))
                }
                _ => {}
            }
        }
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = &s.backend {
            return Ok((b.clone(), s.generation));
        }
        if let Some(d) = &mut s.down {
            if d.last_try.elapsed() < REOPEN_EVERY {
                return Err(self.unavailable(d));
            }
            d.last_try = Instant::now();
        }
        let reopened =
            Backend::open(&self.dir, self.kind, &TABLES, self.faults.as_ref()).and_then(|b| {
                // Prove the disk takes a durable write again (the version, unchanged).
                b.write(
                    &self.path,
                    &[Op::Put("meta", VERSION_KEY, &STORE_VERSION_BYTES)],
                    true,
                )?;
                Ok(b)
            });
        match reopened {
            Ok(b) => {
                let b = Arc::new(b);
                s.generation += 1;
                s.backend = Some(b.clone());
                if let Some(d) = s.down.take() {
                    tracing::warn!(store = %self.path.display(), down_for_s = now_unix() - d.since,
                        "store available again");
                }
                Ok((b, s.generation))
            }
            Err(e) => {
                if e.takes_down() {
                    s.failed(&e);
                }
                let d = s.down.get_or_insert_with(|| Down {
                    since: now_unix(),
                    cause: String::new(),
                    last_try: Instant::now(),
                });
                // The first failure stays the cause; a still-locked engine (an old
                // handle not yet dropped) says nothing new.
                if d.cause.is_empty() {
                    d.cause = e.to_string();
                }
                Err(self.unavailable(d))
            }
        }
    }

    /// Closes engine `generation` after a failure of the disk, unless already replaced.
    fn went_down(&self, generation: u64, e: &StoreError) {
        let mut s = self.state.write().unwrap_or_else(|e| e.into_inner());
        s.failed(e);
        if s.generation != generation || s.backend.is_none() {
            return;
        }
        s.backend = None;
        s.down = Some(Down {
            since: now_unix(),
            cause: e.to_string(),
            last_try: Instant::now(),
        });
        tracing::error!(store = %self.path.display(),
            "store unavailable, reopening by itself every {} ms: {e}", REOPEN_EVERY.as_millis());
    }

    /// Runs `f` on the open engine; a failure of the disk takes the engine down.
    fn with<T>(&self, f: impl FnOnce(&Backend) -> Result<T, StoreError>) -> Result<T, StoreError> {
        let (backend, generation) = self.current()?;
        let r = f(&backend);
        if let Err(e) = &r {
            if e.takes_down() {
                drop(backend);
                self.went_down(generation, e);
            }
        }
        r
    }

    fn health(&self) -> Health {
        let current = self.current();
        let s = self.state.read().unwrap_or_else(|e| e.into_inner());
        let reopened = s.generation;
        let failures = s.failures;
        let last_failure = s.last_failure.as_ref().map(|f| f.0);
        let last_cause = s.last_failure.as_ref().map(|f| f.2.clone());
        let recent = s
            .last_failure
            .as_ref()
            .is_some_and(|f| f.1.elapsed() < FAILING_FOR);
        match (&s.down, current) {
            (Some(d), Err(_)) => Health {
                available: false,
                since: Some(d.since),
                cause: Some(d.cause.clone()),
                reopened,
                failures,
                last_failure,
                last_cause,
                failing: true,
            },
            _ => Health {
                available: true,
                since: None,
                cause: None,
                reopened,
                failures,
                last_failure,
                last_cause,
                failing: recent,
            },
        }
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The engines this process holds open, by canonical directory.
static OPEN: Mutex<BTreeMap<PathBuf, Weak<Engine>>> = Mutex::new(BTreeMap::new());

/// The directory as the registry names it: canonical when it exists, so that two
/// spellings of one directory share one engine.
fn registry_key(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
}

fn tombstone_key(session: &SessionId) -> String {
    format!("deleted/{session}")
}

fn actor_key(session: &SessionId) -> String {
    format!("actor/{session}")
}

fn seal_key(session: &SessionId, seq: u32) -> Vec<u8> {
    let mut k = session.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend(seq.to_be_bytes());
    k
}

fn ops_of(writes: &[Write]) -> Vec<Op<'_>> {
    writes
        .iter()
        .map(|w| match w {
            Write::Put(t, k, v) => Op::Put(t.name(), k, v),
            Write::PutNew(t, k, v) => Op::PutNew(t.name(), k, v),
        })
        .collect()
}

impl Store {
    /// Opens the store in `dir`, or creates one with engine `new_kind`. When another
    /// process holds it, waits up to `wait` for it to be released before reporting
    /// [`StoreError::Locked`].
    pub fn open(dir: &Path, new_kind: BackendKind, wait: Duration) -> Result<Store, StoreError> {
        Store::open_with_faults(dir, new_kind, wait, faults::Faults::from_env())
    }

    /// A redb store in `dir` on a simulated machine whose power the whole-system
    /// simulator can cut ([`faults::Power`]); never waits for another process.
    pub fn open_volatile(dir: &Path, power: Arc<faults::Power>) -> Result<Store, StoreError> {
        let faults = Arc::new(faults::Faults::volatile(power));
        Store::open_with_faults(dir, BackendKind::Redb, Duration::ZERO, Some(faults))
    }

    /// [`Store::open`] with test faults read from a given control file (see
    /// [`faults`]); tests only.
    pub(crate) fn open_with_faults(
        dir: &Path,
        new_kind: BackendKind,
        wait: Duration,
        faults: Option<Arc<faults::Faults>>,
    ) -> Result<Store, StoreError> {
        let start = std::time::Instant::now();
        loop {
            // The registry lock is held across the engine's open, so two threads of
            // this process never race to open the same directory.
            let mut open = OPEN.lock().unwrap_or_else(|e| e.into_inner());
            let key = registry_key(dir);
            if let Some(engine) = open.get(&key).and_then(Weak::upgrade) {
                return Ok(Store { engine });
            }
            // A handle of this process that is being dropped right now still holds the
            // engine's lock for a moment: wait for it even when `wait` is zero.
            let ours = open.contains_key(&key);
            open.retain(|_, w| w.strong_count() > 0);
            let kind = BackendKind::detect(dir).unwrap_or(new_kind);
            match Backend::open(dir, kind, &TABLES, faults.as_ref()) {
                Ok(backend) => {
                    let store = Store {
                        engine: Arc::new(Engine {
                            dir: dir.to_owned(),
                            path: backend::describe(dir, kind),
                            kind,
                            faults,
                            state: RwLock::new(EngineState {
                                backend: Some(Arc::new(backend)),
                                generation: 0,
                                down: None,
                                failures: 0,
                                last_failure: None,
                            }),
                        }),
                    };
                    store.migrate()?;
                    open.insert(registry_key(dir), Arc::downgrade(&store.engine));
                    return Ok(store);
                }
                Err(StoreError::Locked(_))
                    if start.elapsed() < wait.max(Duration::from_secs(ours as u64)) =>
                {
                    drop(open);
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The engine in use.
    pub fn kind(&self) -> BackendKind {
        self.engine.kind
    }

    /// Whether the store works now; when it is down and due, tries to open it again.
    pub fn health(&self) -> Health {
        self.engine.health()
    }

    fn raw_get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let path = &self.engine.path;
        self.engine.with(|b| b.get(path, table, key))
    }

    fn raw_scan(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let path = &self.engine.path;
        self.engine.with(|b| b.scan(path, table, prefix))
    }

    fn raw_write(&self, ops: &[Op<'_>], durable: bool) -> Result<(), StoreError> {
        let path = &self.engine.path;
        self.engine.with(|b| b.write(path, ops, durable))
    }

    fn get(&self, table: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.raw_get(table, key)? {
            None => Ok(None),
            Some(v) => unseal(table, key, v).map(Some),
        }
    }

    fn scan(&self, table: &'static str, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        self.raw_scan(table, prefix)?
            .into_iter()
            .filter(|(k, _)| !(table == "meta" && k == VERSION_KEY))
            .map(|(k, v)| {
                let v = unseal(table, &k, v)?;
                Ok((k, v))
            })
            .collect()
    }

    /// Writes a batch durably; every value carries its check (see [`check_of`]).
    fn write(&self, ops: &[Op<'_>]) -> Result<(), StoreError> {
        self.write_checked(ops, true)
    }

    fn write_checked(&self, ops: &[Op<'_>], durable: bool) -> Result<(), StoreError> {
        let checked: Vec<Vec<u8>> = ops
            .iter()
            .map(|op| match op {
                Op::Put(t, k, v) | Op::PutNew(t, k, v) => with_check(t, k, v),
                Op::Delete(..) => Vec::new(),
            })
            .collect();
        let ops: Vec<Op<'_>> = ops
            .iter()
            .zip(&checked)
            .map(|(op, v)| match *op {
                Op::Put(t, k, _) => Op::Put(t, k, v),
                Op::PutNew(t, k, _) => Op::PutNew(t, k, v),
                Op::Delete(t, k) => Op::Delete(t, k),
            })
            .collect();
        self.raw_write(&ops, durable)
    }

    fn version(&self) -> Result<Option<u64>, StoreError> {
        match self.raw_get("meta", VERSION_KEY)? {
            None => Ok(None),
            Some(v) => Ok(Some(u64::from_be_bytes(v.as_slice().try_into().map_err(
                |_| StoreError::BadRecord {
                    key: "meta/store_version".into(),
                    detail: "độ dài".into(),
                },
            )?))),
        }
    }

    fn set_version(&self, extra: &[Op<'_>]) -> Result<(), StoreError> {
        let mut ops = vec![Op::Put("meta", VERSION_KEY, &STORE_VERSION_BYTES)];
        ops.extend_from_slice(extra);
        self.raw_write(&ops, true)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        match self.version()? {
            None => self.set_version(&[]),
            Some(1) => {
                // Version 1 stored bare values; version 2 appends a check to each. Rewrite
                // every record and the version number in one batch: a crash leaves
                // either the old store or the new one.
                let mut rewritten: Vec<(&'static str, Vec<u8>, Vec<u8>)> = Vec::new();
                for t in TABLES {
                    for (k, v) in self.raw_scan(t, b"")? {
                        if t == "meta" && k == VERSION_KEY {
                            continue;
                        }
                        let nv = with_check(t, &k, &v);
                        rewritten.push((t, k, nv));
                    }
                }
                let ops: Vec<Op<'_>> = rewritten.iter().map(|(t, k, v)| Op::Put(t, k, v)).collect();
                self.set_version(&ops)
            }
            Some(found) => {
                if found > STORE_VERSION {
                    return Err(StoreError::NewerVersion { found });
                }
                Ok(())
            }
        }
    }

    /// Copies the whole store, as one consistent state, into a new redb store in
    /// `dest` (which must not hold a store), then opens the copy and checks every record
    /// against its check value. The source keeps serving meanwhile.
    pub fn backup_to(&self, dest: &Path) -> Result<BackupSummary, StoreError> {
        if BackendKind::detect(dest).is_some() {
            return Err(StoreError::Exists(dest.display().to_string()));
        }
        let path = &self.engine.path;
        let snap = self.engine.with(|b| b.snapshot(path, &TABLES))?;
        let copy = Backend::open(dest, BackendKind::Redb, &TABLES, None)?;
        let path = backend::describe(dest, BackendKind::Redb);
        let ops: Vec<Op<'_>> = snap
            .iter()
            .flat_map(|(t, rows)| rows.iter().map(move |(k, v)| Op::Put(t, k, v)))
            .collect();
        copy.write(&path, &ops, true)?;
        drop(copy);
        // Read it all back through the checks, as a restore would.
        let check = Store::open(dest, BackendKind::Redb, Duration::ZERO)?;
        let mut summary = BackupSummary::default();
        for t in TABLES {
            let n = check.scan(t, b"")?.len();
            summary.records += n;
            summary.tables.push((t, n));
        }
        Ok(summary)
    }

    /// A value of any table.
    pub fn read(&self, table: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(table.name(), key)
    }

    /// Every entry of a table whose key starts with `prefix`, in key order.
    pub fn scan_table(&self, table: Table, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        self.scan(table.name(), prefix)
    }

    /// Applies every write or none; durable when it returns.
    pub fn batch(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.write_checked(&ops_of(writes), true)
    }

    /// Applies every write or none, without waiting for the disk: for what may be lost
    /// in a crash at no cost but redoing it (sync progress, "sent" marks). It reaches
    /// the disk with the next durable batch; a crash before that loses it whole.
    pub fn batch_lazy(&self, writes: &[Write]) -> Result<(), StoreError> {
        self.write_checked(&ops_of(writes), false)
    }

    /// A value from the `meta` table.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get("meta", key.as_bytes())
    }

    /// Sets a value in the `meta` table, durably.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write(&[Op::Put("meta", key.as_bytes(), value)])
    }

    /// The device actor of this home, made on first use.
    pub fn device(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(d) = self.meta("device")? {
            return Ok(d);
        }
        let mut d = [0u8; 16];
        getrandom::getrandom(&mut d).map_err(|e| StoreError::Io(e.to_string()))?;
        self.set_meta("device", &d)?;
        Ok(d.to_vec())
    }

    /// Every session id in the store.
    pub fn sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        self.scan("docs", b"")?
            .into_iter()
            .map(|(k, _)| {
                let s = String::from_utf8_lossy(&k).into_owned();
                SessionId::new(s.clone()).map_err(|e| StoreError::BadRecord {
                    key: format!("docs/{s}"),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// The saved document of a session.
    pub fn doc(&self, session: &SessionId) -> Result<Option<Vec<u8>>, StoreError> {
        self.get("docs", session.as_str().as_bytes())
    }

    /// Stores a new session's document with its audit line; refuses when the session
    /// exists.
    pub fn create_doc(
        &self,
        session: &SessionId,
        bytes: &[u8],
        audit: &AuditLine,
    ) -> Result<(), StoreError> {
        let (k, v) = audit.encode()?;
        self.write(&[
            Op::PutNew("docs", session.as_str().as_bytes(), bytes),
            Op::Put("audit", &k, &v),
        ])
        .map_err(|e| match e {
            StoreError::Exists(_) => StoreError::Exists(session.to_string()),
            other => other,
        })
    }

    /// Replaces a session's document, with its audit line, durably.
    pub fn put_doc(
        &self,
        session: &SessionId,
        bytes: &[u8],
        audit: &AuditLine,
    ) -> Result<(), StoreError> {
        let (k, v) = audit.encode()?;
        self.write(&[
            Op::Put("docs", session.as_str().as_bytes(), bytes),
            Op::Put("audit", &k, &v),
        ])
    }

    /// Removes a session's document, leaving `tombstone` under `meta/deleted/SESSION`,
    /// the Automerge actor this home writes the session with from now on under
    /// `meta/actor/SESSION` (see [`Store::actor`]), and the audit line, in one durable
    /// batch. Refused when the session has a seal: sealed minutes are never deleted.
    pub fn delete_doc(
        &self,
        session: &SessionId,
        tombstone: &[u8],
        actor: &[u8],
        audit: &AuditLine,
    ) -> Result<(), StoreError> {
        if !self.seals(session)?.is_empty() {
            return Err(StoreError::Exists(format!(
                "niêm phong của phiên {session}"
            )));
        }
        let (k, v) = audit.encode()?;
        let key = tombstone_key(session);
        let actor_key = actor_key(session);
        self.write(&[
            Op::Delete("docs", session.as_str().as_bytes()),
            Op::Put("meta", key.as_bytes(), tombstone),
            Op::Put("meta", actor_key.as_bytes(), actor),
            Op::Put("audit", &k, &v),
        ])
    }

    /// The Automerge actor this home writes `session` with, when it is not the device's:
    /// after a deletion. Automerge numbers each actor's changes; a session made again
    /// under a deleted one's id must not number its changes as the deleted history did,
    /// or the two could never be merged (a restore, a copy from another laptop).
    pub fn actor(&self, session: &SessionId) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(&actor_key(session))
    }

    /// What [`Store::delete_doc`] left for a session, if it was deleted.
    pub fn tombstone(&self, session: &SessionId) -> Result<Option<Vec<u8>>, StoreError> {
        self.meta(&tombstone_key(session))
    }

    /// Stores a session's document, forgetting its tombstone (a deleted session brought
    /// back on purpose), with the audit line, in one durable batch.
    pub fn restore_doc(
        &self,
        session: &SessionId,
        bytes: &[u8],
        audit: &AuditLine,
    ) -> Result<(), StoreError> {
        let (k, v) = audit.encode()?;
        let key = tombstone_key(session);
        self.write(&[
            Op::Put("docs", session.as_str().as_bytes(), bytes),
            Op::Delete("meta", key.as_bytes()),
            Op::Put("audit", &k, &v),
        ])
    }

    /// Every seal of a session, by `seq`.
    pub fn seals(&self, session: &SessionId) -> Result<Vec<Seal>, StoreError> {
        let mut prefix = session.as_str().as_bytes().to_vec();
        prefix.push(0);
        self.scan("seals", &prefix)?
            .into_iter()
            .map(|(k, v)| {
                Seal::from_bytes(&v).map_err(|e| StoreError::BadRecord {
                    key: format!("seals/{}", String::from_utf8_lossy(&k)),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    /// Stores a seal together with the document bytes it was made on and its audit
    /// line, in one durable batch. Only after this returns may anyone be told.
    pub fn put_seal(
        &self,
        session: &SessionId,
        seal: &Seal,
        doc: &[u8],
        audit: &AuditLine,
    ) -> Result<(), StoreError> {
        let key = seal_key(session, seal.body.seq);
        let sb = seal.to_bytes();
        let (ak, av) = audit.encode()?;
        self.write(&[
            Op::Put("docs", session.as_str().as_bytes(), doc),
            Op::PutNew("seals", &key, &sb),
            Op::Put("audit", &ak, &av),
        ])
    }

    /// Appends a line to the audit log on its own.
    pub fn audit(&self, line: &AuditLine) -> Result<(), StoreError> {
        let (k, v) = line.encode()?;
        self.write(&[Op::Put("audit", &k, &v)])
    }

    /// The audit log, oldest first, as JSON lines.
    pub fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .scan("audit", b"")?
            .into_iter()
            .map(|(_, v)| String::from_utf8_lossy(&v).into_owned())
            .collect())
    }
}

const VERSION_KEY: &[u8] = b"store_version";
const STORE_VERSION_BYTES: [u8; 8] = STORE_VERSION.to_be_bytes();
const CHECK_LEN: usize = 8;

/// The check appended to every stored value: the first 8 bytes of SHA-256 over the
/// table, the key and the value. Storage engines do not all verify what they read
/// (redb checks its pages only when repairing), so a flipped bit on disk must be caught
/// here: a damaged record is refused, never served. Including table and key also catches
/// a value that landed under the wrong key.
fn check_of(table: &str, key: &[u8], value: &[u8]) -> [u8; CHECK_LEN] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update((table.len() as u32).to_be_bytes());
    h.update(table.as_bytes());
    h.update((key.len() as u32).to_be_bytes());
    h.update(key);
    h.update(value);
    let d = h.finalize();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&d[..CHECK_LEN]);
    out
}

/// A value as stored: the value, then its check.
fn with_check(table: &str, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + CHECK_LEN);
    out.extend_from_slice(value);
    out.extend(check_of(table, key, value));
    out
}

fn unseal(table: &str, key: &[u8], mut v: Vec<u8>) -> Result<Vec<u8>, StoreError> {
    let bad = || StoreError::BadRecord {
        key: format!("{table}/{}", String::from_utf8_lossy(key)),
        detail: "mã kiểm tra không khớp: bản ghi bị hỏng trên đĩa".into(),
    };
    if v.len() < CHECK_LEN {
        return Err(bad());
    }
    let at = v.len() - CHECK_LEN;
    if v[at..] != check_of(table, key, &v[..at]) {
        return Err(bad());
    }
    v.truncate(at);
    Ok(v)
}

/// One line of the audit log: who did what, when. Written in the same batch as the
/// change it describes.
#[derive(Debug, Clone)]
pub struct AuditLine {
    /// Unix seconds.
    pub at: i64,
    /// Who (an OS user, a web login).
    pub who: String,
    /// What, in words.
    pub what: String,
}

impl AuditLine {
    /// A line stamped `at`.
    pub fn new(at: i64, who: impl Into<String>, what: impl Into<String>) -> AuditLine {
        AuditLine {
            at,
            who: who.into(),
            what: what.into(),
        }
    }

    fn encode(&self) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        // Ordered by the line's second, then by when it was written (nanoseconds of
        // the machine's clock), then random bytes against two writers in the same
        // nanosecond: a seal must be listed after the import it seals, even within
        // one second (random bytes alone listed them in any order).
        let mut k = self.at.to_be_bytes().to_vec();
        let written = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        k.extend(written.to_be_bytes());
        let mut r = [0u8; 4];
        getrandom::getrandom(&mut r).map_err(|e| StoreError::Io(e.to_string()))?;
        k.extend(r);
        let v = serde_json::json!({"at": self.at, "who": self.who, "what": self.what}).to_string();
        Ok((k, v.into_bytes()))
    }
}

#[cfg(test)]
mod fault_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use tinnhiem_core::seal::{Seal, SealBody, UnitKey};

    fn line() -> AuditLine {
        AuditLine::new(5, "clerk", "test")
    }

    #[test]
    fn audit_lines_of_one_second_are_listed_in_the_order_they_were_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(dir.path(), BackendKind::Redb, Duration::ZERO).expect("open");
        for i in 0..40 {
            s.audit(&AuditLine::new(1_700_000_000, "clerk", format!("{i:02}")))
                .expect("audit");
        }
        let whats: Vec<String> = s
            .audit_log()
            .expect("log")
            .iter()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json")["what"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect();
        let written: Vec<String> = (0..40).map(|i| format!("{i:02}")).collect();
        assert_eq!(whats, written);
    }

    #[test]
    fn docs_and_seals_round_trip_and_survive_reopen() {
        for kind in [BackendKind::Redb, BackendKind::Sled] {
            round_trip(kind);
        }
    }

    fn round_trip(kind: BackendKind) {
        let dir = tempfile::tempdir().expect("tmp");
        let s = SessionId::new("ky-hop-1").expect("id");
        {
            let st = Store::open(dir.path(), kind, Duration::ZERO).expect("open");
            st.create_doc(&s, b"doc-1", &line()).expect("create");
            assert!(matches!(
                st.create_doc(&s, b"doc-2", &line()),
                Err(StoreError::Exists(_))
            ));
            assert_eq!(st.kind(), kind);
            let body = SealBody {
                unit: "u".parse().expect("id"),
                session: s.clone(),
                seq: 1,
                heads: vec![[1; 32]],
                result_digest: [2; 32],
                sealed_at: 3,
                signer: UnitKey::from_seed([1; 32]).public().0,
            };
            let seal = Seal::sign(&UnitKey::from_seed([1; 32]), body);
            st.put_seal(&s, &seal, b"doc-sealed", &line())
                .expect("seal");
            assert!(
                st.put_seal(&s, &seal, b"other", &line()).is_err(),
                "a seq is written once"
            );
        }
        let st = Store::open(dir.path(), kind, Duration::ZERO).expect("reopen");
        assert_eq!(
            st.doc(&s).expect("doc").as_deref(),
            Some(&b"doc-sealed"[..])
        );
        let seals = st.seals(&s).expect("seals");
        assert_eq!(seals.len(), 1);
        seals[0].verify_signature().expect("sig");
        assert_eq!(st.sessions().expect("list"), vec![s.clone()]);
        assert_eq!(st.audit_log().expect("audit").len(), 2);
        assert_eq!(
            st.doc(&s).expect("doc").as_deref(),
            Some(&b"doc-sealed"[..]),
            "a refused batch writes nothing"
        );
        assert_eq!(st.device().expect("dev"), st.device().expect("dev"));
    }

    #[test]
    fn a_deleted_doc_leaves_a_tombstone_and_a_sealed_one_stays() {
        for kind in [BackendKind::Redb, BackendKind::Sled] {
            let dir = tempfile::tempdir().expect("tmp");
            let (a, b) = (
                SessionId::new("ky-hop-1").expect("id"),
                SessionId::new("ky-hop-2").expect("id"),
            );
            {
                let st = Store::open(dir.path(), kind, Duration::ZERO).expect("open");
                st.create_doc(&a, b"doc-a", &line()).expect("create");
                st.create_doc(&b, b"doc-b", &line()).expect("create");
                let key = UnitKey::from_seed([1; 32]);
                let body = SealBody {
                    unit: "u".parse().expect("id"),
                    session: b.clone(),
                    seq: 1,
                    heads: vec![[1; 32]],
                    result_digest: [2; 32],
                    sealed_at: 3,
                    signer: key.public().0,
                };
                st.put_seal(&b, &Seal::sign(&key, body), b"doc-b", &line())
                    .expect("seal");
                st.delete_doc(&a, b"gone", b"actor-a", &line())
                    .expect("delete");
                assert!(st.delete_doc(&b, b"gone", b"actor-b", &line()).is_err());
            }
            let st = Store::open(dir.path(), kind, Duration::ZERO).expect("reopen");
            assert_eq!(st.sessions().expect("list"), vec![b.clone()]);
            assert_eq!(st.doc(&a).expect("doc"), None);
            assert_eq!(st.tombstone(&a).expect("t").as_deref(), Some(&b"gone"[..]));
            assert_eq!(st.tombstone(&b).expect("t"), None);
            assert_eq!(st.actor(&a).expect("a").as_deref(), Some(&b"actor-a"[..]));
            assert_eq!(st.actor(&b).expect("a"), None);
            st.restore_doc(&a, b"doc-a2", &line()).expect("restore");
            assert_eq!(st.tombstone(&a).expect("t"), None);
            assert_eq!(st.doc(&a).expect("doc").as_deref(), Some(&b"doc-a2"[..]));
        }
    }

    #[test]
    fn a_second_open_in_the_same_process_shares_the_store_at_once() {
        for kind in [BackendKind::Redb, BackendKind::Sled] {
            let dir = tempfile::tempdir().expect("tmp");
            let s = SessionId::new("ky-hop-1").expect("id");
            let first = Store::open(dir.path(), kind, Duration::ZERO).expect("open");
            // Another spelling of the same directory, no waiting allowed: a lock held
            // by this very process must not be waited for.
            let again = dir.path().join(".");
            let second = Store::open(&again, kind, Duration::ZERO).expect("second open");
            first.create_doc(&s, b"doc-1", &line()).expect("create");
            assert_eq!(second.doc(&s).expect("read"), Some(b"doc-1".to_vec()));
            drop(first);
            drop(second);
            // Closed with the last handle: open again from scratch.
            let third = Store::open(dir.path(), kind, Duration::ZERO).expect("reopen");
            assert_eq!(third.doc(&s).expect("read"), Some(b"doc-1".to_vec()));
        }
    }

    #[test]
    fn a_newer_store_is_refused() {
        let kind = BackendKind::Redb;
        let dir = tempfile::tempdir().expect("tmp");
        {
            let st = Store::open(dir.path(), kind, Duration::ZERO).expect("open");
            st.raw_write(&[Op::Put("meta", VERSION_KEY, &99u64.to_be_bytes())], true)
                .expect("set");
        }
        assert!(matches!(
            Store::open(dir.path(), kind, Duration::ZERO),
            Err(StoreError::NewerVersion { found: 99 })
        ));
    }

    #[test]
    fn a_version_one_store_is_migrated_in_place() {
        for kind in [BackendKind::Redb, BackendKind::Sled] {
            let dir = tempfile::tempdir().expect("tmp");
            let s = SessionId::new("ky-hop-1").expect("id");
            {
                // What version 1 wrote: bare values.
                let st = Store::open(dir.path(), kind, Duration::ZERO).expect("open");
                st.raw_write(
                    &[
                        Op::Put("meta", VERSION_KEY, &1u64.to_be_bytes()),
                        Op::Put("docs", s.as_str().as_bytes(), b"old document"),
                    ],
                    true,
                )
                .expect("v1");
            }
            let st = Store::open(dir.path(), kind, Duration::ZERO).expect("migrates");
            assert_eq!(st.version().expect("v"), Some(STORE_VERSION));
            assert_eq!(
                st.doc(&s).expect("doc").as_deref(),
                Some(&b"old document"[..])
            );
        }
    }

    #[test]
    fn a_flipped_bit_is_refused_not_served() {
        let dir = tempfile::tempdir().expect("tmp");
        let st = Store::open(dir.path(), BackendKind::Redb, Duration::ZERO).expect("open");
        let s = SessionId::new("ky-hop-1").expect("id");
        st.put_doc(&s, b"the document", &line()).expect("put");
        let mut raw = st
            .raw_get("docs", s.as_str().as_bytes())
            .expect("raw")
            .expect("some");
        raw[2] ^= 0x10;
        st.raw_write(&[Op::Put("docs", s.as_str().as_bytes(), &raw)], true)
            .expect("damage");
        assert!(matches!(st.doc(&s), Err(StoreError::BadRecord { .. })));
    }
}
