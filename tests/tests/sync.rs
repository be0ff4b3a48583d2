//! Sync over real QUIC on loopback, with real hub and node processes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinnhiem_tests::{bin, netsim, seed, Hub, NodeHome};

#[test]
fn twenty_nodes_through_thirty_percent_loss_and_partitions_all_deliver_once() {
    let hub = Hub::start("lai-chau");
    let s = seed("twenty_nodes").to_string();
    let (_sim, sim_addr) = netsim(
        hub.addr,
        &[
            "--loss",
            "30",
            "--delay-ms",
            "30",
            "--jitter-ms",
            "20",
            "--dup",
            "2",
            "--reorder",
            "5",
            "--up-secs",
            "3",
            "--down-secs",
            "2",
            "--seed",
            &s,
        ],
    );
    let nodes: Vec<(String, NodeHome)> = (1..=20)
        .map(|i| {
            let unit = format!("lai-chau.huyen-{i:02}");
            let n = NodeHome::init(&unit);
            hub.enroll(&n, &unit); // the server is running: takes effect without a restart
            n.seal_session("ky-hop-2023", 20 + (i % 7));
            n.point_at(sim_addr, &hub.key);
            (unit, n)
        })
        .collect();
    let children: Vec<_> = nodes
        .iter()
        .map(|(_, n)| {
            Command::new(bin("tinnhiem-node"))
                .arg("--home")
                .arg(n.path())
                .args(["sync", "--once", "--json", "--timeout", "240"])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for ((unit, n), c) in nodes.iter().zip(children) {
        let out = c.wait_with_output().expect("wait");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json summary");
        assert!(out.status.success(), "{unit}: {j}");
        assert_eq!(j["received"], 1, "{unit}: {j}");
        n.ok(&["verify-receipt"]);
        let st = n.status();
        assert_eq!(st["deliveries"][0]["state"], "received", "{st}");
    }
    let st = hub.status();
    assert_eq!(st["units_expected"], 20, "{st}");
    assert_eq!(st["units_reported"], 20, "{st}");
    assert_eq!(st["seals_accepted"], 20, "each seal is held once: {st}");
    assert_eq!(st["seals_rejected"], 0, "{st}");
    let results: serde_json::Value =
        serde_json::from_str(&hub.ok(&["result", "--json"])).expect("json");
    assert_eq!(results.as_array().map(Vec::len), Some(20));
    // The hub recomputed the same result as the node.
    let (_, n1) = &nodes[0];
    let local = n1.result_json("ky-hop-2023");
    let remote = results
        .as_array()
        .expect("arr")
        .iter()
        .find(|r| r["unit"] == "lai-chau.huyen-01")
        .expect("huyen-01");
    assert_eq!(local["subjects"], remote["subjects"]);
}

#[test]
fn a_correction_is_sealed_again_and_delivered_as_seq_two() {
    let hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.tam-duong");
    hub.enroll(&n, "lai-chau.tam-duong");
    n.seal_session("ky-hop-9", 25);
    n.point_at(hub.addr, &hub.key);
    n.ok(&["sync", "--once", "--timeout", "30"]);
    // Syncing again with nothing new sends nothing and succeeds.
    let again = n.ok(&["sync", "--once", "--timeout", "30", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&again).expect("json");
    assert_eq!(j["connections"], 0, "{j}");
    n.ok(&[
        "tally",
        "set",
        "ky-hop-9",
        "s01",
        "--high",
        "24",
        "--confidence",
        "6",
        "--low",
        "0",
    ]);
    n.ok(&["seal", "ky-hop-9"]);
    let out = n.ok(&["sync", "--once", "--timeout", "30"]);
    assert!(out.contains("lần 2"), "{out}");
    let st = n.status();
    let states: Vec<_> = st["deliveries"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|d| (d["seq"].as_u64(), d["state"].clone()))
        .collect();
    assert_eq!(
        states,
        vec![(Some(1), "received".into()), (Some(2), "received".into())]
    );
    let results: serde_json::Value =
        serde_json::from_str(&hub.ok(&["result", "--json"])).expect("json");
    assert_eq!(results[0]["seal"]["seq"], 2);
    assert_eq!(results[0]["subjects"][0]["counts"]["high"], 24);
    assert_eq!(hub.status()["seals_accepted"], 2);
}

#[test]
fn the_daemon_waits_for_the_hub_and_other_commands_keep_working() {
    let mut hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.muong-te");
    hub.enroll(&n, "lai-chau.muong-te");
    n.point_at(hub.addr, &hub.key);
    hub.kill();
    let first = n.daemon();
    // The clerk seals while the daemon runs; the hub is down.
    n.seal_session("ky-hop-3", 22);
    std::thread::sleep(Duration::from_secs(2));
    let st = n.status();
    assert_ne!(st["deliveries"][0]["state"], "received", "{st}");
    n.ok(&["result", "ky-hop-3"]);
    // SIGKILL the daemon: the outbox survives; a new daemon picks it up when the hub is back.
    drop(first);
    assert_ne!(n.status()["deliveries"][0]["state"], "received");
    let _daemon = n.daemon();
    hub.serve(&[]);
    let start = Instant::now();
    loop {
        let st = n.status();
        if st["deliveries"][0]["state"] == "received" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "not delivered after the hub came back: {st}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(hub.status()["seals_accepted"], 1);
}

#[test]
fn an_unregistered_node_is_refused_and_says_why() {
    let hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.stranger");
    n.seal_session("ky-hop-1", 20);
    n.point_at(hub.addr, &hub.key);
    let o = n.run(&["sync", "--once", "--timeout", "3"]);
    assert!(!o.status.success());
    let st = n.status();
    let err = st["deliveries"][0]["last_error"].as_str().unwrap_or("");
    assert!(err.contains("đăng ký") || err.contains("kết nối"), "{st}");
    // A wrong hub key: the node refuses the hub.
    let m = NodeHome::init("lai-chau.other");
    hub.enroll(&m, "lai-chau.other");
    m.seal_session("ky-hop-1", 20);
    m.point_at(hub.addr, &"ab".repeat(32).replace("abab", "abcd"));
    let o = m.run(&["sync", "--once", "--timeout", "3"]);
    assert!(!o.status.success());
    assert_eq!(hub.status()["seals_accepted"], 0);
}
