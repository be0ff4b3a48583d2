//! Real processes killed with SIGKILL at random points: the store always reopens, and
//! nothing that was acknowledged is lost.

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tinnhiem_tests::{bin, seed, NodeHome, Rng};

#[test]
fn kill_dash_nine_never_loses_an_acknowledged_entry_or_seal() {
    crash_loop("redb", 80);
}

/// The same loop on the sled engine. Ignored by default because it fails: about one
/// SIGKILL in two hundred leaves a sled 0.34 store that no longer opens ("Read corrupted
/// data at file offset None"), which is why new homes use redb. Run it with
/// `cargo test -p tinnhiem-tests --test crash -- --ignored` to see it.
#[test]
#[ignore = "sled 0.34 corrupts its store under SIGKILL; kept to document why redb is the default"]
fn sled_under_kill_dash_nine() {
    for round in 0..10 {
        eprintln!("sled round {round}");
        crash_loop("sled", 60);
    }
}

fn crash_loop(store: &str, rounds: usize) {
    let mut rng = Rng::new(seed("crash"));
    let h = NodeHome::init_with_store("than-uyen", store);
    h.ok(&[
        "session",
        "create",
        "ky-hop-9",
        "--profile",
        "nq96-2023",
        "--mode",
        "entries",
        "--body",
        "HĐND huyện Than Uyên",
        "--date",
        "2023-12-15",
    ]);
    h.ok(&[
        "subject",
        "add",
        "ky-hop-9",
        "--id",
        "s01",
        "--person",
        "p-1",
        "--name",
        "Lường Văn A",
    ]);
    h.ok(&[
        "board",
        "set",
        "ky-hop-9",
        "--chair",
        "Lò Thị Hoa",
        "--members",
        "Lò Thị Hoa; Vàng A Sình",
        "--from",
        "14:05",
        "--to",
        "14:40",
    ]);
    h.ok(&[
        "attendance",
        "set",
        "ky-hop-9",
        "--total",
        "3",
        "--present",
        "3",
        "--absent-from-start",
        "0",
        "--present-at-vote",
        "3",
    ]);

    let mut acked_seals = 0u64;
    let mut kills = 0;
    // How long one `entry add` takes on this machine, so that kills land mid-run.
    let mut typical_run_us = u64::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        h.ok(&["entry", "add", "ky-hop-9", "--marks", "s01=high"]);
        typical_run_us = typical_run_us.min(t.elapsed().as_micros() as u64);
    }
    let mut acked_entries = 3u64;
    let marks = ["s01=high", "s01=confidence", "s01=low", "s01=invalid"];
    for round in 0..rounds {
        let sealing = round % 5 == 4;
        let args: Vec<String> = if sealing {
            // Make the numbers consistent first (not killed), then kill the seal.
            let n = h.result_json("ky-hop-9")["subjects"][0]["valid"]
                .as_u64()
                .unwrap_or(0)
                + h.result_json("ky-hop-9")["subjects"][0]["invalid"]
                    .as_u64()
                    .unwrap_or(0);
            h.ok(&[
                "attendance",
                "set",
                "ky-hop-9",
                "--total",
                &n.max(1).to_string(),
                "--present",
                &n.to_string(),
                "--present-at-vote",
                &n.to_string(),
            ]);
            h.ok(&[
                "ballots",
                "set",
                "ky-hop-9",
                "--issued",
                &n.to_string(),
                "--collected",
                &n.to_string(),
            ]);
            vec!["seal".into(), "ky-hop-9".into()]
        } else {
            let m = marks[rng.below(marks.len() as u64) as usize];
            vec![
                "entry".into(),
                "add".into(),
                "ky-hop-9".into(),
                "--marks".into(),
                m.into(),
            ]
        };
        let mut child = Command::new(bin("tinnhiem-node"))
            .arg("--home")
            .arg(h.path())
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        // Kill at a random point of a typical run, measured on this machine as we go,
        // so that most kills land mid-run however fast or slow the machine is.
        std::thread::sleep(Duration::from_micros(rng.below(typical_run_us * 3 / 2)));
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        if out.status.signal() == Some(9) {
            kills += 1;
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() {
            if sealing && stdout.contains("Đã niêm phong") {
                acked_seals += 1;
            } else if stdout.contains("Đã nhập phiếu") {
                acked_entries += 1;
            }
        }

        // Invariants after every kill: the store opens, acknowledged data is there.
        let j = h.result_json("ky-hop-9");
        let entered = j["subjects"][0]["valid"].as_u64().unwrap_or(0)
            + j["subjects"][0]["invalid"].as_u64().unwrap_or(0);
        assert!(
            entered >= acked_entries,
            "round {round}: {entered} entries stored, {acked_entries} acknowledged"
        );
        let seals = h.ok(&["result", "ky-hop-9", "--json"]);
        let j: serde_json::Value = serde_json::from_str(&seals).expect("json");
        let stored_seals = j["seals"].as_array().map_or(0, |a| a.len()) as u64;
        assert!(
            stored_seals >= acked_seals,
            "round {round}: {stored_seals} seals stored, {acked_seals} acknowledged"
        );
        if stored_seals > 0 {
            h.ok(&["verify", "ky-hop-9"]);
        }
    }
    eprintln!("crash ({store}): {kills} kills, {acked_entries} entries and {acked_seals} seals acknowledged");
    assert!(
        kills >= rounds / 3,
        "the schedule must actually kill processes mid-run ({kills})"
    );
}

