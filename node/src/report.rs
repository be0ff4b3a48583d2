//! Text output: the result table, a session's summary, problems, seals, the audit log,
//! and CSV. Days and times for people are `dd/mm/yyyy` and Vietnam's time
//! ([`tinnhiem_core::domain::when`]).

use anyhow::Result;
use tinnhiem_core::domain::limits::for_terminal;
use tinnhiem_core::domain::{when, Flag, Mode, Session, SessionResult};
use tinnhiem_core::seal::Seal;

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
        when::day_vi(m.date),
        m.profile.rules().title
    ));
    let quorum_label = if m.profile.rules().two_thirds_quorum {
        format!("Đủ 2/3 {}", m.profile.rules().quorum_base_vi)
    } else {
        "Số có mặt hợp lệ (quy định này không đòi 2/3)".to_string()
    };
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
        ("Phiếu không hợp lệ hoàn toàn", r.wholly_invalid.to_string()),
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
        out.push_str(&ready_line(&m.board_refusal()));
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

/// The last line when the figures agree: ready to seal, or what of the counting board
/// is still to write (sealing waits for it).
fn ready_line(board: &Option<String>) -> String {
    match board {
        None => "\nSố liệu khớp, đủ điều kiện niêm phong.\n".into(),
        Some(b) => format!("\nSố liệu khớp. {b}\n"),
    }
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
                tinnhiem_core::domain::limits::for_terminal(&p.to_string())
            );
        }
    }
}

/// Prints the seals and whether the document still matches the last.
pub(crate) fn print_seals(seals: &[Seal], heads: &[[u8; 32]]) {
    match seals.last() {
        None => println!("Chưa niêm phong."),
        Some(last) => {
            println!(
                "Niêm phong lần {} lúc {}, mã {}",
                last.body.seq,
                when::moment_vi(last.body.sealed_at),
                hex::encode(last.id())
            );
            if last.body.heads != heads {
                println!("CHÚ Ý: tài liệu đã thay đổi sau lần niêm phong này; cần niêm phong lại (lần {}).", last.body.seq + 1);
            }
        }
    }
}

