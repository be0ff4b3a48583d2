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
//! The workloads (`tinnhiem_tests::workload`): realistic sessions first (30 subjects
//! with tallies; 50 ballots × 30 marks on one laptop; the same from 5 laptops, merged),
//! 70 nodes × 10 sessions each, then today's one-subject case, 100 nodes × 100 sessions
//! (10 000, a whole country) and a node with 50. Each on a fresh hub; after each, in
//! this process, the ceiling over the same documents (`tinnhiem_tests::ceiling`) and
//! ingest as a share of it. `--workloads tallies-30,one-subject` picks some.
//! `--quick` (CI): 4 nodes × 2 realistic sessions each, 10 × 10 one-subject ones, a
//! node with 10.
//!
//! `--flaky`: 700 district nodes with one sealed session each, through the simulated
//! link (`tinnhiem-netsim`: 300 ms RTT, jitter, partitions) at 0%, 10% and 30% loss, a
//! fresh hub each time; the time until all 700 have receipts, and the ratios to the
//! clean run. A node whose connection fails retries with backoff, as `sync --daemon`
//! does (but from scratch: these simulated nodes keep no sync state between attempts,
//! which can only make them slower than the real node).
//!
//! `--flood`: 100 districts deliver on loopback to a fresh hub, once alone and once
//! while 2 200 captured client Initials of an unregistered key are replayed at the hub
//! (1 100 from one socket in 0.5 s, as in the field report, then 1 100 from 100
//! sockets); each district's time to its receipt, and the hub's peak memory.
//!
//! `--tun` (root): the same 700 districts, once over our QUIC sync to a real hub and
//! once as HTTPS uploads of the whole document (the baseline), both through TUN devices
//! between two network namespaces that this process joins through the netsim link
//! (`tunlink`), at 0%, 10% and 30% loss (`--losses 0,30`, `--districts N` to shorten).
//!
//! `--logins`: 1,000 wrong logins at once (`--quick`: 200) against a real node's and a
//! real hub's web pages, first as one guesser after one account, then as 1,000
//! machines after 1,000 accounts; the answers by status and each server's peak
//! resident memory, then how long a correct login takes right after.

use anyhow::{bail, Context, Result};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{SessionFile, UnitId};
use tinnhiem_core::proto::node::{Event, Job, NodeSession};
use tinnhiem_core::seal::{seal_doc, PublicKey, Seal, UnitKey};
use tinnhiem_net::client::deliver;
use tinnhiem_net::{self as net, NetConfig};
use tinnhiem_tests::tunlink::{district_ip, in_netns, spawn_in_netns, TunLink, HUB_IP};
use tinnhiem_tests::workload::Workload;
use tinnhiem_tests::{ceiling, netsim, session_file, Hub};

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
    if std::env::args().any(|a| a == "--tun") {
        return tun();
    }
    if std::env::args().any(|a| a == "--flood") {
        return flood();
    }
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::args().any(|a| a == "--logins") {
        return logins(if quick { 200 } else { 1000 });
    }
    let chosen: Vec<Workload> = match std::env::args().skip_while(|a| a != "--workloads").nth(1) {
        Some(list) => list
            .split(',')
            .map(|w| {
                Workload::parse(w).with_context(|| {
                    format!(
                        "--workloads: unknown {w:?}; known: {}",
                        Workload::ALL.map(Workload::key).join(",")
                    )
                })
            })
            .collect::<Result<_>>()?,
        None => Workload::ALL.to_vec(),
    };
    println!(
        "tinnhiem-bench: hub ingest and its ceiling, {} core(s), {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick { "--quick" } else { "full" }
    );
    let mut rows = Vec::new();
    for w in chosen {
        // The realistic sessions as 70 district homes delivering 10 each (the field's
        // measurement, issue 15); the one-subject case as before, a whole country.
        let (nodes, per_node) = match (w, quick) {
            (Workload::OneSubject, false) => (100usize, 100usize),
            (Workload::OneSubject, true) => (10, 10),
            (_, false) => (70, 10),
            (_, true) => (4, 2),
        };
        let (row, hub) = ingest(w, nodes, per_node)?;
        rows.push(row);
        if w == Workload::OneSubject {
            // The operator's view over everything received: the first query computes
            // every session's result; later ones reuse them.
            let mut times = Vec::new();
            for _ in 0..2 {
                let t = Instant::now();
                hub.ok(&["status", "--json"]);
                times.push(t.elapsed().as_secs_f64());
            }
            println!(
                "| hub `status` over {} sessions: first call, second call | {:.2} s, {:.3} s |",
                nodes * per_node,
                times[0],
                times[1]
            );
            node_figures(&hub, if quick { 10 } else { 50 })?;
        }
    }
    println!();
    println!("Ingest against its ceiling (same documents, same process, right after):");
    println!();
    println!("| workload | sessions (nodes × each) | saved document | ingest time | ingest rate | hub CPU / session | bench clients CPU / session | ceiling CPU / session (verify + commit) | ceiling CPU ÷ hub CPU | durable batches of B: per second | ceiling rate | ingest ÷ ceiling | hub peak memory | wire bytes / session |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!("{r}");
    }
    Ok(())
}

