//! The list of people cannot be silently damaged (issue 12 §4), through the real
//! `tinnhiem-node` binary: a taken row is refused naming who holds it, people are edited
//! and removed only as asked, a list with clashing rows is refused whole, a Vietnamese
//! spreadsheet imports as it is, and a deleted session stays deleted when another
//! laptop's copy is merged later.

use tinnhiem_tests::NodeHome;

const S: &str = "ky-hop-15";

fn session(h: &NodeHome) {
    h.ok(&[
        "session",
        "create",
        S,
        "--profile",
        "nq96-2023",
        "--body",
        "HĐND huyện Sìn Hồ",
        "--date",
        "2023-12-12",
    ]);
}

fn add(h: &NodeHome, id: &str, person: &str, name: &str) -> std::process::Output {
    h.run(&[
        "subject",
        "add",
        S,
        "--id",
        id,
        "--person",
        person,
        "--name",
        name,
        "--position",
        "Phó Chủ tịch",
    ])
}

/// `subject list`: (row id, name) in ballot order.
fn list(h: &NodeHome) -> Vec<(String, String)> {
    h.ok(&["subject", "list", S])
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_string(), f[3].to_string())
        })
        .collect()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_taken_row_is_refused_naming_who_holds_it_and_nothing_changes() {
    let h = NodeHome::init("lai-chau.sin-ho");
    session(&h);
    assert!(add(&h, "s01", "p-1", "Nguyễn Thị Hoa").status.success());
    let audit_before = h.ok(&["audit"]).lines().count();
    let o = add(&h, "s01", "p-2", "Phạm Văn Đức");
    assert!(
        !o.status.success(),
        "a second person on s01 must be refused"
    );
    let e = stderr(&o);
    assert!(
        e.contains("dòng s01 đã có Nguyễn Thị Hoa") && e.contains("mã người p-1"),
        "{e}"
    );
    assert!(e.contains("không ghi gì") && e.contains("s02"), "{e}");
    assert_eq!(list(&h), vec![("s01".into(), "Nguyễn Thị Hoa".into())]);
    assert_eq!(h.ok(&["audit"]).lines().count(), audit_before);
}

#[test]
fn a_person_is_edited_and_removed_only_as_asked() {
    let h = NodeHome::init("lai-chau.sin-ho");
    session(&h);
    for (id, p, n) in [
        ("s01", "p-1", "Nguyễn Thị Hoa"),
        ("s02", "p-2", "Phạm Văn Đức"),
        ("s03", "p-3", "Lò Văn Mạnh"),
    ] {
        assert!(add(&h, id, p, n).status.success());
    }
    // An edit changes what is given and nothing else.
    let out = h.ok(&[
        "subject",
        "edit",
        S,
        "s02",
        "--name",
        "Phạm Văn Đạt",
        "--excluded",
        "nghỉ hưu",
    ]);
    assert!(out.contains("Đã sửa dòng s02"), "{out}");
    let j = h.result_json(S);
    assert_eq!(j["excluded"][0]["name"], "Phạm Văn Đạt", "{j}");
    assert_eq!(j["excluded"][0]["reason"], "retiring", "{j}");
    h.ok(&["subject", "edit", S, "s02", "--polled"]);
    assert_eq!(
        h.result_json(S)["excluded"].as_array().map(Vec::len),
        Some(0)
    );
    let e = h.fails(&["subject", "edit", S, "s09", "--name", "X"]);
    assert!(
        e.contains("không có dòng «s09»") && e.contains("s01, s02, s03"),
        "{e}"
    );

    // Someone with no marks goes at once.
    h.ok(&["subject", "remove", S, "s03"]);
    assert_eq!(list(&h).len(), 2);

    // Someone with marks is kept unless the clerk says the marks go too.
    h.ok(&["attendance", "set", S, "--total", "3", "--present", "3"]);
    h.ok(&["ballots", "set", S, "--issued", "3", "--collected", "3"]);
    for marks in ["s01=high,s02=low", "s01=low,s02=low", "s01=high"] {
        h.ok(&["entry", "add", S, "--marks", marks]);
    }
    let e = h.fails(&["subject", "remove", S, "s02"]);
    assert!(
        e.contains("Không xóa Phạm Văn Đạt") && e.contains("2 phiếu có ý kiến"),
        "{e}"
    );
    assert!(e.contains("--drop-marks"), "{e}");
    assert_eq!(list(&h).len(), 2);
    let out = h.ok(&["subject", "remove", S, "s02", "--drop-marks"]);
    assert!(out.contains("cùng 2 ý kiến đã ghi"), "{out}");
    assert_eq!(list(&h), vec![("s01".into(), "Nguyễn Thị Hoa".into())]);
    let j = h.result_json(S);
    assert_eq!(j["subjects"].as_array().map(Vec::len), Some(1), "{j}");
    assert_eq!(j["subjects"][0]["valid"], 3, "the ballots stay: {j}");
    let audit = h.ok(&["audit"]);
    assert!(audit.contains("xóa người được lấy phiếu s02"), "{audit}");
}

