//! Totals typed from paper (tallies mode) at full keyboard speed land in the rows they
//! were typed for, or are refused visibly; never saved into the wrong row or with an
//! empty box taken as 0. A user trial of the clerk page found both: Enter saved a row
//! but left the focus in it, so the next row's keys went into the saved row (a burst
//! put "15" into row 1's box), and a Tab typed next landed on the row's "Ghi" button,
//! dropping the 0 typed there, after which the next row was saved with its empty
//! "Không hợp lệ" box taken as 0: wrong numbers, shown as "Đã ghi".

use std::time::{Duration, Instant};
use tinnhiem_tests::browser::{Browser, NodeWeb};
use tinnhiem_tests::NodeHome;

const PASSWORD: &str = "mat-khau-thu-nghiem";
const UNIT: &str = "lai-chau.phong-tho";
const SESSION: &str = "ky-hop-18";

/// Three people on the ballot; Giàng A Páo is retiring and not on it.
const SUBJECTS_CSV: &str = "id,person_id,name,position,unit,excluded
s01,p-0101,Vương Thị Thu Hiền,Phó Chủ tịch HĐND huyện,HĐND huyện Phong Thổ,
s02,p-0102,Lò Văn Mạnh,Chủ tịch UBND huyện,UBND huyện Phong Thổ,
s03,p-0103,Giàng A Páo,Phó Chủ tịch UBND huyện,UBND huyện Phong Thổ,retiring
s04,p-0104,Tẩn Thị Mẩy,Trưởng ban Pháp chế HĐND huyện,HĐND huyện Phong Thổ,
";

// WebDriver's keys.
const ENTER: &str = "\u{E007}";
const TAB: &str = "\u{E004}";
const ESC: &str = "\u{E00C}";

/// (high, confidence, low, invalid) of one row.
type Row = [u64; 4];

/// A tallies session with 28 ballots to count (30 collected, 2 wholly invalid), as in
/// the trial.
fn prepared() -> NodeHome {
    let node = NodeHome::init(UNIT);
    let csv = node.file("subjects.csv", SUBJECTS_CSV);
    node.ok(&[
        "session",
        "create",
        SESSION,
        "--profile",
        "nq96-2023",
        "--mode",
        "tallies",
        "--body",
        "HĐND huyện Phong Thổ",
        "--date",
        "2024-06-20",
    ]);
    node.ok(&["subject", "import", SESSION, csv.to_str().expect("path")]);
    node.ok(&[
        "ballots",
        "set",
        SESSION,
        "--issued",
        "30",
        "--collected",
        "30",
        "--wholly-invalid",
        "2",
    ]);
    node.user("lan", "clerk", PASSWORD);
    node
}

/// The keys of one row as the clerk types it: the four numbers, Tab between, Enter.
fn typed(r: &Row) -> String {
    let cells: Vec<String> = r.iter().map(u64::to_string).collect();
    format!("{}{ENTER}", cells.join(TAB))
}

