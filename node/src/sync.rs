//! Delivery of sealed minutes to the hub: the outbox, and the sync commands that drive
//! `shared::net::client::deliver` until every seal has a verified receipt.
//!
//! The store is opened only for short moments (to read what is pending, to record each
//! event), so every other command of this home keeps working while `sync --daemon` runs.

use crate::home::Home;
use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};
use tinnhiem_shared::doc::SessionDoc;
use tinnhiem_shared::net::client::{deliver, DeliverError};
use tinnhiem_shared::net::{self, Backoff, NetConfig};
use tinnhiem_shared::proto::node::{Event, Job, NodeSession};
use tinnhiem_shared::proto::RejectReason;
use tinnhiem_shared::seal::{PublicKey, Receipt, Seal};
use tinnhiem_shared::store::{Store, Table, Write};

/// `[hub]` of node.toml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubTarget {
    /// `HOST:PORT` of the hub's QUIC endpoint.
    pub addr: String,
    /// The hub's public key, 64 hex characters.
    pub key: String,
}

/// One seal's delivery to one destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Delivery {
    pub(crate) session: String,
    pub(crate) seq: u32,
    pub(crate) seal_id: String,
    /// `pending`, `sent`, `received` or `rejected`.
    pub(crate) state: String,
    pub(crate) attempts: u32,
    pub(crate) last_error: Option<String>,
    pub(crate) updated_at: i64,
    pub(crate) receipt: Option<String>,
    pub(crate) received_at: Option<i64>,
    pub(crate) log_index: Option<u64>,
    pub(crate) reject_reason: Option<String>,
    pub(crate) reject_detail: Option<String>,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn outbox_key(dest: &PublicKey, session: &str, seq: u32) -> Vec<u8> {
    let mut k = dest.to_hex().into_bytes();
    k.push(0);
    k.extend(session.as_bytes());
    k.push(0);
    k.extend(seq.to_be_bytes());
    k
}

fn sync_key(dest: &PublicKey, session: &str) -> Vec<u8> {
    let mut k = dest.to_hex().into_bytes();
    k.push(0);
    k.extend(session.as_bytes());
    k
}

impl HubTarget {
    pub(crate) fn key(&self) -> Result<PublicKey> {
        PublicKey::from_hex(&self.key).map_err(|e| anyhow!("khóa máy chủ trong node.toml: {e}"))
    }
    pub(crate) fn resolve(&self) -> Result<SocketAddr> {
        self.addr
            .to_socket_addrs()
            .with_context(|| format!("địa chỉ máy chủ «{}»", self.addr))?
            .next()
            .ok_or_else(|| anyhow!("địa chỉ máy chủ «{}» không phân giải được", self.addr))
    }
}

/// Every seal of the home with its delivery to `dest` (made `pending` when missing).
pub(crate) fn deliveries(store: &Store, dest: &PublicKey) -> Result<Vec<(Seal, Delivery)>> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for session in store.sessions()? {
        for seal in store.seals(&session)? {
            let k = outbox_key(dest, session.as_str(), seal.body.seq);
            let d = match store.read(Table::Outbox, &k)? {
                Some(v) => serde_json::from_slice(&v).map_err(|e| anyhow!("outbox record: {e}"))?,
                None => {
                    let d = Delivery {
                        session: session.to_string(),
                        seq: seal.body.seq,
                        seal_id: hex::encode(seal.id()),
                        state: "pending".into(),
                        attempts: 0,
                        last_error: None,
                        updated_at: now(),
                        receipt: None,
                        received_at: None,
                        log_index: None,
                        reject_reason: None,
                        reject_detail: None,
                    };
                    missing.push(Write::Put(Table::Outbox, k, serde_json::to_vec(&d)?));
                    d
                }
            };
            out.push((seal, d));
        }
    }
    if !missing.is_empty() {
        store.batch(&missing)?;
    }
    Ok(out)
}

