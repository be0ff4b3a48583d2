//! A reviewer's queries on a hub: a person across places, and every flagged subject.

use tinnhiem_tests::{Hub, NodeHome};

/// A session where `p-duc` (Nguyễn Văn Đức) gets `low` of 30 "low" votes.
fn session(id: &str, profile: &str, body: &str, position: &str, low: u64) -> String {
    format!(
        r#"{{"id": "{id}", "profile": "{profile}", "procedure": "poll", "body": "{body}", "date": "2023-12-08",
  "attendance": {{"total": 30, "present": 30, "absent_from_start": 0, "present_at_vote": 30}},
  "ballots": {{"issued": 30, "collected": 30, "wholly_invalid": 0}},
  "count_from": "14:05", "count_to": "14:40", "chair": "Lò Thị Hoa", "board": ["Lò Thị Hoa", "Vàng A Sình"],
  "subjects": [{{"id": "s01", "person_id": "p-duc", "name": "Nguyễn Văn Đức", "position": "{position}", "unit": "UBND"}},
               {{"id": "s02", "person_id": "p-lan", "name": "Lò Thị Lan", "position": "Phó Chủ tịch", "unit": "UBND"}}],
  "tallies": {{"s01": {{"high": {}, "confidence": 5, "low": {low}, "invalid": 0}},
              "s02": {{"high": 20, "confidence": 10, "low": 0, "invalid": 0}}}}}}"#,
        25 - low
    )
}

#[test]
fn a_reviewer_finds_a_person_without_diacritics_and_sees_every_flag() {
    let hub = Hub::start("lai-chau");
    let places = [
        (
            "lai-chau.hdnd",
            "nq96-2023",
            "HĐND tỉnh Lai Châu",
            "Chủ tịch UBND tỉnh",
            16u64,
        ),
        (
            "lai-chau.tinh-uy",
            "qd96-2023",
            "Ban Chấp hành Đảng bộ tỉnh",
            "Phó Bí thư Tỉnh ủy",
            20,
        ),
        (
            "lai-chau.dang-uy-ubnd",
            "qd96-2023",
            "Đảng ủy UBND tỉnh",
            "Bí thư Đảng ủy",
            2,
        ),
    ];
    for (unit, profile, body, position, low) in places {
        let n = NodeHome::init(unit);
        hub.enroll(&n, unit);
        let f = n.file("s.json", &session("ky-2023", profile, body, position, low));
        n.ok(&["session", "import", f.to_str().expect("p")]);
        n.ok(&["seal", "ky-2023"]);
        n.point_at(hub.addr, &hub.key);
        n.ok(&["sync", "--once", "--timeout", "30"]);
    }

    // By name, typed without diacritics.
    let v: serde_json::Value =
        serde_json::from_str(&hub.ok(&["person", "nguyen van duc", "--json"])).expect("json");
    let people = v["people"].as_array().expect("people");
    assert_eq!(people.len(), 1, "{v}");
    assert_eq!(people[0]["person_id"], "p-duc");
    assert_eq!(people[0]["places"], 3);
    // QĐ 96 limits a cadre to two places and names the council among them: the Party
    // committee, the council and the workplace are three places in 2023.
    let problems = people[0]["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{v}");
    assert!(
        problems[0]
            .as_str()
            .is_some_and(|p| p.contains("năm 2023") && p.contains("3 nơi") && p.contains("HĐND")),
        "{v}"
    );
    let flags: Vec<_> = people[0]["results"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|r| r["flag"].as_str().unwrap_or("").to_string())
        .collect();
    // 16 of 30 delegates: over half under nq96; 20 of 30 collected: two thirds under qd96.
    assert!(flags.contains(&"low_over_half".to_string()), "{flags:?}");
    assert!(
        flags.contains(&"low_two_thirds_or_more".to_string()),
        "{flags:?}"
    );
    let text = hub.ok(&["person", "Nguyễn Đức"]);
    assert!(text.contains("lấy phiếu ở 3 nơi"), "{text}");

    // By id; an unknown person exits 1.
    let v: serde_json::Value =
        serde_json::from_str(&hub.ok(&["person", "p-lan", "--json"])).expect("json");
    assert_eq!(v["people"][0]["name"], "Lò Thị Lan");
    let o = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["person", "khong-co-ai"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));

    let f: serde_json::Value = serde_json::from_str(&hub.ok(&["flagged", "--json"])).expect("json");
    let list = f.as_array().expect("arr");
    assert_eq!(list.len(), 2, "{f}");
    let two_thirds = list
        .iter()
        .find(|r| r["flag"] == "low_two_thirds_or_more")
        .expect("two thirds");
    assert_eq!(
        two_thirds["consequence"]["who"],
        "Cấp có thẩm quyền quản lý cán bộ"
    );
    let text = hub.ok(&["flagged"]);
    assert!(text.contains("Cơ quan xử lý"), "{text}");
}

