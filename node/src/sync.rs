//! Delivery of sealed minutes to the hub: the node's [`Outbox`] (its own sessions'
//! seals) and the sync commands over `shared::outbox::run_until`.
//!
//! The store is opened only for short moments (to read what is pending, to record each
//! event), so every other command of this home keeps working while `sync --daemon` runs.

use crate::home::Home;
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use std::time::{Duration, Instant};
use tinnhiem_shared::domain::SessionId;
use tinnhiem_shared::outbox::{self, state_vi, Outbox, OutboxError, RunStats, Sender};
use tinnhiem_shared::proto::node::Event;
use tinnhiem_shared::seal::{Receipt, Seal};
use tinnhiem_shared::store::Store;

/// `[hub]` of node.toml.
pub(crate) type HubTarget = outbox::Target;

/// A node delivers its own sessions' seals, by session id.
struct NodeOutbox<'a>(&'a Home);

impl Outbox for NodeOutbox<'_> {
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        let store = self
            .0
            .store()
            .map_err(|e| OutboxError::Source(format!("{e:#}")))?;
        f(&store)
    }
    fn sealed(&self, store: &Store) -> Result<Vec<(String, Seal)>, OutboxError> {
        let mut out = Vec::new();
        for session in store.sessions()? {
            for seal in store.seals(&session)? {
                out.push((session.to_string(), seal));
            }
        }
        Ok(out)
    }
    fn doc(&self, store: &Store, name: &str) -> Result<Option<Vec<u8>>, OutboxError> {
        let sid = SessionId::new(name).map_err(|e| OutboxError::Source(e.to_string()))?;
        Ok(store.doc(&sid)?)
    }
}

fn deliveries(
    home: &Home,
    store: &Store,
    dest: &HubTarget,
) -> Result<Vec<(Seal, outbox::Delivery)>> {
    Ok(outbox::deliveries(&NodeOutbox(home), store, &dest.key()?)?)
}

async fn run_until(
    home: &Home,
    target: &HubTarget,
    deadline: Instant,
    retry_rejected: bool,
    quiet: bool,
) -> Result<RunStats> {
    let key = home.key()?;
    let device = home.store()?.device()?;
    let from = Sender {
        unit: home.config.unit.as_str(),
        key: &key,
        device: &device,
    };
    let stats = outbox::run_until(
        &NodeOutbox(home),
        &from,
        target,
        deadline,
        retry_rejected,
        |ev| {
            if !quiet {
                print_event(ev);
            }
        },
    )
    .await?;
    Ok(stats)
}

fn print_event(ev: &Event) {
    match ev {
        Event::Receipt {
            session,
            seq,
            receipt,
        } => println!(
            "Đã nhận biên nhận: phiên «{session}» lần {seq} (số thứ tự ở máy chủ {})",
            receipt.body.log_index
        ),
        Event::Rejected {
            session,
            seq,
            reason,
            detail,
        } => {
            println!(
                "BỊ TỪ CHỐI: phiên «{session}» lần {seq}: {} [{reason}] {detail}",
                reason.title()
            )
        }
        _ => {}
    }
}

/// `sync --once`: exit status 0 only when every seal has a verified receipt.
pub(crate) fn once(home: &Home, timeout: Duration, json: bool) -> Result<bool> {
    let target = home.config.hub.clone().ok_or_else(|| {
        anyhow!("chưa đặt máy chủ: chạy `tinnhiem-node hub set --addr HOST:PORT --key KHÓA`")
    })?;
    let start = Instant::now();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let stats = rt.block_on(run_until(home, &target, start + timeout, true, json))?;
    let all = deliveries(home, &home.store()?, &target)?;
    let received = all.iter().filter(|(_, d)| d.state == "received").count();
    let ok = received == all.len();
    if json {
        println!(
            "{}",
            json!({"unit": home.config.unit, "sealed": all.len(), "received": received, "ok": ok,
                   "connections": stats.connections, "wire_bytes": stats.wire_bytes,
                   "payload_bytes": stats.payload_bytes, "seconds": start.elapsed().as_secs_f64()})
        );
    } else {
        println!(
            "Đã gửi: {received}/{} biên bản có biên nhận; {} lần kết nối, {} byte trên đường truyền, {:.1} giây",
            all.len(),
            stats.connections,
            stats.wire_bytes,
            start.elapsed().as_secs_f64()
        );
        if !ok {
            for (_, d) in all.iter().filter(|(_, d)| d.state != "received") {
                println!(
                    "  chưa xong: «{}» lần {}: {}{}",
                    d.session,
                    d.seq,
                    state_vi(&d.state),
                    d.reject_reason
                        .as_deref()
                        .or(d.last_error.as_deref())
                        .map(|x| format!(" — {x}"))
                        .unwrap_or_default()
                );
            }
        }
    }
    Ok(ok)
}

/// `sync --daemon`: keep delivering until SIGTERM or Ctrl-C.
pub(crate) fn daemon(home: &Home) -> Result<()> {
    tinnhiem_shared::log::init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    rt.block_on(daemon_loop(home, crate::stop_signal()));
    Ok(())
}

