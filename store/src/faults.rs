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

/// Where to look for faults in force: the control file, when testing.
#[derive(Debug, Clone)]
pub struct Faults {
    control: PathBuf,
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
            control: control.to_owned(),
        }
    }

    /// The error an I/O of kind `io` meets now, if a fault is in force.
    pub fn check(&self, io: Io) -> std::io::Result<()> {
        let Ok(text) = std::fs::read_to_string(&self.control) else {
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
        self.inner.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::io::Result<()> {
        // Growing the file is where a full disk shows first.
        if len > self.inner.len()? {
            self.faults.check(Io::Write)?;
        }
        self.inner.set_len(len)
    }

    fn sync_data(&self) -> std::io::Result<()> {
        self.faults.check(Io::Sync)?;
        self.inner.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.faults.check(Io::Write)?;
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