/// `session show`: what a clerk checks before sealing or after a merge, on one screen:
/// the header, the counts, who is on the ballot, and every seal.
pub(crate) fn show(s: &Session, r: &SessionResult, seals: &[Seal], heads: &[[u8; 32]]) -> String {
    let m = &s.meta;
    let mut out = String::new();
    let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "chưa ghi".into());
    out.push_str(&format!(
        "Phiên «{}» — {}{}\n",
        m.session,
        m.body,
        m.title
            .as_deref()
            .map(|t| format!(", {t}"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "Ngày bỏ phiếu: {}   Quy định: {}\n",
        when::day_vi(m.date),
        m.profile.rules().title
    ));
    out.push_str(&format!(
        "Hình thức: {}   Cách nhập: {}\n",
        m.procedure.title(),
        match m.mode {
            Mode::Entries => "từng phiếu",
            Mode::Tallies => "tổng hợp từ bản giấy",
        }
    ));
    out.push_str(&format!(
        "Kiểm phiếu: từ {} đến {}, tại {}\n",
        opt(&m.count_from),
        opt(&m.count_to),
        opt(&m.place)
    ));
    out.push_str(&format!(
        "Trưởng ban kiểm phiếu: {}; thành viên: {}\n",
        opt(&m.chair),
        if m.board.is_empty() {
            "chưa ghi".to_string()
        } else {
            m.board.join(", ")
        }
    ));
    if let Some(o) = m.opening_date.filter(|o| *o != m.date) {
        out.push_str(&format!("Khai mạc kỳ họp: {}\n", when::day_vi(o)));
    }
    out.push_str(&format!(
        "Cơ quan giao nhiệm vụ: {}; chức danh được lấy phiếu: {}\n",
        opt(&m.assigned_by),
        opt(&m.polled_posts)
    ));
    out.push_str(&format!(
        "Nghị quyết xác nhận kết quả: {}\n\n",
        m.resolution_date
            .map(when::day_vi)
            .unwrap_or_else(|| "chưa có".into())
    ));

    let n = |v: Option<u64>| v.map_or_else(|| "chưa nhập".to_string(), |x| x.to_string());
    let a = &s.attendance;
    let b = &s.ballots;
    let rows = [
        ("Tổng số đại biểu (thành viên)", n(a.total)),
        ("Có mặt dự kỳ họp (hội nghị)", n(a.present)),
        (
            "Vắng mặt từ đầu đến trước khi bỏ phiếu",
            n(a.absent_from_start),
        ),
        ("Có mặt tại thời điểm bỏ phiếu", n(a.present_at_vote)),
        ("Số phiếu phát ra", n(b.issued)),
        ("Số phiếu thu về", n(b.collected)),
        ("Phiếu không hợp lệ hoàn toàn", n(b.wholly_invalid)),
    ];
    let w = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
        + 1;
    out.push_str("Số liệu:\n");
    for (label, value) in rows {
        out.push_str(&format!("  {} {value}\n", pad(&format!("{label}:"), w)));
    }
    let polled = s.subjects.iter().filter(|x| x.excluded.is_none()).count();
    match m.mode {
        Mode::Entries => out.push_str(&format!(
            "  {} {}\n",
            pad("Phiếu đã nhập:", w),
            s.entries.len()
        )),
        Mode::Tallies => out.push_str(&format!(
            "  {} {}/{polled} người\n",
            pad("Kết quả đã nhập:", w),
            s.tallies.len()
        )),
    }

    out.push_str(&format!(
        "\nNgười được lấy phiếu ({polled}, cả danh sách {}):\n",
        s.subjects.len()
    ));
    if s.subjects.is_empty() {
        out.push_str("  chưa có ai\n");
    }
    let id_w = s
        .subjects
        .iter()
        .map(|x| x.id.as_str().chars().count())
        .max()
        .unwrap_or(0);
    for x in &s.subjects {
        let mut line = format!("  {} {}", pad(x.id.as_str(), id_w), x.name);
        if !x.position.is_empty() {
            line.push_str(&format!(" — {}", x.position));
        }
        if !x.unit.is_empty() {
            line.push_str(&format!(" ({})", x.unit));
        }
        if let Some(e) = x.excluded {
            line.push_str(&format!(" [không lấy phiếu: {}]", e.title()));
        }
        out.push_str(&line);
        out.push('\n');
    }

    out.push_str("\nNiêm phong:\n");
    if seals.is_empty() {
        out.push_str("  chưa niêm phong\n");
    }
    for x in seals {
        out.push_str(&format!(
            "  lần {} lúc {}, mã {}{}\n",
            x.body.seq,
            when::moment_vi(x.body.sealed_at),
            hex::encode(x.id()),
            if x.body.heads == heads {
                " (đúng trạng thái hiện tại)"
            } else {
                ""
            }
        ));
    }
    if let Some(last) = seals.last() {
        if last.body.heads != heads {
            out.push_str(&format!(
                "  CHÚ Ý: tài liệu đã thay đổi sau lần niêm phong cuối; cần niêm phong lại (lần {}).\n",
                last.body.seq + 1
            ));
        }
    }
    if !s.conflicts.is_empty() {
        out.push_str(&format!(
            "\nCHÚ Ý: {} giá trị bị nhập khác nhau trên hai máy:\n",
            s.conflicts.len()
        ));
        for c in &s.conflicts {
            out.push_str(&format!("  - {}: {}\n", c.field, c.values.join(" / ")));
        }
    }
    if r.problems.is_empty() {
        out.push_str(&ready_line(&m.board_refusal()));
    } else {
        out.push_str(&format!(
            "\nCòn {} vấn đề (xem: tinnhiem-node result {}).\n",
            r.problems.len(),
            m.session
        ));
    }
    out
}

/// One line of the audit log as stored (JSON with Unix seconds); a line that does not
/// read as one is kept whole, so that nothing of the log is hidden.
pub(crate) struct AuditRow {
    at: Option<i64>,
    who: String,
    what: String,
}

impl AuditRow {
    pub(crate) fn parse(line: &str) -> AuditRow {
        #[derive(serde::Deserialize)]
        struct Stored {
            at: i64,
            who: String,
            what: String,
        }
        match serde_json::from_str::<Stored>(line) {
            Ok(l) => AuditRow {
                at: Some(l.at),
                who: l.who,
                what: l.what,
            },
            Err(_) => AuditRow {
                at: None,
                who: String::new(),
                what: line.to_string(),
            },
        }
    }

    /// `{"at": RFC 3339 or null, "who", "what"}`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "at": self.at.and_then(when::moment_iso),
            "who": self.who,
            "what": self.what,
        })
    }
}

