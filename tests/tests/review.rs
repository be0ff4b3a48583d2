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
    // Three places under qd96-2023 would be a data error: here two are qd96 and one nq96.
    assert_eq!(
        people[0]["problems"].as_array().map(Vec::len),
        Some(0),
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
