//! Backup and restore of a whole home (node or hub): the store as one consistent
//! snapshot taken while the service runs, and beside it the home's config, key and
//! accounts, copied as they are. A restore goes only into an empty place and checks the
//! backup's every record first: it can never overwrite or mix with a live home.

use super::{BackendKind, BackupSummary, Store, StoreError};
use std::path::Path;
use std::time::Duration;

fn io(what: &str, p: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io(format!("{what} {}: {e}", p.display()))
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(to).map_err(|e| io("không tạo được", to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io("không đọc được", from, e))? {
        let entry = entry.map_err(|e| io("không đọc được", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| io("không đọc được", &src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            copy_file(&src, &dst)?;
        }
    }
    Ok(())
}

/// Copies a file (permissions included: a key stays 0600) and makes it durable.
fn copy_file(src: &Path, dst: &Path) -> Result<(), StoreError> {
    super::faults::check_env(super::faults::Io::Copy).map_err(|e| io("không chép được", src, e))?;
    std::fs::copy(src, dst).map_err(|e| io("không chép được", src, e))?;
    std::fs::File::open(dst)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("không ghi được", dst, e))
}

/// Copies one file durably (a hub carrying its old log file into a restored home).
pub fn copy_durably(src: &Path, dst: &Path) -> Result<(), StoreError> {
    copy_file(src, dst)
}

/// Makes the backup directory `dest` (must not exist), private to its owner: a backup
/// holds the unit's secret key.
pub fn prepare(dest: &Path) -> Result<(), StoreError> {
    if dest.exists() {
        return Err(StoreError::Io(format!(
            "{} đã có; chọn một thư mục chưa có để sao lưu",
            dest.display()
        )));
    }
    std::fs::create_dir_all(dest).map_err(|e| io("không tạo được", dest, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("không đặt quyền được", dest, e))?;
    }
    Ok(())
}

/// Copies the home's files whose names start with one of `prefixes` (config, keys old
/// and new, accounts) and the directories `dirs` into `dest`.
pub fn copy_files(
    home: &Path,
    dest: &Path,
    prefixes: &[&str],
    dirs: &[&str],
) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(home).map_err(|e| io("không đọc được", home, e))? {
        let entry = entry.map_err(|e| io("không đọc được", home, e))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.path().is_file() && prefixes.iter().any(|p| name.starts_with(p)) {
            copy_file(&entry.path(), &dest.join(&*name))?;
        }
    }
    for d in dirs {
        let src = home.join(d);
        if src.is_dir() {
            copy_tree(&src, &dest.join(d))?;
        }
    }
    Ok(())
}

/// Backs up the home `home` whose store is `store` into `dest` (must not exist):
/// `dest/store` is the snapshot; see [`copy_files`] for the rest.
pub fn backup(
    store: &Store,
    home: &Path,
    dest: &Path,
    prefixes: &[&str],
    dirs: &[&str],
) -> Result<BackupSummary, StoreError> {
    prepare(dest)?;
    let summary = store.backup_to(&dest.join("store"))?;
    copy_files(home, dest, prefixes, dirs)?;
    Ok(summary)
}

/// Restores a backup made by [`backup`] into `home`, which must not hold a home yet
/// (`marker`, its config file, absent, and no store). Checks the backup first.
pub fn restore(from: &Path, home: &Path, marker: &str) -> Result<BackupSummary, StoreError> {
    if !from.join(marker).is_file() || BackendKind::detect(&from.join("store")).is_none() {
        return Err(StoreError::Io(format!(
            "{} không phải bản sao lưu (thiếu {marker} hoặc store/)",
            from.display()
        )));
    }
    if home.join(marker).exists() || BackendKind::detect(&home.join("store")).is_some() {
        return Err(StoreError::Io(format!(
            "{} đã là một thư mục đang dùng; khôi phục vào một thư mục mới (hoặc chuyển thư mục cũ đi trước)",
            home.display()
        )));
    }
    let summary = {
        let check = Store::open(&from.join("store"), BackendKind::Redb, Duration::ZERO)?;
        let mut s = BackupSummary::default();
        for t in super::TABLES {
            let n = check.scan(t, b"")?.len();
            s.records += n;
            s.tables.push((t, n));
        }
        s
    };
    copy_tree(from, home)?;
    Ok(summary)
}

/// What `restore` says when it is done, in both binaries.
pub fn restored(from: &Path, home: &Path, s: &BackupSummary) -> String {
    format!(
        "Đã khôi phục {} vào {} ({} bản ghi, đã kiểm từng bản ghi)",
        from.display(),
        home.display(),
        s.records
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuditLine, Table, Write};

    #[test]
    fn a_backup_taken_while_writing_restores_to_a_consistent_home() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("sealed")).expect("mkdir");
        std::fs::write(home.join("node.toml"), "unit = \"x\"\n").expect("config");
        std::fs::write(home.join("sealed/a.seal"), b"seal").expect("sealed copy");
        let store =
            Store::open(&home.join("store"), BackendKind::Redb, Duration::ZERO).expect("store");
        for i in 0..50u32 {
            store
                .batch(&[Write::Put(
                    Table::Docs,
                    i.to_be_bytes().to_vec(),
                    vec![7; 100],
                )])
                .expect("write");
        }
        store
            .audit(&AuditLine::new(1, "lan", "x: tạo phiên"))
            .expect("audit");
        let dest = dir.path().join("backup");
        let s = backup(&store, &home, &dest, &["node.toml"], &["sealed"]).expect("backup");
        assert_eq!(
            s.tables.iter().find(|t| t.0 == "docs").map(|t| t.1),
            Some(50)
        );
        // Writes after the backup are not in it.
        store
            .batch(&[Write::Put(Table::Docs, b"later".to_vec(), vec![1])])
            .expect("write");
        // Refuses to overwrite anything.
        assert!(backup(&store, &home, &dest, &[], &[]).is_err());
        assert!(restore(&dest, &home, "node.toml").is_err());
        let restored = dir.path().join("restored");
        let r = restore(&dest, &restored, "node.toml").expect("restore");
        assert_eq!(r.records, s.records);
        let back = Store::open(&restored.join("store"), BackendKind::Redb, Duration::ZERO)
            .expect("open restored");
        assert_eq!(back.scan_table(Table::Docs, b"").expect("scan").len(), 50);
        assert_eq!(back.audit_log().expect("audit").len(), 1);
        assert!(restored.join("sealed/a.seal").is_file());
    }

    #[test]
    fn a_damaged_backup_is_refused_and_nothing_is_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).expect("mkdir");
        std::fs::write(home.join("node.toml"), "unit = \"x\"\n").expect("config");
        let store =
            Store::open(&home.join("store"), BackendKind::Redb, Duration::ZERO).expect("store");
        store
            .batch(&[Write::Put(Table::Docs, b"k".to_vec(), vec![9; 4000])])
            .expect("write");
        let dest = dir.path().join("backup");
        backup(&store, &home, &dest, &["node.toml"], &[]).expect("backup");
        // Flip bytes inside the copy's database file.
        let db = std::fs::read_dir(dest.join("store"))
            .expect("dir")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.is_file())
            .expect("db file");
        let mut bytes = std::fs::read(&db).expect("read");
        let at = bytes
            .windows(64)
            .position(|w| w.iter().all(|b| *b == 9))
            .expect("the value in the file");
        for b in &mut bytes[at..at + 64] {
            *b = 0x55;
        }
        std::fs::write(&db, bytes).expect("write");
        let target = dir.path().join("restored");
        assert!(restore(&dest, &target, "node.toml").is_err());
        assert!(!target.exists(), "nothing written on a refused restore");
    }
}
