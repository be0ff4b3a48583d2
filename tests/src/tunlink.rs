//! The same bad link as [`crate::netsim`], for any IP traffic, TCP included: two network
//! namespaces joined by two TUN devices, with this process moving every packet between
//! them through a [`Link`] per district (loss, delay, jitter, partitions).
//!
//! A UDP proxy cannot carry TCP, so a fair comparison of our QUIC sync with an HTTPS
//! upload needs the packets of both to cross the same link: here they do, because the
//! forwarder sees IP packets, not datagrams. Each district has its own address in the
//! districts' namespace, and the link of a packet is the district's whose address is its
//! source (going up) or destination (coming down); so the partition schedule of district
//! `i` is the same whichever protocol crosses it, and the same as through netsim.
//!
//! Needs root (network namespaces, `/dev/net/tun`) and the `ip` command; the namespaces
//! are removed when the [`TunLink`] is dropped.

use crate::netsim::{Counters, Link, LinkConfig};
use anyhow::{bail, Context, Result};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;
use tun_rs::{DeviceBuilder, SyncDevice};

/// The hub's address, in the hub's namespace.
pub const HUB_IP: Ipv4Addr = Ipv4Addr::new(10, 201, 0, 1);

/// District `i`'s address, in the districts' namespace.
pub fn district_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 202, (i / 250) as u8, (i % 250) as u8 + 1)
}

fn district_of(ip: [u8; 4]) -> Option<u32> {
    if ip[0] != 10 || ip[1] != 202 || ip[3] == 0 || ip[3] > 250 {
        return None;
    }
    Some(u32::from(ip[2]) * 250 + u32::from(ip[3]) - 1)
}

/// A packet waiting for its departure time.
struct Pending {
    at: Instant,
    seq: u64,
    up: bool,
    data: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

struct Shared {
    cfg: Mutex<LinkConfig>,
    links: Mutex<HashMap<u32, Link>>,
    queue: Mutex<(BinaryHeap<Reverse<Pending>>, u64)>,
    ready: Condvar,
    counters: Mutex<Arc<Counters>>,
}

/// Two namespaces (`hub`, `districts`) and the forwarder between them.
pub struct TunLink {
    /// The hub's namespace name (for `ip netns exec`).
    pub hub_ns: String,
    /// The districts' namespace name.
    pub districts_ns: String,
    shared: Arc<Shared>,
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("run `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn ip_batch(ns: &str, lines: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("run `ip -batch`")?;
    child
        .stdin
        .take()
        .context("ip stdin")?
        .write_all(lines.as_bytes())?;
    if !child.wait()?.success() {
        bail!("ip -n {ns} -batch failed");
    }
    Ok(())
}

impl TunLink {
    /// Creates the namespaces, the devices and `districts` addresses, and starts moving
    /// packets through `cfg`.
    pub fn new(districts: usize, cfg: LinkConfig) -> Result<TunLink> {
        let tag = std::process::id() % 100_000;
        let (hub_ns, districts_ns) = (format!("tn-hub-{tag}"), format!("tn-dist-{tag}"));
        let (hub_dev, dist_dev) = (format!("tnh{tag}"), format!("tnd{tag}"));
        ip(&["netns", "add", &hub_ns])?;
        let link = TunLink {
            hub_ns: hub_ns.clone(),
            districts_ns: districts_ns.clone(),
            shared: Arc::new(Shared {
                cfg: Mutex::new(cfg),
                links: Mutex::new(HashMap::new()),
                queue: Mutex::new((BinaryHeap::new(), 0)),
                ready: Condvar::new(),
                counters: Mutex::new(Arc::new(Counters::default())),
            }),
        };
        ip(&["netns", "add", &districts_ns])?;
        let open = |name: &str| -> Result<Arc<SyncDevice>> {
            let d = DeviceBuilder::new()
                .name(name)
                .packet_information(false)
                .build_sync()
                .with_context(|| {
                    format!("create TUN device {name} (needs root and /dev/net/tun)")
                })?;
            Ok(Arc::new(d))
        };
        let (hub, dist) = (open(&hub_dev)?, open(&dist_dev)?);
        ip(&["link", "set", &hub_dev, "netns", &hub_ns])?;
        ip(&["link", "set", &dist_dev, "netns", &districts_ns])?;
        ip_batch(
            &hub_ns,
            &format!(
                "link set lo up\naddr add {HUB_IP}/32 dev {hub_dev}\nlink set {hub_dev} up\n\
                 route add 10.202.0.0/16 dev {hub_dev}\n"
            ),
        )?;
        let mut lines = format!(
            "link set lo up\nlink set {dist_dev} up\nroute add 10.201.0.0/16 dev {dist_dev}\n"
        );
        for i in 0..districts {
            lines.push_str(&format!("addr add {}/32 dev {dist_dev}\n", district_ip(i)));
        }
        ip_batch(&districts_ns, &lines)?;
        for (from, up) in [(dist.clone(), true), (hub.clone(), false)] {
            let shared = link.shared.clone();
            std::thread::spawn(move || read_loop(&from, up, &shared));
        }
        let shared = link.shared.clone();
        std::thread::spawn(move || write_loop(&hub, &dist, &shared));
        Ok(link)
    }