/// One workload's figures, as a row of the summary table.
struct Row {
    workload: Workload,
    nodes: usize,
    per_node: usize,
    doc_bytes: usize,
    secs: f64,
    hub_cpu: f64,
    client_cpu: f64,
    peak_kib: u64,
    wire: u64,
    ceiling: ceiling::Ceiling,
}

impl std::fmt::Display for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = (self.nodes * self.per_node).max(1);
        let rate = n as f64 / self.secs;
        let c = &self.ceiling;
        write!(
            f,
            "| {} | {n} ({} × {}) | {} bytes | {:.2} s | {:.0} /s | {:.2} ms | {:.2} ms | {:.2} ms ({:.2} + {:.2}) | {:.0}% | B = {}: {:.0} /s | {:.0} /s | **{:.0}%** | {:.1} MB | {} |",
            self.workload.key(),
            self.nodes,
            self.per_node,
            self.doc_bytes / n,
            self.secs,
            rate,
            self.hub_cpu * 1000.0 / n as f64,
            self.client_cpu * 1000.0 / n as f64,
            c.cpu_ms(),
            c.verify_cpu * 1000.0 / n as f64,
            c.commit_cpu * 1000.0 / n as f64,
            100.0 * c.cpu_ms() / (self.hub_cpu * 1000.0 / n as f64),
            c.batch,
            c.fsync_rate(),
            c.rate(),
            100.0 * rate / c.rate(),
            self.peak_kib as f64 / 1024.0,
            self.wire / n as u64,
        )
    }
}