fn update(
    store: &Store,
    dest: &PublicKey,
    session: &str,
    seq: u32,
    f: impl FnOnce(&mut Delivery),
) -> Result<()> {
    let k = outbox_key(dest, session, seq);
    let Some(v) = store.read(Table::Outbox, &k)? else {
        return Ok(());
    };
    let mut d: Delivery = serde_json::from_slice(&v)?;
    if d.state == "received" {
        return Ok(()); // a receipt is final
    }
    f(&mut d);
    d.updated_at = now();
    store.batch(&[Write::Put(Table::Outbox, k, serde_json::to_vec(&d)?)])?;
    Ok(())
}

/// Records one protocol event durably.
fn record(home: &Home, dest: &PublicKey, ev: &Event) -> Result<()> {
    let store = home.store()?;
    match ev {
        Event::SealSent { session, seq } => update(&store, dest, session, *seq, |d| {
            d.state = "sent".into();
            d.attempts += 1;
        }),
        Event::Receipt {
            session,
            seq,
            receipt,
        } => update(&store, dest, session, *seq, |d| {
            d.state = "received".into();
            d.receipt = Some(hex::encode(receipt.to_bytes()));
            d.received_at = Some(receipt.body.received_at);
            d.log_index = Some(receipt.body.log_index);
            d.last_error = None;
        }),
        Event::Rejected {
            session,
            seq,
            reason,
            detail,
        } => update(&store, dest, session, *seq, |d| {
            d.state = "rejected".into();
            d.reject_reason = Some(reason.code().into());
            d.reject_detail = Some(detail.clone());
        }),
        Event::SyncState { session, state } => {
            store.batch(&[Write::Put(
                Table::SyncState,
                sync_key(dest, session),
                state.clone(),
            )])?;
            Ok(())
        }
        Event::ProtocolError(_) | Event::DocFinished { .. } | Event::Done => Ok(()),
    }
}

fn transient(d: &Delivery) -> bool {
    match d.reject_reason.as_deref() {
        None => true,
        Some(code) => [
            RejectReason::Unavailable,
            RejectReason::HeadsMissing,
            RejectReason::UnknownUnit,
        ]
        .iter()
        .any(|r| r.code() == code),
    }
}

/// The jobs still to deliver: seals not received (and not refused for good, unless
/// `retry_rejected`).
fn load_jobs(
    home: &Home,
    dest: &PublicKey,
    device: &[u8],
    retry_rejected: bool,
) -> Result<(Vec<Job>, usize)> {
    let store = home.store()?;
    let all = deliveries(&store, dest)?;
    let mut by_session: std::collections::BTreeMap<String, Vec<Seal>> = Default::default();
    for (seal, d) in &all {
        let wanted = match d.state.as_str() {
            "received" => false,
            "rejected" => retry_rejected || transient(d),
            _ => true,
        };
        if wanted {
            by_session
                .entry(d.session.clone())
                .or_default()
                .push(seal.clone());
        }
    }
    let mut jobs = Vec::new();
    for (session, seals) in by_session {
        let sid = tinnhiem_shared::domain::SessionId::new(&session).map_err(|e| anyhow!("{e}"))?;
        let Some(bytes) = store.doc(&sid)? else {
            continue;
        };
        let doc = SessionDoc::load(&bytes, device)?;
        let sync_state = store.read(Table::SyncState, &sync_key(dest, &session))?;
        jobs.push(Job {
            doc,
            sync_state,
            seals,
        });
    }
    Ok((jobs, all.len()))
}

fn mark_error(home: &Home, dest: &PublicKey, msg: &str) -> Result<()> {
    let store = home.store()?;
    for (_, d) in deliveries(&store, dest)? {
        if d.state != "received" {
            update(&store, dest, &d.session, d.seq, |x| {
                x.last_error = Some(msg.to_owned())
            })?;
        }
    }
    Ok(())
}

/// Totals of a sync run.
#[derive(Debug, Default)]
pub(crate) struct RunStats {
    pub(crate) connections: u32,
    pub(crate) wire_bytes: u64,
    pub(crate) payload_bytes: u64,
}

