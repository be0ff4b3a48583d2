//! `tinnhiem-bench`: figures for BENCHMARKS.md, measured in one run on this machine.
//!
//! Hub ingest: a real `tinnhiem-hub serve` process on loopback; N simulated nodes (tokio
//! tasks in this process, each with its own enrolled key and its own QUIC connection)
//! deliver M sealed sessions each; we time from the first connection to the last
//! verified receipt (QUIC, verify, recompute, durable store, receipt) and read the hub's
//! peak resident memory (VmHWM).
//!
//! Node: a real `tinnhiem-node` home with 50 sealed sessions: cold start of a command,
//! and peak memory while `sync --once` delivers them.
//!
//! `--quick` (CI): 10 nodes × 10 sessions, a node with 10. Default: 100 nodes × 100
//! sessions (10 000, a whole country), a node with 50.
//!
//! `--flaky`: 700 district nodes with one sealed session each, through the simulated
//! link (`tinnhiem-netsim`: 300 ms RTT, jitter, partitions) at 0%, 10% and 30% loss, a
//! fresh hub each time; the time until all 700 have receipts, and the ratios to the
//! clean run. A node whose connection fails retries with backoff, as `sync --daemon`
//! does (but from scratch: these simulated nodes keep no sync state between attempts,
//! which can only make them slower than the real node).

use anyhow::{bail, Context, Result};
use std::time::{Duration, Instant};
use tinnhiem_shared::doc::SessionDoc;
use tinnhiem_shared::domain::{SessionFile, UnitId};
use tinnhiem_shared::net::client::deliver;
use tinnhiem_shared::net::{self, NetConfig};
use tinnhiem_shared::proto::node::{Event, Job, NodeSession};
use tinnhiem_shared::seal::{seal_doc, PublicKey, UnitKey};
use tinnhiem_tests::{netsim, session_file, Hub};

fn node_key(i: usize) -> UnitKey {
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    UnitKey::from_seed(seed)
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--flaky") {
        return flaky();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let (nodes, per_node) = if quick {
        (10usize, 10usize)
    } else {
        (100, 100)
    };
    println!(
        "tinnhiem-bench: hub ingest, {nodes} nodes × {per_node} sessions = {} sealed sessions",
        nodes * per_node
    );

    let hub = Hub::start("quoc-gia");
    let mut reg = String::new();
    for i in 0..nodes {
        reg.push_str(&format!(
            "[[unit]]\nid = \"tinh-{i:03}\"\nkey = \"{}\"\nparent = \"quoc-gia\"\n\n",
            node_key(i).public().to_hex()
        ));
    }
    let reg_file = hub.path().join("bench-registry.toml");
    std::fs::write(&reg_file, reg)?;
    hub.ok(&["registry", "import", reg_file.to_str().context("path")?]);
    let hub_pid = hub.pid().context("hub pid")?;
    let hub_key = PublicKey::from_hex(&hub.key)?;

    // Prepare every sealed document first: the clock measures delivery only.
    let mut work = Vec::new();
    let mut doc_bytes = 0usize;
    for i in 0..nodes {
        let key = node_key(i);
        let unit = UnitId::new(format!("tinh-{i:03}"))?;
        let mut jobs = Vec::new();
        for j in 0..per_node {
            let s =
                SessionFile::from_json(&session_file(&format!("ky-{j:03}"), 10 + (j as u64 % 15)))?
                    .into_session(&unit, || "e".into())
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let mut d = SessionDoc::from_session(&s, b"bench", 1)?;
            let (seal, _) = seal_doc(&mut d, &key, 1, 2).map_err(|p| anyhow::anyhow!("{p:?}"))?;
            doc_bytes += d.save().len();
            jobs.push(Job {
                doc: d,
                sync_state: None,
                seals: vec![seal],
            });
        }
        work.push((unit, key, jobs));
    }

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let (received, wire) = rt.block_on(async {
        let mut tasks = Vec::new();
        for (unit, key, jobs) in work {
            let addr = hub.addr;
            tasks.push(tokio::spawn(async move {
                let cfg = NetConfig::default();
                let ep =
                    net::client_endpoint(&key, hub_key, &cfg).map_err(|e| anyhow::anyhow!(e))?;
                let machine = NodeSession::new(unit.as_str(), hub_key, jobs, 0, 5_000);
                let mut got = 0usize;
                let stats = deliver(
                    &ep,
                    addr,
                    machine,
                    &cfg,
                    Instant::now() + Duration::from_secs(600),
                    |e| {
                        if matches!(e, Event::Receipt { .. }) {
                            got += 1;
                        }
                    },
                )
                .await?;
                Ok::<_, anyhow::Error>((got, stats.wire_bytes))
            }));
        }
        let mut received = 0;
        let mut wire = 0;
        for t in tasks {
            let (g, w) = t.await??;
            received += g;
            wire += w;
        }
        Ok::<_, anyhow::Error>((received, wire))
    })?;
    let secs = start.elapsed().as_secs_f64();
    let total = nodes * per_node;
    let rss = peak_rss_kib(hub_pid).unwrap_or(0);
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!("| sealed sessions delivered with a verified receipt | {received} / {total} |");
    println!("| time, first connection to last receipt | {secs:.2} s |");
    println!(
        "| hub ingest rate | {:.0} sessions/s |",
        received as f64 / secs
    );
    println!(
        "| hub peak memory (VmHWM) | {:.1} MB |",
        rss as f64 / 1024.0
    );
    println!(
        "| bytes on the wire per session (handshake included) | {} |",
        wire / total.max(1) as u64
    );
    println!(
        "| saved document per session | {} bytes |",
        doc_bytes / total.max(1)
    );
    if received != total {
        bail!("{} sessions without a receipt", total - received);
    }
    // The operator's view over everything received: the first query computes every
    // session's result; later ones reuse them.
    let mut times = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        hub.ok(&["status", "--json"]);
        times.push(t.elapsed().as_secs_f64());
    }
    println!(
        "| hub `status` over {total} sessions: first call, second call | {:.2} s, {:.3} s |",
        times[0], times[1]
    );
    node_figures(&hub, if quick { 10 } else { 50 })
}