#[test]
fn a_list_whose_rows_clash_is_refused_whole_unless_replace_is_asked() {
    let h = NodeHome::init("lai-chau.sin-ho");
    session(&h);
    let first = h.file(
        "a.csv",
        "id,person_id,name,position\ns01,p-1,Nguyễn Thị Hoa,Chủ tịch\ns02,p-2,Phạm Văn Đức,Phó Chủ tịch\n",
    );
    h.ok(&["subject", "import", S, first.to_str().expect("p")]);
    // The same file again changes nothing and is no clash.
    let out = h.ok(&["subject", "import", S, first.to_str().expect("p")]);
    assert!(
        out.contains("Đã nhập 0 người") && out.contains("2 dòng đã có"),
        "{out}"
    );

    let second = h.file(
        "b.csv",
        "id,person_id,name\ns03,p-3,Lò Văn Mạnh\ns02,p-9,Giàng A Páo\ns01,p-8,Vàng Thị Mai\n",
    );
    let e = h.fails(&["subject", "import", S, second.to_str().expect("p")]);
    assert!(
        e.contains("2 dòng trùng mã") && e.contains("không nhập dòng nào"),
        "{e}"
    );
    assert!(
        e.contains("dòng 3 của tệp (s02, Giàng A Páo): dòng s02 đã có Phạm Văn Đức"),
        "{e}"
    );
    assert!(
        e.contains("dòng 4 của tệp (s01, Vàng Thị Mai): dòng s01 đã có Nguyễn Thị Hoa"),
        "{e}"
    );
    assert_eq!(list(&h).len(), 2, "nothing imported, not even s03");

    let out = h.ok(&[
        "subject",
        "import",
        S,
        second.to_str().expect("p"),
        "--replace",
    ]);
    assert!(
        out.contains("Đã nhập 1 người") && out.contains("thay dòng s02, s01"),
        "{out}"
    );
    assert_eq!(
        list(&h),
        vec![
            ("s01".into(), "Vàng Thị Mai".into()),
            ("s02".into(), "Giàng A Páo".into()),
            ("s03".into(), "Lò Văn Mạnh".into()),
        ],
        "replaced rows keep their place"
    );
}

#[test]
fn a_vietnamese_spreadsheet_imports_and_a_broken_one_is_named() {
    let h = NodeHome::init("lai-chau.sin-ho");
    session(&h);
    let csv = h.file(
        "ds.csv",
        "\u{feff}STT;HỌ VÀ TÊN;Chức vụ;Đơn vị công tác;Mã cá nhân;Lý do không lấy phiếu\n\
         1;Nguyễn Thị Hoa;Chủ tịch HĐND;HĐND huyện;p-1;\n\
         2;Phạm Văn Đức;Chủ tịch UBND;UBND huyện;p-2;Nghỉ hưu\n\
         3;Lò Văn Mạnh;Phó Chủ tịch UBND;UBND huyện;p-3;được bầu trong năm\n\
         4;Giàng A Páo;Trưởng ban;HĐND huyện;p-4;lấy phiếu ở dòng khác\n",
    );
    h.ok(&["subject", "import", S, csv.to_str().expect("p")]);
    let ids: Vec<String> = list(&h).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids, vec!["s01", "s02", "s03", "s04"]);
    let j = h.result_json(S);
    let reasons: Vec<&str> = j["excluded"]
        .as_array()
        .expect("excluded")
        .iter()
        .filter_map(|x| x["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        vec!["retiring", "elected_this_year", "polled_on_another_line"],
        "{j}"
    );

    let broken = h.file(
        "hong.csv",
        "STT,Họ và tên,Mã người\n1,Nguyễn Thị Hoa,p-1\n2,\"Phạm Văn Đức,p-2\n3,Lò Văn Mạnh,p-3\n",
    );
    let e = h.fails(&["subject", "import", S, broken.to_str().expect("p")]);
    assert!(
        e.contains("dòng 3: dấu nháy kép") && e.contains("không được đóng"),
        "{e}"
    );
}

