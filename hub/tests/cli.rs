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

/// The example files in `deploy/examples/` are what a new operator copies: they must
/// load as they are.
#[test]
fn the_deploy_examples_load() {
    let bin = env!("CARGO_BIN_EXE_tinnhiem-hub");
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples");
    let run = |home: &std::path::Path, args: &[&str]| {
        let o = Command::new(bin)
            .arg("--home")
            .arg(home)
            .args(args)
            .output()
            .expect("run");
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    for (hub_toml, registry) in [
        ("hub.toml", "registry.toml"),
        ("hub-national.toml", "registry-national.toml"),
        ("hub-party.toml", "registry-party.toml"),
    ] {
        let dir = tempfile::tempdir().expect("tmp");
        run(dir.path(), &["init", "--unit", "x"]);
        std::fs::copy(examples.join(hub_toml), dir.path().join("hub.toml")).expect("copy");
        let reg = examples.join(registry);
        run(
            dir.path(),
            &["registry", "import", reg.to_str().expect("path")],
        );
        let list = run(dir.path(), &["destination", "list"]);
        if hub_toml == "hub.toml" {
            assert!(
                list.contains("quoc-hoi") && list.contains("ban-to-chuc-tu"),
                "{list}"
            );
        }
        run(dir.path(), &["status"]);
    }
}

/// `tinnhiem-hub … | head` with the reader gone: the hub ends quietly with the shell's
/// SIGPIPE code, not a panic message (the read end is closed before the hub starts, so
/// its first write fails every time, not by a race).
#[test]
fn a_reader_that_went_away_ends_the_hub_quietly() {
    let bin = env!("CARGO_BIN_EXE_tinnhiem-hub");
    let dir = tempfile::tempdir().expect("tmp");
    let o = Command::new(bin)
        .arg("--home")
        .arg(dir.path())
        .args(["init", "--unit", "lai-chau"])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for args in [&["key", "show"][..], &["--help"][..]] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let o = Command::new(bin)
            .arg("--home")
            .arg(dir.path())
            .args(args)
            .stdout(writer)
            .stderr(std::process::Stdio::piped())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
