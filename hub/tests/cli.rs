//! The binary starts, inits a home and shows its key. (Its presence also makes
//! `cargo test --workspace` build the real `tinnhiem-hub` binary that the end-to-end
//! tests in `tests/` run.)

use std::process::Command;

#[test]
fn init_and_key_show() {
    let bin = env!("CARGO_BIN_EXE_tinnhiem-hub");
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::new(bin)
        .arg("--home")
        .arg(dir.path())
        .args(["init", "--unit", "lai-chau"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = Command::new(bin)
        .arg("--home")
        .arg(dir.path())
        .args(["key", "show"])
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim().len(), 64);
    // A second init refuses to overwrite the key.
    let o = Command::new(bin)
        .arg("--home")
        .arg(dir.path())
        .args(["init", "--unit", "lai-chau"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    // Status without a running server reads the store.
    let o = Command::new(bin)
        .arg("--home")
        .arg(dir.path())
        .args(["status", "--json"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}
