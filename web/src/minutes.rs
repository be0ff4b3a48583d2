//! The counting minutes (biên bản kiểm phiếu) as a printable HTML page, in the layout of
//! Annex 4 of seed 002 (Mẫu Báo cáo kết quả phiếu tín nhiệm).

use maud::{html, Markup, PreEscaped, DOCTYPE};
use tinnhiem_core::domain::{
    BodyKind, Mark, Meta, Procedure, Session, SessionResult, SubjectResult,
};
use tinnhiem_core::seal::Seal;

/// A header field as printed. A draft shows the form's dots where nothing is written
/// yet; a sealed copy never does (the board signs it as it is, and the hub keeps it),
/// so there the words around a missing field are left out instead.
struct Fill {
    draft: bool,
}

impl Fill {
    fn text<'a>(&self, v: Option<&'a str>) -> Option<&'a str> {
        match v.map(str::trim).filter(|x| !x.is_empty()) {
            Some(x) => Some(x),
            None => self.draft.then_some("…"),
        }
    }
}

const STYLE: &str = r#"
@page { size: A4; margin: 15mm 15mm 15mm 22mm; }
body { font-family: "Times New Roman", "Liberation Serif", serif; font-size: 13pt; line-height: 1.35; max-width: 180mm; margin: 1em auto; color: #000; }
p { margin: 0.35em 0; }
.head { display: flex; justify-content: space-between; }
.head .org { text-align: center; width: 45%; }
.head .stamp { font-style: italic; font-size: 11pt; }
.head .date { text-align: right; font-style: italic; width: 50%; }
h1 { text-align: center; font-size: 14pt; margin: 0.8em 0 0.1em; }
.sub { text-align: center; font-weight: bold; margin: 0; }
.rule { text-align: center; margin: 0 0 0.6em; }
table { border-collapse: collapse; width: 100%; font-size: 11pt; line-height: 1.25; margin: 0; table-layout: fixed; }
col.stt { width: 10mm; } col.name { width: 34mm; } col.pos { width: auto; } col.valid { width: 13mm; } col.c { width: 12mm; } col.p { width: 14mm; }
th, td { border: 1px solid #000; padding: 2px 3px; vertical-align: middle; overflow-wrap: anywhere; }
th { text-align: center; font-weight: bold; }
td.n { text-align: right; white-space: nowrap; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
.results { margin-top: 0.4em; }
tbody.last { break-inside: avoid; page-break-inside: avoid; }
.closing { break-inside: avoid; page-break-inside: avoid; break-before: avoid; page-break-before: avoid; }
.flag { font-weight: bold; }
.note { font-style: italic; margin-top: 0.3em; }
.sign { margin-left: auto; width: 50%; text-align: center; margin-top: 0.8em; break-inside: avoid; page-break-inside: avoid; }
.endrow { display: flex; flex-wrap: wrap; align-items: flex-start; }
.endrow .qr { margin-top: 0.8em; }
.sign .space { height: 4.5em; }
.seal { margin-top: 0.5em; border-top: 1px solid #999; padding-top: 0.3em; }
.seal .ids { font-size: 8pt; line-height: 1.25; }
.seal .ids code { font-family: monospace; font-size: 7.5pt; word-break: break-all; }
.qr svg { width: 420px; height: 420px; flex: none; display: block; }
@media print { .qr svg { width: 40mm; height: 40mm; } }
.draft { color: #a00; font-weight: bold; text-align: center; border: 2px solid #a00; padding: 0.3em; }
.confidential { text-align: right; font-weight: bold; margin: 0; }
@media print { .noprint { display: none; } body { margin: 0; max-width: none; } }
"#;

/// The CSP source that allows the minutes' inline style sheet and nothing else
/// (`'sha256-…'`): the page stays one self-contained file (the CLI saves it as is)
/// while the servers' policy keeps refusing every other inline style.
pub fn style_hash() -> String {
    use sha2::{Digest, Sha256};
    format!("sha256-{}", base64(&Sha256::digest(STYLE.as_bytes())))
}

/// Standard base64 with padding (RFC 4648), for the one hash above.
fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut o = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                o.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                o.push('=');
            }
        }
    }
    o
}

/// The locality of the issuing body, for the date line: the name after its last
/// administrative level word ("Thường trực HĐND huyện Phong Thổ", "Huyện ủy Phong Thổ",
/// "Đảng ủy xã Mường Khương" give "Phong Thổ", "Phong Thổ", "Mường Khương"). `None`
/// when the name has none, and the line then starts with the day.
fn locality(issuer: &str) -> Option<String> {
    const LEVELS: [&str; 8] = [
        "tỉnh",
        "huyện",
        "quận",
        "phường",
        "xã",
        "phố",
        "trấn",
        "thành",
    ];
    let words: Vec<&str> = issuer.split_whitespace().collect();
    let at = words
        .iter()
        .rposition(|w| LEVELS.contains(&w.to_lowercase().as_str()))?;
    let mut rest = &words[at + 1..];
    if let Some((first, tail)) = rest.split_first() {
        if matches!(*first, "ủy" | "uỷ") {
            rest = tail;
        }
    }
    let starts_upper = rest
        .first()
        .and_then(|w| w.chars().next())
        .is_some_and(char::is_uppercase);
    starts_upper.then(|| rest.join(" "))
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "Tại kỳ họp (hội nghị) …": the body's own meeting word, then its name. A title that
/// already starts with the word (`Kỳ họp thứ 14`) is not given it twice.
fn meeting_line(meeting: &str, title: Option<&str>, body: &str) -> Markup {
    match title.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.to_lowercase().starts_with(meeting) => {
            html! { "Tại " (lower_first(t)) " " (body) }
        }
        Some(t) => html! { "Tại " (meeting) " " (t) ", " (body) },
        None => html! { "Tại " (meeting) " " (body) },
    }
}

fn columns(levels: &[Mark]) -> Markup {
    html! {
        colgroup {
            col class="stt"; col class="name"; col class="pos"; col class="valid";
            @for _ in levels { col class="c"; col class="p"; }
        }
    }
}

fn subject_row(i: usize, x: &SubjectResult) -> Markup {
    html! {
        tr {
            td class="n" { (i + 1) }
            td class="name" { (x.name) }
            td {
                (x.position)
                @if !x.unit.is_empty() { ", " (x.unit) }
            }
            td class="n" { (x.valid) }
            @for (c, p) in x.counts.iter().zip(&x.percent) {
                td class="n" { (c) }
                td class="n" { (p.comma()) }
            }
        }
        "\n"
    }
}

/// The sealed copy's closing lines: the QR code (beside the signature) and the seal's
/// ids with what to do with the paper (under it).
fn seal_block(x: &Seal, r: &SessionResult, m: &Meta) -> (Markup, Markup) {
    // Vietnam time, as every other time a person reads (the counting times above it
    // are local; UTC here was seven hours off them).
    let when = format!(
        "{} (giờ Việt Nam)",
        tinnhiem_core::domain::when::moment_vi(x.body.sealed_at)
    );
    let ids = html! {
        "Niêm phong điện tử lần " (x.body.seq) " lúc " (when) br;
        "Mã niêm phong: " code { (hex::encode(x.id())) } br;
        "Tóm lược kết quả: " code { (hex::encode(x.body.result_digest)) } br;
        "Khóa ký: " code { (hex::encode(x.body.signer)) }
    };
    // The paper verifies itself: the seal and the result it signs, in a QR code.
    // Paper carries no command line: the sentence says what to do, in words.
    let canon = tinnhiem_core::seal::canonical_result(r, m.mode, &m.body, m.date);
    let record = tinnhiem_core::seal::paper::encode(x, &canon);
    match crate::paper::svg(&record) {
        Some(svg) => (
            // The SVG is the qrcode crate's own drawing of our bytes: no text of anyone's.
            html! { div class="qr" id="qr" { (PreEscaped(svg)) } },
            html! {
                div class="seal" { div class="ids" {
                    (ids) br; b { "Kiểm tra bản giấy:" }
                    " chụp hoặc quét mã QR này, đưa ảnh vào máy tính có phần mềm tín nhiệm của đơn vị để kiểm tra chữ ký số; máy báo hợp lệ và các số phải trùng với số in trên biên bản."
                } }
                "\n"
            },
        ),
        None => (
            html! {},
            html! {
                div class="seal" { div class="ids" {
                    (ids) br;
                    "Biên bản quá lớn cho một mã QR; kiểm tra bằng cách so mã niêm phong ở trên với mã trên máy chủ tỉnh."
                } }
                "\n"
            },
        ),
    }
}

/// The minutes page. `seal` is the seal matching the current document, if any; without
/// one the page says it is a draft.
pub fn html(
    s: &Session,
    r: &SessionResult,
    unit_name: Option<&str>,
    seal: Option<&Seal>,
) -> String {
    let m = &s.meta;
    let words = m.profile.rules().body.words();
    let fill = Fill {
        draft: seal.is_none(),
    };
    let levels = m.procedure.levels();
    let issuer = match m.profile.rules().body {
        BodyKind::PartyCommittee => m.body.as_str(),
        BodyKind::Council => unit_name.unwrap_or(&m.body),
    };
    let day = format!(
        "ngày {} tháng {} năm {}",
        m.date.format("%d"),
        m.date.format("%m"),
        m.date.format("%Y"),
    );
    // The form's "…, ngày … tháng … năm …" opens with a place name (the locality), not
    // the room where the count took place (that stays in the opening sentence's "tại …").
    let dateline = match locality(issuer) {
        Some(p) => format!("{p}, {day}"),
        None if fill.draft => format!("…, {day}"),
        None => format!("N{}", &day[1..]),
    };
    let heading = match m.procedure {
        Procedure::Poll => "BÁO CÁO KẾT QUẢ PHIẾU TÍN NHIỆM",
        Procedure::Binding => "BÁO CÁO KẾT QUẢ BỎ PHIẾU TÍN NHIỆM",
    };
    // "Thực hiện nhiệm vụ do … giao, từ … đến …, ngày …, tại …, Ban Kiểm phiếu gồm …
    // đồng chí, do đồng chí … làm Trưởng Ban đã tiến hành kiểm phiếu tín nhiệm của …
    // đối với …": each part in the form's order, a missing one left out when sealed.
    // Plain text: the template escapes it as a whole.
    let mut opening = match fill.text(m.assigned_by.as_deref()) {
        Some(by) => format!("Thực hiện nhiệm vụ do {by} giao"),
        None => "Thực hiện nhiệm vụ được giao".to_string(),
    };
    let from = hm(m.count_from.as_deref());
    let to = hm(m.count_to.as_deref());
    if fill.draft || (m.count_from.is_some() && m.count_to.is_some()) {
        opening.push_str(&format!(", từ {from} đến {to}"));
    }
    opening.push_str(&format!(", ngày {}", m.date.format("%d/%m/%Y")));
    if let Some(p) = fill.text(m.place.as_deref()) {
        opening.push_str(&format!(", tại {p}"));
    }
    let members = if m.board.is_empty() {
        fill.draft.then(|| "…".to_string())
    } else {
        Some(m.board.len().to_string())
    };
    if let Some(n) = members {
        opening.push_str(&format!(", Ban Kiểm phiếu gồm {n} đồng chí"));
    } else {
        opening.push_str(", Ban Kiểm phiếu");
    }
    if let Some(c) = fill.text(m.chair.as_deref()) {
        opening.push_str(&format!(", do đồng chí {c} làm Trưởng Ban"));
    }
    opening.push_str(&format!(
        " đã tiến hành kiểm phiếu tín nhiệm của {} đối với {}; kết quả cụ thể như sau:",
        m.body,
        fill.text(m.polled_posts.as_deref())
            .unwrap_or("các đồng chí có tên dưới đây")
    ));
    // The last lines of the table are kept together, and the note and the signature
    // are never broken from them: the board's signature never stands alone on the
    // last sheet, it always follows results it signs.
    let n = r.subjects.len();
    // Up to three people the whole table goes with the closing block: split, page 1
    // kept one row, half empty, and the rest went on without the table's header.
    let tail = if n > 3 { 2 } else { n };
    let flagged: Vec<_> = r
        .subjects
        .iter()
        .filter_map(|x| Some((x, x.flag.consequence(m.profile)?)))
        .collect();
    // The QR code stands beside the board's signature and the seal's ids under it, all
    // in the closing block: the paper's proof is never on a page of its own, separable
    // from the signed results.
    let (qr, ids) = seal
        .map(|x| seal_block(x, r, m))
        .unwrap_or_else(|| (html! {}, html! {}));
    let page = html! {
        (DOCTYPE) "\n"
        html lang="vi" {
            head {
                meta charset="utf-8";
                title { "Biên bản kiểm phiếu — " (m.session.as_str()) }
                // Our own constant, allowed by its hash in the servers' policy.
                style { (PreEscaped(STYLE)) }
            }
            body {
                "\n"
                p class="confidential" { "MẬT" } "\n"
                @if seal.is_none() {
                    p class="draft" { "BẢN NHÁP — chưa niêm phong" } "\n"
                }
                // The form's "Tên tổ chức, cơ quan, đơn vị … (Đóng dấu treo)": the body
                // that held the vote issues the report and stamps it. A node's unit name
                // is its council's standing committee, so a Party committee's session
                // (Annex 4 of seed 002 is the Party's own form) prints its own body
                // instead: a council's header on Party minutes is wrong.
                div class="head" {
                    div class="org" { b { (issuer) } br; span class="stamp" { "(Đóng dấu treo)" } }
                    div class="date" { (dateline) }
                }
                "\n"
                h1 { (heading) } "\n"
                p class="sub" { (meeting_line(words.meeting, m.title.as_deref(), &m.body)) } "\n"
                // Under the meeting's name, in the body's own word ("Kỳ họp", "Hội nghị").
                @if let Some(o) = m.opening_date.filter(|o| *o != m.date) {
                    p class="sub" {
                        (capitalized(words.meeting)) " khai mạc ngày " (o.format("%d/%m/%Y"))
                    }
                    "\n"
                }
                p class="rule" { "-----" } "\n"
                p { (opening) } "\n"
                @if !m.board.is_empty() {
                    p { "Thành viên Ban Kiểm phiếu: " (m.board.join(", ")) "." } "\n"
                }
                p {
                    "1. Tổng số " (words.members) ": " b { (r.total) } " đồng chí." br; "\n"
                    "- Số có mặt dự " (words.meeting) ": " b { (r.present) } " đồng chí." br; "\n"
                    "- Số vắng mặt từ đầu " (words.meeting) " đến trước thời điểm bỏ phiếu: "
                    b { (r.absent_from_start) } " đồng chí." br; "\n"
                    "- Số có mặt tại thời điểm bỏ phiếu: " b { (r.present_at_vote) } " đồng chí." br; "\n"
                    "- Số phiếu phát ra: " b { (r.issued) } " phiếu." br; "\n"
                    "- Số phiếu thu về: " b { (r.collected) } " phiếu." br; "\n"
                    "- Số phiếu không hợp lệ hoàn toàn: " b { (r.wholly_invalid) } " phiếu."
                }
                "\n"
                p { "2. Kết quả kiểm phiếu" } "\n"
                table class="results" {
                    (columns(levels))
                    thead {
                        tr {
                            th rowspan="3" { "STT" }
                            th rowspan="3" { "Họ và tên" }
                            th rowspan="3" { "Chức vụ, đơn vị công tác" }
                            th rowspan="3" { "Số phiếu hợp lệ" }
                            th colspan=(levels.len() * 2) { "Mức độ tín nhiệm" }
                        }
                        tr { @for l in levels { th colspan="2" { (short(l.title())) } } }
                        tr { @for _ in levels { th { "Số phiếu" } th { "Tỉ lệ %" } } }
                    }
                    tbody {
                        "\n"
                        @for (i, x) in r.subjects.iter().enumerate().take(n - tail) {
                            (subject_row(i, x))
                        }
                    }
                    @if tail > 0 {
                        tbody class="last" {
                            @for (i, x) in r.subjects.iter().enumerate().skip(n - tail) {
                                (subject_row(i, x))
                            }
                        }
                    }
                }
                "\n"
                div class="closing" id="closing" {
                    "\n"
                    p class="note" { "Ghi chú: Tỉ lệ % tính trên tổng số phiếu thu về." } "\n"
                    @if !flagged.is_empty() {
                        p { b { "Trường hợp vượt ngưỡng:" } }
                        ul {
                            "\n"
                            @for (x, c) in &flagged {
                                li class="flag" {
                                    (x.name) ": " (x.flag.title()) " — " (c.what) " (" (c.source) ")."
                                }
                                "\n"
                            }
                        }
                        "\n"
                    }
                    @if !r.excluded.is_empty() {
                        p { "Không lấy phiếu:" }
                        ul {
                            "\n"
                            @for e in &r.excluded {
                                li { (e.name) " — " (e.reason.title()) } "\n"
                            }
                        }
                        "\n"
                    }
                    div class="endrow" {
                        (qr)
                        div class="sign" id="sign" {
                            b { "T/M BAN KIỂM PHIẾU" } br;
                            b { "TRƯỞNG BAN" } br;
                            i { "(Ký, ghi rõ họ tên)" }
                            div class="space" {}
                            b { (m.chair.as_deref().unwrap_or_default()) }
                        }
                    }
                    "\n"
                    (ids)
                }
                "\n"
                @if !r.problems.is_empty() {
                    div class="noprint draft" {
                        p { "Số liệu chưa khớp:" }
                        ul { @for p in &r.problems { li { (p.to_string()) } } }
                    }
                    "\n"
                }
            }
        }
        "\n"
    };
    page.into_string()
}

/// "14 giờ 05 phút" from "14:05", as plain text (the template escapes it).
fn hm(t: Option<&str>) -> String {
    match t.and_then(|t| t.split_once(':')) {
        Some((h, m)) => format!("{h} giờ {m} phút"),
        None => "… giờ … phút".into(),
    }
}

fn short(title: &str) -> &str {
    match title {
        "Tín nhiệm cao" => "Cao",
        "Tín nhiệm thấp" => "Thấp",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinnhiem_core::doc::SessionDoc;
    use tinnhiem_core::domain::{compute, SessionFile, UnitId};
    use tinnhiem_core::seal::{seal_doc, UnitKey};

    fn file(profile: &str, board: bool) -> String {
        let board = if board {
            r#""count_from": "14:05", "count_to": "14:50", "chair": "Nguyễn Thị Lan",
               "board": ["Nguyễn Thị Lan", "Lò Văn Thắng"], "place": "Phong Thổ","#
        } else {
            ""
        };
        format!(
            r#"{{"id": "s", "profile": "{profile}", "procedure": "poll", "body": "Cơ quan X",
  "date": "2023-12-08", {board}
  "attendance": {{"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49}},
  "ballots": {{"issued": 49, "collected": 49, "wholly_invalid": 3}},
  "subjects": [{{"id": "s01", "person_id": "p-1", "name": "Nguyễn Văn A", "position": "Chủ tịch", "unit": "UBND"}}],
  "tallies": {{"s01": {{"high": 40, "confidence": 5, "low": 1, "invalid": 0}}}}}}"#
        )
    }

    /// The page of `profile`'s session, sealed or a draft.
    fn page(profile: &str, board: bool, sealed: bool) -> String {
        page_of(profile, board, sealed, None)
    }

    fn page_of(profile: &str, board: bool, sealed: bool, unit_name: Option<&str>) -> String {
        let unit = UnitId::new("u").expect("unit");
        let s = SessionFile::from_json(&file(profile, board))
            .expect("json")
            .into_session(&unit, || "e".into())
            .expect("valid");
        let r = compute(&s);
        assert!(r.sealable(), "{:?}", r.problems);
        let seal = sealed.then(|| {
            let mut d = SessionDoc::from_session(&s, b"dev", 1).expect("doc");
            seal_doc(&mut d, &UnitKey::from_seed([7; 32]), 1, 2)
                .expect("seal")
                .0
        });
        html(&s, &r, unit_name, seal.as_ref())
    }

    #[test]
    fn a_council_prints_delegates_and_a_party_committee_members() {
        let council = page("nq96-2023", true, false);
        assert!(council.contains("Tổng số đại biểu: <b>50</b>"), "{council}");
        assert!(council.contains("Số có mặt dự kỳ họp:"), "{council}");
        assert!(council.contains("từ đầu kỳ họp đến"), "{council}");
        assert!(council.contains("Tại kỳ họp Cơ quan X"), "{council}");
        let party = page("qd96-2023", true, false);
        assert!(
            party.contains("Tổng số ủy viên ban chấp hành: <b>50</b>"),
            "{party}"
        );
        assert!(party.contains("Số có mặt dự hội nghị:"), "{party}");
        assert!(party.contains("Tại hội nghị Cơ quan X"), "{party}");
        for p in [&council, &party] {
            // Never both alternatives of the form.
            assert!(!p.contains("(kỳ họp)") && !p.contains("(đại biểu)"), "{p}");
            assert!(p.contains("(Đóng dấu treo)"), "{p}");
            assert!(
                p.contains("Số phiếu không hợp lệ hoàn toàn: <b>3</b> phiếu"),
                "{p}"
            );
        }
    }

    #[test]
    fn the_issuing_body_is_the_party_committee_on_party_minutes() {
        let unit = Some("Thường trực HĐND huyện Phong Thổ");
        for profile in ["qd96-2023", "qd262-2014"] {
            let party = page_of(profile, true, true, unit);
            assert!(
                party.contains("<div class=\"org\"><b>Cơ quan X</b>"),
                "{party}"
            );
            assert!(!party.contains("Thường trực HĐND"), "{party}");
        }
        let council = page_of("nq96-2023", true, true, unit);
        assert!(
            council.contains("<div class=\"org\"><b>Thường trực HĐND huyện Phong Thổ</b>"),
            "{council}"
        );
    }

    #[test]
    fn the_date_line_opens_with_the_locality_not_the_counting_room() {
        for (issuer, want) in [
            ("Thường trực HĐND huyện Phong Thổ", Some("Phong Thổ")),
            ("Huyện ủy Phong Thổ", Some("Phong Thổ")),
            ("Ban Chấp hành Đảng bộ tỉnh Lai Châu", Some("Lai Châu")),
            ("Đảng ủy xã Mường Khương", Some("Mường Khương")),
            ("HĐND thành phố Lai Châu", Some("Lai Châu")),
            ("Thành ủy Điện Biên Phủ", Some("Điện Biên Phủ")),
            ("HĐND tỉnh", None),
            ("Cơ quan X", None),
        ] {
            assert_eq!(locality(issuer).as_deref(), want, "{issuer}");
        }
        // The place field is the counting room: in the opening sentence only.
        let p = page_of(
            "nq96-2023",
            true,
            true,
            Some("Thường trực HĐND huyện Phong Thổ"),
        );
        assert!(
            p.contains("<div class=\"date\">Phong Thổ, ngày 08 tháng 12 năm 2023</div>"),
            "{p}"
        );
        assert!(p.contains(", tại Phong Thổ, Ban Kiểm phiếu"), "{p}");
        let bare = page("nq96-2023", true, true);
        assert!(
            bare.contains("<div class=\"date\">Ngày 08 tháng 12 năm 2023</div>"),
            "{bare}"
        );
    }

    #[test]
    fn a_meeting_title_is_not_given_its_word_twice() {
        assert_eq!(
            meeting_line("kỳ họp", Some("Kỳ họp thứ mười bốn"), "HĐND tỉnh").into_string(),
            "Tại kỳ họp thứ mười bốn HĐND tỉnh"
        );
        assert_eq!(
            meeting_line(
                "hội nghị",
                Some("lần thứ 12"),
                "Ban Chấp hành Đảng bộ huyện"
            )
            .into_string(),
            "Tại hội nghị lần thứ 12, Ban Chấp hành Đảng bộ huyện"
        );
    }

    #[test]
    fn a_sealed_copy_has_no_placeholders_and_no_command_line() {
        // An old document sealed before the board was required: still no "…".
        let bare = page("nq96-2023", false, true);
        assert!(!bare.contains('…'), "{bare}");
        let full = page("nq96-2023", true, true);
        assert!(!full.contains('…'), "{full}");
        assert!(
            full.contains("từ 14 giờ 05 phút đến 14 giờ 50 phút"),
            "{full}"
        );
        assert!(full.contains("Kiểm tra bản giấy:"), "{full}");
        assert!(
            !full.contains("tinnhiem-node") && !full.contains("<code>tinnhiem"),
            "{full}"
        );
        // A draft shows the form's blanks, so the clerk sees what is left.
        let draft = page("nq96-2023", false, false);
        assert!(draft.contains("… giờ … phút"), "{draft}");
    }

    #[test]
    fn base64_is_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert!(style_hash().starts_with("sha256-") && style_hash().len() == 7 + 44);
    }
}
