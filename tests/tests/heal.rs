//! A hub whose store lost data finds out on start, never signs an index twice, says so
//! on `status`, and heals from its districts, who hold the receipts (issue 13 §7).
//!
//! Real processes on loopback, the real redb store: one test restores the hub from an
//! older backup as OPERATIONS.md says (`restore --log-from`), the other replays the
//! field report (one byte of the newest commit flipped in redb's header, so that redb
//! falls back to the commit before) and lets the districts' `sync --daemon`s repair it.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use tinnhiem_tests::{bin, Hub, NodeHome};

/// `log verify --json`, whatever its exit status.
fn log_verify(hub: &Hub) -> Value {
    let o = Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["log", "verify", "--json"])
        .output()
        .expect("run hub");
    serde_json::from_slice(&o.stdout).expect("log verify --json")
}

/// `sync --once`: (exit 0, stdout).
fn sync_once(n: &NodeHome, timeout: &str) -> (bool, String) {
    let o = n.run(&["sync", "--once", "--timeout", timeout]);
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// The receipt index of each delivery of a node, by session.
fn indices(n: &NodeHome) -> BTreeMap<String, (String, Option<u64>)> {
    n.status()["deliveries"]
        .as_array()
        .expect("deliveries")
        .iter()
        .map(|d| {
            (
                d["session"].as_str().unwrap_or("").to_string(),
                (
                    d["state"].as_str().unwrap_or("").to_string(),
                    d["log_index"].as_u64(),
                ),
            )
        })
        .collect()
}

fn districts(hub: &Hub, units: &[&str]) -> Vec<NodeHome> {
    units
        .iter()
        .map(|u| {
            let n = NodeHome::init(u);
            hub.enroll(&n, u);
            n.point_at(hub.addr, &hub.key);
            n
        })
        .collect()
}

/// The operator's restore (OPERATIONS.md): the hub stopped, `backup` restored into a new
/// home (with the broken home's log file when `log_from`), the directories swapped, the
/// hub served again on its port. Returns `restore`'s output and where the broken home went.
fn restore_in_place(
    hub: &mut Hub,
    backup: &Path,
    spare: &Path,
    log_from: bool,
) -> (String, std::path::PathBuf) {
    hub.kill();
    let restored = spare.join("restored");
    let mut cmd = Command::new(bin("tinnhiem-hub"));
    cmd.arg("--home").arg(&restored).arg("restore").arg(backup);
    if log_from {
        cmd.arg("--log-from").arg(hub.path());
    }
    let out = cmd.output().expect("restore");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let broken = spare.join("broken");
    std::fs::rename(hub.path(), &broken).expect("move the broken home away");
    std::fs::rename(&restored, hub.path()).expect("move the restored home in");
    hub.serve(&[]);
    (String::from_utf8_lossy(&out.stdout).into_owned(), broken)
}

#[test]
fn a_hub_restored_from_an_older_backup_takes_the_lost_seals_back_at_their_indices() {
    let mut hub = Hub::start("lai-chau");
    let nodes = districts(
        &hub,
        &["lai-chau.sin-ho", "lai-chau.tan-uyen", "lai-chau.phong-tho"],
    );
    for (i, n) in nodes.iter().enumerate() {
        n.seal_session("ky-hop-1", 20 + i as u64);
        assert!(sync_once(n, "30").0);
    }
    let spare = tempfile::tempdir().expect("tempdir");
    let backup = spare.path().join("backup");
    hub.ok(&["backup", backup.to_str().expect("path")]);
    // After the backup: a second session from each district, receipted at 3, 4, 5.
    let mut signed: BTreeMap<usize, u64> = BTreeMap::new();
    for (i, n) in nodes.iter().enumerate() {
        n.seal_session("ky-hop-2", 22 + i as u64);
        assert!(sync_once(n, "30").0);
        let (state, index) = indices(n)["ky-hop-2"].clone();
        assert_eq!(state, "received");
        signed.insert(i, index.expect("index"));
    }
    assert_eq!(
        signed
            .values()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        (3..6).collect()
    );

    // The disk dies; the operator restores last night's backup into a new home,
    // carrying the broken home's log file, and moves it into place (OPERATIONS.md).
    let (out, broken) = restore_in_place(&mut hub, &backup, spare.path(), true);
    assert!(out.contains("6 mục đã ký"), "{out}");

    // The hub knows at once, before any district speaks: loss recorded, three missing,
    // on status and in `log verify`.
    let st = hub.status();
    let loss = &st["log_loss"];
    assert_eq!(loss["events"].as_array().map(Vec::len), Some(1), "{st}");
    assert_eq!(loss["events"][0]["store_size"], 3, "{st}");
    assert_eq!(loss["events"][0]["log_size"], 6, "{st}");
    assert_eq!(loss["missing"], serde_json::json!([3, 4, 5]), "{st}");
    assert_eq!(st["seals_accepted"], 3, "{st}");
    assert_eq!(hub.status_code().0, Some(1), "missing minutes are an alarm");
    let o = Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .arg("status")
        .output()
        .expect("status");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("KHO DỮ LIỆU ĐÃ MẤT DỮ LIỆU"), "{text}");
    assert!(text.contains("Còn thiếu 3 biên bản"), "{text}");
    let v = log_verify(&hub);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["size"], 6, "{v}");
    assert_eq!(v["lost"], 3, "{v}");

    // A new seal never takes an index the hub already signed for another.
    let newcomer = districts(&hub, &["lai-chau.muong-te"]).remove(0);
    newcomer.seal_session("ky-hop-1", 25);
    assert!(sync_once(&newcomer, "30").0);
    assert_eq!(indices(&newcomer)["ky-hop-1"].1, Some(6));

    // While the hub cannot write its log file, a district's `sync --once` does not
    // say all is well: its receipt is one the hub cannot prove.
    let fail = hub.path().join("log.leaves.fail");
    std::fs::write(&fail, b"").expect("inject");
    let (ok, text) = sync_once(&nodes[0], "4");
    assert!(
        !ok,
        "sync --once exits non-zero while the hub lost the seal:\n{text}"
    );
    assert!(text.contains("MÁY CHỦ BÁO ĐÃ MẤT DỮ LIỆU"), "{text}");
    assert!(text.contains("máy chủ đã mất biên bản này"), "{text}");
    let st = nodes[0].status();
    let d = st["deliveries"]
        .as_array()
        .and_then(|a| a.iter().find(|d| d["session"] == "ky-hop-2"))
        .cloned()
        .expect("delivery");
    assert_ne!(d["state"], "received", "{d}");
    assert!(d["lost_receipt"].is_string(), "old receipt kept: {d}");
    std::fs::remove_file(&fail).expect("disk back");

    // Each district delivers its lost seal again; the hub takes each back at the index
    // it signed it at.
    for (i, n) in nodes.iter().enumerate() {
        // The first was refused meanwhile ("retry later"): its clerk retries now.
        let o = n.run(&["sync", "--once", "--timeout", "30", "--retry-now"]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{text}");
        let (state, index) = indices(n)["ky-hop-2"].clone();
        assert_eq!(state, "received");
        assert_eq!(index, Some(signed[&i]), "same index as before the loss");
        n.ok(&["verify-receipt"]);
        assert!(
            n.status()["log"]["alarm"].is_null(),
            "the log never went back"
        );
    }
    let st = hub.status();
    assert_eq!(st["seals_accepted"], 7, "{st}");
    assert_eq!(st["seals_rejected"], 0, "resyncs are not rejections: {st}");
    assert_eq!(st["log_loss"]["missing"], serde_json::json!([]), "{st}");
    assert_eq!(st["log_loss"]["recovered"], 3, "{st}");
    assert_eq!(
        st["log_loss"]["events"].as_array().map(Vec::len),
        Some(1),
        "the loss stays recorded: {st}"
    );
    let v = log_verify(&hub);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["size"], 7, "{v}");
    assert_eq!(v["receipts_checked"], 7, "{v}");
    assert_eq!(hub.status_code().0, Some(0), "all back: no alarm left");
    let text = hub.ok(&["status"]);
    assert!(text.contains("Đã nhận lại đủ: 3 biên bản"), "{text}");
    let _ = std::fs::remove_dir_all(&broken);
}

