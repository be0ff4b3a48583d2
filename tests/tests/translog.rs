//! The hub's transparency log: receipts prove their item is in the log the hub signed,
//! `log verify` checks the whole log, and a rewritten history is caught.

use std::time::Duration;
use tinnhiem_store::{BackendKind, Store, Table, Write};
use tinnhiem_tests::{Hub, NodeHome};

#[test]
fn receipts_prove_inclusion_and_a_rewritten_log_is_caught() {
    let mut hub = Hub::start("lai-chau");
    for (i, unit) in ["lai-chau.sin-ho", "lai-chau.tan-uyen"].iter().enumerate() {
        let n = NodeHome::init(unit);
        hub.enroll(&n, unit);
        n.point_at(hub.addr, &hub.key);
        n.seal_session("ky-hop-1", 20 + i as u64);
        if i == 0 {
            n.seal_session("ky-hop-2", 21);
        }
        n.ok(&["sync", "--once", "--timeout", "30"]);
        // The node checks each stored receipt offline, inclusion proof included, and
        // follows the hub's log head.
        let out = n.ok(&["verify-receipt"]);
        assert!(!out.is_empty());
        let st = n.status();
        assert!(st["log"]["size"].as_u64().is_some_and(|s| s >= 1), "{st}");
        assert!(st["log"]["alarm"].is_null(), "{st}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&hub.ok(&["log", "verify", "--json"])).expect("json");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["size"], 3, "{v}");
    assert_eq!(v["receipts_checked"], 3, "{v}");
    let shown: serde_json::Value =
        serde_json::from_str(&hub.ok(&["log", "show", "--json"])).expect("json");
    assert_eq!(shown["root"], v["root"]);

    // The hub's operator rewrites an old entry of the log: every receipt signed over a
    // tree that held it no longer matches.
    hub.kill();
    {
        let store = Store::open(
            &hub.path().join("store"),
            BackendKind::Redb,
            Duration::from_secs(5),
        )
        .expect("store");
        store
            .batch(&[Write::Put(
                Table::Log,
                1u64.to_be_bytes().to_vec(),
                vec![7; 32],
            )])
            .expect("rewrite");
    }
    let out = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["log", "verify"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("KHÔNG TOÀN VẸN"), "{text}");
    assert!(
        text.contains("not at index 1") || text.contains("is not this log's"),
        "{text}"
    );
}
