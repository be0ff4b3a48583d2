//! Replacing a whole file so that a crash leaves the old content or the new, never
//! part of either, and the new one survives power loss once this returns. One helper
//! for every file a home replaces (`node.toml`, `hub.toml`, `users.toml`, copies of
//! sealed minutes, exports): before it, the hub's config was renamed without any fsync
//! and written plainly at `init`, and accounts fsynced the file but not the directory.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temporary file beside `path` (same directory, so the rename is atomic).
fn temp_of(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes `bytes` to `path` atomically and durably: a temporary file in the same
/// directory, fsynced, renamed over `path`, then the directory fsynced (the rename is
/// durable only then). `mode` (Unix permission bits) is the new file's, e.g. `0o600`
/// for secrets; `None` leaves the process's umask. Creates missing directories.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = temp_of(path);
    // A temporary file left by a crash may carry other permissions: start afresh.
    let _ = std::fs::remove_file(&tmp);
    {
        let mut o = std::fs::OpenOptions::new();
        o.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(m) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            o.mode(m);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut f = o.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    if let Err(e) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Makes the directory's entries (a rename, a new file) durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_leaves_no_temporary_and_keeps_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sub/users.toml");
        write_atomic(&p, b"one", Some(0o600)).expect("first");
        // A temporary file a crash left behind, world-readable, is not reused.
        std::fs::write(temp_of(&p), b"stale").expect("stale");
        write_atomic(&p, b"two", Some(0o600)).expect("second");
        assert_eq!(std::fs::read(&p).expect("read"), b"two");
        assert!(!temp_of(&p).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let m = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(m & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(p.parent().expect("dir"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["users.toml"]);
    }

    #[test]
    fn a_failed_rename_keeps_the_old_file_and_removes_the_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory in the way: rename cannot replace it.
        let p = dir.path().join("x");
        std::fs::create_dir(&p).expect("dir");
        std::fs::write(p.join("inner"), b"keep").expect("inner");
        assert!(write_atomic(&p, b"new", None).is_err());
        assert!(!temp_of(&p).exists());
        assert_eq!(std::fs::read(p.join("inner")).expect("read"), b"keep");
    }
}
