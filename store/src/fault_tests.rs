//! Every test fault (full disk, failed fsync, I/O error on read) at every write path of
//! the store, on both engines: the failed call says why, nothing half-written is ever
//! read, the store says `unavailable` meanwhile, and it comes back by itself once the
//! disk does, without reopening from outside.

use super::faults::Faults;
use super::*;
use tinnhiem_core::seal::{Seal, SealBody, UnitKey};

fn line() -> AuditLine {
    AuditLine::new(5, "clerk", "test")
}

fn sid() -> SessionId {
    SessionId::new("ky-hop-1").expect("id")
}

fn seal(seq: u32) -> Seal {
    let key = UnitKey::from_seed([1; 32]);
    Seal::sign(
        &key,
        SealBody {
            unit: "u".parse().expect("id"),
            session: sid(),
            seq,
            heads: vec![[seq as u8; 32]],
            result_digest: [2; 32],
            sealed_at: 3,
            signer: key.public().0,
        },
    )
}

/// A write path of the store, applied with new content.
type WritePath = fn(&Store) -> Result<(), StoreError>;

fn write_paths() -> Vec<(&'static str, WritePath)> {
    vec![
        ("put_doc", |st| st.put_doc(&sid(), b"doc-new", &line())),
        ("put_seal", |st| {
            st.put_seal(&sid(), &seal(2), b"doc-new", &line())
        }),
        ("create_doc", |st| {
            st.create_doc(
                &SessionId::new("ky-hop-2").expect("id"),
                b"doc-new",
                &line(),
            )
        }),
        ("delete_doc", |st| {
            st.delete_doc(
                &SessionId::new("ky-hop-3").expect("id"),
                b"t",
                b"a",
                &line(),
            )
        }),
        ("restore_doc", |st| {
            st.restore_doc(&sid(), b"doc-new", &line())
        }),
        ("audit", |st| st.audit(&line())),
        ("set_meta", |st| st.set_meta("k", b"new")),
        ("batch", |st| {
            st.batch(&[
                Write::Put(Table::Docs, b"ky-hop-1".to_vec(), b"doc-new".to_vec()),
                Write::Put(Table::Outbox, b"o".to_vec(), b"new".to_vec()),
            ])
        }),
        ("batch_lazy", |st| {
            st.batch_lazy(&[Write::Put(Table::SyncState, b"s".to_vec(), b"new".to_vec())])?;
            // A lazy write reaches the disk with the next durable one.
            st.set_meta("k", b"new")
        }),
    ]
}

/// The store before the fault: one document, one seal, a third session to delete.
fn baseline(st: &Store) {
    st.create_doc(&sid(), b"doc-old", &line()).expect("create");
    st.put_seal(&sid(), &seal(1), b"doc-old", &line())
        .expect("seal");
    st.create_doc(&SessionId::new("ky-hop-3").expect("id"), b"doc-3", &line())
        .expect("create 3");
    st.set_meta("k", b"old").expect("meta");
}

/// What the store holds is either the baseline or the baseline with the whole write:
/// never part of it.
fn consistent(st: &Store, path: &str) {
    let doc = st.doc(&sid()).expect("doc").expect("some");
    let seals = st.seals(&sid()).expect("seals");
    assert!(doc == b"doc-old" || doc == b"doc-new", "{path}: {doc:?}");
    if path == "put_seal" {
        assert_eq!(
            seals.len() == 2,
            doc == b"doc-new",
            "{path}: a seal and its document are written together"
        );
    }
    if path == "batch" {
        let outbox = st.read(Table::Outbox, b"o").expect("outbox");
        assert_eq!(
            outbox.is_some(),
            doc == b"doc-new",
            "{path}: the batch is whole"
        );
    }
    if path == "delete_doc" {
        let s3 = SessionId::new("ky-hop-3").expect("id");
        assert_eq!(
            st.doc(&s3).expect("doc 3").is_none(),
            st.tombstone(&s3).expect("t").is_some(),
            "{path}: a deletion leaves its tombstone"
        );
    }
}