/// Delivers, round after round, until `stop` resolves. Re-reads node.toml each round:
/// `hub set` takes effect without a restart.
pub(crate) async fn daemon_loop(home: &Home, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    tracing::info!(unit = %home.config.unit, "sync daemon started");
    loop {
        let target = match Home::open(&home.dir).map(|h| h.config.hub) {
            Ok(Some(t)) => Some(t),
            _ => None,
        };
        let pause = match target {
            None => Duration::from_secs(5),
            Some(t) => match run_until(
                home,
                &t,
                Instant::now() + Duration::from_secs(120),
                false,
                false,
            )
            .await
            {
                Ok(s) => {
                    if s.connections > 0 {
                        tracing::info!(
                            connections = s.connections,
                            bytes = s.wire_bytes,
                            "sync round done"
                        );
                    }
                    Duration::from_secs(3)
                }
                Err(e) => {
                    tracing::warn!("sync round failed: {e:#}");
                    Duration::from_secs(10)
                }
            },
        };
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("sync daemon stopped");
}

/// A verified log head: size and root.
type LogHead = (u64, [u8; 32]);

/// The hub's log head this node verified, and the alarm if the hub ever contradicted it.
fn log_state(
    store: &Store,
    target: &HubTarget,
) -> Result<(Option<LogHead>, Option<outbox::LogAlarm>)> {
    let dest = target.key()?;
    Ok((
        outbox::known_log(store, &dest)?,
        outbox::log_alarm(store, &dest)?,
    ))
}

/// `status --json`, also the web pages' delivery list. The caller passes the store it
/// holds: a request never opens the store a second time.
pub(crate) fn status_value(home: &Home, store: &Store) -> Result<serde_json::Value> {
    let Some(target) = &home.config.hub else {
        return Ok(json!({"unit": home.config.unit, "hub": null, "deliveries": []}));
    };
    let all = deliveries(home, store, target)?;
    let (log, alarm) = log_state(store, target)?;
    let list: Vec<_> = all
        .iter()
        .map(|(_, d)| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("destination".into(), json!(target.addr));
                o.insert("state_vi".into(), json!(state_vi(&d.state)));
            }
            v
        })
        .collect();
    Ok(json!({
        "unit": home.config.unit, "hub": target.addr, "hub_key": target.key,
        "log": {"size": log.map(|l| l.0), "root": log.map(|l| hex::encode(l.1)),
                "alarm": alarm},
        "deliveries": list}))
}

/// `status`.
pub(crate) fn status(home: &Home, json_out: bool) -> Result<()> {
    let store = home.store()?;
    let Some(target) = &home.config.hub else {
        if json_out {
            println!("{}", status_value(home, &store)?);
        } else {
            println!("Chưa đặt máy chủ (tinnhiem-node hub set --addr HOST:PORT --key KHÓA).");
        }
        return Ok(());
    };
    let all = deliveries(home, &store, target)?;
    let (log, alarm) = log_state(&store, target)?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&status_value(home, &store)?)?);
        return Ok(());
    }
    println!(
        "Máy chủ: {} (khóa {}…)",
        target.addr,
        &target.key[..16.min(target.key.len())]
    );
    if let Some(a) = &alarm {
        println!(
            "CẢNH BÁO: máy chủ đã ký hai trạng thái nhật ký không thể cùng đúng (xóa hoặc sửa điều đã xác nhận): {}",
            a.detail
        );
    }
    if let Some((size, root)) = log {
        println!(
            "Nhật ký của máy chủ đã kiểm: {size} mục, gốc {}…",
            &hex::encode(root)[..16]
        );
    }
    if all.is_empty() {
        println!("Chưa có biên bản nào được niêm phong.");
    }
    for (_, d) in &all {
        let extra = match d.state.as_str() {
            "received" => format!(
                "biên nhận #{} lúc {}",
                d.log_index.unwrap_or(0),
                when(d.received_at)
            ),
            "rejected" => format!(
                "{} — {}",
                d.reject_reason.as_deref().unwrap_or(""),
                d.reject_detail.as_deref().unwrap_or("")
            ),
            _ => d
                .last_error
                .clone()
                .map(|e| format!("lỗi gần nhất: {e}"))
                .unwrap_or_default(),
        };
        println!(
            "  {:<28} lần {:<3} {:<24} lượt gửi {:<3} {extra}",
            d.session,
            d.seq,
            state_vi(&d.state),
            d.attempts
        );
    }
    Ok(())
}

fn when(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%d/%m/%Y %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// Checks a stored receipt offline against the hub key and the seal.
pub(crate) fn verify_receipts(home: &Home) -> Result<usize> {
    let Some(target) = &home.config.hub else {
        bail!("chưa đặt máy chủ")
    };
    let dest = target.key()?;
    let mut n = 0;
    for (seal, d) in deliveries(home, &home.store()?, target)? {
        if let Some(r) = &d.receipt {
            let r = Receipt::from_bytes(&hex::decode(r)?)?;
            r.verify(&dest, &seal)?;
            n += 1;
        }
    }
    Ok(n)
}
