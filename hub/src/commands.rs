//! One function per command.

use crate::admin::{self, Request};
use crate::cli::*;
use crate::home::{default_dir, Destination, Home};
use crate::leaves::LossRecord;
use crate::query::aggregates::AggregateView;
use crate::query::deadlines::{DeadlineState, Deadlines, Period, ReportState};
use crate::query::log::{LogCheck, LogHead};
use crate::query::paper::PaperTaken;
use crate::query::person::PersonReport;
use crate::query::results::{SessionResultRow, SubjectRow};
use crate::query::status::{StatusReport, StoreState};
use crate::query::{self, ResultCache};
use crate::registry;
use crate::state::HubState;
use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tinnhiem_core::domain::limits::for_terminal_json;
use tinnhiem_core::domain::{when, UnitId};
use tinnhiem_core::proto::hub::Limits;
use tinnhiem_core::seal::PublicKey;
use tinnhiem_net::{self as net, NetConfig};

pub(crate) fn run(cli: Cli) -> Result<ExitCode> {
    let dir = match &cli.home {
        Some(d) => d.clone(),
        None => default_dir()?,
    };
    if let Command::Init { unit, name } = cli.command {
        let unit = UnitId::new(unit).context("--unit")?;
        let home = Home::init(&dir, unit, name)?;
        println!(
            "Đã khởi tạo máy chủ «{}» tại {}",
            home.config.unit,
            dir.display()
        );
        println!("Khóa công khai: {}", home.key()?.public());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Profile(ProfileCmd::List { json }) = &cli.command {
        if *json {
            println!(
                "{}",
                serde_json::to_string_pretty(&tinnhiem_core::domain::Profile::list_json())?
            );
        } else {
            println!("{}", tinnhiem_core::domain::Profile::list_text());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Restore { from, log_from } = &cli.command {
        // The old log first: a missing or unreadable one refuses the restore before
        // anything is written.
        let old_log = match log_from {
            Some(old) => {
                let path = old.join(crate::leaves::FILE);
                let len = std::fs::metadata(&path)
                    .with_context(|| {
                        format!(
                            "không đọc được {} (tệp nhật ký của máy chủ cũ)",
                            path.display()
                        )
                    })?
                    .len();
                Some((path, len / 32))
            }
            None => None,
        };
        let s = tinnhiem_store::home::restore(from, &dir, "hub.toml")?;
        println!("{}", tinnhiem_store::home::restored(from, &dir, &s));
        if let Some((old, leaves)) = old_log {
            tinnhiem_store::home::copy_durably(&old, &dir.join(crate::leaves::FILE))?;
            println!(
                "Đã mang theo nhật ký {} ({leaves} mục đã ký). Khi chạy, máy chủ so với kho dữ liệu, ghi nhận những gì đã mất và đòi các đơn vị gửi lại.",
                old.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let home = Home::open(&dir)?;
    match cli.command {
        Command::Init { .. } => Err(anyhow!("init đã được xử lý")),
        Command::Restore { .. } => Err(anyhow!("restore đã được xử lý")),
        Command::Profile(_) => Err(anyhow!("profile đã được xử lý")),
        Command::IngestQr { image } => {
            let records = tinnhiem_web::paper::read(&image)?;
            if records.is_empty() {
                bail!(
                    "không tìm thấy mã QR biên bản tinnhiem nào trong {} (chụp thẳng, đủ sáng, cả mã trong khung)",
                    image.display()
                );
            }
            for r in records {
                let v: PaperTaken = typed(&ask(
                    &home,
                    &Request::IngestPaper {
                        record: hex::encode(&r),
                    },
                )?)?;
                println!(
                    "Đã nhận bản giấy: {} phiên «{}» lần {} ({} người), chữ ký và kết quả hợp lệ. {}",
                    v.unit,
                    v.session,
                    v.seq,
                    v.subjects,
                    if v.digital {
                        "Bản điện tử đã có và khớp."
                    } else {
                        "Chờ bản điện tử đến để đối chiếu."
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { dest } => {
            tinnhiem_store::home::prepare(&dest)?;
            // A failed backup (a full disk) removes what it made, so a retry with the
            // same name is not refused as "already there".
            /// What the backup reports that the operator is told.
            #[derive(serde::Deserialize)]
            struct Backed {
                records: usize,
            }
            let made = (|| -> Result<Backed> {
                let dest = dest.canonicalize()?;
                let v = typed(&ask(
                    &home,
                    &Request::Backup {
                        dest: dest.join("store"),
                    },
                )?)?;
                tinnhiem_store::home::copy_files(
                    &home.dir,
                    &dest,
                    &["hub.toml", "unit.key", "users.toml", crate::leaves::FILE],
                    &[],
                )?;
                Ok(v)
            })();
            let v = match made {
                Ok(v) => v,
                Err(e) => {
                    let said = match std::fs::remove_dir_all(&dest) {
                        Ok(()) => format!(
                            "sao lưu không hoàn tất; đã xóa thư mục dở dang {}, có thể làm lại với cùng tên",
                            dest.display()
                        ),
                        Err(rm) => format!(
                            "sao lưu không hoàn tất; không xóa được thư mục dở dang {} ({rm}): hãy tự xóa trước khi làm lại",
                            dest.display()
                        ),
                    };
                    return Err(e.context(said));
                }
            };
            let dest = dest.canonicalize()?;
            println!(
                "Đã sao lưu {} vào {} ({} bản ghi, đã đọc lại và kiểm). Bản sao lưu chứa khóa bí mật: cất giữ như khóa.",
                home.dir.display(),
                dest.display(),
                v.records
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::User(cmd) => {
            tinnhiem_web::users::run(&tinnhiem_web::Accounts::in_dir(&home.dir), cmd)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Key(KeyCmd::Show) => {
            println!("{}", home.key()?.public());
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCmd::Rotate { unit, key, at }) => {
            let at = when(at.as_deref())?;
            ask(
                &home,
                &Request::RegistryRotate {
                    unit: unit.clone(),
                    key,
                    at,
                },
            )?;
            println!("Đã đổi khóa của «{unit}» từ {}", when::moment_vi(at));
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCmd::Revoke { unit, key, at }) => {
            let at = when(at.as_deref())?;
            ask(
                &home,
                &Request::RegistryRevoke {
                    unit: unit.clone(),
                    key: key.clone(),
                    at,
                },
            )?;
            println!(
                "Đã thu hồi khóa {key} của «{unit}» từ {}",
                when::moment_vi(at)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCmd::Add {
            unit,
            key,
            parent,
            name,
            level,
            add_key,
        }) => {
            let e = registry::Entry {
                id: unit,
                key: Some(key),
                keys: vec![],
                parent,
                name,
                level,
                enrollment: None,
            };
            e.validate()?;
            ask(
                &home,
                &Request::RegistryAdd {
                    entries: vec![e.clone()],
                    add_key,
                },
            )?;
            println!("Đã đăng ký đơn vị «{}»", e.id);
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCmd::Import { file, add_key }) => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("không đọc được {}", file.display()))?;
            let entries =
                registry::parse_file(&text).with_context(|| format!("tệp {}", file.display()))?;
            ask(
                &home,
                &Request::RegistryAdd {
                    entries: entries.clone(),
                    add_key,
                },
            )?;
            println!("Đã đăng ký {} đơn vị từ {}", entries.len(), file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Registry(RegistryCmd::List { json }) => {
            let v = ask(&home, &Request::RegistryList)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let entries: Vec<registry::Entry> = typed(&v)?;
                for e in entries {
                    let keys: Vec<String> = e
                        .keys
                        .iter()
                        .map(|k| {
                            let short: String = k.key.chars().take(16).collect();
                            match &k.revoked_at {
                                Some(r) => format!("{short}… (thu hồi {})", when::iso_to_vi(r)),
                                None => format!("{short}…"),
                            }
                        })
                        .collect();
                    println!(
                        "{}\t{}\t{}\t{}",
                        e.id,
                        e.parent,
                        e.name.as_deref().unwrap_or(""),
                        keys.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { json } => {
            let v = ask(
                &home,
                &Request::Status {
                    destinations: home.config.destination.clone(),
                },
            )?;
            let status: StatusReport = typed(&v)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_status(&status);
            }
            // Exit 1 for each alarm printed in red: a store down or failing, or minutes
            // the log signed still missing from the store.
            Ok(if status.alarm() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Result { json } => {
            let v = ask(&home, &Request::Result)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_results(&typed::<Vec<SessionResultRow>>(&v)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Person { query, json } => {
            let v = ask(&home, &Request::Person { query })?;
            let report: PersonReport = typed(&v)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_person(&report);
            }
            let found = !report.people.is_empty();
            Ok(if found {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Deadlines { json, today } => {
            // The server reads ISO, whichever form was typed.
            let today = match today {
                None => None,
                Some(t) => Some(when::parse_day(&t).ok_or_else(|| {
                    anyhow!("--today «{t}»: cần dạng dd/mm/yyyy hoặc YYYY-MM-DD")
                })?),
            };
            let v = ask(&home, &Request::Deadlines { today })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_deadlines(&typed(&v)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Flagged { json } => {
            let v = ask(&home, &Request::Flagged)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_flagged(&typed::<Vec<SubjectRow>>(&v)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Aggregate(AggregateCmd::Seal { period, json }) => {
            let v = ask(&home, &Request::AggregateSeal { period })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_aggregates(&[typed(&v)?]);
                if !home.config.destination.is_empty() {
                    println!(
                        "Sẽ được chuyển tới mọi nơi nhận cấp trên (tinnhiem-hub destination list)."
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Log(LogCmd::Show { json }) => {
            let v = ask(&home, &Request::LogShow)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let head: LogHead = typed(&v)?;
                println!("Nhật ký minh bạch: {} mục, gốc {}", head.size, head.root);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Log(LogCmd::Verify { json }) => {
            let v = ask(&home, &Request::LogVerify)?;
            let check: LogCheck = typed(&v)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if check.ok {
                println!(
                    "Nhật ký toàn vẹn: {} mục, {} biên nhận khớp, gốc {}",
                    check.size,
                    check.receipts_checked.unwrap_or(0),
                    check.root.as_deref().unwrap_or("")
                );
            } else {
                println!("NHẬT KÝ KHÔNG TOÀN VẸN:");
                for p in &check.problems {
                    println!("  - {p}");
                }
            }
            Ok(if check.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Aggregate(AggregateCmd::List { json }) => {
            let v = ask(&home, &Request::AggregateList)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_aggregates(&typed::<Vec<AggregateView>>(&v)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Destination(DestinationCmd::Add {
            unit,
            addr,
            key,
            name,
        }) => {
            let unit = UnitId::new(&unit).map_err(|e| anyhow!("--unit: {e}"))?;
            PublicKey::from_hex(&key).map_err(|e| anyhow!("--key: {e}"))?;
            let d = Destination {
                unit,
                name,
                addr,
                key,
            };
            // Checked for form only: the name may not resolve from here today (an
            // offline office, a DNS entry still to come); the forwarder resolves it at
            // each attempt and says so in `destination list` while it cannot.
            let port_ok = d
                .addr
                .rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
            if !port_ok {
                bail!(
                    "--addr «{}»: cần dạng HOST:PORT, ví dụ qh.example.vn:4433",
                    d.addr
                );
            }
            let mut home = home;
            home.config.destination.retain(|x| x.unit != d.unit);
            home.config.destination.push(d.clone());
            home.save_config()?;
            println!(
                "Đã thêm nơi nhận «{}» ({}); máy chủ đang chạy sẽ chuyển tiếp trong vài giây.",
                d.unit, d.addr
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Destination(DestinationCmd::Remove { unit }) => {
            let mut home = home;
            let before = home.config.destination.len();
            home.config.destination.retain(|x| x.unit.as_str() != unit);
            if home.config.destination.len() == before {
                bail!("không có nơi nhận «{unit}» trong hub.toml");
            }
            home.save_config()?;
            println!("Đã bỏ nơi nhận «{unit}».");
            Ok(ExitCode::SUCCESS)
        }
        Command::Destination(DestinationCmd::List { json }) => {
            let v = ask(
                &home,
                &Request::Destinations {
                    destinations: home.config.destination.clone(),
                },
            )?;
            if json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                print_destinations(&for_terminal_json(&v));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            listen,
            max_connections,
            max_message,
            max_doc,
            message_timeout,
            http,
        } => {
            let limits = ServeLimits {
                max_connections,
                max_message,
                max_doc,
                message_timeout: Duration::from_secs(message_timeout.max(1)),
                http,
            };
            serve(&home, listen, limits)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn when(at: Option<&str>) -> Result<i64> {
    match at {
        None => Ok(chrono::Utc::now().timestamp()),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| d.timestamp())
            .map_err(|_| anyhow!("--at «{t}»: cần dạng RFC 3339, ví dụ 2024-01-01T00:00:00+07:00")),
    }
}

/// Asks the running server, or answers from the store when no server runs. A server
/// that has just started holds the store before its admin socket is up: wait for the
/// socket then, rather than fail. The answer is the JSON `--json` prints as it is.
fn ask(home: &Home, req: &Request) -> Result<Value> {
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = admin::request(&home.admin_socket(), req)? {
            return Ok(v);
        }
        match home.store(Duration::from_millis(200)) {
            Ok(store) => {
                // One command, one answer: nothing to share a cache with.
                let cache = ResultCache::default();
                let hub = query::Hub {
                    store: &store,
                    unit: home.config.unit.as_str(),
                    cache: &cache,
                };
                return Ok(serde_json::to_value(admin::answer(
                    hub,
                    &home.key()?,
                    req,
                )?)?);
            }
            Err(e) if start.elapsed() < Duration::from_secs(10) && is_locked(&e) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(e.context("máy chủ không chạy và kho dữ liệu không mở được")),
        }
    }
}

/// An answer as the printers read it: every string made safe for a terminal first
/// (names and bodies come from documents other nodes sealed).
fn typed<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T> {
    serde_json::from_value(for_terminal_json(v)).context("câu trả lời của máy chủ không đọc được")
}

fn is_locked(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<tinnhiem_store::StoreError>(),
        Some(tinnhiem_store::StoreError::Locked(_))
    )
}

fn print_aggregates(list: &[AggregateView]) {
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
                f.name, f.person_id, f.unit, f.session, f.flag
            );
        }
    }
}

fn print_destinations(v: &Value) {
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
fn unix_time(t: Option<i64>) -> String {
    t.and_then(when::in_vietnam)
        .map(|t| t.format("%d/%m/%Y %H:%M:%S").to_string())
        .unwrap_or_default()
}

fn print_status(report: &StatusReport) {
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
fn print_store_down(store: &StoreState) {
    println!(
        "KHO DỮ LIỆU TẠM THỜI KHÔNG DÙNG ĐƯỢC từ {}: {}",
        store.since_vi.as_deref().unwrap_or("?"),
        store.cause.as_deref().unwrap_or("")
    );
    println!("Máy chủ đang tự mở lại kho (không cần khởi động lại); các đơn vị gửi lúc này được báo thử lại sau.");
}

/// The alarm of a store that went back in time: first, and loud, on `status`.
fn print_loss(loss: &LossRecord) {
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

/// Each level's percent, the level named in Vietnamese, with a decimal comma.
fn percents(percent: &serde_json::Map<String, Value>, name: impl Fn(&str) -> &str) -> String {
    percent
        .iter()
        .map(|(k, v)| {
            format!(
                "{} {}%",
                name(k),
                v.as_str().unwrap_or("").replace('.', ",")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
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

fn print_person(v: &PersonReport) {
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
                    format!("  [{}]", r.flag)
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
fn report_state_vi(p: &Period) -> String {
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

fn print_deadlines(v: &Deadlines) {
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

fn print_flagged(list: &[SubjectRow]) {
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
        println!("  {}: {}", r.flag, percents(&r.percent, level_vi));
        if let Some(c) = &r.consequence {
            println!("  Hậu quả: {} ({})", c.what, c.source);
            println!("  Cơ quan xử lý: {}", c.who);
        }
    }
}

/// Each session's result, read from the domain's result JSON (the node's `result
/// --json` shape, which the hub passes on as it is).
fn print_results(list: &[SessionResultRow]) {
    for row in list {
        let r = &row.result;
        let text = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        // NQ 85 sets no two-thirds condition: say what was checked, not "2/3".
        let two_thirds = tinnhiem_core::domain::Profile::parse(&text("profile"))
            .is_none_or(|p| p.rules().two_thirds_quorum);
        println!(
            "{} / {} (lần {}): thu về {}, {}: {}",
            text("unit"),
            text("session"),
            row.seal.seq,
            r.get("collected").unwrap_or(&Value::Null),
            if two_thirds {
                "đủ 2/3"
            } else {
                "số có mặt hợp lệ (không đòi 2/3)"
            },
            if r.get("quorum_met") == Some(&Value::Bool(true)) {
                "có"
            } else {
                "không"
            }
        );
        for s in r
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let flag = s["flag"].as_str().unwrap_or("none");
            let pct = s["percent"]
                .as_object()
                .map(|m| percents(m, |k| k))
                .unwrap_or_default();
            println!(
                "    {:<24} {pct}{}",
                s["name"].as_str().unwrap_or(""),
                if flag == "none" {
                    String::new()
                } else {
                    format!("  [{flag}]")
                }
            );
        }
    }
}

/// `serve`'s limits against hostile peers.
struct ServeLimits {
    max_connections: usize,
    max_message: usize,
    max_doc: usize,
    message_timeout: Duration,
    http: Option<std::net::SocketAddr>,
}

fn serve(home: &Home, listen: std::net::SocketAddr, limits: ServeLimits) -> Result<()> {
    let ServeLimits {
        max_connections,
        max_message,
        max_doc,
        message_timeout,
        http,
    } = limits;
    tinnhiem_net::log::init();
    // Another command may hold the store for a moment (it opens it itself when no
    // server answers on the admin socket): wait for it rather than fail.
    let store = home.store(Duration::from_secs(10))?;
    let key = home.key()?;
    let state = Arc::new(HubState::new(
        home.config.unit.to_string(),
        key,
        store,
        &home.dir.join(crate::leaves::FILE),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let cfg = NetConfig {
            max_message,
            message_timeout,
            ..NetConfig::default()
        };
        let st = state.clone();
        let allow: net::KeyCheck = Arc::new(move |k| st.key_verdict(k));
        let (ep, tls) = net::server_endpoint(&state.key, &state.unit, listen, allow, &cfg)
            .map_err(|e| anyhow!(e))?;
        let addr = ep.local_addr()?;
        tracing::info!(%addr, hub = %state.unit, key = %state.key.public(), "listening (QUIC)");
        println!("tinnhiem-hub «{}» đang nghe ở {addr}", state.unit);
        let sock = home.admin_socket();
        let admin = tokio::spawn({
            let st = state.clone();
            let sock = sock.clone();
            async move {
                if let Err(e) = admin::serve(&sock, st).await {
                    tracing::error!("admin socket: {e:#}");
                }
            }
        });
        let limits = Limits {
            max_doc_bytes: max_doc,
            ..Limits::default()
        };
        let forwarder = tokio::spawn(crate::forward::run(state.clone(), home.dir.clone()));
        let web = match http {
            None => None,
            Some(addr) => {
                let token = tinnhiem_web::metrics::token(&home.dir)?;
                let auth = Arc::new(
                    tinnhiem_web::Auth::with_defaults(
                        tinnhiem_web::Accounts::in_dir(&home.dir),
                        format!(
                            "Máy chủ {}",
                            home.config.name.as_deref().unwrap_or(&state.unit)
                        ),
                    )
                    .with_metrics_token(token),
                );
                let app = crate::web::app(crate::web::Web {
                    hub: state.clone(),
                    home: home.dir.clone(),
                    auth,
                });
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("--http {addr}: không mở được cổng web"))?;
                let local = listener.local_addr()?;
                println!("Trang web: http://{local}/ (tài khoản: tinnhiem-hub user add)");
                Some(tokio::spawn(tinnhiem_web::serve(listener, app)))
            }
        };
        let server = tokio::spawn(net::server::serve(
            ep.clone(),
            tls,
            state.clone(),
            cfg,
            limits,
            net::server::Admission {
                max_connections,
                gate: net::gate::GateLimits::default(),
            },
        ));
        tinnhiem_web::process::stop_signal().await;
        tracing::info!("shutting down");
        ep.close(0u32.into(), b"shutdown");
        admin.abort();
        forwarder.abort();
        if let Some(w) = web {
            w.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        let _ = std::fs::remove_file(&sock);
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}
