//! Text output: the result table, problems, seals, and CSV.

use anyhow::Result;
use tinnhiem_shared::domain::{Flag, Session, SessionResult};
use tinnhiem_shared::seal::Seal;

fn pad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - n))
    }
}

fn lpad(s: &str, w: usize) -> String {
    let n = s.chars().count();
    if n >= w {
        s.to_string()
    } else {
        format!("{}{s}", " ".repeat(w - n))
    }
}

/// The result as a table with Vietnamese labels and decimal commas.
pub(crate) fn table(s: &Session, r: &SessionResult) -> String {
    let m = &s.meta;
    let mut out = String::new();
    out.push_str(&format!(
        "{} — {}{}\n",
        m.procedure.title().to_uppercase(),
        m.body,
        m.title
            .as_deref()
            .map(|t| format!(", {t}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "Phiên: {}   Ngày: {}   Quy định: {}\n\n",
        m.session,
        m.date.format("%d/%m/%Y"),
        m.profile.rules().title
    ));
    let quorum_label = format!("Đủ 2/3 {}", m.profile.rules().quorum_base_vi);
    let rows: [(&str, String); 8] = [
        ("Tổng số đại biểu (thành viên)", r.total.to_string()),
        ("Có mặt dự kỳ họp (hội nghị)", r.present.to_string()),
        (
            "Vắng mặt từ đầu đến trước khi bỏ phiếu",
            r.absent_from_start.to_string(),
        ),
        (
            "Có mặt tại thời điểm bỏ phiếu",
            r.present_at_vote.to_string(),
        ),
        ("Số phiếu phát ra", r.issued.to_string()),
        ("Số phiếu thu về", r.collected.to_string()),
        ("Phiếu không hợp lệ toàn bộ", r.wholly_invalid.to_string()),
        (
            quorum_label.as_str(),
            if r.quorum_met {
                "có".into()
            } else {
                "KHÔNG".into()
            },
        ),
    ];
    let w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    for (label, value) in rows {
        out.push_str(&format!("{} {value}\n", pad(&format!("{label}:"), w)));
    }
    out.push('\n');

    let levels = m.procedure.levels();
    let name_w = r
        .subjects
        .iter()
        .map(|x| x.name.chars().count())
        .max()
        .unwrap_or(8)
        .max(9);
    let pos_w = r
        .subjects
        .iter()
        .map(|x| x.position.chars().count())
        .max()
        .unwrap_or(7)
        .clamp(7, 30);
    let mut head = format!(
        "{} {} {} {}",
        lpad("STT", 3),
        pad("Họ và tên", name_w),
        pad("Chức vụ", pos_w),
        lpad("Hợp lệ", 6)
    );
    for l in levels {
        head.push_str(&format!(" | {}", pad(l.title(), 16)));
    }
    head.push_str(" | Cảnh báo");
    out.push_str(&head);
    out.push('\n');
    out.push_str(&"-".repeat(head.chars().count()));
    out.push('\n');
    for (i, x) in r.subjects.iter().enumerate() {
        let pos: String = x.position.chars().take(pos_w).collect();
        let mut line = format!(
            "{} {} {} {}",
            lpad(&(i + 1).to_string(), 3),
            pad(&x.name, name_w),
            pad(&pos, pos_w),
            lpad(&x.valid.to_string(), 6)
        );
        for (c, p) in x.counts.iter().zip(&x.percent) {
            line.push_str(&format!(
                " | {} {}",
                lpad(&c.to_string(), 5),
                lpad(&format!("{}%", p.comma()), 10)
            ));
        }
        line.push_str(&format!(" | {}", x.flag.title()));
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str("Ghi chú: tỉ lệ % tính trên tổng số phiếu thu về.\n");
    for e in &r.excluded {
        out.push_str(&format!(
            "Không lấy phiếu: {} ({}) — {}\n",
            e.name,
            e.id,
            e.reason.title()
        ));
    }
    let flagged: Vec<_> = r.subjects.iter().filter(|x| x.flag != Flag::None).collect();
    if !flagged.is_empty() {
        out.push_str("\nVƯỢT NGƯỠNG:\n");
        for x in flagged {
            if let Some(c) = x.flag.consequence(m.profile) {
                out.push_str(&format!(
                    "  - {}: {}. {} ({}); cơ quan xử lý: {}\n",
                    x.name,
                    x.flag.title(),
                    c.what,
                    c.source,
                    c.who
                ));
            }
        }
    }
    if r.problems.is_empty() {
        out.push_str("\nSố liệu khớp, đủ điều kiện niêm phong.\n");
    } else {
        out.push_str(&format!(
            "\nCÒN {} VẤN ĐỀ (chưa niêm phong được):\n",
            r.problems.len()
        ));
        for p in &r.problems {
            out.push_str(&format!("  - {p}\n"));
        }
    }
    out
}

/// Prints the problems, if any, after a change.
pub(crate) fn print_problems(r: &SessionResult) {
    if r.problems.is_empty() {
        println!("Số liệu khớp, đủ điều kiện niêm phong.");
    } else {
        println!(
            "Còn {} vấn đề (bình thường khi đang nhập):",
            r.problems.len()
        );
        for p in &r.problems {
            println!(
                "  - {}",
                tinnhiem_shared::domain::limits::for_terminal(&p.to_string())
            );
        }
    }
}

/// Prints the seals and whether the document still matches the last.
pub(crate) fn print_seals(seals: &[Seal], heads: &[[u8; 32]]) {
    match seals.last() {
        None => println!("Chưa niêm phong."),
        Some(last) => {
            let when = chrono::DateTime::from_timestamp(last.body.sealed_at, 0)
                .map(|t| t.format("%d/%m/%Y %H:%M UTC").to_string())
                .unwrap_or_default();
            println!(
                "Niêm phong lần {} lúc {when}, mã {}",
                last.body.seq,
                hex::encode(last.id())
            );
            if last.body.heads != heads {
                println!("CHÚ Ý: tài liệu đã thay đổi sau lần niêm phong này; cần niêm phong lại (lần {}).", last.body.seq + 1);
            }
        }
    }
}

/// The per-subject result as CSV (percentages with a dot, as in JSON).
pub(crate) fn csv(r: &SessionResult) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let levels = r.procedure.levels();
    let mut header = vec![
        "stt",
        "id",
        "person_id",
        "name",
        "position",
        "unit",
        "valid",
        "invalid",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    for l in levels {
        header.push(l.key().into());
        header.push(format!("{}_percent", l.key()));
    }
    header.push("flag".into());
    w.write_record(&header)?;
    for (i, x) in r.subjects.iter().enumerate() {
        let mut rec = vec![
            (i + 1).to_string(),
            x.id.to_string(),
            x.person_id.to_string(),
            x.name.clone(),
            x.position.clone(),
            x.unit.clone(),
            x.valid.to_string(),
            x.invalid.to_string(),
        ];
        for (c, p) in x.counts.iter().zip(&x.percent) {
            rec.push(c.to_string());
            rec.push(p.dot());
        }
        rec.push(x.flag.key().into());
        w.write_record(&rec)?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}