#[test]
fn a_deleted_session_stays_deleted_when_another_laptop_s_copy_is_merged() {
    let a = NodeHome::init("lai-chau.sin-ho");
    let b = NodeHome::init("lai-chau.sin-ho");
    session(&a);
    assert!(add(&a, "s01", "p-1", "Nguyễn Thị Hoa").status.success());
    // Laptop B got a copy earlier and adds to it.
    let early = a.path().join("early.automerge");
    a.ok(&["doc", "export", S, "-o", early.to_str().expect("p")]);
    b.ok(&["doc", "merge", early.to_str().expect("p")]);
    assert!(add(&b, "s02", "p-2", "Phạm Văn Đức").status.success());
    let from_b = b.path().join("b.automerge");
    b.ok(&["doc", "export", S, "-o", from_b.to_str().expect("p")]);

    // Without --yes nothing is deleted.
    let e = a.fails(&["session", "delete", S]);
    assert!(e.contains("--yes") && e.contains("1 người"), "{e}");
    assert!(a.ok(&["session", "list"]).contains(S));
    let out = a.ok(&["session", "delete", S, "--yes"]);
    assert!(
        out.contains("Đã xóa phiên «ky-hop-15»") && out.contains("--restore"),
        "{out}"
    );
    assert!(!a.ok(&["session", "list"]).contains(S));
    let audit = a.ok(&["audit"]);
    assert!(audit.contains("xóa phiên"), "{audit}");

    // B's copy does not bring it back unseen.
    let e = a.fails(&["doc", "merge", from_b.to_str().expect("p")]);
    assert!(
        e.contains("đã bị xóa trên máy này") && e.contains("--restore"),
        "{e}"
    );
    assert!(!a.ok(&["session", "list"]).contains(S));

    // A session made anew with the same id takes B's fresh copies, never the old history.
    session(&a);
    let e = a.fails(&["doc", "merge", from_b.to_str().expect("p")]);
    assert!(e.contains("đã bị xóa trên máy này"), "{e}");
    let c = NodeHome::init("lai-chau.sin-ho");
    let anew = a.path().join("anew.automerge");
    a.ok(&["doc", "export", S, "-o", anew.to_str().expect("p")]);
    c.ok(&["doc", "merge", anew.to_str().expect("p")]);
    assert!(add(&c, "s05", "p-5", "Vàng Thị Mai").status.success());
    let from_c = c.path().join("c.automerge");
    c.ok(&["doc", "export", S, "-o", from_c.to_str().expect("p")]);
    a.ok(&["doc", "merge", from_c.to_str().expect("p")]);
    assert_eq!(list(&a), vec![("s05".into(), "Vàng Thị Mai".into())]);

    // Asked for, the old history comes back.
    let out = a.ok(&["doc", "merge", from_b.to_str().expect("p"), "--restore"]);
    assert!(out.contains("Đã gộp"), "{out}");
    let ids: Vec<String> = list(&a).into_iter().map(|(id, _)| id).collect();
    assert!(
        ids.contains(&"s01".to_string()) && ids.contains(&"s02".to_string()),
        "{ids:?}"
    );
    // Once restored, later merges of that history are ordinary ones.
    a.ok(&["doc", "merge", from_b.to_str().expect("p")]);
    assert!(add(&a, "s06", "p-6", "Lý Văn Sáng").status.success());

    // Deleted again and made again: both deleted histories stay refused.
    a.ok(&["session", "delete", S, "--yes"]);
    session(&a);
    for old in [&early, &from_b, &from_c] {
        let e = a.fails(&["doc", "merge", old.to_str().expect("p")]);
        assert!(e.contains("đã bị xóa trên máy này"), "{e}");
    }
    assert!(list(&a).is_empty());
}

#[test]
fn a_sealed_session_is_never_deleted() {
    let h = NodeHome::init("lai-chau");
    h.seal_session("hdnd-2023", 20);
    let e = h.fails(&["session", "delete", "hdnd-2023", "--yes"]);
    assert!(
        e.contains("đã niêm phong (lần 1)") && e.contains("không bao giờ bị xóa"),
        "{e}"
    );
    let e = h.fails(&["session", "delete", "hdnd-2023"]);
    assert!(e.contains("không bao giờ bị xóa"), "{e}");
    assert!(h.ok(&["session", "list"]).contains("hdnd-2023"));
}
