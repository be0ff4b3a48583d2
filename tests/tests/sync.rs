//! Sync over real QUIC on loopback, with real hub and node processes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinnhiem_tests::{bin, netsim, seed, Hub, NodeHome};

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

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
    // Syncing again with nothing new sends no seal and succeeds: one check-in, where
    // the hub proves its log still extends the head we hold and names nothing lost.
    let attempts = n.status()["deliveries"][0]["attempts"].clone();
    let again = n.ok(&["sync", "--once", "--timeout", "30", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&again).expect("json");
    assert_eq!(j["connections"], 1, "{j}");
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(n.status()["deliveries"][0]["attempts"], attempts);
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
    // The daemon reports its attempt failing (the hub does not answer), rather than the
    // test waiting a while and seeing nothing delivered.
    let start = Instant::now();
    let st = loop {
        let st = n.status();
        if st["deliveries"][0]["last_error"].is_string() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no failed attempt reported: {st}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
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
fn the_daemon_stops_on_sigterm_while_the_hub_is_unreachable() {
    let mut hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.muong-te");
    hub.enroll(&n, "lai-chau.muong-te");
    n.point_at(hub.addr, &hub.key);
    hub.kill();
    n.seal_session("ky-hop-3", 22);
    let mut daemon = n.daemon();
    // In a round that is still trying the hub (it tries for up to two minutes).
    let start = Instant::now();
    while !n.status()["deliveries"][0]["last_error"].is_string() {
        assert!(start.elapsed() < Duration::from_secs(60), "no attempt");
        std::thread::sleep(Duration::from_millis(300));
    }
    let pid = daemon.0.id().to_string();
    let st = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(st.success());
    // It used to be killed by the signal mid-round (status 143 under a service
    // manager), never logging that it stopped.
    let start = Instant::now();
    let status = loop {
        if let Some(s) = daemon.0.try_wait().expect("wait") {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert_ne!(n.status()["deliveries"][0]["state"], "received");
}

#[test]
fn an_unregistered_node_is_refused_and_says_why() {
    let hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.stranger");
    n.seal_session("ky-hop-1", 20);
    n.point_at(hub.addr, &hub.key);
    let key = n.ok(&["key", "show"]).trim().to_string();
    let start = Instant::now();
    let o = n.run(&["sync", "--once", "--timeout", "60"]);
    let took = start.elapsed();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(1), "{out}");
    // It used to spend the whole timeout reconnecting; the hub says so at the handshake.
    assert!(took < Duration::from_secs(15), "{took:?}: {out}");
    assert!(out.contains("CHƯA ĐĂNG KÝ KHÓA"), "{out}");
    assert!(out.contains("lai-chau.stranger"), "{out}");
    let command = format!(
        "tinnhiem-hub registry add --unit lai-chau.stranger --key {key} --name 'Đơn vị lai-chau.stranger' --parent lai-chau"
    );
    assert!(out.contains(&command), "{out}");
    let st = n.status();
    let d = &st["deliveries"][0];
    assert_eq!(d["state"], "rejected", "{st}");
    assert_eq!(d["reject_reason"], "unknown_key", "{st}");
    assert_ne!(d["state_vi"], "đã gửi, chờ biên nhận", "{st}");
    assert!(
        d["detail_vi"]
            .as_str()
            .is_some_and(|x| x.contains("chưa đăng ký khóa")),
        "{st}"
    );
    let fingerprint = tinnhiem_core::seal::PublicKey::from_hex(&key)
        .expect("key")
        .fingerprint();
    assert!(out.contains(&fingerprint), "{out}\n{st}");
    // The hub kept a record the operator can act on in one command.
    let hs = hub.status();
    let r = &hs["refused_keys"][0];
    assert_eq!(r["claimed_unit"], "lai-chau.stranger", "{hs}");
    assert_eq!(r["key"], key.as_str(), "{hs}");
    assert_eq!(r["fingerprint"], fingerprint.as_str(), "{hs}");
    assert!(r["count"].as_u64().is_some_and(|c| c >= 1), "{hs}");
    assert!(
        r["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{hs}"
    );
    assert_eq!(hs["seals_accepted"], 0);
    // Another `sync --once` before the stored time waits for it: no connection.
    let next = st["retry"]["next_attempt_at"]
        .as_i64()
        .expect("next attempt");
    let again = n.run(&["sync", "--once", "--json", "--timeout", "10"]);
    let j: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    assert_eq!(again.status.code(), Some(1), "{j}");
    if chrono_now() + 1 < next {
        assert_eq!(j["connections"], 0, "{j}");
        assert_eq!(j["held_back"], 1, "{j}");
    }
    // The operator runs the command the hub shows; the clerk retries at once.
    let enrol = r["enrol"].as_str().expect("enrol command").to_string();
    let args: Vec<&str> = enrol.split_whitespace().skip(1).collect();
    assert_eq!(args[..2], ["registry", "add"], "{enrol}");
    hub.ok(&args);
    let ok = n.ok(&["sync", "--once", "--retry-now", "--timeout", "30"]);
    assert!(ok.contains("1/1"), "{ok}");
    assert_eq!(n.status()["deliveries"][0]["state"], "received");
    assert_eq!(n.status()["retry"], serde_json::Value::Null);
    // A wrong hub key: the node refuses the hub.
    let m = NodeHome::init("lai-chau.other");
    hub.enroll(&m, "lai-chau.other");
    m.seal_session("ky-hop-1", 20);
    m.point_at(hub.addr, &"ab".repeat(32).replace("abab", "abcd"));
    let o = m.run(&["sync", "--once", "--timeout", "3"]);
    assert!(!o.status.success());
    assert_eq!(hub.status()["seals_accepted"], 1);
}

/// A home whose key the hub registered for another unit is refused `other_unit` on
/// every connection. The daemon used to reconnect at once and the hub stored every
/// rejection; now the refusal waits for the clerk, a restart does not reset that, and
/// the hub counts rejections in one record per unit and reason.
#[test]
fn a_refusal_for_good_is_not_retried_and_the_hub_counts_it_in_one_record() {
    let hub = Hub::start("lai-chau");
    let n = NodeHome::init("lai-chau.ban-lang");
    hub.enroll(&n, "lai-chau.hang-xom"); // the key, under another unit's id
    n.seal_session("ky-hop-1", 20);
    n.seal_session("ky-hop-2", 21);
    n.point_at(hub.addr, &hub.key);
    let daemon = n.daemon();
    let start = Instant::now();
    let st = loop {
        let st = n.status();
        let done = st["deliveries"]
            .as_array()
            .is_some_and(|d| d.iter().all(|x| x["state"] == "rejected"));
        if done {
            break st;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{st}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let d = &st["deliveries"][0];
    assert_eq!(d["reject_reason"], "other_unit", "{st}");
    assert_eq!(d["state_vi"], "bị từ chối, chờ cán bộ xử lý", "{st}");
    assert!(
        d["detail_vi"].as_str().is_some_and(
            |x| x.contains("tài liệu của đơn vị khác") && x.contains("Không tự gửi lại")
        ),
        "{st}"
    );
    let text = n.ok(&["status"]);
    assert!(text.contains("bị từ chối, chờ cán bộ xử lý"), "{text}");
    // Let the daemon run, restart it, let it run again: nothing more reaches the hub.
    std::thread::sleep(Duration::from_secs(4));
    drop(daemon);
    let _daemon = n.daemon();
    std::thread::sleep(Duration::from_secs(4));
    let hs = hub.status();
    let rejected = hs["seals_rejected"].as_u64().unwrap_or(0);
    assert!((1..=4).contains(&rejected), "{hs}");
    let records = hs["recent_rejections"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(records.len(), 1, "one record per unit and reason: {hs}");
    assert_eq!(records[0]["unit"], "lai-chau.hang-xom", "{hs}");
    assert_eq!(records[0]["reason"], "other_unit", "{hs}");
    assert_eq!(records[0]["count"].as_u64(), Some(rejected), "{hs}");
    let before = n.status()["deliveries"][0]["attempts"].clone();
    // `sync --once` does not offer it again either, until the clerk asks.
    // (It still checks in once: the hub proves its log and names anything it lost,
    // which costs a handshake and no refusal.)
    let o = n.run(&["sync", "--once", "--json", "--timeout", "10"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(j["connections"].as_u64() <= Some(1), "{j}");
    assert_eq!(n.status()["deliveries"][0]["attempts"], before);
    let o = n.run(&["sync", "--once", "--retry-now", "--json", "--timeout", "10"]);
    let j: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(j["connections"], 1, "{j}");
    assert_eq!(j["refused"]["reason"], "other_unit", "{j}");
    let hs = hub.status();
    assert_eq!(
        hs["recent_rejections"].as_array().map(Vec::len),
        Some(1),
        "{hs}"
    );
}

/// An impostor claims a unit that already has a key (issue 13 §2). The hub used to list
/// its `registry add` line, and running it silently gave the unit a second valid key.
#[test]
fn a_new_key_for_a_unit_that_has_one_is_refused_as_a_possible_impostor() {
    let hub = Hub::start("lai-chau");
    let real = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&real, "lai-chau.phong-tho");
    let real_fp = tinnhiem_core::seal::PublicKey::from_hex(real.ok(&["key", "show"]).trim())
        .expect("key")
        .fingerprint();
    let impostor = NodeHome::init("lai-chau.phong-tho");
    let key = impostor.ok(&["key", "show"]).trim().to_string();
    impostor.seal_session("ky-hop-1", 20);
    impostor.point_at(hub.addr, &hub.key);
    let o = impostor.run(&["sync", "--once", "--timeout", "20"]);
    assert!(!o.status.success(), "{o:?}");

    // The refused-key list warns, and suggests rotate (after a phone call), not add.
    let hs = hub.status();
    let r = &hs["refused_keys"][0];
    assert_eq!(r["claimed_unit"], "lai-chau.phong-tho", "{hs}");
    assert_eq!(r["warning"], "đơn vị đã có khóa — có thể mạo danh", "{hs}");
    assert_eq!(r["unit_has_key"][0], real_fp.as_str(), "{hs}");
    let enrol = r["enrol"].as_str().expect("command");
    assert!(
        enrol.contains("registry rotate") && !enrol.contains("registry add"),
        "{enrol}"
    );
    let words = hub.ok(&["status"]);
    assert!(words.contains("có thể mạo danh"), "{words}");

    // `registry add` of the other key is refused, saying why and what to do.
    let add = |extra: &[&str]| {
        let mut args = vec![
            "registry",
            "add",
            "--unit",
            "lai-chau.phong-tho",
            "--key",
            key.as_str(),
            "--parent",
            "lai-chau",
        ];
        args.extend_from_slice(extra);
        Command::new(bin("tinnhiem-hub"))
            .arg("--home")
            .arg(hub.path())
            .args(&args)
            .output()
            .expect("registry add")
    };
    let o = add(&[]);
    assert!(!o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        real_fp.as_str(),
        "mạo danh",
        "gọi điện",
        "registry rotate",
        "--add-key",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
    let keys = |hub: &Hub| -> usize {
        let list: serde_json::Value =
            serde_json::from_str(&hub.ok(&["registry", "list", "--json"])).expect("json");
        list.as_array()
            .and_then(|a| a.iter().find(|e| e["id"] == "lai-chau.phong-tho"))
            .map_or(0, |e| e["keys"].as_array().map_or(0, Vec::len))
    };
    assert_eq!(keys(&hub), 1, "no second key");
    // The same key again is fine (the operator re-running an enrolment).
    hub.enroll(&real, "lai-chau.phong-tho");
    // On purpose, with the flag: both keys.
    let o = add(&["--add-key"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(keys(&hub), 2);
}
