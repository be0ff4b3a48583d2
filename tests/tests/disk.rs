//! A full or failing disk loses nothing and recovers by itself (issue 13 §6).
//!
//! Faults are injected below the store with the test-only control file named by
//! `TINNHIEM_TEST_STORE_FAULTS` (see `shared::store::faults`): written to break the
//! disk while the processes run, removed to bring the space back.

use std::path::Path;
use std::process::{Command, Output};
use tinnhiem_store::faults::ENV;
use tinnhiem_tests::{bin, http, session_file, Hub, NodeHome};

const S: &str = "ky-hop-2023";

/// `tinnhiem-node` with the faults of `faults` in force.
fn node_with(node: &NodeHome, faults: &Path, args: &[&str]) -> Output {
    Command::new(bin("tinnhiem-node"))
        .arg("--home")
        .arg(node.path())
        .args(args)
        .env(ENV, faults)
        .env_remove("TINNHIEM_HOME")
        .output()
        .expect("run tinnhiem-node")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn copies(node: &NodeHome, session: &str) -> [std::path::PathBuf; 2] {
    [
        node.path().join(format!("sealed/{session}.1.automerge")),
        node.path().join(format!("sealed/{session}.1.seal")),
    ]
}

#[test]
fn a_seal_on_a_full_disk_fails_clearly_and_its_copies_come_back_from_the_store() {
    for store in ["redb", "sled"] {
        let node = NodeHome::init_with_store("lai-chau.phong-tho", store);
        let f = node.file("s.json", &session_file(S, 20));
        node.ok(&["session", "import", f.to_str().expect("path")]);
        let faults = node.path().join("faults.txt");

        // The store's disk is full: nothing is sealed, and the clerk is told so.
        std::fs::write(&faults, "write:nospace").expect("fault");
        let o = node_with(&node, &faults, &["seal", S]);
        assert_eq!(o.status.code(), Some(1), "{store}: {o:?}");
        let err = text(&o.stderr);
        assert!(
            err.contains("đã đầy") && err.contains("giải phóng chỗ trống"),
            "{store}: {err}"
        );
        assert!(copies(&node, S).iter().all(|p| !p.exists()));
        let not = node.fails(&["verify", S]);
        assert!(not.contains("chưa được niêm phong"), "{store}: {not}");

        // A failed fsync: refused too, and nothing half-written is read afterwards.
        std::fs::write(&faults, "sync:eio").expect("fault");
        let o = node_with(&node, &faults, &["seal", S]);
        assert_eq!(o.status.code(), Some(1), "{store}: {o:?}");
        assert!(text(&o.stderr).contains("lỗi đọc/ghi"), "{o:?}");
        std::fs::remove_file(&faults).expect("space back");
        // Either the seal landed whole before the fsync failed, or not at all.
        let o = node.run(&["seal", S]);
        assert!(o.status.success(), "{store}: {o:?}");
        node.ok(&["verify", S]);
        assert!(copies(&node, S).iter().all(|p| p.exists()));
    }
}

#[test]
fn a_seal_whose_copies_failed_is_kept_and_its_copies_are_rebuilt_from_the_store() {
    for store in ["redb", "sled"] {
        let node = NodeHome::init_with_store("lai-chau.phong-tho", store);
        let f = node.file("s.json", &session_file(S, 20));
        node.ok(&["session", "import", f.to_str().expect("path")]);
        let faults = node.path().join("faults.txt");

        // The store takes the seal, then the disk is full for the copies in sealed/.
        std::fs::write(&faults, "copy:nospace").expect("fault");
        let o = node_with(&node, &faults, &["seal", S]);
        assert_eq!(o.status.code(), Some(1), "{store}: {o:?}");
        let err = text(&o.stderr);
        assert!(
            err.contains("ĐÃ được niêm phong lần 1") && err.contains("tự ghi lại"),
            "{store}: {err}"
        );
        assert!(copies(&node, S).iter().all(|p| !p.exists()));
        // Sealing again says it is sealed, and never passes over the missing copies.
        let o = node_with(&node, &faults, &["seal", S]);
        assert_eq!(o.status.code(), Some(1), "{store}: {o:?}");
        assert!(
            text(&o.stderr).contains("chưa ghi lại được bản sao"),
            "{store}: {o:?}"
        );

        // Space is back: the next command writes them from the store; `verify` checks
        // them against it, change for change.
        std::fs::remove_file(&faults).expect("space back");
        let o = node.run(&["verify", S]);
        assert!(o.status.success(), "{store}: {o:?}");
        assert!(
            text(&o.stderr).contains("Đã ghi lại bản sao từ kho"),
            "{store}: {o:?}"
        );
        assert!(text(&o.stdout).contains("HỢP LỆ"), "{o:?}");
        assert!(copies(&node, S).iter().all(|p| p.exists()));
        let again = node.ok(&["seal", S]);
        assert!(again.contains("đã được niêm phong lần 1"), "{again}");
    }
}

#[test]
fn a_changed_copy_is_named_by_verify_and_backup_and_not_trusted_by_restore() {
    let node = NodeHome::init("lai-chau.phong-tho");
    node.seal_session(S, 20);
    node.seal_session("ky-hop-khac", 25);
    node.ok(&["verify", S]);
    let [am, sf] = copies(&node, S);
    let sealed_bytes = std::fs::read(&sf).expect("seal copy");

    // One flipped bit in the seal's copy.
    let mut flipped = sealed_bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    std::fs::write(&sf, &flipped).expect("tamper");
    let o = node.run(&["verify", S]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!("{S}.1.seal")) && out.contains("KHÁC"),
        "{out}"
    );
    let j: serde_json::Value =
        serde_json::from_slice(&node.run(&["verify", S, "--json"]).stdout).expect("json");
    assert_eq!(j["ok"], false, "{j}");
    assert!(
        j["copies"][0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with(&format!("{S}.1.seal"))),
        "{j}"
    );

    // A backup is made (the store is the original) but names the changed copy.
    let dir = tempfile::tempdir().expect("tmp");
    let b = dir.path().join("backup");
    let o = node.run(&["backup", b.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(text(&o.stderr).contains(&format!("{S}.1.seal")), "{o:?}");
    // A restore does not trust it: set aside, named, replaced by the store's own.
    let r = dir.path().join("restored");
    let o = Command::new(bin("tinnhiem-node"))
        .arg("--home")
        .arg(&r)
        .args(["restore", b.to_str().expect("path")])
        .output()
        .expect("restore");
    assert!(o.status.success(), "{o:?}");
    assert!(text(&o.stderr).contains(&format!("{S}.1.seal")), "{o:?}");
    assert!(r.join(format!("sealed.untrusted/{S}.1.seal")).is_file());
    assert_eq!(
        std::fs::read(r.join(format!("sealed/{S}.1.seal"))).expect("rebuilt"),
        sealed_bytes
    );
    let o = Command::new(bin("tinnhiem-node"))
        .arg("--home")
        .arg(&r)
        .args(["verify", S])
        .output()
        .expect("verify restored");
    assert!(o.status.success(), "{o:?}");

    // The document's copy replaced by another session's sealed minutes: named too.
    std::fs::write(&sf, &sealed_bytes).expect("seal copy back");
    node.ok(&["verify", S]);
    std::fs::copy(copies(&node, "ky-hop-khac")[0].clone(), &am).expect("swap");
    let o = node.run(&["verify", S]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        text(&o.stdout).contains(&format!("{S}.1.automerge")),
        "{o:?}"
    );
    // Never rewritten over: the next command leaves it for a person to look at.
    assert_eq!(
        std::fs::read(&am).expect("copy"),
        std::fs::read(copies(&node, "ky-hop-khac")[0].clone()).expect("other")
    );
}

fn hub_status(hub: &Hub) -> (Option<i32>, serde_json::Value, String) {
    let run = |args: &[&str]| {
        Command::new(bin("tinnhiem-hub"))
            .arg("--home")
            .arg(hub.path())
            .args(args)
            .output()
            .expect("status")
    };
    let j = run(&["status", "--json"]);
    let t = run(&["status"]);
    (
        j.status.code(),
        serde_json::from_slice(&j.stdout).unwrap_or_else(|_| panic!("{j:?}")),
        text(&t.stdout),
    )
}

fn scrape(base: &str, token: &str) -> String {
    let auth = format!("Bearer {token}");
    http::get(base, "/metrics", &[("Authorization", &auth)]).text()
}

fn log_lines(hub: &Hub, what: &str) -> usize {
    std::fs::read_to_string(hub.path().join("serve.log"))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(what))
        .count()
}

#[test]
fn a_hub_whose_disk_fails_says_unavailable_and_recovers_by_itself() {
    let mut hub = Hub::init("lai-chau");
    let faults = hub.path().join("faults.txt");
    hub.serve_with_env(&[(ENV, &faults)], &["--http", "127.0.0.1:0"]);
    let base = hub.web.clone().expect("web");
    let pid = hub.pid();
    let user = Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["user", "add", "an", "--role", "staff"])
        .env("TINNHIEM_PASSWORD", "mat-khau-du-dai-1")
        .output()
        .expect("user add");
    assert!(user.status.success(), "{user:?}");
    let token = std::fs::read_to_string(hub.path().join("metrics.token"))
        .expect("token")
        .trim()
        .to_string();

    let a = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&a, "lai-chau.phong-tho");
    a.seal_session(S, 20);
    a.point_at(hub.addr, &hub.key);
    a.ok(&["sync", "--once", "--timeout", "60"]);
    let b = NodeHome::init("lai-chau.tam-duong");
    hub.enroll(&b, "lai-chau.tam-duong");
    b.seal_session(S, 22);
    b.point_at(hub.addr, &hub.key);

    // The disk fills: the delivery is refused as unavailable (the node retries), and
    // the hub says why on `status`, the dashboard and /metrics.
    std::fs::write(&faults, "write:nospace").expect("fault");
    let o = b.run(&["sync", "--once", "--timeout", "5", "--retry-now"]);
    assert!(!o.status.success(), "{o:?}");
    assert!(text(&o.stdout).contains("[unavailable]"), "{o:?}");
    let (code, st, words) = hub_status(&hub);
    assert_eq!(code, Some(1), "status says something is wrong: {st}");
    assert_eq!(st["store"]["available"], false, "{st}");
    assert!(
        st["store"]["cause"]
            .as_str()
            .is_some_and(|c| c.contains("đầy")),
        "{st}"
    );
    assert!(
        words.contains("KHO DỮ LIỆU TẠM THỜI KHÔNG DÙNG ĐƯỢC"),
        "{words}"
    );
    let m = scrape(&base, &token);
    assert!(m.contains("tinnhiem_hub_store_available 0"), "{m}");
    assert!(
        m.lines().any(|l| l.starts_with("tinnhiem_hub_refused_unavailable_total ")
            && !l.ends_with(" 0")),
        "{m}"
    );
    let (cookie, _) = http::login(&base, "an", "mat-khau-du-dai-1");
    let jar = format!("tinnhiem_session={cookie}");
    let d: serde_json::Value =
        serde_json::from_str(&http::get(&base, "/api/dashboard", &[("Cookie", &jar)]).text())
            .expect("dashboard json");
    assert_eq!(d["store"]["available"], false, "{d}");
    // Every refusal meanwhile: counted, not logged one by one.
    assert_eq!(
        log_lines(&hub, "store unavailable"),
        1,
        "{}",
        serve_log(&hub)
    );
    // A dozen more refusals, as districts retrying would bring.
    for _ in 0..12 {
        let o = b.run(&["sync", "--once", "--timeout", "2", "--retry-now"]);
        assert!(!o.status.success(), "{o:?}");
    }
    let all = std::fs::read_to_string(hub.path().join("serve.log")).unwrap_or_default();
    assert!(
        all.lines().count() < 8,
        "no line per refused request:\n{all}"
    );

    // Space returns: the same process opens its store again by itself.
    std::fs::remove_file(&faults).expect("space back");
    let start = std::time::Instant::now();
    loop {
        let (code, st, words) = hub_status(&hub);
        if st["store"]["available"] == true {
            assert!(st["store"]["reopened"].as_u64() >= Some(1), "{st}");
            // Open again, but the failure of the last minute is still shown: a full
            // disk reopens between refused writes, and must not read healthy then.
            assert_eq!(st["store"]["failing"], true, "{st}");
            assert!(st["store"]["failures"].as_u64() >= Some(1), "{st}");
            assert!(st["store"]["last_failure"].as_i64() > Some(0), "{st}");
            assert_eq!(code, Some(1), "degraded is not healthy: {st}");
            assert!(words.contains("KHO DỮ LIỆU ĐANG TRỤC TRẶC"), "{words}");
            let m = scrape(&base, &token);
            assert!(m.contains("tinnhiem_hub_store_available 1"), "{m}");
            assert!(m.contains("tinnhiem_hub_store_failing 1"), "{m}");
            assert!(
                m.lines().any(|l| l
                    .starts_with("tinnhiem_hub_store_last_failure_timestamp_seconds ")
                    && !l.ends_with(" 0")),
                "{m}"
            );
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "still unavailable: {st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(hub.pid(), pid, "no restart");
    b.ok(&["sync", "--once", "--timeout", "60", "--retry-now"]);
    let (_, st, _) = hub_status(&hub);
    assert_eq!(st["seals_accepted"], 2, "{st}");
    hub.ok(&["log", "verify"]);
    let m = scrape(&base, &token);
    assert!(m.contains("tinnhiem_hub_store_available 1"), "{m}");
    assert_eq!(
        log_lines(&hub, "store available again"),
        1,
        "{}",
        serve_log(&hub)
    );
    assert_eq!(
        log_lines(&hub, "store unavailable"),
        1,
        "{}",
        serve_log(&hub)
    );
}

fn serve_log(hub: &Hub) -> String {
    std::fs::read_to_string(hub.path().join("serve.log")).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_says_the_store_is_down_and_clears_when_it_is_back() {
    use tinnhiem_tests::browser::Browser;
    let mut hub = Hub::init("lai-chau");
    let faults = hub.path().join("faults.txt");
    hub.serve_with_env(&[(ENV, &faults)], &["--http", "127.0.0.1:0"]);
    let base = hub.web.clone().expect("web");
    let user = Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["user", "add", "an", "--role", "staff"])
        .env("TINNHIEM_PASSWORD", "mat-khau-du-dai-1")
        .output()
        .expect("user add");
    assert!(user.status.success(), "{user:?}");
    let node = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&node, "lai-chau.phong-tho");
    node.seal_session(S, 20);
    node.point_at(hub.addr, &hub.key);

    let b = Browser::start().await;
    b.login(&base, "an", "mat-khau-du-dai-1").await;
    b.wait_text("#reported", "0 / 1", 10).await;
    std::fs::write(&faults, "write:nospace").expect("fault");
    let o = node.run(&["sync", "--once", "--timeout", "5", "--retry-now"]);
    assert!(!o.status.success(), "{o:?}");
    let said = b
        .wait_text("#store-down", "Kho dữ liệu tạm thời không dùng được", 10)
        .await;
    assert!(said.contains("đầy"), "{said}");

    // Space returns: the page's own polling finds the store back, no delivery needed.
    // It stays shown as a recent failure (the disk may still be full, taking only the
    // reopen's probe write), and the figures come back.
    std::fs::remove_file(&faults).expect("space back");
    b.wait_text("#store-down", "Kho dữ liệu đang trục trặc", 10)
        .await;
    node.ok(&["sync", "--once", "--timeout", "60", "--retry-now"]);
    b.wait_text("#reported", "1 / 1", 10).await;
    b.close().await;
}