    /// Starts over with a new link: every district's link state (random stream, partition
    /// clock) is created afresh, packets in flight are dropped, counters are new.
    pub fn reset(&self, cfg: LinkConfig) -> Arc<Counters> {
        *lock(&self.shared.cfg) = cfg;
        lock(&self.shared.links).clear();
        lock(&self.shared.queue).0.clear();
        let c = Arc::new(Counters::default());
        *lock(&self.shared.counters) = c.clone();
        c
    }
}

impl Drop for TunLink {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.hub_ns]);
        let _ = ip(&["netns", "del", &self.districts_ns]);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_loop(dev: &SyncDevice, up: bool, shared: &Shared) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = dev.recv(&mut buf) {
        let p = &buf[..n];
        // IPv4 only; the district is the source going up, the destination coming down.
        if n < 20 || p[0] >> 4 != 4 {
            continue;
        }
        let at = if up { 12 } else { 16 };
        let Some(district) = district_of([p[at], p[at + 1], p[at + 2], p[at + 3]]) else {
            continue;
        };
        let counters = lock(&shared.counters).clone();
        counters.packets.fetch_add(1, Ordering::Relaxed);
        let when = {
            let mut links = lock(&shared.links);
            let link = links
                .entry(district)
                .or_insert_with(|| Link::new(lock(&shared.cfg).clone(), u64::from(district)));
            link.schedule(usize::from(!up), n)
        };
        if when.is_empty() {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        counters
            .bytes
            .fetch_add((n * when.len()) as u64, Ordering::Relaxed);
        let mut q = lock(&shared.queue);
        for at in when {
            q.1 += 1;
            let seq = q.1;
            q.0.push(Reverse(Pending {
                at,
                seq,
                up,
                data: p.to_vec(),
            }));
        }
        drop(q);
        shared.ready.notify_one();
    }
}

fn write_loop(hub: &SyncDevice, dist: &SyncDevice, shared: &Shared) {
    let mut q = lock(&shared.queue);
    loop {
        let now = Instant::now();
        match q.0.peek() {
            Some(Reverse(p)) if p.at <= now => {
                let Some(Reverse(p)) = q.0.pop() else {
                    continue;
                };
                drop(q);
                let to = if p.up { hub } else { dist };
                let _ = to.send(&p.data);
                q = lock(&shared.queue);
            }
            Some(Reverse(p)) => {
                let wait = p.at - now;
                q = shared
                    .ready
                    .wait_timeout(q, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0);
            }
            None => {
                q = shared.ready.wait(q).unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}

/// Starts `f` on a new thread inside the network namespace `ns`; every socket it opens,
/// and every thread it starts (a tokio runtime's workers), belongs to that namespace.
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<std::thread::JoinHandle<Result<T>>> {
    let path = format!("/var/run/netns/{ns}");
    let file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
    Ok(std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .context("setns into the namespace")?;
        f()
    }))
}

/// [`spawn_in_netns`] and wait for its result.
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    spawn_in_netns(ns, f)?
        .join()
        .map_err(|_| anyhow::anyhow!("the thread in the namespace panicked"))?
}
