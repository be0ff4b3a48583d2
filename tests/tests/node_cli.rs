//! A district office working offline, through the real `tinnhiem-node` binary.

use tinnhiem_tests::NodeHome;

const SESSION_JSON: &str = r#"{
  "id": "hdnd-2023-ky-hop-14",
  "profile": "nq96-2023",
  "procedure": "poll",
  "body": "HĐND tỉnh Lai Châu",
  "date": "2023-12-08",
  "attendance": {"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49},
  "ballots": {"issued": 49, "collected": 49, "wholly_invalid": 0},
  "count_from": "14:05", "count_to": "14:40", "chair": "Lò Thị Hoa", "board": ["Lò Thị Hoa", "Vàng A Sình"],
  "subjects": [
    {"id": "s01", "person_id": "p-0001", "name": "Nguyễn Văn A", "position": "Chủ tịch HĐND tỉnh", "unit": "HĐND tỉnh"}
  ],
  "tallies": {"s01": {"high": 40, "confidence": 8, "low": 1, "invalid": 0}}
}"#;

const S: &str = "hdnd-2023-ky-hop-14";

#[test]
fn the_issue_example_imports_seals_verifies_and_exports() {
    let h = NodeHome::init("lai-chau");
    let key = h.ok(&["key", "show"]);
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().chars().all(|c| c.is_ascii_hexdigit()));
    let f = h.file("s.json", SESSION_JSON);
    h.ok(&["session", "import", f.to_str().expect("path")]);

    let j = h.result_json(S);
    assert_eq!(j["unit"], "lai-chau");
    assert_eq!(j["quorum_met"], true);
    assert_eq!(j["consistent"], true);
    assert_eq!(j["subjects"][0]["valid"], 49);
    assert_eq!(j["subjects"][0]["percent"]["high"], "81.63");
    assert_eq!(j["subjects"][0]["percent"]["confidence"], "16.33");
    assert_eq!(j["subjects"][0]["percent"]["low"], "2.04");
    assert_eq!(j["subjects"][0]["flag"], "none");

    let table = h.ok(&["result", S]);
    assert!(table.contains("81,63%"), "{table}");
    assert!(table.contains("Tín nhiệm thấp"), "{table}");

    let out = h.ok(&["seal", S]);
    assert!(out.contains("Mã niêm phong"), "{out}");
    // Sealing again without a change is idempotent.
    let again = h.ok(&["seal", S]);
    assert!(again.contains("đã được niêm phong lần 1"), "{again}");
    h.ok(&["verify", S]);
    assert!(h.path().join(format!("sealed/{S}.1.seal")).exists());

    let html = h.path().join("m.html");
    let csv = h.path().join("r.csv");
    h.ok(&[
        "export",
        S,
        "--minutes",
        html.to_str().expect("p"),
        "--csv",
        csv.to_str().expect("p"),
    ]);
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(page.contains("BÁO CÁO KẾT QUẢ PHIẾU TÍN NHIỆM"));
    assert!(page.contains("Nguyễn Văn A"));
    assert!(page.contains("81,63"));
    assert!(page.contains("Tỉ lệ % tính trên tổng số phiếu thu về"));
    assert!(page.contains("Mã niêm phong"));
    assert!(!page.contains("BẢN NHÁP"));
    // The seal time is Vietnam time like the counting times above it, never UTC.
    assert!(
        page.contains("(giờ Việt Nam)") && !page.contains("UTC"),
        "{page}"
    );
    let c = std::fs::read_to_string(&csv).expect("csv");
    assert!(c.lines().nth(1).expect("row").contains(";81,63;"), "{c}");
}

