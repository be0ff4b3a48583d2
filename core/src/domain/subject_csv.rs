//! The list of people polled as a CSV file, the way a council office writes it.
//!
//! Offices keep the list in a spreadsheet with Vietnamese headers (`STT`, `Họ và tên`,
//! `Chức vụ`, `Đơn vị công tác`, …) and the reason someone is not polled in words
//! ("Nghỉ hưu"), not in this program's keys. Both are read here, case- and
//! diacritics-insensitively, so the clerk does not retype a list; anything that cannot be
//! read with certainty is refused with its line and column instead of guessed.

use super::file::{err, subjects_from_rows, FileError, SubjectRow};
use super::text::fold;
use super::{Exclusion, Subject};
use std::collections::BTreeMap;

/// One column the program understands, and the headers that name it.
struct Column {
    key: &'static str,
    label: &'static str,
    /// Folded (see [`header_key`]) spellings.
    names: &'static [&'static str],
}

const COLUMNS: &[Column] = &[
    Column {
        key: "id",
        label: "Mã dòng",
        names: &["id", "ma", "ma dong"],
    },
    Column {
        key: "stt",
        label: "STT",
        names: &["stt", "tt", "so tt", "so thu tu"],
    },
    Column {
        key: "person_id",
        label: "Mã người",
        names: &[
            "person id",
            "ma nguoi",
            "ma ca nhan",
            "ma can bo",
            "ma nguoi duoc lay phieu",
        ],
    },
    Column {
        key: "name",
        label: "Họ và tên",
        names: &["name", "ho ten", "ho va ten"],
    },
    Column {
        key: "position",
        label: "Chức vụ",
        names: &["position", "chuc vu", "chuc danh"],
    },
    Column {
        key: "unit",
        label: "Đơn vị công tác",
        names: &[
            "unit",
            "don vi",
            "don vi cong tac",
            "co quan",
            "co quan don vi",
            "noi cong tac",
        ],
    },
    Column {
        key: "excluded",
        label: "Lý do không lấy phiếu",
        names: &[
            "excluded",
            "loai tru",
            "ly do",
            "khong lay phieu",
            "ly do khong lay phieu",
            "ly do khong lay phieu tin nhiem",
        ],
    },
];

/// The headers a page or a message lists as accepted.
pub const ACCEPTED_HEADERS: &str = "STT hoặc Mã dòng (id); Mã người / Mã cá nhân (person_id); \
Họ và tên (name); Chức vụ (position); Đơn vị / Đơn vị công tác (unit); \
Lý do không lấy phiếu (excluded, có thể để trống)";

/// The words accepted for a reason not to poll someone.
pub const ACCEPTED_EXCLUSIONS: &str = "«nghỉ hưu», «được bầu trong năm», \
«được bổ nhiệm trong năm» (hoặc «phê chuẩn»), «lấy phiếu ở dòng khác» (hoặc «giữ nhiều chức vụ»); \
hoặc để trống nếu người đó được lấy phiếu";

/// A header as compared: folded (no case, no diacritics), punctuation and `_` as spaces.
fn header_key(h: &str) -> String {
    let h = h.trim().trim_start_matches('\u{feff}');
    let spaced: String = fold(h)
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    spaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn column_of(header: &str) -> Option<&'static Column> {
    let k = header_key(header);
    COLUMNS.iter().find(|c| c.names.contains(&k.as_str()))
}

/// The label of a column key (`person_id` → `Mã người`), for messages.
pub(crate) fn column_label(key: &str) -> &str {
    COLUMNS
        .iter()
        .find(|c| c.key == key)
        .map_or(key, |c| c.label)
}