#[test]
fn deadlines_show_the_report_due_and_who_has_not_reported() {
    let hub = Hub::start("lai-chau");
    let done = NodeHome::init("lai-chau.da-bao-cao");
    let late = NodeHome::init("lai-chau.chua-bao-cao");
    hub.enroll(&done, "lai-chau.da-bao-cao");
    hub.enroll(&late, "lai-chau.chua-bao-cao");
    let f = done.file(
        "s.json",
        &session("ky-2023", "nq96-2023", "HĐND huyện", "Chủ tịch", 1),
    );
    done.ok(&["session", "import", f.to_str().expect("p")]);
    done.ok(&["seal", "ky-2023"]);
    done.point_at(hub.addr, &hub.key);
    done.ok(&["sync", "--once", "--timeout", "30"]);

    let v: serde_json::Value =
        serde_json::from_str(&hub.ok(&["deadlines", "--json", "--today", "2024-01-10"]))
            .expect("json");
    let p = &v["periods"][0];
    assert_eq!(p["period"], 2023);
    assert_eq!(p["report_due"], "2024-01-15");
    assert_eq!(p["state"], "due");
    assert_eq!(p["days"], 5);
    assert_eq!(p["units_reported"], 1);
    assert_eq!(p["missing"][0]["unit"], "lai-chau.chua-bao-cao");
    let keys: Vec<_> = v["sessions"]
        .as_array()
        .expect("arr")
        .iter()
        .map(|d| d["key"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        keys,
        [
            "list_and_reports",
            "front_opinions",
            "forward_opinions",
            "decide_list",
            "publication",
            "provincial_report"
        ]
    );
    let v: serde_json::Value =
        serde_json::from_str(&hub.ok(&["deadlines", "--json", "--today", "2024-01-20"]))
            .expect("json");
    assert_eq!(v["periods"][0]["state"], "overdue");
    // `status` names the units missing as the report falls due (here long overdue).
    let st = hub.status();
    assert_eq!(st["next_report"]["period"], 2023, "{st}");
    assert_eq!(
        st["next_report"]["missing"][0]["unit"],
        "lai-chau.chua-bao-cao"
    );
    assert!(hub
        .ok(&["status"])
        .contains("CHƯA BÁO CÁO: lai-chau.chua-bao-cao"));
    let text = hub.ok(&["deadlines", "--today", "2024-01-20"]);
    assert!(
        text.contains("QUÁ HẠN 5 ngày") && text.contains("CHƯA BÁO CÁO: lai-chau.chua-bao-cao"),
        "{text}"
    );
    // Days for people are dd/mm/yyyy, typed or printed.
    let text = hub.ok(&["deadlines", "--today", "20/01/2024"]);
    assert!(
        text.contains("hạn 15/01/2024 (QUÁ HẠN 5 ngày)") && !text.contains("2024-01-15"),
        "{text}"
    );
    assert!(hub
        .ok(&["status"])
        .contains("Hạn báo cáo kỳ 2023: 15/01/2024"));
}

/// The report card says "đủ" only when every expected unit reported by 15 January: with
/// no unit registered it says so; a unit that sealed a 2023 session only now is late and
/// named; one that has not reported is named as missing.
#[test]
fn the_report_card_says_enough_only_when_every_unit_reported_on_time() {
    let hub = Hub::start("lai-chau");
    let card = |hub: &Hub| -> serde_json::Value {
        serde_json::from_str(&hub.ok(&["deadlines", "--json"])).expect("json")
    };
    // Nobody registered: not "đủ".
    let v = card(&hub);
    assert_eq!(v["periods"][0]["state"], "no_units", "{v}");
    let text = hub.ok(&["deadlines"]);
    assert!(
        text.contains("chưa đăng ký đơn vị nào") && !text.contains("ĐỦ"),
        "{text}"
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let this_year = tinnhiem_core::domain::when::in_vietnam(now as i64)
        .expect("now")
        .format("%Y")
        .to_string();
    let a = NodeHome::init("lai-chau.phong-tho");
    let b = NodeHome::init("lai-chau.tam-duong");
    for (n, u) in [(&a, "lai-chau.phong-tho"), (&b, "lai-chau.tam-duong")] {
        hub.enroll(n, u);
        n.point_at(hub.addr, &hub.key);
    }
    let send = |n: &NodeHome, id: &str, date: &str| {
        let f = n.file(
            &format!("{id}.json"),
            &session(id, "nq96-2023", "HĐND huyện", "Chủ tịch", 1).replace("2023-12-08", date),
        );
        n.ok(&["session", "import", f.to_str().expect("p")]);
        n.ok(&["seal", id]);
        n.ok(&["sync", "--once", "--timeout", "30"]);
    };
    let period = |v: &serde_json::Value, y: &str| -> serde_json::Value {
        v["periods"]
            .as_array()
            .expect("periods")
            .iter()
            .find(|p| p["period"].as_i64().map(|n| n.to_string()).as_deref() == Some(y))
            .cloned()
            .unwrap_or_else(|| panic!("no period {y} in {v}"))
    };

    // This year's report is not due yet: one in, one missing.
    send(&a, "ky-nay", &format!("{this_year}-06-01"));
    let p = period(&card(&hub), &this_year);
    assert_eq!(p["state"], "due", "{p}");
    assert_eq!(p["missing"][0]["unit"], "lai-chau.tam-duong", "{p}");
    send(&b, "ky-nay", &format!("{this_year}-06-02"));
    let p = period(&card(&hub), &this_year);
    assert_eq!(p["state"], "met", "{p}");
    assert!(hub
        .ok(&["deadlines"])
        .contains("ĐÃ ĐỦ các đơn vị, đúng hạn"));

    // 2023: due 15/01/2024. One unit sends only now (late), the other not at all.
    send(&b, "ky-2023", "2023-12-08");
    let p = period(&card(&hub), "2023");
    assert_eq!(p["state"], "overdue", "{p}");
    assert_eq!(p["late"][0]["unit"], "lai-chau.tam-duong", "{p}");
    assert_eq!(p["missing"][0]["unit"], "lai-chau.phong-tho", "{p}");
    let text = hub.ok(&["deadlines"]);
    assert!(
        text.contains("BÁO CÁO TRỄ: lai-chau.tam-duong")
            && text.contains("CHƯA BÁO CÁO: lai-chau.phong-tho"),
        "{text}"
    );
    // Both in, both late: every unit reported, still not "đủ".
    send(&a, "ky-2023", "2023-12-08");
    let p = period(&card(&hub), "2023");
    assert_eq!(p["state"], "late", "{p}");
    assert_eq!(p["late"].as_array().map(Vec::len), Some(2), "{p}");
    assert_eq!(p["units_on_time"], 0, "{p}");
    let text = hub.ok(&["deadlines"]);
    let line = text
        .lines()
        .find(|l| l.starts_with("Kỳ 2023"))
        .expect("2023 line");
    assert!(line.contains("TRỄ HẠN") && !line.contains("ĐỦ"), "{text}");
}