/// A fresh hub; `nodes` simulated nodes (tokio tasks, each its own key and QUIC
/// connection) deliver `per_node` sealed sessions of workload `w` each; then the
/// ceiling over the same documents. Returns the figures and the hub, still serving.
fn ingest(w: Workload, nodes: usize, per_node: usize) -> Result<(Row, Hub)> {
    println!();
    println!(
        "## {}: {} — {nodes} nodes × {per_node} sessions = {}",
        w.key(),
        w.describe(),
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

    // Prepare every sealed document first: the clock measures delivery only. Each job
    // is loaded from its saved bytes, as the node loads it from its store.
    let t = Instant::now();
    let mut work = Vec::new();
    let mut items = Vec::new();
    let mut doc_bytes = 0usize;
    for i in 0..nodes {
        let key = node_key(i);
        let unit = UnitId::new(format!("tinh-{i:03}"))?;
        let mut jobs = Vec::new();
        for j in 0..per_node {
            let (bytes, seal) = w.sealed(&unit, j, &key)?;
            doc_bytes += bytes.len();
            jobs.push(Job {
                doc: SessionDoc::load(&bytes, b"may-0")?,
                sync_state: None,
                seals: vec![seal.clone()],
            });
            items.push(ceiling::Item {
                unit: unit.to_string(),
                doc: bytes,
                seal,
            });
        }
        work.push((unit, key, jobs));
    }
    println!(
        "documents built and sealed in {:.2} s ({} bytes each on average)",
        t.elapsed().as_secs_f64(),
        doc_bytes / items.len().max(1)
    );

    let rt = runtime()?;
    let hub_cpu0 = ceiling::cpu_secs(hub_pid).context("hub CPU")?;
    let own_cpu0 = ceiling::cpu_secs(std::process::id()).context("own CPU")?;
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
                    || {},
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
    let hub_cpu = ceiling::cpu_secs(hub_pid).context("hub CPU")? - hub_cpu0;
    let client_cpu = ceiling::cpu_secs(std::process::id()).context("own CPU")? - own_cpu0;
    drop(rt);
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
    println!("| hub CPU, bench clients' CPU | {hub_cpu:.2} s, {client_cpu:.2} s |");
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
    // At most one seal per connection waits in the hub's committer at a time, so the
    // largest batch it can form is one per node.
    let c = ceiling::measure(&items, nodes.min(256), &std::env::temp_dir())?;
    println!(
        "| ceiling: verify pass on {} threads | {:.2} s wall, {:.2} s CPU |",
        c.threads, c.verify_wall, c.verify_cpu
    );
    println!(
        "| ceiling: commit pass, batches of {} | {:.2} s wall, {:.2} s CPU, {:.0} durable batches/s |",
        c.batch,
        c.commit_wall,
        c.commit_cpu,
        c.fsync_rate()
    );
    println!(
        "| ceiling | {:.2} s, {:.0} sessions/s; ingest at {:.0}% of it |",
        c.secs(),
        c.rate(),
        100.0 * (received as f64 / secs) / c.rate()
    );
    println!();
    println!("The hub's own steps for these sessions, one thread, each alone (CPU ms per session; × how often the hub does it per first delivery):");
    println!();
    println!("| step | ms / session | × |");
    println!("|---|---|---|");
    for (step, times, ms) in ceiling::hub_steps(&items)? {
        println!("| {step} | {ms:.3} | {times} |");
    }
    Ok((
        Row {
            workload: w,
            nodes,
            per_node,
            doc_bytes,
            secs,
            hub_cpu,
            client_cpu,
            peak_kib: rss,
            wire,
            ceiling: c,
        },
        hub,
    ))
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
    println!("| loss | all {DISTRICTS} with receipts | ratio to 0% | connections | wire bytes per session | each district p50 / p90 / p99 |");
    println!("|---|---|---|---|---|---|");
    let mut clean = None;
    for loss in [0u32, 10, 30] {
        let (secs, conns, wire, tail) = flaky_run(DISTRICTS, loss)?;
        let base = *clean.get_or_insert(secs);
        println!(
            "| {loss}% | {secs:.1} s | {:.2}× | {conns} | {} | {tail} s |",
            secs / base,
            wire / DISTRICTS as u64
        );
    }
    Ok(())
}

/// One district's delivery: its unit, its saved sealed document and the seal.
#[derive(Clone)]
struct Work {
    unit: UnitId,
    doc: Vec<u8>,
    seal: Seal,
}

/// A fresh hub (not serving yet) that knows the keys of `districts` districts.
fn registered_hub(districts: usize) -> Result<Hub> {
    let hub = Hub::init("lai-chau");
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
    Ok(hub)
}

/// `districts` sealed sessions, one per district.
fn sealed_districts(districts: usize) -> Result<Vec<Work>> {
    let mut work = Vec::new();
    for i in 0..districts {
        let unit = UnitId::new(format!("huyen-{i:03}"))?;
        let s = SessionFile::from_json(&session_file("ky-hop-2023", 10 + (i as u64 % 15)))
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .into_session(&unit, || "e".into())
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut d = SessionDoc::from_session(&s, b"bench", 1)?;
        let (seal, _) =
            seal_doc(&mut d, &node_key(i), 1, 2).map_err(|p| anyhow::anyhow!("{p:?}"))?;
        work.push(Work {
            unit,
            doc: d.save(),
            seal,
        });
    }
    Ok(work)
}

/// A multi-threaded tokio runtime (built on the calling thread, so in its namespace).
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Backoff with jitter after a failed attempt, as the node's outbox: 0.5 s doubling to 8 s.
async fn backoff(i: usize, attempt: &mut u32) {
    *attempt = (*attempt + 1).min(5);
    let base = 250u64 << *attempt;
    let jitter = (i as u64 * 131 + u64::from(*attempt) * 17) % base;
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// Every district delivers its seal over QUIC to `addr` (from `bind(i)`), retrying until
/// it has a receipt. Returns the connections made and the QUIC bytes of the attempts
/// that ended cleanly.
async fn quic_districts(
    work: Vec<Work>,
    addr: std::net::SocketAddr,
    hub_key: PublicKey,
    bind: fn(usize) -> std::net::SocketAddr,
    deadline: Instant,
) -> Result<(u64, u64, Vec<f64>)> {
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (i, w) in work.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            // Start within the first second, as offices come online.
            tokio::time::sleep(Duration::from_millis((i as u64 * 7) % 1000)).await;
            let cfg = NetConfig::default();
            let ep = net::client_endpoint_on(&node_key(i), hub_key, &cfg, bind(i))
                .map_err(|e| anyhow::anyhow!(e))?;
            let (mut conns, mut wire, mut attempt) = (0u64, 0u64, 0u32);
            loop {
                let job = Job {
                    doc: SessionDoc::load(&w.doc, b"bench")?,
                    sync_state: None,
                    seals: vec![w.seal.clone()],
                };
                let machine = NodeSession::new(w.unit.as_str(), hub_key, vec![job], 0, 5_000);
                let mut got = false;
                conns += 1;
                let r = deliver(
                    &ep,
                    addr,
                    machine,
                    &cfg,
                    deadline,
                    |e| {
                        if matches!(e, Event::Receipt { .. }) {
                            got = true;
                        }
                    },
                    || {},
                )
                .await;
                if let Ok(st) = &r {
                    wire += st.wire_bytes;
                }
                if got {
                    return Ok::<_, anyhow::Error>((conns, wire, t0.elapsed().as_secs_f64()));
                }
                if Instant::now() > deadline {
                    bail!("{}: no receipt before the deadline", w.unit);
                }
                backoff(i, &mut attempt).await;
            }
        }));
    }
    let (mut conns, mut wire, mut times) = (0, 0, Vec::new());
    for t in tasks {
        let (c, w, at) = t.await??;
        conns += c;
        wire += w;
        times.push(at);
    }
    Ok((conns, wire, times))
}

