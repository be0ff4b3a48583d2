//! Exports that open well in Excel in a Vietnamese office, through the real binaries: the
//! clerk's `export --csv/--xlsx` and `/s/{id}/result.{csv,xlsx}`, the hub's
//! `/export/results.{csv,xlsx}`. CSV: BOM, `;`, Vietnamese headers and wording, decimal
//! comma, formula-looking text neutralised. XLSX: a zip whose sheet holds the text as
//! strings, never formulas.

use std::io::Read;
use tinnhiem_tests::browser::NodeWeb;
use tinnhiem_tests::http::{self, get};
use tinnhiem_tests::{Hub, NodeHome};

const PASSWORD: &str = "mat-khau-thu-nghiem";
const S: &str = "ky-hop-20";
/// A name a spreadsheet would run as a command if the cell were taken as a formula.
const EVIL: &str = "=1+2+cmd|' /C calc'!A0";

fn session_json() -> String {
    format!(
        r#"{{"id": "{S}", "profile": "nq96-2023", "procedure": "poll", "body": "HĐND huyện Tam Đường", "date": "2023-12-08",
  "attendance": {{"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49}},
  "ballots": {{"issued": 49, "collected": 49, "wholly_invalid": 2}},
  "count_from": "14:05", "count_to": "14:40", "chair": "Lò Thị Hoa", "board": ["Lò Thị Hoa", "Vàng A Sình"],
  "subjects": [
    {{"id": "s01", "person_id": "p-1", "name": "Nguyễn Văn A", "position": "Chủ tịch HĐND huyện", "unit": "HĐND huyện"}},
    {{"id": "s02", "person_id": "p-2", "name": "{}", "position": "-Phó Chủ tịch", "unit": "@UBND"}}
  ],
  "tallies": {{"s01": {{"high": 40, "confidence": 6, "low": 1, "invalid": 0}},
              "s02": {{"high": 9, "confidence": 8, "low": 30, "invalid": 0}}}}}}"#,
        EVIL.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

fn node() -> NodeHome {
    let n = NodeHome::init("lai-chau.tam-duong");
    let f = n.file("s.json", &session_json());
    n.ok(&["session", "import", f.to_str().expect("path")]);
    n
}

/// The files of a zip, by name, inflated: enough of the format to read an XLSX back.
fn unzip(b: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as usize;
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let eocd = (0..b.len().saturating_sub(21))
        .rev()
        .find(|&i| b[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .expect("end of central directory: not a zip");
    let (entries, mut at) = (u16_at(eocd + 10), u32_at(eocd + 16));
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..entries {
        assert_eq!(b[at..at + 4], [0x50, 0x4b, 0x01, 0x02], "central header");
        let method = u16_at(at + 10);
        let size = u32_at(at + 20);
        let (n, x, c) = (u16_at(at + 28), u16_at(at + 30), u16_at(at + 32));
        let local = u32_at(at + 42);
        let name = String::from_utf8_lossy(&b[at + 46..at + 46 + n]).to_string();
        let data = local + 30 + u16_at(local + 26) + u16_at(local + 28);
        let raw = &b[data..data + size];
        let bytes = match method {
            0 => raw.to_vec(),
            8 => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(raw)
                    .read_to_end(&mut v)
                    .expect("inflate");
                v
            }
            m => panic!("zip method {m} in {name}"),
        };
        out.insert(name, bytes);
        at += 46 + n + x + c;
    }
    out
}

/// The workbook's first sheet and its strings: the text cells are strings (shared or
/// inline), no cell is a formula, and `texts` are all there.
fn assert_xlsx_holds(b: &[u8], texts: &[&str]) {
    assert_eq!(&b[..2], b"PK", "not a zip");
    let files = unzip(b);
    let sheet = String::from_utf8(files["xl/worksheets/sheet1.xml"].clone()).expect("utf8");
    let strings = files
        .get("xl/sharedStrings.xml")
        .map(|s| String::from_utf8(s.clone()).expect("utf8"))
        .unwrap_or_default();
    assert!(!sheet.contains("<f>") && !sheet.contains("<f "), "{sheet}");
    assert!(
        sheet.contains("t=\"s\"") || sheet.contains("t=\"inlineStr\""),
        "{sheet}"
    );
    for t in texts {
        assert!(
            strings.contains(t) || sheet.contains(t),
            "{t} in {strings} {sheet}"
        );
    }
}

fn assert_excel_csv(b: &[u8]) -> String {
    assert!(b.starts_with(b"\xEF\xBB\xBF"), "no BOM: {:?}", &b[..8]);
    String::from_utf8(b[3..].to_vec()).expect("utf8")
}

#[test]
fn the_clerks_csv_and_xlsx_open_well_in_excel() {
    let n = node();
    let csv = n.path().join("r.csv");
    let xlsx = n.path().join("r.xlsx");
    let out = n.ok(&[
        "export",
        S,
        "--csv",
        csv.to_str().expect("p"),
        "--xlsx",
        xlsx.to_str().expect("p"),
    ]);
    assert!(out.contains("Excel"), "{out}");
    let c = assert_excel_csv(&std::fs::read(&csv).expect("csv"));
    let lines: Vec<&str> = c.lines().collect();
    assert_eq!(
        lines[0],
        "STT;Họ và tên;Chức vụ;Đơn vị công tác;Hợp lệ;Tín nhiệm cao;Tín nhiệm cao (%);\
         Tín nhiệm;Tín nhiệm (%);Tín nhiệm thấp;Tín nhiệm thấp (%);Không hợp lệ;\
         Phiếu không hợp lệ hoàn toàn;Cảnh báo"
    );
    assert_eq!(
        lines[1],
        "1;Nguyễn Văn A;Chủ tịch HĐND huyện;HĐND huyện;47;40;81,63;6;12,24;1;2,04;0;2;"
    );
    // Neutralised with a `'`: Excel shows the text and runs nothing.
    assert!(lines[2].starts_with("2;'=1+2+cmd|"), "{}", lines[2]);
    assert!(lines[2].contains(";'-Phó Chủ tịch;'@UBND;"), "{}", lines[2]);
    assert!(
        lines[2].ends_with(";61,22;0;2;Quá nửa tín nhiệm thấp"),
        "{}",
        lines[2]
    );
    // JSON: the session's wholly invalid count, apart from each person's `invalid`.
    let j = n.result_json(S);
    assert_eq!(j["wholly_invalid"], 2, "{j}");
    assert_eq!(j["subjects"][0]["invalid"], 0, "{j}");
    assert_xlsx_holds(
        &std::fs::read(&xlsx).expect("xlsx"),
        &[
            "Phiếu không hợp lệ hoàn toàn",
            "Họ và tên",
            "Nguyễn Văn A",
            "=1+2+cmd|",
            "Quá nửa tín nhiệm thấp",
        ],
    );
}

#[test]
fn the_clerks_page_serves_both_files() {
    let n = node();
    n.user("lan", "clerk", PASSWORD);
    let web: NodeWeb = n.web(false);
    let (session, _) = http::login(&web.base, "lan", PASSWORD);
    let cookie = format!("tinnhiem_session={session}");
    let r = get(
        &web.base,
        &format!("/s/{S}/result.csv"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let c = assert_excel_csv(&r.body);
    assert!(c.starts_with("STT;Họ và tên;"), "{c}");
    assert!(c.contains("'=1+2+cmd|"), "{c}");
    let r = get(
        &web.base,
        &format!("/s/{S}/result.xlsx"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.contains("spreadsheetml")),
        "{:?}",
        r.headers
    );
    assert_xlsx_holds(&r.body, &["Nguyễn Văn A", "=1+2+cmd|"]);
}

#[test]
fn the_hubs_exports_carry_percentages_and_no_formula() {
    let mut hub = Hub::init("lai-chau");
    hub.serve(&["--http", "127.0.0.1:0"]);
    let out = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-hub"))
        .arg("--home")
        .arg(hub.path())
        .args(["user", "add", "an", "--role", "staff"])
        .env("TINNHIEM_PASSWORD", PASSWORD)
        .output()
        .expect("user add");
    assert!(out.status.success(), "{out:?}");
    let base = hub.web.clone().expect("hub web");
    let n = node();
    hub.enroll(&n, "lai-chau.tam-duong");
    n.ok(&["seal", S]);
    n.point_at(hub.addr, &hub.key);
    n.ok(&["sync", "--once", "--timeout", "30"]);

    let (session, _) = http::login(&base, "an", PASSWORD);
    let cookie = format!("tinnhiem_session={session}");
    let r = get(&base, "/export/results.csv", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let c = assert_excel_csv(&r.body);
    let head = c.lines().next().unwrap_or_default();
    assert!(head.contains(";Tín nhiệm cao (%);"), "{head}");
    assert!(c.contains(";81,63;"), "{c}");
    assert!(c.contains(";'=1+2+cmd|"), "{c}");
    // The wholly invalid ballots have their own column, beside the ballots collected.
    assert!(
        head.contains(";Phiếu thu về;Phiếu không hợp lệ hoàn toàn;Phiếu hợp lệ;"),
        "{head}"
    );
    assert!(c.contains(";49;2;47;"), "{c}");
    // The hub's copy of the minutes: the board as written, no "…" left of the form.
    let r = get(
        &base,
        &format!("/minutes/lai-chau.tam-duong/{S}"),
        &[("Cookie", &cookie)],
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let m = r.text();
    assert!(
        m.contains("do đồng chí Lò Thị Hoa làm Trưởng Ban")
            && m.contains("Số phiếu không hợp lệ hoàn toàn: <b>2</b>")
            && !m.contains('…'),
        "{m}"
    );
    let r = get(&base, "/export/results.xlsx", &[("Cookie", &cookie)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_xlsx_holds(&r.body, &["Tín nhiệm cao (%)", "=1+2+cmd|"]);
}
