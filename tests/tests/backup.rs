//! Backup while serving, restore into a new home: everything acknowledged comes back,
//! checked; a restore never overwrites a home.

use std::process::Command;
use tinnhiem_tests::{bin, Hub, NodeHome};

fn hub_cmd(home: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()
        .expect("run hub")
}

#[test]
fn hub_and_node_back_up_while_working_and_restore_into_new_homes() {
    let hub = Hub::start("lai-chau");
    let node = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&node, "lai-chau.phong-tho");
    node.seal_session("ky-hop-2023", 20);
    node.point_at(hub.addr, &hub.key);
    node.ok(&["sync", "--once", "--timeout", "60"]);

    let dir = tempfile::tempdir().expect("tempdir");
    // The hub is serving: the server itself takes the snapshot.
    let hb = dir.path().join("hub-backup");
    hub.ok(&["backup", hb.to_str().expect("path")]);
    let again = hub_cmd(hub.path(), &["backup", hb.to_str().expect("path")]);
    assert!(!again.status.success(), "a backup never overwrites");
    let restored = dir.path().join("hub-restored");
    let out = hub_cmd(&restored, &["restore", hb.to_str().expect("path")]);
    assert!(out.status.success(), "{out:?}");
    let st: serde_json::Value =
        serde_json::from_slice(&hub_cmd(&restored, &["status", "--json"]).stdout)
            .expect("status json");
    assert_eq!(st["seals_accepted"], 1, "{st}");
    let v = hub_cmd(&restored, &["log", "verify"]);
    assert!(v.status.success(), "{v:?}");
    assert_eq!(
        hub_cmd(&restored, &["key", "show"]).stdout,
        hub_cmd(hub.path(), &["key", "show"]).stdout
    );
    // Restoring over a live home is refused, and changes nothing there.
    let over = hub_cmd(hub.path(), &["restore", hb.to_str().expect("path")]);
    assert!(!over.status.success());
    assert!(
        String::from_utf8_lossy(&over.stderr).contains("đang dùng"),
        "{over:?}"
    );

    // The node: its seal, receipt and key come back; the receipt still verifies.
    let nb = dir.path().join("node-backup");
    node.ok(&["backup", nb.to_str().expect("path")]);
    let nr = dir.path().join("node-restored");
    let out = Command::new(bin("tinnhiem-node"))
        .arg("--home")
        .arg(&nr)
        .args(["restore", nb.to_str().expect("path")])
        .output()
        .expect("restore");
    assert!(out.status.success(), "{out:?}");
    for args in [&["verify", "ky-hop-2023"][..], &["verify-receipt"][..]] {
        let out = Command::new(bin("tinnhiem-node"))
            .arg("--home")
            .arg(&nr)
            .args(args)
            .output()
            .expect("run");
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    let st = Command::new(bin("tinnhiem-node"))
        .arg("--home")
        .arg(&nr)
        .args(["status", "--json"])
        .output()
        .expect("status");
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("json");
    assert_eq!(st["deliveries"][0]["state"], "received", "{st}");
}