/// "p50 / p90 / p99" of completion times, seconds.
fn percentiles(mut t: Vec<f64>) -> String {
    t.sort_by(f64::total_cmp);
    let at = |p: usize| {
        t.get((t.len() * p / 100).min(t.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    format!("{:.1} / {:.1} / {:.1}", at(50), at(90), at(99))
}

fn any_addr(_: usize) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], 0))
}

fn flaky_run(districts: usize, loss: u32) -> Result<(f64, u64, u64, String)> {
    let work = sealed_districts(districts)?;
    let mut hub = registered_hub(districts)?;
    hub.serve(&[]);
    let hub_key = PublicKey::from_hex(&hub.key)?;
    let args = flaky_link(loss).to_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (_sim, addr) = netsim(hub.addr, &args);
    let rt = runtime()?;
    let start = Instant::now();
    let deadline = start + Duration::from_secs(1200);
    let (conns, wire, times) =
        rt.block_on(quic_districts(work, addr, hub_key, any_addr, deadline))?;
    Ok((
        start.elapsed().as_secs_f64(),
        conns,
        wire,
        percentiles(times),
    ))
}

/// The link of the flaky runs, at `loss`.
fn flaky_link(loss: u32) -> netsim::LinkConfig {
    netsim::LinkConfig {
        loss,
        delay_ms: 150,
        jitter_ms: 20,
        dup: 0,
        reorder: 0,
        rate_kbps: 0,
        up_secs: 8,
        down_secs: 2,
        seed: 700,
    }
}

