//! Issue 12 §2: keyboard ballot entry never loses or misplaces a keystroke. In a real
//! headless Chromium against `tinnhiem-node serve --http`, sixty ballots go in as one
//! burst of keys with no delay between them (some with rows left blank and confirmed
//! at the page's question, some answers of the server lost on the way so the page must
//! retry), and the store then holds exactly the ballots typed, in the order typed. A
//! wholly blank ballot is refused by the page and by the API, and nothing is stored. In
//! tallies mode, a typed number that is not saved yet looks different until Enter.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tinnhiem_tests::browser::Browser;
use tinnhiem_tests::{seed, NodeHome, Rng};

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
const ROWS: [&str; 3] = ["s01", "s02", "s04"];
const BALLOTS: usize = 60;

// WebDriver's keys.
const ENTER: &str = "\u{E007}";
const ESC: &str = "\u{E00C}";

type Marks = BTreeMap<String, String>;

/// One ballot as the clerk types it, and what the store must then hold for it.
struct Typed {
    keys: String,
    marks: Marks,
}

/// Sixty ballots. About one row in six is left blank (by Space, or by pressing Enter
/// before the last rows), and every such ballot answers the page's question with a
/// second Enter. Now and then a ballot starts with a key cleared by Esc, or is followed
/// by a stray Enter on the next, still empty, ballot: neither may store anything.
fn ballots(rng: &mut Rng) -> Vec<Typed> {
    let keys = [
        ("1", "high"),
        ("2", "confidence"),
        ("3", "low"),
        ("0", "invalid"),
        ("x", "invalid"),
    ];
    let mut out = Vec::new();
    while out.len() < BALLOTS {
        let row: Vec<Option<(&str, &str)>> = ROWS
            .iter()
            .map(|_| match rng.below(12) {
                0 | 1 => None,
                n => Some(keys[(n as usize) % keys.len()]),
            })
            .collect();
        if row.iter().all(Option::is_none) {
            continue;
        }
        let i = out.len();
        let mut k = String::new();
        if i % 13 == 5 {
            k.push('2');
            k.push_str(ESC);
        }
        // Trailing blank rows: sometimes Space, sometimes just Enter early.
        let last = row.iter().rposition(Option::is_some).unwrap_or(0);
        let early = i % 2 == 0;
        let mut marks = Marks::new();
        for (n, cell) in row.iter().enumerate() {
            match cell {
                Some((key, mark)) => {
                    k.push_str(key);
                    marks.insert(ROWS[n].to_string(), mark.to_string());
                }
                None if n > last && early => {}
                None => k.push(' '),
            }
        }
        k.push_str(ENTER);
        if row.iter().any(Option::is_none) {
            k.push_str(ENTER); // yes, save it with the blank rows
        }
        if i % 17 == 8 {
            k.push_str(ENTER); // a stray Enter on the next ballot, still empty
        }
        out.push(Typed { keys: k, marks });
    }
    out
}

/// The ballots in the store, in the order they were entered.
fn stored(node: &NodeHome) -> Vec<(String, Marks)> {
    let out = node.ok(&["entry", "list", SESSION, "--json"]);
    let list: serde_json::Value = serde_json::from_str(&out).expect("entry list --json");
    list.as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            let marks = e["marks"]
                .as_object()
                .expect("marks")
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect();
            (e["id"].as_str().unwrap_or_default().to_string(), marks)
        })
        .collect()
}

