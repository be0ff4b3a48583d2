//! One function per command.

use crate::admin::{self, Request};
use crate::cli::*;
use crate::home::{default_dir, Destination, Home};
use crate::print::*;
use crate::query::aggregates::AggregateView;
use crate::query::log::{LogCheck, LogHead};
use crate::query::paper::PaperTaken;
use crate::query::person::PersonReport;
use crate::query::results::{SessionResultRow, SubjectRow};
use crate::query::status::StatusReport;
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
                print_results(&typed::<Vec<SessionResultRow>>(&v)?)?;
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
        let stop = tinnhiem_web::process::Stop::on_signal();
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
                Some(tokio::spawn(tinnhiem_web::serve_until(
                    listener,
                    app,
                    stop.clone().wait(),
                )))
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
        stop.wait().await;
        tracing::info!("shutting down");
        ep.close(0u32.into(), b"shutdown");
        admin.abort();
        forwarder.abort();
        // The pages answer what they were asked before the stop (a drain, not an abort).
        if let Some(w) = web {
            if tokio::time::timeout(tinnhiem_web::process::DRAIN, w)
                .await
                .is_err()
            {
                tracing::warn!("web requests still open after the drain; stopping anyway");
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        let _ = std::fs::remove_file(&sock);
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(())
}