/// `--flood`: honest districts with and without a burst of replayed Initials.
fn flood() -> Result<()> {
    const DISTRICTS: usize = 100;
    println!("tinnhiem-bench --flood: {DISTRICTS} districts on loopback, one sealed session each; the flood: 1 100 replayed client Initials from one socket in 0.5 s, then 1 100 from 100 sockets in 0.5 s");
    println!();
    println!("| run | all {DISTRICTS} with receipts | each district p50 / p90 / max | hub peak memory (VmHWM) | flood: datagrams sent / answered / Retries |");
    println!("|---|---|---|---|---|");
    for with_flood in [false, true] {
        let work = sealed_districts(DISTRICTS)?;
        let mut hub = registered_hub(DISTRICTS)?;
        hub.serve(&[]);
        let hub_key = PublicKey::from_hex(&hub.key)?;
        let addr = hub.addr;
        let rt = runtime()?;
        let stranger = UnitKey::from_seed([66; 32]);
        let bursts = if with_flood {
            rt.block_on(async {
                (
                    tinnhiem_tests::flood::capture_initials(1100, &stranger, hub_key).await,
                    tinnhiem_tests::flood::capture_initials(1100, &stranger, hub_key).await,
                )
            })
        } else {
            (Vec::new(), Vec::new())
        };
        let start = Instant::now();
        let deadline = start + Duration::from_secs(300);
        let (secs, times, replayed) = rt.block_on(async {
            let flood = tokio::spawn(async move {
                use tinnhiem_tests::flood::replay;
                let (one, spread) = bursts;
                if one.is_empty() {
                    return None;
                }
                let a = replay(&one, addr, 1, Duration::from_millis(500), Duration::ZERO).await;
                let b = replay(
                    &spread,
                    addr,
                    100,
                    Duration::from_millis(500),
                    Duration::from_secs(1),
                )
                .await;
                Some((a, b))
            });
            // The districts start 0.1 s into the burst.
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, _, times) = quic_districts(work, addr, hub_key, any_addr, deadline).await?;
            let secs = start.elapsed().as_secs_f64() - 0.1;
            let replayed = flood.await.ok().flatten();
            Ok::<_, anyhow::Error>((secs, times, replayed))
        })?;
        let rss = hub.pid().and_then(peak_rss_kib).unwrap_or(0);
        let mut times = times;
        times.sort_by(f64::total_cmp);
        // From the start of the districts (which come online over the first second).
        let at = |q: usize| times.get(times.len() * q / 100).copied().unwrap_or(0.0);
        let max = times.last().copied().unwrap_or(0.0);
        println!(
            "| {} | {secs:.2} s | {:.2} / {:.2} / {max:.2} s | {:.1} MB | {} |",
            if with_flood {
                "during the flood"
            } else {
                "alone"
            },
            at(50),
            at(90),
            rss as f64 / 1024.0,
            replayed.map_or("—".to_string(), |(a, b)| format!(
                "{} / {} / {} (one socket), {} / {} / {} (100 sockets)",
                a.sent, a.answers, a.retries, b.sent, b.answers, b.retries
            ))
        );
    }
    Ok(())
}

/// HTTPS: give up an attempt that has not brought a receipt in this long, and start over.
const HTTPS_ATTEMPT: Duration = Duration::from_secs(30);