/// Runs `tinnhiem-node --home HOME args` and returns (seconds, peak resident KiB, ok).
/// The peak is VmHWM read every few milliseconds while it runs: a high-water mark, so
/// the last read before exit is the process's peak within that interval.
fn measured_node(home: &std::path::Path, args: &[&str]) -> Result<(f64, u64, bool)> {
    let start = Instant::now();
    let mut child = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-node"))
        .arg("--home")
        .arg(home)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = peak_rss_kib(child.id()) {
            peak = peak.max(kib);
        }
        if let Some(st) = child.try_wait()? {
            break st;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok((start.elapsed().as_secs_f64(), peak, status.success()))
}

/// A district node with `n` sealed sessions: cold start (a command on that home, from
/// process start to exit) and peak memory while `sync --once` delivers them all.
fn node_figures(hub: &Hub, n: usize) -> Result<()> {
    let node = tinnhiem_tests::NodeHome::init("lai-chau.bench");
    hub.ok(&[
        "registry",
        "add",
        "--unit",
        "lai-chau.bench",
        "--key",
        node.ok(&["key", "show"]).trim(),
        "--parent",
        "quoc-gia",
    ]);
    for i in 0..n {
        node.seal_session(&format!("ky-{i:03}"), 10 + (i as u64 % 15));
    }
    node.point_at(hub.addr, &hub.key);
    let (cold, cold_kib, ok) = measured_node(node.path(), &["status"])?;
    if !ok {
        bail!("tinnhiem-node status failed");
    }
    let (secs, kib, ok) = measured_node(node.path(), &["sync", "--once", "--timeout", "120"])?;
    if !ok {
        bail!("tinnhiem-node sync --once did not deliver every seal");
    }
    println!(
        "| node cold start: `status` on a home with {n} sealed sessions | {:.0} ms, {:.1} MB |",
        cold * 1000.0,
        cold_kib as f64 / 1024.0
    );
    println!(
        "| node peak memory while `sync --once` delivers {n} sessions | {:.1} MB ({secs:.2} s) |",
        kib as f64 / 1024.0
    );
    Ok(())
}

/// `--flaky`: 700 districts through the simulated link at 0, 10 and 30% loss.
fn flaky() -> Result<()> {
    const DISTRICTS: usize = 700;
    println!("tinnhiem-bench --flaky: {DISTRICTS} districts, one sealed session each, 300 ms RTT, partitions (up 8 s / down 2 s)");
    println!();
    println!("| loss | all {DISTRICTS} with receipts | ratio to 0% | connections | wire bytes per session |");
    println!("|---|---|---|---|---|");
    let mut clean = None;
    for loss in [0u32, 10, 30] {
        let (secs, conns, wire) = flaky_run(DISTRICTS, loss)?;
        let base = *clean.get_or_insert(secs);
        println!(
            "| {loss}% | {secs:.1} s | {:.2}× | {conns} | {} |",
            secs / base,
            wire / DISTRICTS as u64
        );
    }
    Ok(())
}

fn flaky_run(districts: usize, loss: u32) -> Result<(f64, u64, u64)> {
    let hub = Hub::start("lai-chau");
    let mut reg = String::new();
    for i in 0..districts {
        reg.push_str(&format!(
            "[[unit]]\nid = \"huyen-{i:03}\"\nkey = \"{}\"\nparent = \"lai-chau\"\n\n",
            node_key(i).public().to_hex()
        ));
    }
    let reg_file = hub.path().join("bench-registry.toml");
    std::fs::write(&reg_file, reg)?;
    hub.ok(&["registry", "import", reg_file.to_str().context("path")?]);
    let hub_key = PublicKey::from_hex(&hub.key)?;
    let loss_s = loss.to_string();
    let (_sim, addr) = netsim(
        hub.addr,
        &[
            "--loss",
            &loss_s,
            "--delay-ms",
            "150",
            "--jitter-ms",
            "20",
            "--up-secs",
            "8",
            "--down-secs",
            "2",
            "--seed",
            "700",
        ],
    );
    let mut work = Vec::new();
    for i in 0..districts {
        let key = node_key(i);
        let unit = UnitId::new(format!("huyen-{i:03}"))?;
        let s = SessionFile::from_json(&session_file("ky-hop-2023", 10 + (i as u64 % 15)))?
            .into_session(&unit, || "e".into())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut d = SessionDoc::from_session(&s, b"bench", 1)?;
        let (seal, _) = seal_doc(&mut d, &key, 1, 2).map_err(|p| anyhow::anyhow!("{p:?}"))?;
        work.push((unit, key, d.save(), seal));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(1200);
    let (conns, wire) = rt.block_on(async {
        let mut tasks = Vec::new();
        for (i, (unit, key, bytes, seal)) in work.into_iter().enumerate() {
            tasks.push(tokio::spawn(async move {
                // Start within the first second, as offices come online.
                tokio::time::sleep(Duration::from_millis((i as u64 * 7) % 1000)).await;
                let cfg = NetConfig::default();
                let ep =
                    net::client_endpoint(&key, hub_key, &cfg).map_err(|e| anyhow::anyhow!(e))?;
                let (mut conns, mut wire, mut attempt) = (0u64, 0u64, 0u32);
                loop {
                    let doc = SessionDoc::load(&bytes, b"bench")?;
                    let job = Job {
                        doc,
                        sync_state: None,
                        seals: vec![seal.clone()],
                    };
                    let machine = NodeSession::new(unit.as_str(), hub_key, vec![job], 0, 5_000);
                    let mut got = false;
                    conns += 1;
                    let r = deliver(&ep, addr, machine, &cfg, deadline, |e| {
                        if matches!(e, Event::Receipt { .. }) {
                            got = true;
                        }
                    })
                    .await;
                    if let Ok(st) = &r {
                        wire += st.wire_bytes;
                    }
                    if got {
                        return Ok::<_, anyhow::Error>((conns, wire));
                    }
                    if Instant::now() > deadline {
                        bail!("{unit}: no receipt before the deadline");
                    }
                    // Backoff with jitter, as the node's outbox: 0.5 s doubling to 8 s.
                    attempt = (attempt + 1).min(5);
                    let base = 250u64 << attempt;
                    let jitter = (i as u64 * 131 + attempt as u64 * 17) % base;
                    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
                }
            }));
        }
        let (mut conns, mut wire) = (0, 0);
        for t in tasks {
            let (c, w) = t.await??;
            conns += c;
            wire += w;
        }
        Ok::<_, anyhow::Error>((conns, wire))
    })?;
    Ok((start.elapsed().as_secs_f64(), conns, wire))
}