/// One pass: connect and deliver until every seal is answered, `deadline` passes, or
/// (when `give_up_on_final` is set) only final rejections remain.
async fn run_until(
    home: &Home,
    target: &HubTarget,
    deadline: Instant,
    retry_rejected: bool,
    quiet: bool,
) -> Result<RunStats> {
    let dest = target.key()?;
    let key = home.key()?;
    let device = home.store()?.device()?;
    let cfg = NetConfig::default();
    let ep = net::client_endpoint(&key, dest, &cfg).map_err(|e| anyhow!(e))?;
    let seed = u64::from_le_bytes(
        device
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([7; 8]),
    );
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(20), seed);
    let mut stats = RunStats::default();
    let mut retry_rejected = retry_rejected;
    loop {
        let (jobs, _) = load_jobs(home, &dest, &device, retry_rejected)?;
        retry_rejected = false;
        if jobs.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            break;
        }
        let addr = target.resolve()?;
        let machine = NodeSession::new(home.config.unit.as_str(), dest, jobs, 0, 2_000);
        stats.connections += 1;
        let mut failure = None;
        let res = deliver(&ep, addr, machine, &cfg, deadline, |ev| {
            if !quiet {
                print_event(&ev);
            }
            if let Err(e) = record(home, &dest, &ev) {
                failure = Some(e);
            }
        })
        .await;
        if let Some(e) = failure {
            return Err(e.context("không ghi được kết quả gửi vào kho"));
        }
        match res {
            Ok(s) => {
                stats.wire_bytes += s.wire_bytes;
                stats.payload_bytes += s.payload_bytes;
                backoff.reset();
            }
            Err(e) => {
                let msg = describe(&e);
                tracing::debug!("sync attempt failed: {msg}");
                mark_error(home, &dest, &msg)?;
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(backoff.next_delay().min(left)).await;
            }
        }
    }
    ep.close(0u32.into(), b"bye");
    ep.wait_idle().await;
    Ok(stats)
}

fn describe(e: &DeliverError) -> String {
    let s = e.to_string();
    if s.contains("ApplicationVerificationFailure") || s.contains("certificate") {
        format!("{s} (khóa máy chủ không khớp, hoặc máy chủ chưa đăng ký khóa của đơn vị này)")
    } else {
        s
    }
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
    let dest = target.key()?;
    let all = deliveries(&home.store()?, &dest)?;
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
    rt.block_on(async {
        let stop = async {
            use tokio::signal::unix::{signal, SignalKind};
            match signal(SignalKind::terminate()) {
                Ok(mut t) => {
                    tokio::select! { _ = t.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
                }
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        };
        tokio::pin!(stop);
        tracing::info!(unit = %home.config.unit, "sync daemon started");
        loop {
            // Re-read the config each round: `hub set` takes effect without a restart.
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
        Ok::<(), anyhow::Error>(())
    })
}

fn state_vi(s: &str) -> &'static str {
    match s {
        "pending" => "chờ gửi",
        "sent" => "đã gửi, chờ biên nhận",
        "received" => "đã có biên nhận",
        "rejected" => "bị từ chối",
        _ => "?",
    }
}

/// `status`.
pub(crate) fn status(home: &Home, json_out: bool) -> Result<()> {
    let store = home.store()?;
    let Some(target) = &home.config.hub else {
        if json_out {
            println!(
                "{}",
                json!({"unit": home.config.unit, "hub": null, "deliveries": []})
            );
        } else {
            println!("Chưa đặt máy chủ (tinnhiem-node hub set --addr HOST:PORT --key KHÓA).");
        }
        return Ok(());
    };
    let dest = target.key()?;
    let all = deliveries(&store, &dest)?;
    if json_out {
        let list: Vec<_> = all
            .iter()
            .map(|(_, d)| {
                let mut v = serde_json::to_value(d).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("destination".into(), json!(target.addr));
                }
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"unit": home.config.unit, "hub": target.addr, "hub_key": target.key, "deliveries": list})
            )?
        );
        return Ok(());
    }
    println!(
        "Máy chủ: {} (khóa {}…)",
        target.addr,
        &target.key[..16.min(target.key.len())]
    );
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
    let store = home.store()?;
    let mut n = 0;
    for (seal, d) in deliveries(&store, &dest)? {
        if let Some(r) = &d.receipt {
            let r = Receipt::from_bytes(&hex::decode(r)?)?;
            r.verify(&dest, &seal)?;
            n += 1;
        }
    }
    Ok(n)
}