/// `--tun`: the flaky workload over QUIC and over HTTPS, both through TUN devices
/// between network namespaces, at 0, 10 and 30% loss.
fn tun() -> Result<()> {
    const DISTRICTS: usize = 700;
    let districts = std::env::args()
        .skip_while(|a| a != "--districts")
        .nth(1)
        .map(|n| n.parse::<usize>())
        .transpose()
        .context("--districts N")?
        .unwrap_or(DISTRICTS);
    let link = TunLink::new(districts, flaky_link(0)).context(
        "--tun needs root, /dev/net/tun and iproute2 (network namespaces and TUN devices)",
    )?;
    println!("tinnhiem-bench --tun: {districts} districts, one sealed session each, 300 ms RTT, partitions (up 8 s / down 2 s), through TUN devices between two network namespaces");
    // The HTTPS server, in the hub's namespace, for every run.
    let (cert, pk) = tinnhiem_tests::https::certificate(HUB_IP.into())?;
    let store = tempfile::tempdir()?;
    let https_addr = std::net::SocketAddr::from((HUB_IP, 4443));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (c2, dir) = (cert.clone(), store.path().to_path_buf());
    let _server = spawn_in_netns(&link.hub_ns, move || {
        runtime()?.block_on(async move {
            let l = tokio::net::TcpListener::bind(https_addr).await;
            let l = match l {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return Ok(());
                }
            };
            tinnhiem_tests::https::serve(l, c2, pk, dir, UnitKey::from_seed([9; 32])).await
        })
    })?;
    ready_rx
        .recv()
        .context("HTTPS server thread")?
        .map_err(|e| anyhow::anyhow!("HTTPS server: {e}"))?;
    let tls = tinnhiem_tests::https::client_config(&cert)?;
    println!();
    println!("| loss | QUIC (ours): all with receipts | HTTPS: all with receipts | HTTPS ÷ QUIC | QUIC vs its 0% | connections QUIC / HTTPS | IP bytes per session QUIC / HTTPS |");
    println!("|---|---|---|---|---|---|---|");
    let losses: Vec<u32> = match std::env::args().skip_while(|a| a != "--losses").nth(1) {
        Some(l) => l
            .split(',')
            .map(|x| x.parse())
            .collect::<Result<_, _>>()
            .context("--losses 0,10,30")?,
        None => vec![0, 10, 30],
    };
    let (mut clean, mut tails) = (None, Vec::new());
    let sealed = sealed_districts(districts)?;
    for loss in losses {
        // Ours: a real hub in the hub's namespace.
        let mut hub = registered_hub(districts)?;
        let work = sealed.clone();
        let counters = link.reset(flaky_link(loss));
        hub.serve_in_netns(&link.hub_ns, &format!("{HUB_IP}:0"));
        let (addr, hub_key) = (hub.addr, PublicKey::from_hex(&hub.key)?);
        let (q_secs, q_conns, q_times) = in_netns(&link.districts_ns, move || {
            let rt = runtime()?;
            let start = Instant::now();
            let deadline = start + Duration::from_secs(1800);
            let (conns, _, times) =
                rt.block_on(quic_districts(work, addr, hub_key, district_addr, deadline))?;
            Ok((start.elapsed().as_secs_f64(), conns, times))
        })?;
        let q_bytes = counters.bytes.load(Ordering::Relaxed);
        drop(hub);
        // The baseline: the same documents and seals, one HTTPS POST each.
        let work = sealed.clone();
        let counters = link.reset(flaky_link(loss));
        let tls = tls.clone();
        let (h_secs, h_conns, h_times) = in_netns(&link.districts_ns, move || {
            let rt = runtime()?;
            let start = Instant::now();
            let (conns, times) = rt.block_on(https_districts(work, https_addr, tls))?;
            Ok((start.elapsed().as_secs_f64(), conns, times))
        })?;
        let h_bytes = counters.bytes.load(Ordering::Relaxed);
        let base = *clean.get_or_insert(q_secs);
        let n = districts as u64;
        println!(
            "| {loss}% | {q_secs:.1} s | {h_secs:.1} s | {:.2}× | {:.2}× | {q_conns} / {h_conns} | {} / {} |",
            h_secs / q_secs,
            q_secs / base,
            q_bytes / n,
            h_bytes / n
        );
        tails.push(format!(
            "| {loss}% | {} | {} |",
            percentiles(q_times),
            percentiles(h_times)
        ));
    }
    println!();
    println!("Each district's time to its receipt, p50 / p90 / p99, seconds:");
    println!();
    println!("| loss | QUIC (ours) | HTTPS |");
    println!("|---|---|---|");
    for t in tails {
        println!("{t}");
    }
    Ok(())
}