fn recovered(st: &Store, went_down: bool) {
    let start = Instant::now();
    loop {
        let h = st.health();
        if h.available {
            assert_eq!(h.reopened >= 1, went_down, "reopened by itself, counted");
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "still down: {h:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn each_fault_at_each_write_path(kind: BackendKind, fault: &str) {
    for (path, write) in write_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let control = dir.path().join("faults");
        let faults = Some(Arc::new(Faults::at(&control)));
        let st = Store::open_with_faults(&dir.path().join("store"), kind, Duration::ZERO, faults)
            .expect("open");
        baseline(&st);
        std::fs::write(&control, fault).expect("fault on");
        let r = write(&st);
        match (fault, &r) {
            ("write:nospace", Err(StoreError::NoSpace(_))) => {}
            ("sync:eio" | "write:eio", Err(StoreError::Io(_))) => {}
            // A write that found every page it needed in memory reads nothing.
            ("read:eio", _) => {}
            _ => panic!("{kind:?} {fault} at {path}: {r:?}"),
        }
        if r.is_err() {
            // Down now: refused at once, said so, until the disk is back.
            assert!(
                matches!(st.doc(&sid()), Err(StoreError::Unavailable { .. })),
                "{kind:?} {fault} at {path}: unavailable meanwhile"
            );
            assert!(!st.health().available, "{path}: health says so");
            let msg = st
                .doc(&sid())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(msg.contains("tạm thời không dùng được"), "{msg}");
            // Still failing after the retry interval: stays down.
            std::thread::sleep(REOPEN_EVERY + Duration::from_millis(100));
            assert!(!st.health().available, "{path}: the disk still fails");
        }
        std::fs::remove_file(&control).expect("fault off");
        recovered(&st, r.is_err());
        consistent(&st, path);
        // Writable again, through the same handle.
        write(&st).unwrap_or_else(|e| {
            // Only these two write new keys that may have landed before the failure.
            assert!(
                matches!(e, StoreError::Exists(_))
                    && matches!(path, "create_doc" | "put_seal" | "delete_doc"),
                "{kind:?} {fault} at {path} after recovery: {e}"
            )
        });
        drop(st);
        // And from scratch: what is on disk is whole.
        let again = Store::open_with_faults(&dir.path().join("store"), kind, Duration::ZERO, None)
            .expect("reopen");
        consistent(&again, path);
    }
}

#[test]
fn a_full_disk_at_every_write_path() {
    for kind in [BackendKind::Redb, BackendKind::Sled] {
        each_fault_at_each_write_path(kind, "write:nospace");
    }
}

#[test]
fn an_io_error_at_every_write_path() {
    for kind in [BackendKind::Redb, BackendKind::Sled] {
        each_fault_at_each_write_path(kind, "write:eio");
    }
}

#[test]
fn a_failed_fsync_at_every_write_path() {
    for kind in [BackendKind::Redb, BackendKind::Sled] {
        each_fault_at_each_write_path(kind, "sync:eio");
    }
}

#[test]
fn a_read_error_at_every_write_path() {
    for kind in [BackendKind::Redb, BackendKind::Sled] {
        each_fault_at_each_write_path(kind, "read:eio");
    }
}

#[test]
fn a_read_error_on_every_read_path_then_back() {
    type ReadPath = fn(&Store) -> Result<(), StoreError>;
    let reads: Vec<(&str, ReadPath)> = vec![
        ("doc", |st| st.doc(&sid()).map(drop)),
        ("seals", |st| st.seals(&sid()).map(drop)),
        ("sessions", |st| st.sessions().map(drop)),
        ("audit_log", |st| st.audit_log().map(drop)),
        ("scan_table", |st| st.scan_table(Table::Docs, b"").map(drop)),
    ];
    for kind in [BackendKind::Redb, BackendKind::Sled] {
        for (path, read) in &reads {
            let dir = tempfile::tempdir().expect("tmp");
            let control = dir.path().join("faults");
            let st = Store::open_with_faults(
                &dir.path().join("store"),
                kind,
                Duration::ZERO,
                Some(Arc::new(Faults::at(&control))),
            )
            .expect("open");
            baseline(&st);
            drop(st);
            // Opened with the fault in force: nothing is cached, every read goes to disk.
            std::fs::write(&control, "read:eio").expect("fault on");
            let opened = Store::open_with_faults(
                &dir.path().join("store"),
                kind,
                Duration::ZERO,
                Some(Arc::new(Faults::at(&control))),
            );
            assert!(
                opened.is_err(),
                "{kind:?} {path}: cannot open an unreadable store"
            );
            std::fs::remove_file(&control).expect("off");
            let st = Store::open_with_faults(
                &dir.path().join("store"),
                kind,
                Duration::ZERO,
                Some(Arc::new(Faults::at(&control))),
            )
            .expect("open");
            std::fs::write(&control, "read:eio").expect("fault on");
            let r = read(&st);
            if kind == BackendKind::Sled {
                assert!(r.is_err(), "{path}: refused");
            }
            std::fs::remove_file(&control).expect("off");
            recovered(&st, r.is_err());
            read(&st).unwrap_or_else(|e| panic!("{kind:?} {path} after recovery: {e}"));
            consistent(&st, path);
        }
    }
}

#[test]
fn a_backup_on_a_full_disk_fails_and_leaves_the_source_working() {
    let dir = tempfile::tempdir().expect("tmp");
    let control = dir.path().join("faults");
    let st = Store::open_with_faults(
        &dir.path().join("store"),
        BackendKind::Redb,
        Duration::ZERO,
        Some(Arc::new(Faults::at(&control))),
    )
    .expect("open");
    baseline(&st);
    std::fs::write(&control, "read:eio").expect("fault on");
    // The snapshot may come from the cache; what matters is the source after it.
    let r = st.backup_to(&dir.path().join("b1"));
    std::fs::remove_file(&control).expect("off");
    recovered(&st, r.is_err());
    let s = st.backup_to(&dir.path().join("b2")).expect("backup");
    assert!(s.records > 0);
}
