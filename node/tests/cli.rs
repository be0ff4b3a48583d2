//! The binary starts, explains itself and refuses a missing home clearly. (Its presence
//! also makes `cargo test --workspace` build the real `tinnhiem-node` binary that the
//! end-to-end tests in `tests/` run.)

use std::process::Command;

#[test]
fn help_and_a_missing_home() {
    let bin = env!("CARGO_BIN_EXE_tinnhiem-node");
    let o = Command::new(bin).arg("--help").output().expect("run");
    assert!(o.status.success());
    assert!(String::from_utf8_lossy(&o.stdout).contains("seal"));
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::new(bin)
        .arg("--home")
        .arg(dir.path().join("none"))
        .args(["result", "x"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("chưa khởi tạo"));
}