/// The newest commit's slot checksum in redb's header, one byte flipped: redb opens
/// the commit before it, as after a torn write (redb 4's layout: god byte at 9, its
/// bit 0 the primary slot; slots of 128 bytes from 64, the checksum their last 16).
fn flip_newest_commit(store: &Path) {
    let file = std::fs::read_dir(store)
        .expect("store dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.is_file())
        .expect("the database file");
    let mut bytes = std::fs::read(&file).expect("read");
    assert_eq!(&bytes[..4], b"redb");
    let primary = usize::from(bytes[9] & 1);
    let at = 64 + 128 * primary + 112;
    bytes[at] ^= 0x5a;
    std::fs::write(&file, bytes).expect("write");
}

#[test]
fn a_flipped_byte_in_the_newest_commit_is_repaired_by_the_district_daemons() {
    let mut hub = Hub::start("lai-chau");
    let nodes = districts(&hub, &["lai-chau.sin-ho", "lai-chau.tan-uyen"]);
    for (i, n) in nodes.iter().enumerate() {
        n.seal_session("ky-hop-1", 20 + i as u64);
        assert!(sync_once(n, "30").0);
    }
    // The newest commit holds the last seal.
    nodes[1].seal_session("ky-hop-2", 23);
    assert!(sync_once(&nodes[1], "30").0);
    assert_eq!(indices(&nodes[1])["ky-hop-2"], ("received".into(), Some(2)));
    hub.kill();
    flip_newest_commit(&hub.path().join("store"));
    hub.serve(&[]);
    let st = hub.status();
    assert_eq!(st["seals_accepted"], 2, "redb fell back a commit: {st}");
    assert_eq!(st["log_loss"]["missing"], serde_json::json!([2]), "{st}");

    // The districts' daemons, as deployed, check in now and then even with nothing to
    // send; the one holding the receipt delivers again.
    let daemons: Vec<_> = nodes
        .iter()
        .map(|n| {
            tinnhiem_tests::Proc(
                Command::new(bin("tinnhiem-node"))
                    .arg("--home")
                    .arg(n.path())
                    .args(["sync", "--daemon"])
                    .env("TINNHIEM_CHECK_INTERVAL_SECS", "1")
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .expect("daemon"),
            )
        })
        .collect();
    let start = Instant::now();
    let healed = loop {
        let st = hub.status();
        if st["log_loss"]["missing"] == serde_json::json!([]) {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not healed in 60 s: {st}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    drop(daemons);
    assert_eq!(healed["seals_accepted"], 3, "{healed}");
    assert_eq!(healed["log_loss"]["recovered"], 1, "{healed}");
    assert_eq!(log_verify(&hub)["ok"], true);
    assert_eq!(indices(&nodes[1])["ky-hop-2"], ("received".into(), Some(2)));
    // The next seal goes after the log, not at the lost index.
    nodes[0].seal_session("ky-hop-3", 24);
    assert!(sync_once(&nodes[0], "30").0);
    assert_eq!(indices(&nodes[0])["ky-hop-3"].1, Some(3));
    for n in &nodes {
        n.ok(&["verify-receipt"]);
    }
}

#[test]
fn a_hub_restored_without_its_log_gets_every_seal_back_from_the_districts() {
    // The old disk is gone: the backup is restored alone (its own log file is as old
    // as its store), so the hub cannot know what it signed after it. The districts
    // do: each sees a log that does not extend the head it verified, keeps the alarm,
    // sends again everything it holds a receipt for, and follows the new log.
    let mut hub = Hub::start("lai-chau");
    let nodes = districts(&hub, &["lai-chau.sin-ho", "lai-chau.tan-uyen"]);
    let (a, b) = (&nodes[0], &nodes[1]);
    a.seal_session("a1", 20);
    assert!(sync_once(a, "30").0);
    let spare = tempfile::tempdir().expect("tempdir");
    let backup = spare.path().join("backup");
    hub.ok(&["backup", backup.to_str().expect("path")]);
    a.seal_session("a2", 21);
    assert!(sync_once(a, "30").0);
    b.seal_session("b1", 22);
    b.seal_session("b2", 23);
    assert!(sync_once(b, "30").0);
    let (_, broken) = restore_in_place(&mut hub, &backup, spare.path(), false);
    assert_eq!(hub.status()["seals_accepted"], 1);

    // B first: its two seals come back (under new numbers: the hub cannot know the
    // old ones). Then A, whose later seal's number B's now took: it comes back too.
    for n in [b, a] {
        let (ok, text) = sync_once(n, "30");
        assert!(!ok, "the alarm is news in this run: {text}");
        assert!(text.contains("CẢNH BÁO"), "{text}");
        assert!(!n.status()["log"]["alarm"].is_null());
    }
    let st = hub.status();
    assert_eq!(st["seals_accepted"], 4, "every seal back: {st}");
    // Resyncing is not being rejected (issue 13 §4: "bị từ chối: 3" for accepted seals).
    assert_eq!(st["seals_rejected"], 0, "{st}");
    assert_eq!(log_verify(&hub)["ok"], true);
    // One alarm, not one per connection: the next run is quiet and whole.
    std::thread::sleep(Duration::from_millis(1100));
    for n in [a, b] {
        let (ok, text) = sync_once(n, "30");
        assert!(ok, "{text}");
        assert!(n.indices_all_received());
        n.ok(&["verify-receipt"]);
    }
    let _ = std::fs::remove_dir_all(&broken);
}

trait AllReceived {
    fn indices_all_received(&self) -> bool;
}

impl AllReceived for NodeHome {
    fn indices_all_received(&self) -> bool {
        indices(self).values().all(|(state, _)| state == "received")
    }
}
