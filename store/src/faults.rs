//! Fault injection for tests only: a full disk, a failed fsync, an I/O error on read,
//! so that the paths that handle them are run, not only reasoned about.
//!
//! Inert unless the environment variable [`ENV`] names a control file (or a unit test
//! passes one to [`super::Store::open_with_faults`]). The file holds words separated by
//! blanks; each present word is a fault in force, read again at every I/O, so a test
//! writes the file to break the disk and removes it to bring the space back, while the
//! process runs:
//!
//! - `write:nospace`, `write:eio`: every write to the store's files fails (`ENOSPC`,
//!   `EIO`);
//! - `sync:eio`: every fsync of the store fails;
//! - `read:eio`: every read of the store's files fails;
//! - `copy:nospace`: the node's plain copies in `sealed/` cannot be written, nor the
//!   files a backup or restore copies beside the store (keys, config, log file).
//!
//! With redb the faults are injected below the engine, in its `StorageBackend`, so redb
//! meets them as it would a real disk (and poisons itself as it would). sled has no such
//! hook: its faults are injected at our engine boundary instead.
//!
//! Never set [`ENV`] in production: it exists for `tests/tests/disk.rs` and the store's
//! unit tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The environment variable naming the control file (test-only).
pub const ENV: &str = "TINNHIEM_TEST_STORE_FAULTS";

/// The kinds of I/O a fault can break.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    /// Writing (or growing) the store's files.
    Write,
    /// fsync of the store.
    Sync,
    /// Reading the store's files.
    Read,
    /// Writing the node's plain copies of sealed minutes.
    Copy,
}

/// Where to look for faults in force: the control file, when testing; and the power
/// of the simulated machine the store runs on, when simulating.
#[derive(Debug, Clone)]
pub struct Faults {
    control: Option<PathBuf>,
    power: Option<Arc<Power>>,
}

impl Faults {
    /// The faults named by [`ENV`], if set.
    pub fn from_env() -> Option<Arc<Faults>> {
        let p = std::env::var_os(ENV)?;
        Some(Arc::new(Faults::at(Path::new(&p))))
    }

    /// Faults read from `control`.
    pub fn at(control: &Path) -> Faults {
        Faults {
            control: Some(control.to_owned()),
            power: None,
        }
    }

    /// No fault in force, but a store on a machine whose power the whole-system
    /// simulator can cut (see [`Power`]).
    pub fn volatile(power: Arc<Power>) -> Faults {
        Faults {
            control: None,
            power: Some(power),
        }
    }

    /// The error an I/O of kind `io` meets now, if a fault is in force.
    pub fn check(&self, io: Io) -> std::io::Result<()> {
        let Some(control) = &self.control else {
            return Ok(());
        };
        let Ok(text) = std::fs::read_to_string(control) else {
            return Ok(());
        };
        let prefix = match io {
            Io::Write => "write:",
            Io::Sync => "sync:",
            Io::Read => "read:",
            Io::Copy => "copy:",
        };
        for word in text.split_whitespace() {
            if let Some(kind) = word.strip_prefix(prefix) {
                return Err(match kind {
                    "nospace" => std::io::Error::from_raw_os_error(28), // ENOSPC
                    _ => std::io::Error::from_raw_os_error(5),          // EIO
                });
            }
        }
        Ok(())
    }
}

/// The fault an I/O of kind `io` meets now, from [`ENV`] (for writes outside the store).
pub fn check_env(io: Io) -> std::io::Result<()> {
    match Faults::from_env() {
        Some(f) => f.check(io),
        None => Ok(()),
    }
}

/// redb's file backend with faults injected in front of it.
#[derive(Debug)]
pub(crate) struct FaultyFile {
    pub(crate) inner: redb::backends::FileBackend,
    pub(crate) faults: Arc<Faults>,
}

