//! What the CLI prints for people: each query's typed report as Vietnamese lines.
//! `--json` prints the answer as it came; these read the report after every string was
//! made safe for a terminal (`commands::typed`).

use crate::leaves::LossRecord;
use crate::query::aggregates::AggregateView;
use crate::query::deadlines::{DeadlineState, Deadlines, Period, ReportState};
use crate::query::person::PersonReport;
use crate::query::results::{ByLevel, SessionResultRow, SubjectRow};
use crate::query::status::{StatusReport, StoreState};
use serde::Deserialize;
use serde_json::Value;
use tinnhiem_core::domain::when;
use tinnhiem_core::domain::Flag;

pub(crate) fn print_aggregates(list: &[AggregateView]) {
    if list.is_empty() {
        println!("Chưa có báo cáo tổng hợp nào (tinnhiem-hub aggregate seal --period NĂM).");
    }
    for a in list {
        println!(
            "Tổng hợp kỳ {} của «{}» (lần {}): {} biên bản, mã {}…",
            a.period,
            a.hub,
            a.seq,
            a.included.len(),
            a.id.get(..16).unwrap_or(&a.id)
        );
        if !a.missing.is_empty() {
            println!("  chưa báo cáo: {}", a.missing.join(", "));
        }
        if !a.late.is_empty() {
            println!("  báo cáo muộn: {}", a.late.join(", "));
        }
        for f in &a.flagged {
            println!(
                "  vượt ngưỡng: {} ({}), {} / {}: {}",
                f.name,
                f.person_id,
                f.unit,
                f.session,
                flag_vi(f.flag.as_ref())
            );
        }
    }
}

pub(crate) fn print_destinations(v: &Value) {
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        println!(
            "Chưa có nơi nhận cấp trên (tinnhiem-hub destination add --unit … --addr … --key …)."
        );
    }
    for d in list {
        println!(
            "Nơi nhận «{}» {}: {}/{} đã có biên nhận, {} đang gửi, {} chờ, {} bị từ chối",
            d["unit"].as_str().unwrap_or(""),
            d["addr"].as_str().unwrap_or(""),
            d["received"],
            d["total"],
            d["sent"],
            d["pending"],
            d["rejected"]
        );
        if let Some(a) = d["log"]["alarm"]["detail"].as_str() {
            println!("  CẢNH BÁO: nhật ký của nơi nhận này không nhất quán: {a}");
        }
        for o in d["open"].as_array().into_iter().flatten().take(20) {
            let why = o["reject_reason"]
                .as_str()
                .or(o["last_error"].as_str())
                .map(|x| format!(" — {x}"))
                .unwrap_or_default();
            println!(
                "  {} lần {}: {}{why}",
                o["doc"].as_str().unwrap_or(""),
                o["seq"],
                tinnhiem_net::outbox::state_vi(o["state"].as_str().unwrap_or(""))
            );
        }
    }
}

