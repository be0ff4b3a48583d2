//! Delivery of sealed minutes to the hub: the node's [`Outbox`] (its own sessions'
//! seals) and the sync commands over `shared::outbox::run_until`.
//!
//! The store is opened only for short moments (to read what is pending, to record each
//! event), so every other command of this home keeps working while `sync --daemon` runs.

use crate::home::Home;
use anyhow::{anyhow, bail, Result};
use serde_json::json;
use std::time::{Duration, Instant};
use tinnhiem_core::domain::SessionId;
use tinnhiem_core::proto::node::Event;
use tinnhiem_core::seal::{Receipt, Seal};
use tinnhiem_net::outbox::{self, DeliveryState, Outbox, OutboxError, RunStats, Sender};
use tinnhiem_store::Store;

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

/// Every seal's delivery as stored, for readers: `status`, the pages and `/metrics`
/// write nothing (the delivery loop makes the records).
fn deliveries(
    home: &Home,
    store: &Store,
    dest: &HubTarget,
) -> Result<Vec<(Seal, outbox::Delivery)>> {
    Ok(outbox::deliveries_read(
        &NodeOutbox(home),
        store,
        &dest.key()?,
    )?)
}

/// Whether a delivery run prints each receipt and refusal as it comes: not under
/// `--json`, whose stdout is one JSON document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Progress {
    Print,
    Silent,
}