impl redb::StorageBackend for FaultyFile {
    fn len(&self) -> std::io::Result<u64> {
        self.inner.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        self.faults.check(Io::Read)?;
        if let Some(p) = &self.faults.power {
            p.alive()?;
        }
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        // Growing the file is where a full disk shows first.
        let old = self.inner.len()?;
        if len > old {
            self.faults.check(Io::Write)?;
        }
        if let Some(p) = &self.faults.power {
            let mut undo = p.lock();
            if undo.cut {
                return Ok(());
            }
            if len < old {
                let mut tail = vec![0; (old - len) as usize];
                self.inner.read(len, &mut tail)?;
                undo.steps.push(Undo::Write(len, tail));
            }
            undo.steps.push(Undo::Len(old));
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.faults.check(Io::Sync)?;
        if let Some(p) = &self.faults.power {
            // On disk from now on; the simulated machine's disk needs no real fsync.
            let mut undo = p.lock();
            undo.steps.clear();
            return Ok(());
        }
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.faults.check(Io::Write)?;
        if let Some(p) = &self.faults.power {
            let mut undo = p.lock();
            if undo.cut {
                return Ok(()); // the process is gone; nothing it writes lands
            }
            let len = self.inner.len()?;
            let end = offset + data.len() as u64;
            if end > len {
                undo.steps.push(Undo::Len(len));
            }
            if offset < len {
                let mut old = vec![0; (end.min(len) - offset) as usize];
                self.inner.read(offset, &mut old)?;
                undo.steps.push(Undo::Write(offset, old));
            }
        }
        self.inner.write(offset, data)
    }

    fn close(&self) -> std::io::Result<()> {
        self.inner.close()
    }

    fn try_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.try_lock_shared_range(start, end)
    }

    fn lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_range(start, end)
    }

    fn lock_shared_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.lock_shared_range(start, end)
    }

    fn unlock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<(), redb::BackendError> {
        self.inner.unlock_range(start, end)
    }

    fn query_lock_range(
        &self,
        start: std::ops::Bound<u64>,
        end: std::ops::Bound<u64>,
    ) -> Result<bool, redb::BackendError> {
        self.inner.query_lock_range(start, end)
    }
}

/// The power of a simulated machine (`tinnhiem-sim`): every write to the store's file
/// since its last fsync can be taken back. [`Power::cut`] puts the file back as it was
/// at that fsync and makes every later I/O of the engine a no-op, as a power cut (or a
/// crash of the process together with its page cache) would: what was written without
/// waiting for the disk (`Store::batch_lazy`) is gone, what `Store::batch` returned
/// from is there. A real fsync is never made: the simulator decides what the disk kept.
#[derive(Debug)]
pub struct Power {
    path: PathBuf,
    state: std::sync::Mutex<PowerState>,
}

#[derive(Debug, Default)]
struct PowerState {
    cut: bool,
    /// Since the last fsync, in order.
    steps: Vec<Undo>,
}

#[derive(Debug)]
enum Undo {
    /// Bytes at an offset, as they were.
    Write(u64, Vec<u8>),
    /// The file's length, as it was.
    Len(u64),
}

impl Power {
    /// The power of the machine holding the store in `dir` (redb's file there).
    pub fn new(dir: &Path) -> Power {
        Power {
            path: dir.join(crate::backend::REDB_FILE),
            state: Default::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PowerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive(&self) -> std::io::Result<()> {
        if self.lock().cut {
            return Err(std::io::Error::other("power cut"));
        }
        Ok(())
    }

    /// Cuts the power: the file goes back to its last fsync, and stays so.
    pub fn cut(&self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let mut s = self.lock();
        s.cut = true;
        let steps = std::mem::take(&mut s.steps);
        if steps.is_empty() {
            return Ok(());
        }
        let f = std::fs::OpenOptions::new().write(true).open(&self.path)?;
        for step in steps.into_iter().rev() {
            match step {
                Undo::Write(at, old) => f.write_all_at(&old, at)?,
                Undo::Len(len) => f.set_len(len)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod power_tests {
    use super::Power;
    use crate::{Store, Table, Write};
    use std::sync::Arc;

    fn put(k: &str) -> Vec<Write> {
        vec![Write::Put(
            Table::Meta,
            k.as_bytes().to_vec(),
            b"v".to_vec(),
        )]
    }

    #[test]
    fn a_power_cut_keeps_what_was_synced_and_loses_what_was_not() {
        let dir = tempfile::tempdir().expect("tmp");
        let at = dir.path().join("s");
        let power = Arc::new(Power::new(&at));
        let store = Store::open_volatile(&at, power.clone()).expect("open");
        store.batch(&put("durable")).expect("batch");
        store.batch_lazy(&put("lazy")).expect("lazy");
        assert!(store.read(Table::Meta, b"lazy").expect("read").is_some());
        power.cut().expect("cut");
        drop(store);
        let store = Store::open_volatile(&at, Arc::new(Power::new(&at))).expect("reopen");
        assert!(store.read(Table::Meta, b"durable").expect("read").is_some());
        assert!(store.read(Table::Meta, b"lazy").expect("read").is_none());
        // A lazy write followed by a durable one is on disk with it.
        store.batch_lazy(&put("lazy2")).expect("lazy");
        store.batch(&put("durable2")).expect("batch");
        drop(store);
        let store = Store::open_volatile(&at, Arc::new(Power::new(&at))).expect("reopen");
        assert!(store.read(Table::Meta, b"lazy2").expect("read").is_some());
    }
}