/// The tally stored for a subject, read back from the store.
fn stored(node: &NodeHome, subject: &str) -> Option<Row> {
    let r = node.result_json(SESSION);
    let s = r["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .find(|s| s["id"] == subject)?
        .clone();
    let c = &s["counts"];
    let row = [
        c["high"].as_u64().unwrap_or(0),
        c["confidence"].as_u64().unwrap_or(0),
        c["low"].as_u64().unwrap_or(0),
        s["invalid"].as_u64().unwrap_or(0),
    ];
    (row != [0; 4]).then_some(row)
}

/// Waits until no row is on its way to the server (or `secs` passed).
async fn settle(b: &Browser, secs: u64) {
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    while t0.elapsed() < Duration::from_secs(secs) {
        let busy =
            b.c.execute(
                "return [...document.querySelectorAll('.tally-state')].some(s => s.textContent.includes('Đang ghi'))",
                vec![],
            )
            .await
            .map(|v| v.as_bool().unwrap_or(true))
            .unwrap_or(true);
        if !busy {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn open(node: &NodeHome) -> (NodeWeb, Browser) {
    let web = node.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.go(&format!("{}/s/{SESSION}#ballots", web.base)).await;
    b.wait_for("#tally-table tr[data-subject=s01] input[data-level=high]")
        .await;
    (web, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tally_rows_typed_in_one_burst_land_in_their_rows() {
    let node = prepared();
    let (_web, b) = open(&node).await;
    let rows: [(&str, Row); 3] = [
        ("s01", [20, 6, 2, 0]),
        ("s02", [15, 10, 3, 0]),
        ("s04", [10, 10, 8, 0]),
    ];
    let burst: String = rows.iter().map(|(_, r)| typed(r)).collect();
    b.click("#tally-table tr[data-subject=s01] input[data-level=high]")
        .await;
    b.keys(&burst).await;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20)
        && rows.iter().any(|(s, _)| stored(&node, s).is_none())
    {
        settle(&b, 5).await;
    }
    settle(&b, 10).await;
    b.shot("tally-keys-burst").await;
    for (s, r) in &rows {
        assert_eq!(stored(&node, s).as_ref(), Some(r), "row {s} as typed");
        b.wait_text(
            &format!("#tally-table tr[data-subject={s}] .tally-state"),
            "Đã ghi",
            10,
        )
        .await;
    }

    // The API refuses a row with an empty box, "Không hợp lệ" included, in Vietnamese,
    // and keeps what was stored.
    let answers = b
        .c
        .execute(
            &format!(
                r#"const post = body => fetch("/api/s/{SESSION}/tally", {{method: "POST",
                     headers: {{"Content-Type": "application/json", "X-CSRF-Token": tn.csrf}}, body: JSON.stringify(body)}})
                     .then(async r => [r.status, await r.json()]);
                   return Promise.all([post({{subject: "s01", high: 20, confidence: 6, low: 2}}),
                                       post({{subject: "s01", high: 20, confidence: 6, low: 2, invalid: null}}),
                                       post({{subject: "s01", confidence: 6, low: 2, invalid: 20}})]);"#
            ),
            vec![],
        )
        .await
        .expect("post to the API");
    for (a, want) in
        answers
            .as_array()
            .expect("answers")
            .iter()
            .zip(["Không hợp lệ", "Không hợp lệ", "thiếu"])
    {
        assert_eq!(a[0], 400, "{a}");
        let e = a[1]["error"].as_str().unwrap_or_default();
        assert!(e.contains(want), "{e}");
    }
    assert_eq!(stored(&node, "s01"), Some([20, 6, 2, 0]));
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tab_typed_first_after_enter_never_saves_wrong_numbers() {
    let node = prepared();
    let (_web, b) = open(&node).await;
    b.click("#tally-table tr[data-subject=s01] input[data-level=high]")
        .await;
    // Row 1 as in the trial, then row 2 typed as the clerk did, believing the focus was
    // still in row 1's last box: Tab first, meaning 0 / 20 / 6 / 2.
    b.keys(&typed(&[20, 6, 2, 0])).await;
    b.keys(&format!("{TAB}0{TAB}20{TAB}6{TAB}2{ENTER}")).await;
    settle(&b, 20).await;
    b.shot("tally-keys-tab-first").await;
    assert_eq!(stored(&node, "s01"), Some([20, 6, 2, 0]), "row 1");
    for s in ["s02", "s04"] {
        let got = stored(&node, s);
        assert!(
            got.is_none() || got == Some([0, 20, 6, 2]),
            "row {s} saved as {got:?}: not what was typed"
        );
    }
    // What went wrong is on the screen, in Vietnamese, naming the empty box.
    let stop = b.wait_text("#tally-stop", "chưa nhập", 10).await;
    assert!(stop.contains("Dừng nhập"), "{stop}");
    // Keys typed now are set aside and shown, not typed into a box, until Esc.
    b.keys("7").await;
    b.wait_text("#tally-stop", "1 phím", 10).await;
    b.keys(ESC).await;
    let hidden =
        b.c.execute(
            "return document.getElementById('tally-stop').hidden",
            vec![],
        )
        .await
        .expect("hidden");
    assert_eq!(hidden, true);
    // The buttons are out of the tab order.
    let tabbable =
        b.c.execute(
            "return [...document.querySelectorAll('#tally-table button')].filter(b => b.tabIndex >= 0).length",
            vec![],
        )
        .await
        .expect("tab order");
    assert_eq!(tabbable, 0);
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
}