async fn run_until(
    home: &Home,
    target: &HubTarget,
    deadline: Instant,
    retry_now: bool,
    check: bool,
    progress: Progress,
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
        retry_now,
        check,
        |ev| {
            if progress == Progress::Print {
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
        Event::Lost { items, from_index } if !items.is_empty() || from_index.is_some() => {
            println!(
                "MÁY CHỦ BÁO ĐÃ MẤT DỮ LIỆU: biên bản nào của đơn vị này máy chủ không còn giữ sẽ được gửi lại ngay (biên nhận cũ được giữ làm bằng chứng)."
            );
        }
        _ => {}
    }
}

/// `sync --once`: exit status 0 only when every seal has a verified receipt. A
/// refusal ends it at once (exit 1), saying what the hub refused and what to do.
pub(crate) fn once(home: &Home, timeout: Duration, json: bool, retry_now: bool) -> Result<bool> {
    let target = home.config.hub.clone().ok_or_else(|| {
        anyhow!("chưa đặt máy chủ: chạy `tinnhiem-node hub set --addr HOST:PORT --key KHÓA`")
    })?;
    let start = Instant::now();
    let started_at = chrono::Utc::now().timestamp();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    // Always once to the hub, even with nothing to send: it proves its log extends the
    // head we verified, and names anything of ours it lost.
    let stats = rt.block_on(run_until(
        home,
        &target,
        start + timeout,
        retry_now,
        true,
        if json {
            Progress::Silent
        } else {
            Progress::Print
        },
    ))?;
    let store = home.store()?;
    let all = deliveries(home, &store, &target)?;
    let schedule = outbox::schedule(&store, &target.key()?)?;
    // Caught in this run: the hub contradicted a log head it signed before, so even
    // receipts it still answers with cannot be trusted to stand.
    let alarm = outbox::log_alarm(&store, &target.key()?)?.filter(|a| a.at >= started_at);
    drop(store);
    let received = all.iter().filter(|(_, d)| d.received()).count();
    let ok = received == all.len() && alarm.is_none();
    let key = home.key()?.public();
    let refusal = stats
        .key_refused_by
        .as_ref()
        .map(|hub_unit| key_refusal(home, &target, &key, hub_unit.as_deref(), schedule.as_ref()));
    if json {
        println!(
            "{}",
            json!({"unit": home.config.unit, "sealed": all.len(), "received": received, "ok": ok,
                   "connections": stats.connections, "wire_bytes": stats.wire_bytes,
                   "payload_bytes": stats.payload_bytes, "seconds": start.elapsed().as_secs_f64(),
                   "refused": stats.refused.as_ref().map(|s| json!({
                       "reason": s.reason, "reason_vi": s.reason.title(), "detail": s.detail,
                       "next_attempt_at": s.next_at_ms / 1000})),
                   "key_refused": refusal.as_ref().map(|r| json!({
                       "fingerprint": key.fingerprint(), "key": key.to_hex(), "text": r})),
                   "held_back": stats.held_back,
                   "log_alarm": alarm.as_ref().map(|a| json!({"at": a.at, "detail": a.detail}))})
        );
        return Ok(ok);
    }
    println!(
        "Đã gửi: {received}/{} biên bản có biên nhận; {} lần kết nối, {} byte trên đường truyền, {:.1} giây",
        all.len(),
        stats.connections,
        stats.wire_bytes,
        start.elapsed().as_secs_f64()
    );
    if let Some(a) = &alarm {
        println!(
            "CẢNH BÁO: máy chủ đã ký hai trạng thái nhật ký không thể cùng đúng ({}). Máy chủ có thể đã mất dữ liệu; những biên bản máy chủ không còn chứng minh được đã được gửi lại. Báo cán bộ quản trị máy chủ tỉnh.",
            a.detail
        );
    }
    if let Some(text) = &refusal {
        println!("{text}");
    } else if let Some(s) = &stats.refused {
        println!(
            "Máy chủ từ chối: {} [{}]. Sẽ tự thử lại sau {} (sync --daemon); thử ngay: sync --once --retry-now.",
            s.reason.title(),
            s.reason,
            when_ms(s.next_at_ms)
        );
    } else if stats.held_back > 0 {
        if let Some(s) = &schedule {
            println!(
                "Chưa gửi lại {} biên bản: máy chủ đã từ chối lúc {} ({}); lần thử tiếp theo sau {}. Thử ngay: sync --once --retry-now.",
                stats.held_back,
                when_ms(s.last_at_ms),
                s.reason.title(),
                when_ms(s.next_at_ms)
            );
        }
    }
    if !ok {
        for (_, d) in all.iter().filter(|(_, d)| !d.received()) {
            println!(
                "  chưa xong: «{}» lần {}: {} — {}",
                d.session,
                d.seq,
                delivery_state_vi(d),
                detail_vi(d, schedule.as_ref())
            );
        }
    }
    Ok(ok)
}

/// What a clerk reads when the hub refused this node's key: which unit and key, and
/// the one command the province runs once it has checked the fingerprint by telephone.
fn key_refusal(
    home: &Home,
    target: &HubTarget,
    key: &tinnhiem_core::seal::PublicKey,
    hub_unit: Option<&str>,
    schedule: Option<&outbox::retry::Schedule>,
) -> String {
    let unit = home.config.unit.as_str();
    let closed = schedule.is_some_and(|s| s.reason == outbox::Refusal::ClosedKey);
    let mut t = if closed {
        format!(
            "MÁY CHỦ {} TỪ CHỐI: khóa của đơn vị «{unit}» đã bị thu hồi ở máy chủ.\n  Dấu vân tay khóa: {}\n  Hãy tạo khóa mới (tinnhiem-node key rotate), rồi gọi cán bộ quản trị máy chủ tỉnh để đăng ký khóa mới.",
            target.addr,
            key.fingerprint()
        )
    } else {
        let parent = hub_unit.unwrap_or("ĐƠN-VỊ-CỦA-MÁY-CHỦ");
        let name = home
            .config
            .name
            .as_deref()
            .map(|n| format!(" --name {}", shell_quote(n)))
            .unwrap_or_default();
        format!(
            "MÁY CHỦ {} CHƯA ĐĂNG KÝ KHÓA CỦA ĐƠN VỊ NÀY.\n  Đơn vị: {unit}\n  Dấu vân tay khóa: {}\n  Hãy gọi cán bộ quản trị máy chủ tỉnh, đọc dấu vân tay trên để họ đối chiếu, và đề nghị chạy:\n    tinnhiem-hub registry add --unit {unit} --key {}{name} --parent {parent}",
            target.addr,
            key.fingerprint(),
            key.to_hex()
        )
    };
    if let Some(s) = schedule {
        t.push_str(&format!(
            "\n  Máy này sẽ tự thử lại sau {} (sync --daemon); sau khi tỉnh đăng ký xong, thử ngay: tinnhiem-node sync --once --retry-now",
            when_ms(s.next_at_ms)
        ));
    }
    t
}

/// A value for a POSIX shell, in single quotes.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A delivery's state in Vietnamese, telling a refusal that waits for the clerk from
/// one that will be retried.
pub(crate) fn delivery_state_vi(d: &outbox::Delivery) -> &'static str {
    match d.state {
        DeliveryState::Rejected if d.retryable() => "bị từ chối, sẽ thử lại",
        DeliveryState::Rejected => "bị từ chối, chờ cán bộ xử lý",
        s => s.title(),
    }
}