/// The audit log as a table, oldest first, times in Vietnam's time.
pub(crate) fn audit_table(rows: &[AuditRow]) -> String {
    if rows.is_empty() {
        return "Nhật ký thao tác trống.\n".into();
    }
    let who_w = rows
        .iter()
        .map(|r| r.who.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 24);
    let mut out = format!(
        "{}  {}  Việc\n",
        pad("Thời điểm (giờ VN)", 18),
        pad("Người", who_w)
    );
    out.push_str(&format!("{}\n", "-".repeat(18 + 2 + who_w + 2 + 4)));
    for r in rows {
        let at = r.at.map(when::moment_vi).unwrap_or_else(|| "?".into());
        let line = format!(
            "{}  {}  {}",
            pad(&at, 18),
            pad(&for_terminal(&r.who), who_w),
            for_terminal(&r.what)
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The per-subject result as a table for a spreadsheet (Vietnamese headers, the flag's
/// wording); [`tinnhiem_web::sheet`] writes it as CSV for Excel or as XLSX.
pub(crate) fn sheet(r: &SessionResult) -> tinnhiem_web::sheet::Sheet {
    use tinnhiem_web::sheet::{Cell, Sheet};
    let levels = r.procedure.levels();
    let mut headers: Vec<String> = ["STT", "Họ và tên", "Chức vụ", "Đơn vị công tác", "Hợp lệ"]
        .into_iter()
        .map(String::from)
        .collect();
    for l in levels {
        headers.push(l.title().into());
        headers.push(format!("{} (%)", l.title()));
    }
    headers.push("Không hợp lệ".into());
    // The session's wholly invalid ballots (not issued by the board), apart from the
    // per-person count: a column of its own, so the sum checks out in the sheet.
    headers.push("Phiếu không hợp lệ hoàn toàn".into());
    headers.push("Cảnh báo".into());
    let flag_col = Some(headers.len() - 1);
    let rows = r
        .subjects
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let mut rec = vec![
                Cell::Num(i as u64 + 1),
                Cell::Text(x.name.clone()),
                Cell::Text(x.position.clone()),
                Cell::Text(x.unit.clone()),
                Cell::Num(x.valid),
            ];
            for (c, p) in x.counts.iter().zip(&x.percent) {
                rec.push(Cell::Num(*c));
                rec.push(Cell::Percent(*p));
            }
            rec.push(Cell::Num(x.invalid));
            rec.push(Cell::Num(r.wholly_invalid));
            rec.push(Cell::Text(x.flag.title().into()));
            rec
        })
        .collect();
    Sheet {
        headers,
        rows,
        flag_col,
    }
}

/// The per-subject result as CSV for Excel in a Vietnamese office (see [`tinnhiem_web::sheet`]).
pub(crate) fn csv(r: &SessionResult) -> Result<Vec<u8>> {
    Ok(sheet(r).csv()?)
}

/// The per-subject result as an XLSX workbook.
pub(crate) fn xlsx(r: &SessionResult) -> Result<Vec<u8>> {
    Ok(sheet(r).xlsx("Kết quả")?)
}