/// Words that say a reason, as folded word sequences; a text names the reason whose
/// words it holds. Order does not matter: a text must hold the words of one reason only.
const EXCLUSION_WORDS: &[(Exclusion, &[&str])] = &[
    (Exclusion::Retiring, &["nghi huu", "retiring"]),
    (Exclusion::ElectedThisYear, &["bau", "elected this year"]),
    (
        Exclusion::AppointedThisYear,
        &["bo nhiem", "phe chuan", "appointed this year"],
    ),
    (
        Exclusion::PolledOnAnotherLine,
        &["dong khac", "nhieu chuc vu", "polled on another line"],
    ),
    (
        Exclusion::UnderNineMonths,
        &["chua du", "09 thang", "9 thang", "under nine months"],
    ),
];

/// Whether the words of `phrase` appear, in order and next to each other, in `words`.
fn has_phrase(words: &[&str], phrase: &str) -> bool {
    let p: Vec<&str> = phrase.split(' ').collect();
    words.windows(p.len()).any(|w| w == p.as_slice())
}

/// Reads the reason someone is not polled from a key (`retiring`) or from Vietnamese
/// words ("Nghỉ hưu", "được bầu trong năm", "Lấy phiếu ở dòng khác"). Empty (or `-`)
/// means polled. A text that holds the words of two reasons ("được bầu, bổ nhiệm trong
/// năm") or of none is refused: guessing would put someone on or off the ballot.
pub fn exclusion_from_text(s: &str) -> Result<Option<Exclusion>, String> {
    let t = s.trim();
    if t.is_empty() || t == "-" || t == "–" {
        return Ok(None);
    }
    if let Some(e) = Exclusion::parse(t) {
        return Ok(Some(e));
    }
    let folded = header_key(t);
    let words: Vec<&str> = folded.split(' ').collect();
    let found: Vec<Exclusion> = EXCLUSION_WORDS
        .iter()
        .filter(|(_, phrases)| phrases.iter().any(|p| has_phrase(&words, p)))
        .map(|(e, _)| *e)
        .collect();
    match found.as_slice() {
        [one] => Ok(Some(*one)),
        [] => Err(format!("lý do «{t}» không rõ; dùng {ACCEPTED_EXCLUSIONS}")),
        many => Err(format!(
            "lý do «{t}» có thể hiểu là {}; ghi rõ một lý do: {ACCEPTED_EXCLUSIONS}",
            many.iter()
                .map(|e| format!("«{}»", e.title()))
                .collect::<Vec<_>>()
                .join(" hoặc ")
        )),
    }
}

/// The line id made from a row number: `1` → `s01`, `12.` → `s12`, `105` → `s105`.
fn id_from_stt(v: &str) -> Result<String, String> {
    let t = v.trim().trim_end_matches('.');
    match t.parse::<u32>() {
        Ok(n) if n > 0 && n <= 9999 => Ok(format!("s{n:02}")),
        _ => Err(format!(
            "STT «{}» phải là số thứ tự 1, 2, 3… (mã dòng được lấy từ đó: 1 → s01)",
            v.trim()
        )),
    }
}

/// The delimiter of the header line: `,` unless the line holds more `;` or tabs
/// (spreadsheets set to Vietnamese write `;`, since `,` is the decimal mark there).
fn delimiter(text: &str) -> u8 {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let count = |d: char| first.chars().filter(|c| *c == d).count();
    let (comma, semi, tab) = (count(','), count(';'), count('\t'));
    if semi > comma && semi >= tab {
        b';'
    } else if tab > comma && tab > semi {
        b'\t'
    } else {
        b','
    }
}

/// The line of a quote that opens a field and is never closed, if any. Only a quote at
/// the start of a field opens one (as the CSV reader reads it); inside, `""` is a quote.
fn unterminated_quote(text: &str, delim: u8) -> Option<usize> {
    let delim = char::from(delim);
    let mut line = 1;
    let mut opened_at = None;
    let mut at_field_start = true;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if opened_at.is_some() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    opened_at = None;
                }
            } else if c == '\n' {
                line += 1;
            }
            continue;
        }
        if c == '"' && at_field_start {
            opened_at = Some(line);
            continue;
        }
        if c == '\n' {
            line += 1;
        }
        at_field_start = c == delim || c == '\n' || c == '\r';
    }
    opened_at
}

