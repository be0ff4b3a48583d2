//! The counting minutes (biên bản kiểm phiếu) as a printable HTML page, in the layout of
//! Annex 4 of seed 002 (Mẫu Báo cáo kết quả phiếu tín nhiệm).

use tinnhiem_shared::domain::{Session, SessionResult};
use tinnhiem_shared::seal::Seal;

use crate::page::esc;

fn dots(v: Option<&str>) -> String {
    v.map(esc).unwrap_or_else(|| "…".into())
}

const STYLE: &str = r#"
@page { size: A4; margin: 20mm 18mm 20mm 25mm; }
body { font-family: "Times New Roman", "Liberation Serif", serif; font-size: 13pt; line-height: 1.45; max-width: 180mm; margin: 1em auto; color: #000; }
.head { display: flex; justify-content: space-between; }
.head .org { text-align: center; width: 45%; }
.head .date { text-align: right; font-style: italic; width: 50%; }
h1 { text-align: center; font-size: 15pt; margin: 1.2em 0 0.1em; }
.sub { text-align: center; font-weight: bold; margin: 0; }
.rule { text-align: center; margin: 0 0 1em; }
table { border-collapse: collapse; width: 100%; font-size: 11.5pt; margin: 0.5em 0; }
th, td { border: 1px solid #000; padding: 3px 4px; vertical-align: middle; }
th { text-align: center; font-weight: bold; }
td.n { text-align: right; white-space: nowrap; }
td.name { min-width: 9em; }
.flag { font-weight: bold; }
.note { font-style: italic; }
.sign { margin-left: 55%; text-align: center; margin-top: 1.5em; }
.sign .space { height: 5em; }
.seal { font-family: monospace; font-size: 8.5pt; word-break: break-all; border-top: 1px solid #999; margin-top: 2em; padding-top: 0.5em; }
.qr { display: flex; gap: 1em; align-items: center; margin-top: 1em; page-break-inside: avoid; }
.qr svg { width: 420px; height: 420px; flex: none; }
@media print { .qr svg { width: 60mm; height: 60mm; } }
.qr p { font-size: 9pt; }
.draft { color: #a00; font-weight: bold; text-align: center; border: 2px solid #a00; padding: 0.3em; }
.confidential { text-align: right; font-weight: bold; }
@media print { .noprint { display: none; } body { margin: 0; } }
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

/// The minutes page. `seal` is the seal matching the current document, if any; without
/// one the page says it is a draft.
pub fn html(
    s: &Session,
    r: &SessionResult,
    unit_name: Option<&str>,
    seal: Option<&Seal>,
) -> String {
    let m = &s.meta;
    let levels = m.procedure.levels();
    let mut h = String::new();
    h.push_str("<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\">");
    h.push_str(&format!(
        "<title>Biên bản kiểm phiếu — {}</title>",
        esc(m.session.as_str())
    ));
    h.push_str(&format!("<style>{STYLE}</style></head><body>\n"));
    h.push_str("<p class=\"confidential\">MẬT</p>\n");
    if seal.is_none() {
        h.push_str("<p class=\"draft\">BẢN NHÁP — chưa niêm phong</p>\n");
    }
    h.push_str(&format!(
        "<div class=\"head\"><div class=\"org\"><b>{}</b><br>………………</div><div class=\"date\">{}, ngày {} tháng {} năm {}</div></div>\n",
        esc(unit_name.unwrap_or(&m.body)),
        dots(m.place.as_deref()),
        m.date.format("%d"),
        m.date.format("%m"),
        m.date.format("%Y"),
    ));
    let heading = match m.procedure {
        tinnhiem_shared::domain::Procedure::Poll => "BÁO CÁO KẾT QUẢ PHIẾU TÍN NHIỆM",
        tinnhiem_shared::domain::Procedure::Binding => "BÁO CÁO KẾT QUẢ BỎ PHIẾU TÍN NHIỆM",
    };
    h.push_str(&format!("<h1>{heading}</h1>\n"));
    h.push_str(&format!(
        "<p class=\"sub\">Tại {} {}</p><p class=\"rule\">-----</p>\n",
        esc(&m.body),
        dots(m.title.as_deref())
    ));
    if let Some(o) = m.opening_date.filter(|o| *o != m.date) {
        h.push_str(&format!(
            "<p class=\"sub\">Kỳ họp khai mạc ngày {}</p>\n",
            o.format("%d/%m/%Y")
        ));
    }
    let members = if m.board.is_empty() {
        "…".to_string()
    } else {
        m.board.len().to_string()
    };
    h.push_str(&format!(
        "<p>Thực hiện nhiệm vụ được giao, từ {} đến {}, ngày {}, tại {}, Ban Kiểm phiếu gồm {} đồng chí, do đồng chí {} làm Trưởng Ban đã tiến hành kiểm phiếu tín nhiệm của {}; kết quả cụ thể như sau:</p>\n",
        hm(m.count_from.as_deref()),
        hm(m.count_to.as_deref()),
        m.date.format("%d/%m/%Y"),
        dots(m.place.as_deref()),
        members,
        dots(m.chair.as_deref()),
        esc(&m.body),
    ));
    if !m.board.is_empty() {
        h.push_str(&format!(
            "<p>Thành viên Ban Kiểm phiếu: {}.</p>\n",
            esc(&m.board.join(", "))
        ));
    }
    h.push_str(&format!(
        "<p>1. Tổng số ủy viên ban chấp hành (đại biểu): <b>{}</b> đồng chí.<br>\n",
        r.total
    ));
    h.push_str(&format!(
        "- Số có mặt dự hội nghị (kỳ họp): <b>{}</b> đồng chí.<br>\n",
        r.present
    ));
    h.push_str(&format!("- Số vắng mặt từ đầu hội nghị (kỳ họp) đến trước thời điểm bỏ phiếu: <b>{}</b> đồng chí.<br>\n", r.absent_from_start));
    h.push_str(&format!(
        "- Số có mặt tại thời điểm bỏ phiếu: <b>{}</b> đồng chí.<br>\n",
        r.present_at_vote
    ));
    h.push_str(&format!(
        "- Số phiếu phát ra: <b>{}</b> phiếu.<br>\n",
        r.issued
    ));
    h.push_str(&format!(
        "- Số phiếu thu về: <b>{}</b> phiếu.</p>\n",
        r.collected
    ));
    h.push_str("<p>2. Kết quả kiểm phiếu</p>\n<table><thead><tr><th rowspan=\"3\">STT</th><th rowspan=\"3\">Họ và tên</th><th rowspan=\"3\">Chức vụ, đơn vị công tác</th><th rowspan=\"3\">Số phiếu hợp lệ</th>");
    h.push_str(&format!(
        "<th colspan=\"{}\">Mức độ tín nhiệm</th></tr><tr>",
        levels.len() * 2
    ));
    for l in levels {
        h.push_str(&format!("<th colspan=\"2\">{}</th>", short(l.title())));
    }
    h.push_str("</tr><tr>");
    for _ in levels {
        h.push_str("<th>Số phiếu</th><th>Tỉ lệ %</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for (i, x) in r.subjects.iter().enumerate() {
        let pos = if x.unit.is_empty() {
            esc(&x.position)
        } else {
            format!("{}, {}", esc(&x.position), esc(&x.unit))
        };
        h.push_str(&format!(
            "<tr><td class=\"n\">{}</td><td class=\"name\">{}</td><td>{}</td><td class=\"n\">{}</td>",
            i + 1,
            esc(&x.name),
            pos,
            x.valid
        ));
        for (c, p) in x.counts.iter().zip(&x.percent) {
            h.push_str(&format!(
                "<td class=\"n\">{c}</td><td class=\"n\">{}</td>",
                p.comma()
            ));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n<p class=\"note\">Ghi chú: Tỉ lệ % tính trên tổng số phiếu thu về.</p>\n");
    let flagged: Vec<_> = r
        .subjects
        .iter()
        .filter(|x| x.flag.consequence(m.profile).is_some())
        .collect();
    if !flagged.is_empty() {
        h.push_str("<p><b>Trường hợp vượt ngưỡng:</b></p><ul>\n");
        for x in flagged {
            if let Some(c) = x.flag.consequence(m.profile) {
                h.push_str(&format!(
                    "<li class=\"flag\">{}: {} — {} ({}).</li>\n",
                    esc(&x.name),
                    x.flag.title(),
                    esc(c.what),
                    esc(c.source)
                ));
            }
        }
        h.push_str("</ul>\n");
    }
    if !r.excluded.is_empty() {
        h.push_str("<p>Không lấy phiếu:</p><ul>\n");
        for e in &r.excluded {
            h.push_str(&format!(
                "<li>{} — {}</li>\n",
                esc(&e.name),
                e.reason.title()
            ));
        }
        h.push_str("</ul>\n");
    }
    if !r.problems.is_empty() {
        h.push_str("<div class=\"noprint draft\"><p>Số liệu chưa khớp:</p><ul>");
        for p in &r.problems {
            h.push_str(&format!("<li>{}</li>", esc(&p.to_string())));
        }
        h.push_str("</ul></div>\n");
    }
    h.push_str(&format!(
        "<div class=\"sign\"><b>T/M BAN KIỂM PHIẾU</b><br><b>TRƯỞNG BAN</b><br><i>(Ký, ghi rõ họ tên)</i><div class=\"space\"></div><b>{}</b></div>\n",
        m.chair.as_deref().map(esc).unwrap_or_default()
    ));
    if let Some(x) = seal {
        // Vietnam time, as every other time a person reads (the counting times above it
        // are local; UTC here was seven hours off them).
        let when = format!(
            "{} (giờ Việt Nam)",
            tinnhiem_shared::domain::when::moment_vi(x.body.sealed_at)
        );
        h.push_str(&format!(
            "<div class=\"seal\">Niêm phong điện tử lần {} lúc {when}<br>Mã niêm phong: {}<br>Tóm lược kết quả: {}<br>Khóa ký: {}</div>\n",
            x.body.seq,
            hex::encode(x.id()),
            hex::encode(x.body.result_digest),
            hex::encode(x.body.signer)
        ));
        // The paper verifies itself: the seal and the result it signs, in a QR code.
        let canon = tinnhiem_shared::seal::canonical_result(r, m.mode, &m.body, m.date);
        let record = tinnhiem_shared::seal::paper::encode(x, &canon);
        match crate::paper::svg(&record) {
            Some(svg) => h.push_str(&format!(
                "<div class=\"qr\" id=\"qr\">{svg}<p>Mã QR: niêm phong và kết quả đã ký. Kiểm tra bản giấy: <code>tinnhiem-node verify-paper ẢNH</code></p></div>\n"
            )),
            None => h.push_str(
                "<p class=\"note\">Biên bản quá lớn cho một mã QR; kiểm tra bằng mã niêm phong ở trên.</p>\n",
            ),
        }
    }
    h.push_str("</body></html>\n");
    h
}

fn hm(t: Option<&str>) -> String {
    match t.and_then(|t| t.split_once(':')) {
        Some((h, m)) => format!("{} giờ {} phút", esc(h), esc(m)),
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