/// Unix seconds as a time a person reads: Vietnam's, like every other.
pub(crate) fn unix_time(t: Option<i64>) -> String {
    t.and_then(when::in_vietnam)
        .map(|t| t.format("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub(crate) fn print_status(report: &StatusReport) {
    let v = match report {
        StatusReport::Down(d) => {
            println!("Máy chủ: {}", d.hub);
            print_store_down(&d.store);
            return;
        }
        StatusReport::Up(v) => v,
    };
    println!("Máy chủ: {}", v.hub);
    let store = &v.store;
    if !store.available {
        print_store_down(store);
        return;
    }
    if store.failing {
        println!(
            "KHO DỮ LIỆU ĐANG TRỤC TRẶC: lần ghi lỗi gần nhất lúc {} ({} lần lỗi từ khi khởi động): {}",
            store.last_failure_vi.as_deref().unwrap_or("?"),
            store.failures,
            store.last_cause.as_deref().unwrap_or("")
        );
        println!("Kho tự mở lại sau mỗi lần lỗi nhưng đĩa có thể vẫn đầy: hãy kiểm tra chỗ trống trên đĩa. Cảnh báo này tắt sau 60 giây không có lỗi mới.");
    }
    if let Some(loss) = &v.log_loss {
        print_loss(loss);
    }
    println!(
        "Đơn vị đã báo cáo: {}/{}",
        v.units_reported, v.units_expected
    );
    println!(
        "Biên bản đã nhận: {}   bị từ chối: {}",
        v.seals_accepted, v.seals_rejected
    );
    if let Some(next) = &v.next_report {
        let missing: Vec<&str> = next.missing.iter().map(|m| m.unit.as_str()).collect();
        let left = report_state_vi(next);
        println!(
            "Hạn báo cáo kỳ {}: {} ({left})",
            next.period,
            when::iso_to_vi(&next.report_due.to_string())
        );
        if !missing.is_empty() && next.days < 0 {
            println!("  ĐÃ QUÁ HẠN, CHƯA BÁO CÁO: {}", missing.join(", "));
        } else if !missing.is_empty() && next.days <= 30 {
            println!("  SẮP ĐẾN HẠN, CHƯA BÁO CÁO: {}", missing.join(", "));
        }
        let late: Vec<&str> = next.late.iter().map(|m| m.unit.as_str()).collect();
        if !late.is_empty() {
            println!("  BÁO CÁO TRỄ: {}", late.join(", "));
        }
    }
    for u in &v.units {
        let state = if u.reported {
            "đã nhận"
        } else {
            "CHƯA NHẬN"
        };
        println!(
            "  {:<28} {:<10} phiên: {}  {}",
            u.unit,
            state,
            u.sessions,
            u.name.as_deref().unwrap_or("")
        );
    }
    if let Some(d) = v
        .destinations
        .as_ref()
        .filter(|d| d.as_array().is_some_and(|d| !d.is_empty()))
    {
        print_destinations(d);
    }
    for r in &v.recent_rejections {
        println!(
            "  từ chối: {} {}: {} {} ({} lần, lần cuối {})",
            r.unit,
            r.session,
            r.reason,
            r.detail,
            r.count,
            unix_time(Some(r.last))
        );
    }
    if !v.refused_keys.is_empty() {
        println!(
            "Khóa lạ bị từ chối khi kết nối (đối chiếu dấu vân tay với đơn vị trước khi đăng ký):"
        );
    }
    for k in &v.refused_keys {
        println!(
            "  {} khóa {} từ {}: {} lần, {} → {}",
            k.claimed_unit.as_deref().unwrap_or("(không ghi đơn vị)"),
            k.fingerprint,
            k.address,
            k.count,
            unix_time(Some(k.first_at)),
            unix_time(Some(k.last_at))
        );
        if let Some(w) = &k.warning {
            let has = k.unit_has_key.clone().unwrap_or_default();
            println!("    CẢNH BÁO: {w} (khóa đã đăng ký: {})", has.join(", "));
        }
        match &k.enrol {
            Some(cmd) => println!("    {cmd}"),
            None => {
                println!("    khóa đã thu hồi: đơn vị cần tạo khóa mới (tinnhiem-node key rotate)")
            }
        }
    }
    if let Some(more) = v.refused_keys_more.filter(|n| *n > 0) {
        println!("  … và {more} khóa lạ khác không còn được hiển thị (chỉ giữ 64 khóa gần nhất).");
    }
}

/// A store down: said first, and nothing else read from it.
pub(crate) fn print_store_down(store: &StoreState) {
    println!(
        "KHO DỮ LIỆU TẠM THỜI KHÔNG DÙNG ĐƯỢC từ {}: {}",
        store.since_vi.as_deref().unwrap_or("?"),
        store.cause.as_deref().unwrap_or("")
    );
    println!("Máy chủ đang tự mở lại kho (không cần khởi động lại); các đơn vị gửi lúc này được báo thử lại sau.");
}

/// The alarm of a store that went back in time: first, and loud, on `status`.
pub(crate) fn print_loss(loss: &LossRecord) {
    if loss.events.is_empty() {
        return;
    }
    let missing = loss.missing.len();
    for e in &loss.events {
        println!(
            "CẢNH BÁO: KHO DỮ LIỆU ĐÃ MẤT DỮ LIỆU (phát hiện lúc {}): kho còn {} trong {} mục máy chủ đã ký vào nhật ký; {} biên bản không còn trong kho.",
            unix_time(Some(e.detected_at)),
            e.store_size,
            e.log_size,
            e.missing
        );
    }
    if missing > 0 {
        let first: Vec<String> = loss
            .missing
            .iter()
            .take(20)
            .map(|i| format!("#{i}"))
            .collect();
        println!(
            "  Còn thiếu {missing} biên bản ({}{}): các đơn vị giữ biên nhận sẽ tự gửi lại khi kết nối; số thứ tự cũ được giữ nguyên.",
            first.join(", "),
            if missing > first.len() { ", …" } else { "" }
        );
    } else {
        println!(
            "  Đã nhận lại đủ: {} biên bản được các đơn vị gửi lại, đúng số thứ tự cũ. Hãy tìm nguyên nhân (ổ đĩa, bản sao lưu cũ) trước khi tiếp tục.",
            loss.recovered
        );
    }
}

/// Each level's percent, the level named by `name`, with a decimal comma.
fn percents(percent: &ByLevel<String>, name: impl Fn(&str) -> &str) -> String {
    percent
        .0
        .iter()
        .map(|(k, v)| format!("{} {}%", name(k), v.replace('.', ",")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A flag's Vietnamese label ("Từ 2/3 tín nhiệm thấp trở lên"), not its JSON key.
fn flag_vi(key: &str) -> String {
    Flag::parse(key).map_or_else(|| key.to_owned(), |f| f.title().to_owned())
}

fn level_vi(k: &str) -> &str {
    match k {
        "high" => "cao",
        "confidence" => "tín nhiệm",
        "low" => "thấp",
        "no_confidence" => "không tín nhiệm",
        other => other,
    }
}

pub(crate) fn print_person(v: &PersonReport) {
    if v.people.is_empty() {
        println!("Không tìm thấy «{}».", v.query);
    }
    for p in &v.people {
        println!(
            "{} ({}) — lấy phiếu ở {} nơi",
            p.name, p.person_id, p.places
        );
        for r in &p.results {
            println!(
                "  {} {} ({}, {}): {} — hợp lệ {}/{}: {}{}",
                when::iso_to_vi(&r.date),
                r.body,
                r.unit,
                r.profile,
                r.position,
                r.valid,
                r.collected,
                percents(&r.percent, level_vi),
                if r.unflagged() {
                    String::new()
                } else {
                    format!("  [{}]", flag_vi(r.flag.as_ref()))
                }
            );
        }
        for pr in &p.problems {
            println!("  CHÚ Ý: {pr}");
        }
    }
}

/// A reporting period's state for people: "đủ" only when every expected unit reported
/// on time; late and missing units are named by the callers.
pub(crate) fn report_state_vi(p: &Period) -> String {
    match p.state {
        ReportState::Met => "ĐÃ ĐỦ các đơn vị, đúng hạn".to_string(),
        ReportState::NoUnits => "chưa đăng ký đơn vị nào".to_string(),
        ReportState::Late => format!(
            "đã nhận từ mọi đơn vị nhưng {} đơn vị báo cáo TRỄ HẠN",
            p.late.len()
        ),
        ReportState::Overdue => format!("QUÁ HẠN {} ngày", -p.days),
        ReportState::Due if p.days == 0 => "HÔM NAY".to_string(),
        ReportState::Due => format!("còn {} ngày", p.days),
    }
}

pub(crate) fn print_deadlines(v: &Deadlines) {
    for p in &v.periods {
        let left = report_state_vi(p);
        println!(
            "Kỳ {}: báo cáo cấp trên hạn {} ({left}); đã báo cáo {}/{}",
            p.period,
            when::iso_to_vi(&p.report_due.to_string()),
            p.units_reported,
            p.units_expected
        );
        for m in &p.late {
            println!(
                "  BÁO CÁO TRỄ: {} {} (nhận ngày {})",
                m.unit,
                m.name.as_deref().unwrap_or(""),
                m.reported_on
                    .map(|d| when::iso_to_vi(&d.to_string()))
                    .unwrap_or_default()
            );
        }
        for m in &p.missing {
            println!(
                "  CHƯA BÁO CÁO: {} {}",
                m.unit,
                m.name.as_deref().unwrap_or("")
            );
        }
    }
    for d in &v.sessions {
        let left = match d.state {
            DeadlineState::Passed => "đã qua".to_string(),
            DeadlineState::DueToday => "hôm nay".to_string(),
            DeadlineState::Due => format!("còn {} ngày", d.days),
        };
        println!(
            "  {} {:<12} {} / {}: {}",
            when::iso_to_vi(&d.due.to_string()),
            left,
            d.unit,
            d.session,
            d.what
        );
    }
}

pub(crate) fn print_flagged(list: &[SubjectRow]) {
    if list.is_empty() {
        println!("Không có trường hợp nào vượt ngưỡng.");
    }
    for r in list {
        println!(
            "{} — {} ({}, {} {})",
            r.name,
            r.position,
            r.unit,
            r.body,
            when::iso_to_vi(&r.date)
        );
        println!(
            "  {}: {}",
            flag_vi(r.flag.as_ref()),
            percents(&r.percent, level_vi)
        );
        if let Some(c) = &r.consequence {
            println!("  Hậu quả: {} ({})", c.what, c.source);
            println!("  Cơ quan xử lý: {}", c.who);
        }
    }
}

/// What the result printer reads of the domain's result JSON (the node's `result
/// --json` shape, which the hub passes on as it is): a missing field is an error, not
/// an empty line.
#[derive(Deserialize)]
struct ResultView {
    unit: String,
    session: String,
    profile: String,
    collected: u64,
    quorum_met: bool,
    subjects: Vec<SubjectView>,
}

#[derive(Deserialize)]
struct SubjectView {
    name: String,
    percent: ByLevel<String>,
    flag: String,
}

/// Each session's result.
pub(crate) fn print_results(list: &[SessionResultRow]) -> anyhow::Result<()> {
    for row in list {
        let r: ResultView = serde_json::from_value(Value::Object(row.result.clone()))?;
        // NQ 85 sets no two-thirds condition: say what was checked, not "2/3".
        let two_thirds = tinnhiem_core::domain::Profile::parse(&r.profile)
            .is_none_or(|p| p.rules().two_thirds_quorum);
        println!(
            "{} / {} (lần {}): thu về {}, {}: {}",
            r.unit,
            r.session,
            row.seal.seq,
            r.collected,
            if two_thirds {
                "đủ 2/3"
            } else {
                "số có mặt hợp lệ (không đòi 2/3)"
            },
            if r.quorum_met { "có" } else { "không" }
        );
        for s in &r.subjects {
            println!(
                "    {:<24} {}{}",
                s.name,
                percents(&s.percent, level_vi),
                if s.flag == Flag::None.key() {
                    String::new()
                } else {
                    format!("  [{}]", flag_vi(&s.flag))
                }
            );
        }
    }
    Ok(())
}