/// Hubs killed with SIGKILL again and again while districts deliver and the province
/// forwards: after the last restart every seal a district holds a receipt for is on the
/// province, everything reaches the national hub exactly once, and every store opens.
#[test]
fn hubs_killed_during_ingest_and_forwarding_lose_nothing_receipted() {
    use tinnhiem_tests::{Hub, Proc};
    let mut rng = Rng::new(seed("hub-crash"));
    let mut national = Hub::start("quoc-hoi");
    let mut province = Hub::start("lai-chau");
    national.register("lai-chau", &province.key, "quoc-hoi", "province");
    province.forward_to(&national, "quoc-hoi", national.addr);
    let nodes: Vec<NodeHome> = (1..=4)
        .map(|i| {
            let u = format!("lai-chau.huyen-{i}");
            let n = NodeHome::init(&u);
            province.enroll(&n, &u);
            n.point_at(province.addr, &province.key);
            for s in 0..3 {
                n.seal_session(&format!("ky-hop-{s}"), 15 + s);
            }
            n
        })
        .collect();
    let _daemons: Vec<Proc> = nodes.iter().map(NodeHome::daemon).collect();
    let mut kills = 0;
    for round in 0..30 {
        std::thread::sleep(Duration::from_millis(30 + rng.below(400)));
        province.kill();
        kills += 1;
        if round % 4 == 3 {
            national.kill();
            kills += 1;
            std::thread::sleep(Duration::from_millis(rng.below(200)));
            national.serve(&[]);
        }
        province.serve(&[]);
    }
    assert!(kills >= 35, "{kills} kills");
    // Let everything settle, then check the invariants.
    let total = 12;
    let start = Instant::now();
    let done = || {
        let st = national.status();
        st["seals_accepted"] == total
    };
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "national: {}",
            national.status()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let accepted = province.status();
    assert_eq!(accepted["seals_accepted"], total, "{accepted}");
    for n in &nodes {
        // Every receipt a district holds names a seal the province still has.
        let st = n.status();
        for d in st["deliveries"].as_array().expect("deliveries") {
            if d["state"] == "received" {
                let session = d["session"].as_str().unwrap_or("");
                let r: serde_json::Value =
                    serde_json::from_str(&province.ok(&["result", "--json"])).expect("json");
                assert!(
                    r.as_array()
                        .expect("arr")
                        .iter()
                        .any(|x| x["session"] == session),
                    "{session} receipted but missing at the province"
                );
            }
        }
    }
    let start = Instant::now();
    loop {
        let d: serde_json::Value =
            serde_json::from_str(&province.ok(&["destination", "list", "--json"])).expect("json");
        if d[0]["received"] == total {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{d}");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(national.status()["seals_accepted"], total);
}