/// Waits until the page has taken every key and the count on it stopped moving (or
/// reached `want`); returns that count. Works on a page without the key queue too, so
/// the test fails on the old page by what it stored, not by a missing name.
async fn settle(b: &Browser, want: usize, secs: u64) -> usize {
    let t0 = Instant::now();
    let (mut last, mut since) = (String::new(), Instant::now());
    loop {
        let idle =
            b.c.execute(
                "return typeof E === 'undefined' || (!E.busy && E.queue.length === 0)",
                vec![],
            )
            .await
            .map(|v| v.as_bool().unwrap_or(false))
            .unwrap_or(false);
        let now = match b.c.find(fantoccini::Locator::Css("#entry-count")).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if now != last {
            (last, since) = (now.clone(), Instant::now());
        }
        let n: usize = now.trim().parse().unwrap_or(0);
        if idle && (n == want || since.elapsed() > Duration::from_secs(10)) {
            return n;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "the page did not settle in {secs} s (count «{now}», idle {idle})"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The session, ready for ballots: collected 62, wholly invalid 2, so 60 to enter.
fn prepared(mode: &str) -> NodeHome {
    let node = NodeHome::init(UNIT);
    let csv = node.file("subjects.csv", SUBJECTS_CSV);
    node.ok(&[
        "session",
        "create",
        SESSION,
        "--profile",
        "nq96-2023",
        "--mode",
        mode,
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
        "62",
        "--collected",
        "62",
        "--wholly-invalid",
        "2",
    ]);
    node.user("lan", "clerk", PASSWORD);
    node
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_ballots_typed_in_one_burst_are_stored_exactly_and_in_order() {
    let node = prepared("entries");
    let web = node.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.go(&format!("{}/s/{SESSION}#ballots", web.base)).await;
    b.wait_text("#progress", "cần 60 phiếu", 20).await;

    // Some answers of the server are lost on the way back (the ballot is stored, the
    // page hears nothing): the page must send the same ballot again, and the server
    // must not store it twice.
    b.c.execute(
        r#"const real = window.realFetch = window.fetch; window.lost = 0; let n = 0;
           window.fetch = async (url, opts) => {
             const r = await real(url, opts);
             if (String(url).endsWith("/entries") && opts && opts.method === "POST" && ++n % 7 === 3) {
               window.lost++; throw new TypeError("Failed to fetch (the test lost this answer)");
             }
             return r;
           };"#,
        vec![],
    )
    .await
    .expect("install the lossy fetch");

    let mut rng = Rng::new(seed("ballot_entry"));
    let typed = ballots(&mut rng);
    let burst: String = typed.iter().map(|t| t.keys.as_str()).collect();
    let blank_rows = typed.iter().filter(|t| t.marks.len() < ROWS.len()).count();
    assert!(
        blank_rows >= 5,
        "the burst has ballots with blank rows ({blank_rows})"
    );

    b.click(".mark").await;
    let t0 = Instant::now();
    b.keys(&burst).await;
    let typing = t0.elapsed();
    let n = settle(&b, BALLOTS, 240).await;
    println!(
        "{} keys typed in {typing:?} ({:.0} keys/s); {n} ballots stored after {:?}",
        burst.chars().count(),
        burst.chars().count() as f64 / typing.as_secs_f64().max(0.001),
        t0.elapsed()
    );
    b.shot("ballot-entry-burst").await;

    let got = stored(&node);
    let want: Vec<&Marks> = typed.iter().map(|t| &t.marks).collect();
    let got_marks: Vec<&Marks> = got.iter().map(|(_, m)| m).collect();
    if let Some(i) = (0..want.len().max(got_marks.len())).find(|&i| want.get(i) != got_marks.get(i))
    {
        panic!(
            "stored ballots differ from the typed ones from ballot {} on: typed {:?}, stored {:?} ({} typed, {} stored)",
            i + 1,
            want.get(i),
            got_marks.get(i),
            want.len(),
            got_marks.len()
        );
    }
    let ids: std::collections::BTreeSet<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids.len(), BALLOTS, "one id per ballot");
    let lost =
        b.c.execute("return window.lost", vec![])
            .await
            .expect("lost");
    assert!(
        lost.as_u64().unwrap_or(0) >= 5,
        "answers lost and retried: {lost}"
    );
    let progress = b.wait_text("#progress", "đã đủ", 10).await;
    assert!(progress.contains("Đã nhập 60 / cần 60 phiếu"), "{progress}");

    // A wholly blank ballot: Enter at once, or every row skipped with Space. The page
    // refuses it in Vietnamese and stores nothing.
    b.click(".mark").await;
    b.keys(ENTER).await;
    b.wait_text("#ballot-msg", "Phiếu trống", 10).await;
    b.keys(ESC).await;
    b.wait_text("#ballot-msg", "Đã xóa", 10).await;
    b.keys("   ").await;
    b.keys(ENTER).await;
    let said = b.wait_text("#ballot-msg", "Phiếu trống", 10).await;
    assert!(said.contains("gõ 0"), "{said}");
    // Enter with rows left blank asks in the page, naming them; Esc goes back unsaved.
    b.keys(&format!("2{ENTER}")).await;
    let ask = b.wait_text("#ballot-ask", "không hợp lệ", 10).await;
    assert!(
        ask.contains("Lò Văn Mạnh") && ask.contains("Tẩn Thị Mẩy"),
        "{ask}"
    );
    b.shot("ballot-entry-question").await;
    b.keys(ESC).await; // back to the first blank row
    b.keys(ESC).await; // and clear the ballot
                       // A key past the last row stops entry; it and what follows are set aside, shown,
                       // and never stored, until Esc.
    b.keys(&format!("1231{ENTER}2")).await;
    let stop = b.wait_text("#ballot-stop", "thừa", 10).await;
    assert!(stop.contains("3 phím"), "{stop}");
    b.shot("ballot-entry-stopped").await;
    b.keys(ESC).await; // go on: the three rows are still there
    b.keys(ESC).await; // clear them
    assert_eq!(settle(&b, BALLOTS, 30).await, BALLOTS);

    // The API refuses a ballot without any mark, with or without the field, and says
    // why in Vietnamese; a repeated id is answered as already stored.
    let answers = b
        .c
        .execute(
            &format!(
                r#"const post = body => window.realFetch("/api/s/{SESSION}/entries", {{method: "POST",
                     headers: {{"Content-Type": "application/json", "X-CSRF-Token": tn.csrf}}, body: JSON.stringify(body)}})
                     .then(async r => [r.status, await r.json()]);
                   const id = "{id}";
                   return Promise.all([post({{marks: {{}}}}), post({{}})])
                     .then(async blank => [...blank, await post({{id, marks: {{s01: "low"}}}}),
                                           await post({{id, marks: {{s01: "low"}}}}),
                                           await post({{id, marks: {{s01: "high"}}}})]);"#,
                id = "ab".repeat(16)
            ),
            vec![],
        )
        .await
        .expect("post to the API");
    for blank in [&answers[0], &answers[1]] {
        assert_eq!(blank[0], 400, "{blank}");
        let e = blank[1]["error"].as_str().unwrap_or_default();
        assert!(e.contains("phiếu trống"), "{e}");
    }
    assert_eq!(answers[2][1]["already"], false, "{answers}");
    assert_eq!(answers[2][1]["count"], 61, "{answers}");
    assert_eq!(answers[3][1]["already"], true, "{answers}");
    assert_eq!(answers[3][1]["count"], 61, "{answers}");
    assert_eq!(answers[4][0], 400, "same id, other marks: {answers}");
    let after = stored(&node);
    assert_eq!(
        after.len(),
        BALLOTS + 1,
        "only the one API ballot was added"
    );
    assert_eq!(after[..BALLOTS], got[..]);
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_typed_total_looks_unsaved_until_enter_saves_its_row() {
    let node = prepared("tallies");
    let web = node.web(false);
    let b = Browser::start().await;
    b.login(&web.base, "lan", PASSWORD).await;
    b.go(&format!("{}/s/{SESSION}#ballots", web.base)).await;
    let row = "#tally-table tr[data-subject=s02]";
    let high = format!("{row} input[data-level=high]");
    b.fill(&high, "41").await;
    let class = b.wait_for(&high).await.attr("class").await.expect("class");
    assert!(class.unwrap_or_default().contains("unsaved"));
    let hint = b
        .wait_text(&format!("{row} .tally-state"), "Chưa ghi", 10)
        .await;
    assert!(hint.contains("Enter"), "{hint}");
    b.shot("ballot-entry-tally-unsaved").await;
    for (level, v) in [("confidence", "12"), ("low", "5"), ("invalid", "2")] {
        b.fill(&format!("{row} input[data-level={level}]"), v).await;
    }
    b.keys(ENTER).await;
    b.wait_text(&format!("{row} .tally-state"), "Đã ghi", 20)
        .await;
    for level in ["high", "confidence", "low", "invalid"] {
        let c = b
            .wait_for(&format!("{row} input[data-level={level}]"))
            .await
            .attr("class")
            .await
            .expect("class")
            .unwrap_or_default();
        assert!(!c.contains("unsaved"), "{level}: {c}");
    }
    // Typing again after the save: unsaved again, the saved number still in the store.
    b.fill(&high, "40").await;
    b.wait_text(&format!("{row} .tally-state"), "Chưa ghi", 10)
        .await;
    let r = node.result_json(SESSION);
    assert_eq!(r["subjects"][1]["counts"]["high"], 41, "{r}");
    assert_eq!(r["subjects"][1]["invalid"], 2, "{r}");
    assert_eq!(b.csp_violations().await, Vec::<String>::new());
    b.close().await;
}
