//! A subject named like markup, typed into the clerk's page, shows as text in every
//! table the page scripts draw (the list, ballot entry, the ballots just entered, the
//! result) and on the hub's review page: `tn.html` escapes every value it is given.
//! Had any of them reached `innerHTML` raw, the `<img>` would be in the page (and its
//! `onerror` would open an alert that stops the browser).

use tinnhiem_tests::browser::Browser;
use tinnhiem_tests::{Hub, NodeHome};

const PASSWORD: &str = "mat-khau-thu-nghiem";
const S: &str = "ky-hop-18";
const HOSTILE: &str = "<img src=x onerror=alert(1)>";
const ENTER: &str = "\u{E007}";

/// How many `<img src=x>` the page holds: any is a name that became markup.
async fn injected(b: &Browser) -> u64 {
    b.c.execute(
        "return document.querySelectorAll('img[src=x]').length",
        vec![],
    )
    .await
    .expect("count img")
    .as_u64()
    .unwrap_or(u64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_like_markup_shows_as_text_in_every_table() {
    let h = NodeHome::init("lai-chau.phong-tho");
    h.user("lan", "clerk", PASSWORD);
    h.ok(&[
        "session",
        "create",
        S,
        "--profile",
        "nq96-2023",
        "--body",
        "HĐND huyện Phong Thổ",
        "--date",
        "2023-12-12",
    ]);
    let web = h.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.go(&format!("{}/s/{S}#subjects", web.base)).await;

    b.fill("#one input[name=id]", "s01").await;
    b.fill("#one input[name=person]", "p-evil").await;
    b.fill("#one input[name=name]", HOSTILE).await;
    b.fill("#one input[name=position]", HOSTILE).await;
    b.click("#one-go").await;
    b.wait_text("#subject-msg", "Đã thêm s01", 20).await;
    let list = b.wait_text("#subjects-table", HOSTILE, 20).await;
    assert!(list.contains("p-evil"), "{list}");

    // Ballot entry: the row's name, then the ballot just entered.
    b.go(&format!("{}/s/{S}#ballots", web.base)).await;
    b.wait_text("table.ballot", HOSTILE, 20).await;
    b.wait_for(".mark").await;
    b.keys(&format!("1{ENTER}")).await;
    b.wait_text("#recent-table", HOSTILE, 20).await;

    // The result, redrawn on each poll.
    b.go(&format!("{}/s/{S}#result", web.base)).await;
    b.wait_text("#result-table", HOSTILE, 20).await;
    assert_eq!(injected(&b).await, 0, "a name became markup on the node");
    assert_eq!(b.csp_violations().await, Vec::<String>::new());

    // The hub's review page, from a sealed session with the same name.
    let mut hub = Hub::start("lai-chau");
    hub.serve(&["--http", "127.0.0.1:0"]);
    let base = hub.web.clone().expect("hub web address");
    let out = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["user", "add", "xem", "--role", "reviewer"])
        .env("TINNHIEM_PASSWORD", PASSWORD)
        .output()
        .expect("user add");
    assert!(out.status.success(), "{out:?}");
    let unit = "lai-chau.sin-ho";
    let n = NodeHome::init(unit);
    hub.enroll(&n, unit);
    let doc = format!(
        r#"{{"id": "ky-2023", "profile": "nq96-2023", "procedure": "poll", "body": "HĐND huyện Sìn Hồ", "date": "2023-12-08",
  "attendance": {{"total": 30, "present": 30, "absent_from_start": 0, "present_at_vote": 30}},
  "ballots": {{"issued": 30, "collected": 30, "wholly_invalid": 0}},
  "count_from": "14:05", "count_to": "14:40", "chair": "Lò Thị Hoa", "board": ["Lò Thị Hoa", "Vàng A Sình"],
  "subjects": [{{"id": "s01", "person_id": "p-evil", "name": "{name}", "position": "{name}", "unit": "UBND"}}],
  "tallies": {{"s01": {{"high": 5, "confidence": 5, "low": 20, "invalid": 0}}}}}}"#,
        name = HOSTILE
    );
    let f = n.file("s.json", &doc);
    n.ok(&["session", "import", f.to_str().expect("path")]);
    n.ok(&["seal", "ky-2023"]);
    n.point_at(hub.addr, &hub.key);
    n.ok(&["sync", "--once", "--timeout", "30"]);

    b.login(&base, "xem", PASSWORD).await;
    b.go(&format!("{base}/review?q=p-evil")).await;
    let found = b.wait_text("section.person", HOSTILE, 20).await;
    assert!(found.contains("p-evil"), "{found}");
    assert_eq!(injected(&b).await, 0, "a name became markup on the hub");
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
}