/// Waits until the hub's `status` says its store works again.
fn until_available(hub: &Hub) {
    let start = std::time::Instant::now();
    loop {
        let (_, st, _) = hub_status(hub);
        if st["store"]["available"] == true {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "still unavailable: {st}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn a_failed_fsync_on_the_hub_never_gives_a_log_index_twice() {
    let mut hub = Hub::init("lai-chau");
    let faults = hub.path().join("faults.txt");
    hub.serve_with_env(&[(ENV, &faults)], &[]);
    let nodes: Vec<NodeHome> = ["phong-tho", "tam-duong", "sin-ho"]
        .iter()
        .map(|d| {
            let unit = format!("lai-chau.{d}");
            let n = NodeHome::init(&unit);
            hub.enroll(&n, &unit);
            n.seal_session(S, 20);
            n.point_at(hub.addr, &hub.key);
            n
        })
        .collect();
    nodes[0].ok(&["sync", "--once", "--timeout", "60"]);

    // The fsync fails after redb wrote the batch: the node is told to retry, though
    // the seal and its receipt may already be on disk.
    std::fs::write(&faults, "sync:eio").expect("fault");
    let o = nodes[1].run(&["sync", "--once", "--timeout", "5", "--retry-now"]);
    assert!(!o.status.success(), "{o:?}");
    std::fs::remove_file(&faults).expect("disk back");
    until_available(&hub);

    // The retry gets the receipt; the next district's seal takes the next index, not
    // the one the failed batch may have used.
    nodes[1].ok(&["sync", "--once", "--timeout", "60", "--retry-now"]);
    nodes[2].ok(&["sync", "--once", "--timeout", "60"]);
    let (_, st, _) = hub_status(&hub);
    assert_eq!(st["seals_accepted"], 3, "{st}");
    hub.ok(&["log", "verify"]);
    for n in &nodes {
        n.ok(&["verify-receipt"]);
    }
}

#[test]
fn a_hub_backup_that_fails_removes_what_it_made_so_it_can_be_retried() {
    let mut hub = Hub::init("lai-chau");
    hub.serve(&[]);
    let node = NodeHome::init("lai-chau.phong-tho");
    hub.enroll(&node, "lai-chau.phong-tho");
    node.seal_session(S, 20);
    node.point_at(hub.addr, &hub.key);
    node.ok(&["sync", "--once", "--timeout", "60"]);
    let dir = tempfile::tempdir().expect("tmp");
    let dest = dir.path().join("sao-luu");
    let faults = dir.path().join("faults.txt");
    // The store is copied, then the disk fills before the keys and config are.
    std::fs::write(&faults, "copy:nospace").expect("fault");
    let o = Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .arg("backup")
        .arg(&dest)
        .env(ENV, &faults)
        .output()
        .expect("backup");
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let err = text(&o.stderr);
    assert!(err.contains("đã xóa thư mục dở dang"), "{err}");
    assert!(!dest.exists(), "nothing half-made is left behind");
    // Space back: the same name works.
    std::fs::remove_file(&faults).expect("space back");
    hub.ok(&["backup", dest.to_str().expect("path")]);
    assert!(dest.join("unit.key").exists() && dest.join("store").exists());
}
