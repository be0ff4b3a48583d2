//! The web pages in a real headless Chromium: a clerk enters and seals a whole session
//! at the keyboard; two clerks on two laptops merge their ballots; the provincial
//! dashboard turns a district from missing to received while it syncs, without a reload;
//! a reviewer finds a person typed without diacritics.

use std::time::Duration;
use tinnhiem_tests::browser::Browser;
use tinnhiem_tests::{Hub, NodeHome};

const PASSWORD: &str = "mat-khau-thu-nghiem";
const UNIT: &str = "lai-chau.phong-tho";

const SUBJECTS_CSV: &str = "id,person_id,name,position,unit,excluded
s01,p-0101,Vương Thị Thu Hiền,Phó Chủ tịch HĐND huyện,HĐND huyện Phong Thổ,
s02,p-0102,Lò Văn Mạnh,Chủ tịch UBND huyện,UBND huyện Phong Thổ,
s03,p-0103,Giàng A Páo,Phó Chủ tịch UBND huyện,UBND huyện Phong Thổ,retiring
";

/// Types one ballot at the keyboard (one key per person, then Enter) and waits until
/// the page counts it.
async fn ballot(b: &Browser, keys: &str, n: usize) {
    b.click(".mark").await;
    b.keys(keys).await;
    b.keys("\u{E007}").await; // WebDriver's Enter
    b.wait_text("#entry-count", &n.to_string(), 20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clerk_enters_a_whole_session_at_the_keyboard_and_seals_it() {
    let node = NodeHome::init(UNIT);
    node.user("lan", "clerk", PASSWORD);
    let web = node.web(false);
    let b = Browser::start().await;

    // A wrong password is refused, in Vietnamese.
    b.go(&format!("{}/login", web.base)).await;
    b.fill("#user", "lan").await;
    b.fill("#password", "sai-mat-khau").await;
    b.click("#login").await;
    b.wait_text("#login-error", "Sai tên đăng nhập hoặc mật khẩu", 10)
        .await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.shot("node-1-sessions").await;

    // Create the session from the form.
    b.fill("#create input[name=session]", "ky-hop-18").await;
    b.fill("#create input[name=body]", "HĐND huyện Phong Thổ")
        .await;
    b.fill("#create input[name=title]", "Kỳ họp thứ mười tám")
        .await;
    b.click("#create-go").await;

    // A broken list is refused whole, saying where, and nothing is stored.
    b.fill("#csv-text", "id,person_id,name\ns01,p-1\n").await;
    b.click("#csv-go").await;
    let refused = b.wait_text("#tab-subjects .msg", "không ghi gì", 20).await;
    assert!(refused.contains("dòng"), "{refused}");
    let t = b.text("#subjects-table").await;
    assert!(t.contains("Chưa có ai"), "{t}");

    // Subjects from CSV.
    b.fill("#csv-text", SUBJECTS_CSV).await;
    b.click("#csv-go").await;
    b.wait_text("#subjects-table", "Giàng A Páo", 20).await;
    b.shot("node-2-subjects").await;

    // Attendance and ballots: a quorum.
    b.click("#tab-link-counts").await;
    for (k, v) in [
        ("total", "5"),
        ("present", "5"),
        ("absent_from_start", "0"),
        ("present_at_vote", "5"),
        ("issued", "5"),
        ("collected", "5"),
        ("wholly_invalid", "0"),
    ] {
        b.fill(&format!("#count-{k}"), v).await;
    }
    b.click("#counts-go").await;
    b.wait_text("#tab-counts .msg", "Đủ số người có mặt", 20)
        .await;

    // Five ballots, keyboard only: s01 = high ×3, low ×2; s02 = low ×3, confidence,
    // invalid (0). Giàng A Páo is retiring and not on the ballot.
    b.click("#tab-link-ballots").await;
    for (i, keys) in ["13", "13", "13", "31", "30"].iter().enumerate() {
        ballot(&b, keys, i + 1).await;
    }
    b.shot("node-3-ballots").await;

    // The live result: s02 over half "low" is flagged; the numbers are consistent.
    b.click("#tab-link-result").await;
    let table = b
        .wait_text("#result-table", "Quá nửa tín nhiệm thấp", 20)
        .await;
    assert!(table.contains("3 (60,00%)"), "{table}");
    assert!(table.contains("2 (40,00%)"), "{table}");
    b.wait_text(
        "#problems",
        "Số liệu khớp. Trước khi niêm phong còn ghi ban kiểm phiếu",
        10,
    )
    .await;
    b.shot("node-4-result").await;

    // Sealing waits for the counting board: the seal tab names what is missing.
    b.click("#tab-link-seal").await;
    let missing = b
        .wait_text("#board-missing", "trưởng ban kiểm phiếu", 20)
        .await;
    assert!(
        missing.contains("thành viên ban kiểm phiếu") && missing.contains("giờ bắt đầu"),
        "{missing}"
    );
    b.click("#tab-link-setup").await;
    b.fill("#board input[name=assigned_by]", "Thường trực HĐND huyện")
        .await;
    b.fill_board(
        "Lò Thị Hoa",
        &["Lò Thị Hoa", "Vàng A Sình"],
        "14:05",
        "14:40",
    )
    .await;

    // Seal.
    b.click("#tab-link-seal").await;
    b.click("#seal-go").await;
    b.wait_text("#seal-state", "Đã niêm phong lần 1", 20).await;
    // The seal time on the page is Vietnam's, as in the CLI, whatever the zone of the
    // computer (UTC here: it was seven hours off).
    let v: serde_json::Value =
        serde_json::from_str(&node.ok(&["verify", "ky-hop-18", "--json"])).expect("json");
    let at = v["seals"][0]["sealed_at"].as_str().expect("sealed_at");
    assert!(at.ends_with("+07:00"), "{at}");
    let hhmm = &at[11..16];
    let tab = b.text("#tab-seal").await;
    assert!(
        tab.contains(hhmm),
        "{hhmm} (giờ Việt Nam) on the seal tab: {tab}"
    );
    b.shot("node-5-sealed").await;

    // The printable minutes carry the seal.
    b.go(&format!("{}/s/ky-hop-18/minutes", web.base)).await;
    let minutes = b.text("body").await;
    assert!(minutes.contains("Mã niêm phong"), "{minutes}");
    assert!(
        minutes.contains("Thực hiện nhiệm vụ do Thường trực HĐND huyện giao")
            && minutes.contains("do đồng chí Lò Thị Hoa làm Trưởng Ban"),
        "{minutes}"
    );
    assert!(!minutes.contains("BẢN NHÁP"), "{minutes}");
    b.shot("node-6-minutes").await;
    b.go(&format!("{}/metrics", web.base)).await;
    let metrics = b.text("body").await;
    assert!(
        metrics.contains("tinnhiem_node_seals 1") && metrics.contains("tinnhiem_node_sessions 1"),
        "{metrics}"
    );
    b.go(&format!("{}/s/ky-hop-18/minutes", web.base)).await;
    // The printed paper verifies itself: Chromium's rendering of the QR code, read back
    // from the picture, matches the seal in the store.
    let png = b
        .wait_for("#qr svg")
        .await
        .screenshot()
        .await
        .expect("QR screenshot");
    let pic = node.file("qr.png", "");
    std::fs::write(&pic, &png).expect("write picture");
    if let Ok(d) = std::env::var("TINNHIEM_SCREENSHOTS") {
        let _ = std::fs::write(format!("{d}/qr-element.png"), &png);
    }
    let checked = node.ok(&["verify-paper", pic.to_str().expect("path")]);
    assert!(
        checked.contains("HỢP LỆ") && checked.contains("KHỚP"),
        "{checked}"
    );
    // Every page worked under the Content-Security-Policy without a refusal.
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;

    // The store agrees with what the page showed, the seal verifies, and the audit log
    // names the clerk.
    node.ok(&["verify", "ky-hop-18"]);
    let r = node.result_json("ky-hop-18");
    assert_eq!(r["subjects"][1]["counts"]["low"], 3, "{r}");
    assert_eq!(r["subjects"][1]["invalid"], 1, "{r}");
    assert_eq!(r["subjects"][1]["flag"], "low_over_half", "{r}");
    let audit = node.ok(&["audit"]);
    assert!(
        audit.contains("lan (web)") && audit.contains("niêm phong lần 1"),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clerks_on_two_laptops_both_see_the_merged_ballots() {
    // Laptop A prepares the session; laptop B takes a copy (a file on a USB stick).
    let a = NodeHome::init(UNIT);
    let csv = a.file("subjects.csv", SUBJECTS_CSV);
    a.ok(&[
        "session",
        "create",
        "ky-hop-18",
        "--profile",
        "nq96-2023",
        "--body",
        "HĐND huyện Phong Thổ",
        "--date",
        "2024-06-20",
    ]);
    a.ok(&[
        "subject",
        "import",
        "ky-hop-18",
        csv.to_str().expect("path"),
    ]);
    let copy = a.path().join("copy.automerge");
    a.ok(&[
        "doc",
        "export",
        "ky-hop-18",
        "-o",
        copy.to_str().expect("path"),
    ]);
    let b_home = NodeHome::init(UNIT);
    b_home.ok(&["doc", "merge", copy.to_str().expect("path")]);
    for h in [&a, &b_home] {
        h.user("clerk", "clerk", PASSWORD);
    }
    let (wa, wb) = (a.web(false), b_home.web(false));
    let (ba, bb) = (Browser::start().await, Browser::start().await);
    ba.login(&wa.base, "clerk", PASSWORD).await;
    bb.login(&wb.base, "clerk", PASSWORD).await;
    ba.go(&format!("{}/s/ky-hop-18#ballots", wa.base)).await;
    bb.go(&format!("{}/s/ky-hop-18#ballots", wb.base)).await;
    // At the same time: two ballots on A, three on B.
    for (i, k) in ["11", "12"].iter().enumerate() {
        ballot(&ba, k, i + 1).await;
    }
    for (i, k) in ["21", "22", "23"].iter().enumerate() {
        ballot(&bb, k, i + 1).await;
    }
    // A's copy goes to B through B's page (upload); B's copy to A by the command line.
    let from_a = a.path().join("from-a.automerge");
    a.ok(&[
        "doc",
        "export",
        "ky-hop-18",
        "-o",
        from_a.to_str().expect("path"),
    ]);
    bb.go(&format!("{}/", wb.base)).await;
    bb.wait_for("#file")
        .await
        .send_keys(from_a.to_str().expect("path"))
        .await
        .expect("choose file");
    bb.click("#file-go").await;
    bb.wait_text("#file-msg", "Đã nhập phiên ky-hop-18", 20)
        .await;
    let from_b = b_home.path().join("from-b.automerge");
    b_home.ok(&[
        "doc",
        "export",
        "ky-hop-18",
        "-o",
        from_b.to_str().expect("path"),
    ]);
    a.ok(&["doc", "merge", from_b.to_str().expect("path")]);
    // Both pages show five ballots and the same counts, without a reload on A.
    bb.go(&format!("{}/s/ky-hop-18#result", wb.base)).await;
    ba.click("#tab-link-result").await;
    for b in [&ba, &bb] {
        b.wait_text("#summary", "5 phiếu đã nhập", 30).await;
        // s01: high 2 (1,1 on A), confidence 3 (2,2,2 on B).
        let t = b.wait_text("#result-table", "3 (", 10).await;
        let row = t
            .lines()
            .find(|l| l.contains("Vương Thị Thu Hiền"))
            .unwrap_or_default()
            .to_string();
        assert!(row.contains("0 (0,00%)"), "{row}");
    }
    ba.shot("node-7-merged").await;
    let (ra, rb) = (a.result_json("ky-hop-18"), b_home.result_json("ky-hop-18"));
    assert_eq!(ra["subjects"], rb["subjects"]);
    assert_eq!(ra["subjects"][0]["counts"]["high"], 2, "{ra}");
    assert_eq!(ra["subjects"][0]["counts"]["confidence"], 3, "{ra}");
    assert_eq!(ba.csp_violations().await, Vec::<String>::new());
    assert_eq!(bb.csp_violations().await, Vec::<String>::new());
    ba.close().await;
    bb.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_sees_a_district_arrive_and_a_reviewer_finds_a_person() {
    let mut hub = Hub::start("lai-chau");
    hub.serve(&["--http", "127.0.0.1:0"]);
    let base = hub.web.clone().expect("hub web address");
    for (user, role) in [("an", "staff"), ("xem", "reviewer")] {
        let out = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-hub"))
            .arg("--home")
            .arg(hub.path())
            .args(["user", "add", user, "--role", role])
            .env("TINNHIEM_PASSWORD", PASSWORD)
            .output()
            .expect("user add");
        assert!(out.status.success(), "{out:?}");
    }
    let node = NodeHome::init(UNIT);
    hub.enroll(&node, UNIT);
    let other = NodeHome::init("lai-chau.sin-ho");
    hub.enroll(&other, "lai-chau.sin-ho");

    let b = Browser::start().await;
    b.login(&base, "an", PASSWORD).await;
    b.wait_for(&format!("li[data-unit='{UNIT}'][data-reported='false']"))
        .await;
    b.wait_text("#reported", "0 / 2", 10).await;
    b.shot("hub-1-dashboard-waiting").await;

    // The district seals and syncs; the open page turns it to received by itself.
    node.seal_session("ky-hop-2023", 20);
    node.point_at(hub.addr, &hub.key);
    node.ok(&["sync", "--once", "--timeout", "60"]);
    b.wait_for(&format!("li[data-unit='{UNIT}'][data-reported='true']"))
        .await;
    b.wait_text("#reported", "1 / 2", 10).await;
    let due = b.text("#due").await;
    assert!(
        due.contains("lai-chau.sin-ho"),
        "missing unit listed: {due}"
    );
    // A 2023 session arriving now is after 15/01/2024: named as late, not "đủ".
    assert!(due.contains("Báo cáo trễ:"), "late unit named: {due}");
    b.wait_text("#sessions-table", "ky-hop-2023", 10).await;
    b.shot("hub-2-dashboard-received").await;

    // A district's minutes, from the hub's copy.
    b.go(&format!("{base}/minutes/{UNIT}/ky-hop-2023")).await;
    let minutes = b.text("body").await;
    assert!(
        minutes.contains("Mã niêm phong") && minutes.contains("Nguyễn Văn A"),
        "{minutes}"
    );
    // Exports: the CSV names the person; the XLSX is a zip (an Office Open XML file).
    b.go(&format!("{base}/")).await;
    let csv =
        b.c.execute(
            "return fetch('/export/results.csv').then(r => r.text())",
            vec![],
        )
        .await
        .expect("fetch csv");
    let csv = csv.as_str().unwrap_or_default();
    assert!(
        csv.contains("Nguyễn Văn A") && csv.contains("ky-hop-2023"),
        "{csv}"
    );
    let xlsx = b
        .c
        .execute(
            "return fetch('/export/results.xlsx').then(r => r.arrayBuffer()).then(b => { const u = new Uint8Array(b); return [u.length, u[0], u[1]]; })",
            vec![],
        )
        .await
        .expect("fetch xlsx");
    assert_eq!(xlsx[1], 0x50, "{xlsx}"); // "PK"
    assert_eq!(xlsx[2], 0x4b, "{xlsx}");
    assert!(xlsx[0].as_u64().unwrap_or(0) > 1000, "{xlsx}");
    b.go(&format!("{base}/metrics")).await;
    let metrics = b.text("body").await;
    assert!(
        metrics.contains("tinnhiem_hub_seals_accepted 1"),
        "{metrics}"
    );

    // The reviewer: read-only, finds the person typed without diacritics.
    b.go(&format!("{base}/")).await;
    b.click("button.link").await; // log out
    b.login(&base, "xem", PASSWORD).await;
    b.wait_for("#q").await; // a reviewer lands on the search
    b.go(&format!("{base}/export/results.csv")).await;
    let refused = b.text("body").await;
    assert!(refused.contains("Không có quyền"), "{refused}");
    b.go(&format!("{base}/review")).await;
    b.fill("#q", "nguyen van a").await;
    let found = b.wait_text("section.person", "Nguyễn Văn A", 20).await;
    assert!(found.contains("HĐND huyện"), "{found}");
    b.shot("hub-3-reviewer").await;
    b.fill("#q", "khong co ai ten nay").await;
    b.wait_text("#count", "Không tìm thấy", 10).await;
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}

/// The opening day is typed on the session page; NQ 96's deadlines listed there move
/// with it, and one after the vote is refused at the form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opening_day_is_set_on_the_session_page_and_moves_the_calendar() {
    let node = NodeHome::init(UNIT);
    node.ok(&[
        "session",
        "create",
        "ky-hop-9",
        "--profile",
        "nq96-2023",
        "--body",
        "HĐND huyện Phong Thổ",
        "--date",
        "08/12/2023",
    ]);
    node.user("lan", "clerk", PASSWORD);
    let web = node.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.go(&format!("{}/s/ky-hop-9#setup", web.base)).await;
    let day = b.wait_text("#opening-day", "08/12/2023", 20).await;
    assert!(day.contains("trùng ngày bỏ phiếu"), "{day}");
    b.wait_text(
        "#tab-setup",
        "24/10/2023 — Thường trực HĐND dự kiến danh sách",
        10,
    )
    .await;

    b.set_value("#board input[name=opening_date]", "2023-12-06")
        .await;
    b.click("#board-go").await;
    b.wait_text("#opening-day", "06/12/2023", 20).await;
    b.wait_text("#tab-setup", "22/10/2023", 10).await;
    let v = node.ok(&["deadlines", "ky-hop-9", "--json"]);
    assert!(v.contains("2023-10-22"), "{v}");
    b.shot("node-opening-day").await;

    b.set_value("#board input[name=opening_date]", "2023-12-10")
        .await;
    b.click("#board-go").await;
    b.wait_text("#tab-setup .msg", "sau ngày bỏ phiếu", 20)
        .await;
    assert!(node
        .ok(&["deadlines", "ky-hop-9", "--json"])
        .contains("2023-10-22"));
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
}