/// What a clerk should know about a delivery, in Vietnamese: the receipt, or the
/// refusal's reason and what happens next, or the last connection error.
pub(crate) fn detail_vi(
    d: &outbox::Delivery,
    schedule: Option<&outbox::retry::Schedule>,
) -> String {
    match d.state {
        DeliveryState::Received if d.lost_receipt.is_some() => format!(
            "biên nhận #{} lúc {} (gửi lại sau khi máy chủ mất dữ liệu)",
            d.log_index.unwrap_or(0),
            when(d.received_at)
        ),
        DeliveryState::Received => format!(
            "biên nhận #{} lúc {}",
            d.log_index.unwrap_or(0),
            when(d.received_at)
        ),
        _ if d.lost_receipt.is_some() => format!(
            "máy chủ đã mất biên bản này (biên nhận cũ #{} được giữ làm bằng chứng); đang gửi lại{}",
            d.log_index.unwrap_or(0),
            d.last_error
                .as_deref()
                .map(|e| format!("; lỗi gần nhất: {e}"))
                .unwrap_or_default()
        ),
        DeliveryState::Rejected => {
            let code = d.reject_reason.as_ref().map_or("", outbox::Refusal::code);
            let what = format!(
                "{} [{code}]{}",
                d.reject_reason
                    .as_ref()
                    .map(outbox::Refusal::title)
                    .unwrap_or_default(),
                d.reject_detail
                    .as_deref()
                    .filter(|x| !x.is_empty())
                    .map(|x| format!(": {x}"))
                    .unwrap_or_default()
            );
            if !d.retryable() {
                format!("{what}. Không tự gửi lại: cần sửa rồi niêm phong lại, hoặc thử lại bằng tay (sync --once --retry-now).")
            } else if let Some(s) = schedule {
                format!("{what}. Tự thử lại sau {}.", when_ms(s.next_at_ms))
            } else {
                format!("{what}. Sẽ tự thử lại.")
            }
        }
        _ => {
            let Some(e) = d.last_error.as_deref() else {
                return String::new();
            };
            match d.next_try_ms.filter(|t| *t > chrono::Utc::now().timestamp_millis()) {
                Some(t) => format!("lỗi gần nhất: {e}. Thử lại lúc {}.", when_ms(t)),
                None => format!("lỗi gần nhất: {e}"),
            }
        }
    }
}

/// A delivery time for the clerk, in Vietnam's time like every time a person reads
/// (issue 12 §5: UTC here was seven hours off the clock on the wall).
fn when_ms(ms: i64) -> String {
    tinnhiem_core::domain::when::in_vietnam(ms.div_euclid(1000))
        .map(|t| t.format("%H:%M:%S %d/%m/%Y").to_string())
        .unwrap_or_default()
}

/// `sync --daemon`: keep delivering until SIGTERM or Ctrl-C.
pub(crate) fn daemon(home: &Home) -> Result<()> {
    tinnhiem_net::log::init();
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
    let mut checked_at: Option<Instant> = None;
    loop {
        let target = match Home::open(&home.dir).map(|h| h.config.hub) {
            Ok(Some(t)) => Some(t),
            _ => None,
        };
        let pause = match target {
            None => Duration::from_secs(5),
            Some(t) => {
                let check = checked_at.is_none_or(|c| c.elapsed() >= outbox::check_interval());
                if check {
                    checked_at = Some(Instant::now());
                }
                // A round may wait up to two minutes for an unreachable hub: the stop
                // must not wait for it. Dropping the round is safe at any await (every
                // store write is one atomic batch; the hub sees the connection time out).
                let round = run_until(
                    home,
                    &t,
                    Instant::now() + Duration::from_secs(120),
                    false,
                    check,
                    Progress::Print,
                );
                let outcome = tokio::select! {
                    _ = &mut stop => break,
                    r = round => r,
                };
                match outcome {
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
                }
            }
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
    let schedule = outbox::schedule(store, &target.key()?)?;
    let list: Vec<_> = all
        .iter()
        .map(|(_, d)| {
            let mut v = serde_json::to_value(d).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("destination".into(), json!(target.addr));
                o.insert("state_vi".into(), json!(delivery_state_vi(d)));
                o.insert("detail_vi".into(), json!(detail_vi(d, schedule.as_ref())));
                o.insert(
                    "reason_vi".into(),
                    json!(d.reject_reason.as_ref().map(outbox::Refusal::title)),
                );
                o.insert("retried".into(), json!(d.retryable()));
            }
            v
        })
        .collect();
    Ok(json!({
        "unit": home.config.unit, "hub": target.addr, "hub_key": target.key,
        "log": {"size": log.map(|l| l.0), "root": log.map(|l| hex::encode(l.1)),
                "alarm": alarm},
        "retry": schedule.map(|s| json!({"failures": s.failures, "reason": s.reason,
            "reason_vi": s.reason.title(), "detail": s.detail,
            "next_attempt_at": s.next_at_ms / 1000, "last_refused_at": s.last_at_ms / 1000})),
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
    let schedule = outbox::schedule(&store, &target.key()?)?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&status_value(home, &store)?)?
        );
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
    if let Some(s) = &schedule {
        println!(
            "Máy chủ đã từ chối {} lần liên tiếp (lần cuối {}: {}); lần thử tiếp theo sau {}.",
            s.failures,
            when_ms(s.last_at_ms),
            s.reason.title(),
            when_ms(s.next_at_ms)
        );
    }
    if all.is_empty() {
        println!("Chưa có biên bản nào được niêm phong.");
    }
    for (_, d) in &all {
        println!(
            "  {:<28} lần {:<3} {:<28} lượt gửi {:<3} {}",
            d.session,
            d.seq,
            delivery_state_vi(d),
            d.attempts,
            detail_vi(d, schedule.as_ref())
        );
    }
    Ok(())
}

fn when(t: Option<i64>) -> String {
    t.map(tinnhiem_core::domain::when::moment_vi)
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
