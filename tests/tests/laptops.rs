//! Several laptops in one counting room: entries merge, conflicts are reported.

use tinnhiem_tests::NodeHome;

fn setup(h: &NodeHome) {
    h.ok(&[
        "session",
        "create",
        "ky-hop-15",
        "--profile",
        "nq96-2023",
        "--procedure",
        "poll",
        "--mode",
        "entries",
        "--body",
        "HĐND huyện Sìn Hồ",
        "--date",
        "2023-12-12",
    ]);
    h.ok(&[
        "subject",
        "add",
        "ky-hop-15",
        "--id",
        "s01",
        "--person",
        "p-1",
        "--name",
        "Nguyễn Thị Hoa",
        "--position",
        "Chủ tịch HĐND",
    ]);
    h.ok(&[
        "subject",
        "add",
        "ky-hop-15",
        "--id",
        "s02",
        "--person",
        "p-2",
        "--name",
        "Phạm Văn Đức",
        "--position",
        "Chủ tịch UBND",
    ]);
    h.ok(&[
        "attendance",
        "set",
        "ky-hop-15",
        "--total",
        "10",
        "--present",
        "10",
        "--absent-from-start",
        "0",
        "--present-at-vote",
        "10",
    ]);
    h.ok(&["ballots", "set", "ky-hop-15", "--issued", "10"]);
    h.ok(&[
        "board",
        "set",
        "ky-hop-15",
        "--chair",
        "Lò Thị Hoa",
        "--members",
        "Lò Thị Hoa; Vàng A Sình",
        "--from",
        "14:05",
        "--to",
        "14:40",
    ]);
}

fn carry(from: &NodeHome, to: &NodeHome) {
    let f = from.path().join("usb.automerge");
    from.ok(&["doc", "export", "ky-hop-15", "-o", f.to_str().expect("p")]);
    to.ok(&["doc", "merge", f.to_str().expect("p")]);
}

#[test]
fn two_laptops_enter_different_ballots_and_agree_after_merging() {
    let a = NodeHome::init("sin-ho");
    let b = NodeHome::init("sin-ho");
    setup(&a);
    carry(&a, &b);
    let a_marks = [
        "s01=high,s02=low",
        "s01=high,s02=confidence",
        "s01=low,s02=low",
        "s01=confidence",
        "s01=high,s02=invalid",
    ];
    let b_marks = [
        "s01=high,s02=high",
        "s01=low,s02=low",
        "s01=high,s02=low",
        "s01=confidence,s02=low",
        "s01=high,s02=confidence",
    ];
    for m in a_marks {
        a.ok(&["entry", "add", "ky-hop-15", "--marks", m]);
    }
    for m in b_marks {
        b.ok(&["entry", "add", "ky-hop-15", "--marks", m]);
    }
    a.ok(&["ballots", "set", "ky-hop-15", "--collected", "10"]);
    carry(&a, &b);
    carry(&b, &a);
    let ra = a.result_json("ky-hop-15");
    let rb = b.result_json("ky-hop-15");
    assert_eq!(ra, rb, "both laptops show the same result");
    assert_eq!(ra["consistent"], true, "{ra}");
    assert_eq!(ra["subjects"][0]["counts"]["high"], 6);
    assert_eq!(ra["subjects"][0]["counts"]["low"], 2);
    assert_eq!(ra["subjects"][1]["counts"]["low"], 5);
    // s02: one explicit invalid and one blank.
    assert_eq!(ra["subjects"][1]["invalid"], 2);
    assert_eq!(ra["subjects"][1]["valid"], 8);
    a.ok(&["seal", "ky-hop-15"]);
}

#[test]
fn laptops_that_each_created_the_session_still_merge() {
    let a = NodeHome::init("sin-ho");
    let b = NodeHome::init("sin-ho");
    setup(&a);
    setup(&b);
    a.ok(&["entry", "add", "ky-hop-15", "--marks", "s01=high,s02=high"]);
    b.ok(&["entry", "add", "ky-hop-15", "--marks", "s01=low,s02=low"]);
    carry(&a, &b);
    let j = b.result_json("ky-hop-15");
    let codes: Vec<_> = j["problems"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|p| p["code"].clone())
        .collect();
    assert!(!codes.contains(&"conflict".into()), "{j}");
    assert_eq!(j["subjects"][0]["valid"], 2);
}

#[test]
fn two_clerks_typing_different_collected_is_a_reported_conflict() {
    let a = NodeHome::init("sin-ho");
    let b = NodeHome::init("sin-ho");
    setup(&a);
    carry(&a, &b);
    for h in [&a, &b] {
        for _ in 0..5 {
            h.ok(&[
                "entry",
                "add",
                "ky-hop-15",
                "--marks",
                "s01=high,s02=confidence",
            ]);
        }
    }
    a.ok(&["ballots", "set", "ky-hop-15", "--collected", "10"]);
    b.ok(&["ballots", "set", "ky-hop-15", "--collected", "9"]);
    let f = a.path().join("usb.automerge");
    a.ok(&["doc", "export", "ky-hop-15", "-o", f.to_str().expect("p")]);
    let out = b.ok(&["doc", "merge", f.to_str().expect("p")]);
    assert!(
        out.contains("số phiếu thu về: 10 / 9") || out.contains("số phiếu thu về: 9 / 10"),
        "{out}"
    );
    let j = b.result_json("ky-hop-15");
    let conflict = j["problems"]
        .as_array()
        .expect("arr")
        .iter()
        .find(|p| p["code"] == "conflict")
        .expect("conflict reported");
    assert!(
        conflict["message"]
            .as_str()
            .unwrap_or("")
            .contains("số phiếu thu về"),
        "{conflict}"
    );
    let e = b.fails(&["seal", "ky-hop-15"]);
    assert!(e.contains("Hai máy nhập khác nhau"), "{e}");
    // The board agrees on 10 and types it again: resolved.
    b.ok(&["ballots", "set", "ky-hop-15", "--collected", "10"]);
    b.ok(&["seal", "ky-hop-15"]);
    b.ok(&["verify", "ky-hop-15"]);
}

#[test]
fn a_document_of_another_unit_is_refused() {
    let a = NodeHome::init("sin-ho");
    let b = NodeHome::init("muong-te");
    setup(&a);
    let f = a.path().join("usb.automerge");
    a.ok(&["doc", "export", "ky-hop-15", "-o", f.to_str().expect("p")]);
    let e = b.fails(&["doc", "merge", f.to_str().expect("p")]);
    assert!(e.contains("sin-ho"), "{e}");
    let junk = b.file("junk.automerge", "this is not a document");
    let e = b.fails(&["doc", "merge", junk.to_str().expect("p")]);
    assert!(e.contains("junk.automerge"), "{e}");
}