/// One row of the list, with the line of the file it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSubject {
    /// The line of the file (1 is the header).
    pub line: usize,
    /// The person on that row.
    pub subject: Subject,
}

/// Parses a subject list in CSV (see the module doc): a header row, then one person per
/// row. Every problem is listed at once with its line and column, nothing is guessed.
pub fn subject_rows_from_csv(text: &str) -> Result<Vec<CsvSubject>, Vec<FileError>> {
    if text.trim().trim_start_matches('\u{feff}').is_empty() {
        return Err(vec![err("", "tệp danh sách trống")]);
    }
    let delim = delimiter(text);
    if let Some(line) = unterminated_quote(text, delim) {
        return Err(vec![err(
            format!("dòng {line}"),
            "dấu nháy kép (\") mở ở dòng này không được đóng; mỗi ô bắt đầu bằng \" phải kết thúc bằng \" (dấu \" bên trong ô viết thành \"\")",
        )]);
    }
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delim)
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| {
            vec![err(
                "dòng 1",
                format!("không đọc được dòng tiêu đề: {}", csv_error_vi(&e)),
            )]
        })?
        .clone();
    let mut cols: BTreeMap<&'static str, (usize, String)> = BTreeMap::new();
    let mut errs = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}');
        match column_of(h) {
            Some(c) => {
                if let Some((_, first)) = cols.get(c.key) {
                    errs.push(err(
                        "dòng 1",
                        format!(
                            "cột «{h}» và cột «{first}» cùng là {}; chỉ giữ một",
                            c.label
                        ),
                    ));
                } else {
                    cols.insert(c.key, (i, h.to_string()));
                }
            }
            None if h.trim().is_empty() => errs.push(err(
                "dòng 1",
                format!(
                    "cột thứ {} không có tiêu đề; các tiêu đề dùng được: {ACCEPTED_HEADERS}",
                    i + 1
                ),
            )),
            None => errs.push(err(
                "dòng 1",
                format!("cột «{h}» không rõ nghĩa; các tiêu đề dùng được: {ACCEPTED_HEADERS}"),
            )),
        }
    }
    if !cols.contains_key("id") && !cols.contains_key("stt") {
        errs.push(err(
            "dòng 1",
            "thiếu cột STT hoặc Mã dòng (id): cần một trong hai để biết mỗi người ở dòng nào trên phiếu",
        ));
    }
    for need in ["person_id", "name"] {
        if !cols.contains_key(need) {
            let names = COLUMNS
                .iter()
                .find(|c| c.key == need)
                .map(|c| c.names.join(", "))
                .unwrap_or_default();
            errs.push(err(
                "dòng 1",
                format!("thiếu cột {} (tiêu đề: {names})", column_label(need)),
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for rec in rdr.records() {
        match rec {
            Ok(r) => {
                if r.iter().all(str::is_empty) {
                    continue; // a spreadsheet's trailing empty row
                }
                let line = r.position().map_or(0, |p| p.line() as usize);
                let get = |c: &str| {
                    cols.get(c)
                        .and_then(|(i, _)| r.get(*i))
                        .unwrap_or("")
                        .to_owned()
                };
                let id = if cols.contains_key("id") {
                    get("id")
                } else {
                    match id_from_stt(&get("stt")) {
                        Ok(id) => id,
                        Err(m) => {
                            errs.push(err(format!("dòng {line}.stt"), m));
                            continue;
                        }
                    }
                };
                let excluded = Some(get("excluded")).filter(|s| !s.is_empty());
                rows.push(SubjectRow {
                    id,
                    person_id: get("person_id"),
                    name: get("name"),
                    position: get("position"),
                    unit: get("unit"),
                    excluded,
                });
                lines.push(line);
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errs.push(err(format!("dòng {line}"), csv_error_vi(&e)));
            }
        }
    }
    if rows.is_empty() && errs.is_empty() {
        errs.push(err("", "tệp chỉ có dòng tiêu đề, không có người nào"));
    }
    let subjects = subjects_from_rows(
        &rows,
        |i| format!("dòng {}", lines.get(i).copied().unwrap_or(0)),
        &mut errs,
    );
    if !errs.is_empty() {
        return Err(errs);
    }
    // `subjects_from_rows` keeps every row when there is no error, in order.
    Ok(lines
        .into_iter()
        .zip(subjects)
        .map(|(line, subject)| CsvSubject { line, subject })
        .collect())
}

/// Parses a subject list in CSV (see [`subject_rows_from_csv`]); the order on the
/// ballot is the order of the rows.
pub fn subjects_from_csv(text: &str) -> Result<Vec<Subject>, Vec<FileError>> {
    subject_rows_from_csv(text).map(|rows| rows.into_iter().map(|r| r.subject).collect())
}

/// A CSV reader's error in the clerk's words.
fn csv_error_vi(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!(
            "dòng có {len} ô, dòng tiêu đề có {expected_len} ô; kiểm tra dấu phẩy thừa hoặc thiếu (một ô có dấu phẩy phải đặt trong dấu nháy kép \"…\")"
        ),
        csv::ErrorKind::Utf8 { .. } => "có ký tự không phải UTF-8; lưu tệp dạng CSV UTF-8".into(),
        _ => format!("không đọc được dòng này ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnamese_headers_are_read_whatever_the_case_and_diacritics() {
        for (h, want) in [
            ("STT", "stt"),
            ("Họ và tên", "name"),
            ("HỌ VÀ TÊN", "name"),
            ("ho va ten", "name"),
            ("Họ tên", "name"),
            ("Chức vụ", "position"),
            ("chuc_vu", "position"),
            ("Đơn vị", "unit"),
            ("Đơn vị công tác", "unit"),
            ("DON VI CONG TAC", "unit"),
            ("Mã người", "person_id"),
            ("Mã cá nhân", "person_id"),
            ("ma_ca_nhan", "person_id"),
            ("Lý do không lấy phiếu", "excluded"),
            ("\u{feff}id", "id"),
            ("Mã dòng", "id"),
        ] {
            assert_eq!(column_of(h).map(|c| c.key), Some(want), "{h}");
        }
        assert!(column_of("Năm sinh").is_none());
    }

    #[test]
    fn reasons_are_read_from_vietnamese_words() {
        use Exclusion::*;
        for (t, want) in [
            ("nghỉ hưu", Retiring),
            ("Nghỉ hưu từ 01/2024", Retiring),
            ("Đã có thông báo nghỉ công tác chờ nghỉ hưu", Retiring),
            ("NGHI HUU", Retiring),
            ("được bầu trong năm", ElectedThisYear),
            ("Được bầu trong năm lấy phiếu", ElectedThisYear),
            ("được bổ nhiệm trong năm", AppointedThisYear),
            (
                "Được phê chuẩn, bổ nhiệm trong năm lấy phiếu",
                AppointedThisYear,
            ),
            ("lấy phiếu ở dòng khác", PolledOnAnotherLine),
            ("Chưa đủ 09 tháng", UnderNineMonths),
            (
                "Giữ nhiều chức vụ, lấy phiếu một lần ở dòng khác",
                PolledOnAnotherLine,
            ),
            ("retiring", Retiring),
            ("polled_on_another_line", PolledOnAnotherLine),
        ] {
            assert_eq!(exclusion_from_text(t), Ok(Some(want)), "{t}");
        }
        // Every title the program writes reads back as itself.
        for e in [
            Retiring,
            ElectedThisYear,
            AppointedThisYear,
            PolledOnAnotherLine,
        ] {
            assert_eq!(exclusion_from_text(e.title()), Ok(Some(e)));
        }
        assert_eq!(exclusion_from_text(""), Ok(None));
        assert_eq!(exclusion_from_text(" - "), Ok(None));
        let two = exclusion_from_text("được bầu, bổ nhiệm trong năm").expect_err("two reasons");
        assert!(two.contains("hoặc"), "{two}");
        let none = exclusion_from_text("tái cử").expect_err("no reason");
        assert!(none.contains("nghỉ hưu"), "{none}");
    }

    #[test]
    fn a_vietnamese_list_with_stt_imports() {
        let text = "STT;Họ và tên;Chức vụ;Đơn vị công tác;Mã cá nhân;Lý do không lấy phiếu\n\
                    1;Nguyễn Văn A;Chủ tịch;UBND huyện;p-1;\n\
                    2.;Trần Thị B;Phó Chủ tịch;UBND huyện;p-2;Nghỉ hưu\n\
                    ;;;;;\n\
                    12;\"Lò Văn C, Jr\";Ủy viên;\"HĐND \"\"huyện\"\"\";p-3;lấy phiếu ở dòng khác\n";
        let rows = subject_rows_from_csv(text).expect("csv");
        let ids: Vec<_> = rows.iter().map(|r| r.subject.id.as_str()).collect();
        assert_eq!(ids, vec!["s01", "s02", "s12"]);
        assert_eq!(rows[1].subject.excluded, Some(Exclusion::Retiring));
        assert_eq!(rows[2].subject.name, "Lò Văn C, Jr");
        assert_eq!(rows[2].subject.unit, "HĐND \"huyện\"");
        assert_eq!(rows[2].line, 5);
        assert_eq!(
            rows[2].subject.excluded,
            Some(Exclusion::PolledOnAnotherLine)
        );
    }

    #[test]
    fn an_unterminated_quote_names_its_line() {
        let text = "id,person_id,name\ns01,p-1,A\ns02,p-2,\"Trần Thị B\ns03,p-3,C\n";
        let e = subject_rows_from_csv(text).expect_err("open quote");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].at, "dòng 3");
        let shown = e[0].to_string();
        assert!(shown.starts_with("dòng 3: dấu nháy kép"), "{shown}");
        // A quote inside an unquoted field is text, as the reader reads it.
        let inch = "id,person_id,name,position\ns01,p-1,A,Màn hình 5\" \n";
        assert!(subject_rows_from_csv(inch).is_ok());
    }

    #[test]
    fn problems_are_named_in_vietnamese_at_their_line() {
        let text = "STT,Họ và tên,Mã người,Ghi chú\n";
        let e = subject_rows_from_csv(text).expect_err("unknown column");
        assert!(
            e[0].to_string().contains("«Ghi chú» không rõ nghĩa"),
            "{e:?}"
        );
        let text = "STT,Họ và tên,Mã người\n1,A,p-1\nx,B,p-2\n3,C\n4,D,p-4,thừa\n";
        let e = subject_rows_from_csv(text).expect_err("bad rows");
        let shown: Vec<String> = e.iter().map(ToString::to_string).collect();
        assert!(
            shown[0].starts_with("dòng 3, cột «STT»: STT «x»"),
            "{shown:?}"
        );
        assert!(shown[1].starts_with("dòng 4: dòng có 2 ô"), "{shown:?}");
        assert!(shown[2].starts_with("dòng 5: dòng có 4 ô"), "{shown:?}");
        let text = "Họ và tên,Mã người\nA,p-1\n";
        let e = subject_rows_from_csv(text).expect_err("no id");
        assert!(e[0].message.contains("STT"), "{e:?}");
        let text = "STT,Họ và tên,Mã người,Lý do\n1,A,p-1,tái cử\n";
        let e = subject_rows_from_csv(text).expect_err("bad reason");
        assert_eq!(e[0].at, "dòng 2.excluded");
        assert!(
            e[0].to_string()
                .starts_with("dòng 2, cột «Lý do không lấy phiếu»"),
            "{e:?}"
        );
    }
}