#[test]
fn a_clerk_types_a_session_piece_by_piece() {
    let h = NodeHome::init("phong-tho");
    h.ok(&[
        "session",
        "create",
        "ky-hop-15",
        "--profile",
        "nq96-2023",
        "--procedure",
        "poll",
        "--mode",
        "tallies",
        "--body",
        "HĐND huyện Phong Thổ",
        "--date",
        "2023-12-12",
    ]);
    let csv = h.file(
        "subjects.csv",
        "id,person_id,name,position,unit\ns01,p-1,Vương Thị Thu Hiền,Phó Chủ tịch HĐND huyện,HĐND huyện\ns02,p-2,Lò Văn Mạnh,Chủ tịch UBND huyện,UBND huyện\n",
    );
    h.ok(&["subject", "import", "ky-hop-15", csv.to_str().expect("p")]);
    h.ok(&[
        "subject",
        "add",
        "ky-hop-15",
        "--id",
        "s03",
        "--person",
        "p-3",
        "--name",
        "Giàng A Páo",
        "--excluded",
        "retiring",
    ]);
    h.ok(&[
        "attendance",
        "set",
        "ky-hop-15",
        "--total",
        "30",
        "--present",
        "28",
        "--absent-from-start",
        "2",
        "--present-at-vote",
        "28",
    ]);
    h.ok(&[
        "ballots",
        "set",
        "ky-hop-15",
        "--issued",
        "28",
        "--collected",
        "28",
        "--wholly-invalid",
        "1",
    ]);
    h.ok(&[
        "tally",
        "set",
        "ky-hop-15",
        "s01",
        "--high",
        "20",
        "--confidence",
        "5",
        "--low",
        "1",
        "--invalid",
        "1",
    ]);
    // In progress: s02 is not typed yet, so the result lists it and seal refuses.
    let j = h.result_json("ky-hop-15");
    assert_eq!(j["consistent"], false);
    let codes: Vec<_> = j["problems"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|p| p["code"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(codes, vec!["missing_tally"]);
    let err = h.fails(&["seal", "ky-hop-15"]);
    assert!(
        err.contains("Chưa nhập kết quả kiểm phiếu của Lò Văn Mạnh"),
        "{err}"
    );

    // Low 16 of 30 delegates: more than half, less than two thirds (the base is the
    // total number of delegates under nq96-2023).
    h.ok(&[
        "tally",
        "set",
        "ky-hop-15",
        "s02",
        "--high",
        "3",
        "--confidence",
        "8",
        "--low",
        "16",
    ]);
    let j = h.result_json("ky-hop-15");
    assert_eq!(j["consistent"], true, "{j}");
    assert_eq!(j["subjects"][1]["flag"], "low_over_half");
    assert_eq!(j["subjects"][1]["percent"]["low"], "57.14");
    assert_eq!(j["excluded"][0]["reason"], "retiring");
    h.ok(&[
        "board",
        "set",
        "ky-hop-15",
        "--chair",
        "Lê Văn C",
        "--members",
        "Lê Văn C; Hà Thị D; Tráng A E",
        "--from",
        "14:05",
        "--to",
        "14:50",
    ]);
    // The board changed after the check: seal covers it.
    h.ok(&["seal", "ky-hop-15"]);
    h.ok(&["verify", "ky-hop-15"]);

    // A correction after sealing makes seal 2; both verify.
    h.ok(&[
        "tally",
        "set",
        "ky-hop-15",
        "s02",
        "--high",
        "4",
        "--confidence",
        "7",
        "--low",
        "16",
    ]);
    let t = h.ok(&["result", "ky-hop-15"]);
    assert!(t.contains("cần niêm phong lại (lần 2)"), "{t}");
    let out = h.ok(&["seal", "ky-hop-15"]);
    assert!(out.contains("lần 2"), "{out}");
    let v = h.ok(&["verify", "ky-hop-15"]);
    assert_eq!(v.matches("HỢP LỆ").count(), 2, "{v}");
}

#[test]
fn what_can_never_be_right_is_refused_and_changes_nothing() {
    let h = NodeHome::init("lai-chau");
    let f = h.file("s.json", SESSION_JSON);
    h.ok(&["session", "import", f.to_str().expect("p")]);
    let before = h.result_json(S);

    // A session id that already exists.
    let e = h.fails(&["session", "import", f.to_str().expect("p")]);
    assert!(e.contains("đã có"), "{e}");
    // A negative number names its field.
    let bad = h.file(
        "neg.json",
        &SESSION_JSON
            .replace("\"total\": 50", "\"total\": -5")
            .replace(S, "other"),
    );
    let e = h.fails(&["session", "import", bad.to_str().expect("p")]);
    assert!(
        e.contains("Tổng số đại biểu (thành viên) (mục «attendance» › «total»)"),
        "{e}"
    );
    // Malformed JSON.
    let bad = h.file("broken.json", "{\"id\": ");
    let e = h.fails(&["session", "import", bad.to_str().expect("p")]);
    assert!(e.contains("broken.json"), "{e}");
    // An unknown subject and an unknown mark, both reported.
    let bad = h.file(
        "marks.json",
        &SESSION_JSON.replace(S, "other").replace(
            r#""tallies": {"s01": {"high": 40, "confidence": 8, "low": 1, "invalid": 0}}"#,
            r#""entries": [{"s01": "so-so"}, {"s07": "high"}]"#,
        ),
    );
    let e = h.fails(&["session", "import", bad.to_str().expect("p")]);
    assert!(
        e.contains("«entries» › thứ 1 › «s01»") && e.contains("«entries» › thứ 2 › «s07»"),
        "{e}"
    );
    // Piecewise commands: unknown subject, wrong mode.
    let e = h.fails(&[
        "tally",
        "set",
        S,
        "s09",
        "--high",
        "1",
        "--confidence",
        "1",
        "--low",
        "1",
    ]);
    assert!(e.contains("s09"), "{e}");
    let e = h.fails(&["entry", "add", S, "--marks", "s01=high"]);
    assert!(e.contains("tally set"), "{e}");
    let e = h.fails(&[
        "tally",
        "set",
        S,
        "s01",
        "--high",
        "1",
        "--confidence",
        "1",
        "--no-confidence",
        "3",
    ]);
    assert!(
        e.contains("--no-confidence") && e.contains("thiếu --low"),
        "{e}"
    );
    let e = h.fails(&["attendance", "set", S, "--total", "-3"]);
    assert!(!e.is_empty());
    let e = h.fails(&["result", "khong-co"]);
    assert!(
        e.contains("hdnd-2023-ky-hop-14"),
        "the error lists existing sessions: {e}"
    );

    assert_eq!(h.result_json(S), before, "nothing stored changed");
    let list = h.ok(&["session", "list"]);
    assert_eq!(list.lines().count(), 1, "{list}");
}

/// Figures that cannot be are refused at import, every one named and nothing stored;
/// a session short of its quorum is stored (the figures are possible) and its seal is
/// refused naming the rule.
#[test]
fn a_session_without_quorum_and_with_bad_numbers_lists_every_rule() {
    let h = NodeHome::init("lai-chau");
    let bad = SESSION_JSON
        .replace("\"present_at_vote\": 49", "\"present_at_vote\": 30")
        .replace("\"collected\": 49", "\"collected\": 52");
    let f = h.file("s.json", &bad);
    let e = h.fails(&["session", "import", f.to_str().expect("p")]);
    for want in [
        "không ghi gì",
        "Số phiếu phát ra (49) lớn hơn số có mặt khi bỏ phiếu (30)",
        "Số phiếu thu về (52) lớn hơn số phiếu phát ra (49)",
        "Nguyễn Văn A: tổng các mức",
    ] {
        assert!(e.contains(want), "missing «{want}» in: {e}");
    }
    assert!(
        !e.contains("Không đủ 2/3"),
        "a quorum is not a count rule: {e}"
    );
    assert!(h.ok(&["session", "list"]).starts_with("Chưa có phiên nào"));

    let short = SESSION_JSON
        .replace("\"present_at_vote\": 49", "\"present_at_vote\": 30")
        .replace(
            "\"issued\": 49, \"collected\": 49",
            "\"issued\": 30, \"collected\": 30",
        )
        .replace("\"high\": 40", "\"high\": 21");
    let f = h.file("short.json", &short);
    h.ok(&["session", "import", f.to_str().expect("p")]);
    let o = h.run(&["seal", S]);
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("Không đủ 2/3: có mặt khi bỏ phiếu 30/50, cần ít nhất 34"),
        "{e}"
    );
    assert!(
        !e.contains("s01") && !e.contains("attendance."),
        "no ids or paths: {e}"
    );
    let v = h.fails(&["verify", S]);
    assert!(v.contains("chưa được niêm phong"), "{v}");
}

#[test]
fn a_binding_vote_under_the_party_profile() {
    let h = NodeHome::init("dang-uy-tinh");
    h.ok(&[
        "session",
        "create",
        "hn-2024",
        "--profile",
        "qd96-2023",
        "--procedure",
        "binding",
        "--mode",
        "entries",
        "--body",
        "Ban Chấp hành Đảng bộ tỉnh",
        "--date",
        "2024-03-01",
    ]);
    h.ok(&[
        "subject",
        "add",
        "hn-2024",
        "--id",
        "s01",
        "--person",
        "p-9",
        "--name",
        "Đặng Văn K",
        "--position",
        "Giám đốc Sở",
    ]);
    h.ok(&[
        "attendance",
        "set",
        "hn-2024",
        "--total",
        "5",
        "--present",
        "4",
        "--absent-from-start",
        "1",
        "--present-at-vote",
        "4",
    ]);
    h.ok(&[
        "ballots",
        "set",
        "hn-2024",
        "--issued",
        "4",
        "--collected",
        "4",
    ]);
    for m in ["no_confidence", "ktn", "confidence", "invalid"] {
        h.ok(&["entry", "add", "hn-2024", "--marks", &format!("s01={m}")]);
    }
    let e = h.fails(&["entry", "add", "hn-2024", "--marks", "s01=high"]);
    assert!(e.contains("high"), "{e}");
    let j = h.result_json("hn-2024");
    assert_eq!(j["consistent"], true, "{j}");
    assert_eq!(j["subjects"][0]["counts"]["no_confidence"], 2);
    assert_eq!(j["subjects"][0]["valid"], 3);
    // 2 of 4 collected is not more than half.
    assert_eq!(j["subjects"][0]["flag"], "none");
    // The fifth member arrives: attendance first, since more ballots than people at
    // the vote are refused where they are typed.
    let e = h.fails(&[
        "ballots",
        "set",
        "hn-2024",
        "--collected",
        "5",
        "--issued",
        "5",
    ]);
    assert!(
        e.contains("Số phiếu phát ra (5) lớn hơn số có mặt khi bỏ phiếu (4)")
            && e.contains("không ghi gì"),
        "{e}"
    );
    h.ok(&[
        "attendance",
        "set",
        "hn-2024",
        "--present-at-vote",
        "5",
        "--present",
        "5",
        "--absent-from-start",
        "0",
    ]);
    h.ok(&[
        "ballots",
        "set",
        "hn-2024",
        "--collected",
        "5",
        "--issued",
        "5",
    ]);
    h.ok(&["entry", "add", "hn-2024", "--marks", "s01=no_confidence"]);
    let j = h.result_json("hn-2024");
    assert_eq!(j["subjects"][0]["flag"], "no_confidence_over_half", "{j}");
    h.ok(&[
        "board",
        "set",
        "hn-2024",
        "--chair",
        "Đặng Thị M",
        "--members",
        "Đặng Thị M; Hà Văn N",
        "--from",
        "09:30",
        "--to",
        "09:50",
    ]);
    h.ok(&["seal", "hn-2024"]);
}

/// The counting board's line of [`SESSION_JSON`].
const BOARD: &str = r#"  "count_from": "14:05", "count_to": "14:40", "chair": "Lò Thị Hoa", "board": ["Lò Thị Hoa", "Vàng A Sình"],"#;

#[test]
fn sealing_waits_for_the_counting_board_and_names_what_is_missing() {
    let h = NodeHome::init("lai-chau");
    assert!(SESSION_JSON.contains(BOARD));
    let f = h.file("s.json", &SESSION_JSON.replace(BOARD, ""));
    h.ok(&["session", "import", f.to_str().expect("p")]);
    // The numbers are right; only the board is missing, and `result` says so.
    assert_eq!(h.result_json(S)["consistent"], true);
    let t = h.ok(&["result", S]);
    assert!(
        t.contains("Số liệu khớp. Chưa ghi đủ ban kiểm phiếu: còn thiếu trưởng ban kiểm phiếu"),
        "{t}"
    );
    let e = h.fails(&["seal", S]);
    for what in [
        "Chưa ghi đủ ban kiểm phiếu",
        "trưởng ban kiểm phiếu",
        "thành viên ban kiểm phiếu",
        "giờ bắt đầu kiểm phiếu",
        "giờ kết thúc kiểm phiếu",
    ] {
        assert!(e.contains(what), "{what}: {e}");
    }
    h.ok(&[
        "board",
        "set",
        S,
        "--chair",
        "Lò Thị Hoa",
        "--from",
        "14:05",
    ]);
    let e = h.fails(&["seal", S]);
    assert!(
        !e.contains("trưởng ban") && !e.contains("giờ bắt đầu"),
        "{e}"
    );
    assert!(
        e.contains("thành viên ban kiểm phiếu") && e.contains("giờ kết thúc kiểm phiếu"),
        "{e}"
    );
    assert!(!h.path().join(format!("sealed/{S}.1.seal")).exists());
    h.ok(&[
        "board",
        "set",
        S,
        "--members",
        "Lò Thị Hoa; Vàng A Sình",
        "--to",
        "14:40",
    ]);
    h.ok(&["seal", S]);
    h.ok(&["verify", S]);
}

#[test]
fn the_minutes_speak_the_bodys_words_and_carry_the_annex_4_fields() {
    let h = NodeHome::init("lai-chau");
    let party = SESSION_JSON
        .replace("nq96-2023", "qd96-2023")
        .replace("HĐND tỉnh Lai Châu", "Ban Chấp hành Đảng bộ tỉnh Lai Châu");
    let f = h.file("s.json", &party);
    h.ok(&["session", "import", f.to_str().expect("p")]);
    h.ok(&[
        "board",
        "set",
        S,
        "--assigned-by",
        "Ban Thường vụ Tỉnh ủy",
        "--polled-posts",
        "các chức danh lãnh đạo do Ban Chấp hành bầu",
    ]);
    let show = h.ok(&["session", "show", S]);
    assert!(
        show.contains("Cơ quan giao nhiệm vụ: Ban Thường vụ Tỉnh ủy"),
        "{show}"
    );
    h.ok(&["seal", S]);
    let html = h.path().join("m.html");
    h.ok(&["export", S, "--minutes", html.to_str().expect("p")]);
    let page = std::fs::read_to_string(&html).expect("html");
    for want in [
        "Tổng số ủy viên ban chấp hành: <b>50</b>",
        "Số có mặt dự hội nghị:",
        "Tại hội nghị Ban Chấp hành Đảng bộ tỉnh Lai Châu",
        // The issuing body is the Party committee, not the node's council.
        "<div class=\"org\"><b>Ban Chấp hành Đảng bộ tỉnh Lai Châu</b>",
        "Thực hiện nhiệm vụ do Ban Thường vụ Tỉnh ủy giao",
        "đối với các chức danh lãnh đạo do Ban Chấp hành bầu;",
        "Số phiếu không hợp lệ hoàn toàn: <b>0</b> phiếu",
        "(Đóng dấu treo)",
        "Kiểm tra bản giấy:",
    ] {
        assert!(page.contains(want), "{want}: {page}");
    }
    for never in [
        "(đại biểu)",
        "(kỳ họp)",
        "đại biểu",
        "kỳ họp",
        "…",
        "tinnhiem-node",
    ] {
        assert!(!page.contains(never), "{never}: {page}");
    }
    // The header fields are outside the sealed result: the seal still verifies.
    h.ok(&["verify", S]);
}