fn district_addr(i: usize) -> std::net::SocketAddr {
    std::net::SocketAddr::from((district_ip(i), 0))
}

/// Every district uploads its document and seal by HTTPS until it has a receipt.
/// Returns the attempts (connections) made.
async fn https_districts(
    work: Vec<Work>,
    addr: std::net::SocketAddr,
    tls: std::sync::Arc<rustls::ClientConfig>,
) -> Result<(u64, Vec<f64>)> {
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for (i, w) in work.into_iter().enumerate() {
        let tls = tls.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis((i as u64 * 7) % 1000)).await;
            let body = tinnhiem_tests::https::body(&w.seal, &w.doc);
            let (mut conns, mut attempt) = (0u64, 0u32);
            loop {
                conns += 1;
                let r = tinnhiem_tests::https::upload(
                    addr,
                    district_ip(i).into(),
                    tls.clone(),
                    body.clone(),
                    HTTPS_ATTEMPT,
                )
                .await;
                if r.is_ok() {
                    return Ok::<_, anyhow::Error>((conns, t0.elapsed().as_secs_f64()));
                }
                if conns > 200 {
                    bail!("{}: no receipt after 200 attempts: {r:?}", w.unit);
                }
                backoff(i, &mut attempt).await;
            }
        }));
    }
    let (mut conns, mut times) = (0, Vec::new());
    for t in tasks {
        let (c, at) = t.await??;
        conns += c;
        times.push(at);
    }
    Ok((conns, times))
}

/// `--logins`: wrong logins at once against both servers' pages; see the module doc.
fn logins(n: usize) -> Result<()> {
    use tinnhiem_tests::http::{self, Flood};
    const PASSWORD: &str = "mat-khau-dung-1";
    println!("tinnhiem-bench: {n} wrong logins at once, node and hub web pages");
    let node = tinnhiem_tests::NodeHome::init("lai-chau.phong-tho");
    node.user("lan", "clerk", PASSWORD);
    node.user("hoa", "clerk", PASSWORD);
    let node_web = node.web(false);
    let mut hub = Hub::init("lai-chau");
    hub.serve(&["--http", "127.0.0.1:0"]);
    for name in ["lan", "hoa"] {
        let out = std::process::Command::new(tinnhiem_tests::bin("tinnhiem-hub"))
            .arg("--home")
            .arg(hub.path())
            .args(["user", "add", name, "--role", "staff"])
            .env("TINNHIEM_PASSWORD", PASSWORD)
            .output()?;
        if !out.status.success() {
            bail!("hub user add: {out:?}");
        }
    }
    let servers = [
        ("node", node_web.base.clone(), node_web.pid()),
        (
            "hub",
            hub.web.clone().context("hub web")?,
            hub.pid().context("hub pid")?,
        ),
    ];
    let rt = runtime()?;
    for (what, base, pid) in servers {
        // One correct login first: argon2 has run once, as on any server in use.
        http::login(&base, "hoa", PASSWORD);
        let idle = http::peak_rss_kib(pid).context("VmHWM")?;
        println!("{what}: peak RSS after one login {} MiB", idle / 1024);
        for how in [Flood::OneAccount, Flood::ManyMachines] {
            let t = Instant::now();
            let statuses = rt.block_on(http::flood(&base, n, how));
            let took = t.elapsed();
            let mut by: std::collections::BTreeMap<u16, usize> = Default::default();
            for s in statuses {
                *by.entry(s).or_default() += 1;
            }
            let peak = http::peak_rss_kib(pid).context("VmHWM")?;
            println!(
                "{what} {how:?}: {n} at once in {:.1} s, answers {by:?}, peak RSS {} MiB",
                took.as_secs_f64(),
                peak / 1024
            );
            let t = Instant::now();
            http::login_from(&base, "hoa", PASSWORD, Some("192.168.50.1"));
            println!(
                "{what}: a correct login right after: {} ms",
                t.elapsed().as_millis()
            );
        }
    }
    Ok(())
}
