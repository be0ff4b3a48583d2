//! A user-space UDP proxy that makes a link bad on purpose: seeded loss, delay and
//! jitter, duplication, reordering, a bandwidth cap, and a schedule of partitions (link
//! up for a while, down for a while). Each client (source address) gets its own link
//! with its own upstream socket, so the hub sees distinct peers, as districts are.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

/// How bad the link is.
#[derive(Debug, Clone, clap::Args)]
pub struct LinkConfig {
    /// Percent of packets dropped, each direction.
    #[arg(long, default_value_t = 0)]
    pub loss: u32,
    /// One-way delay in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// Extra random delay, uniform in [0, jitter], milliseconds.
    #[arg(long, default_value_t = 0)]
    pub jitter_ms: u64,
    /// Percent of packets sent twice.
    #[arg(long, default_value_t = 0)]
    pub dup: u32,
    /// Percent of packets held back by an extra delay, so that later ones overtake them.
    #[arg(long, default_value_t = 0)]
    pub reorder: u32,
    /// Bandwidth cap per client and direction, in kilobits per second (0: none).
    #[arg(long, default_value_t = 0)]
    pub rate_kbps: u64,
    /// Partitions: the link is up this many seconds...
    #[arg(long, default_value_t = 0)]
    pub up_secs: u64,
    /// ...then down this many (0: never down).
    #[arg(long, default_value_t = 0)]
    pub down_secs: u64,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl LinkConfig {
    /// The same link as `tinnhiem-netsim` arguments.
    pub fn to_args(&self) -> Vec<String> {
        [
            ("--loss", u64::from(self.loss)),
            ("--delay-ms", self.delay_ms),
            ("--jitter-ms", self.jitter_ms),
            ("--dup", u64::from(self.dup)),
            ("--reorder", u64::from(self.reorder)),
            ("--rate-kbps", self.rate_kbps),
            ("--up-secs", self.up_secs),
            ("--down-secs", self.down_secs),
            ("--seed", self.seed),
        ]
        .iter()
        .flat_map(|(k, v)| [k.to_string(), v.to_string()])
        .collect()
    }
}

/// Counters, shared with whoever wants to print them.
#[derive(Debug, Default)]
pub struct Counters {
    /// Packets in.
    pub packets: AtomicU64,
    /// Packets dropped by loss or partition.
    pub dropped: AtomicU64,
    /// Bytes forwarded (both ways).
    pub bytes: AtomicU64,
    /// Clients seen.
    pub clients: AtomicU64,
}

/// One client's link: its random stream, its place in the partition cycle, its queues.
pub(crate) struct Link {
    cfg: LinkConfig,
    rng: u64,
    /// Offset into the partition cycle, so that districts do not all go down together.
    phase: u64,
    start: Instant,
    free_at: [Instant; 2],
}

impl Link {
    pub(crate) fn new(cfg: LinkConfig, salt: u64) -> Link {
        let mut rng = cfg.seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        for _ in 0..4 {
            rng = xorshift(rng);
        }
        let period = (cfg.up_secs + cfg.down_secs).max(1) * 1000;
        let phase = rng % period;
        let now = Instant::now();
        Link {
            cfg,
            rng,
            phase,
            start: now,
            free_at: [now, now],
        }
    }

    fn roll(&mut self, pct: u32) -> bool {
        self.rng = xorshift(self.rng);
        (self.rng % 100) < u64::from(pct)
    }

    fn up(&self) -> bool {
        if self.cfg.down_secs == 0 {
            return true;
        }
        let period = (self.cfg.up_secs + self.cfg.down_secs) * 1000;
        let t = (self.start.elapsed().as_millis() as u64 + self.phase) % period;
        t < self.cfg.up_secs * 1000
    }

    /// When each copy of a packet of `len` bytes leaves, or none if dropped.
    pub(crate) fn schedule(&mut self, dir: usize, len: usize) -> Vec<Instant> {
        if !self.up() || self.roll(self.cfg.loss) {
            return vec![];
        }
        let now = Instant::now();
        // Serialization on a capped link: packets queue behind each other.
        let mut depart = now;
        if self.cfg.rate_kbps > 0 {
            let tx = Duration::from_micros(len as u64 * 8 * 1000 / self.cfg.rate_kbps.max(1));
            depart = self.free_at[dir].max(now) + tx;
            self.free_at[dir] = depart;
        }
        let mut copies = 1;
        if self.roll(self.cfg.dup) {
            copies = 2;
        }
        let mut out = Vec::new();
        for _ in 0..copies {
            self.rng = xorshift(self.rng);
            let jitter = if self.cfg.jitter_ms > 0 {
                self.rng % (self.cfg.jitter_ms + 1)
            } else {
                0
            };
            let mut d = self.cfg.delay_ms + jitter;
            if self.roll(self.cfg.reorder) {
                d += self.cfg.delay_ms.max(20);
            }
            out.push(depart + Duration::from_millis(d));
        }
        out
    }
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Runs the proxy from `listen` to `upstream` until the task is dropped.
pub async fn run(
    listen: SocketAddr,
    upstream: SocketAddr,
    cfg: LinkConfig,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    run_on(UdpSocket::bind(listen).await?, upstream, cfg, counters).await
}

/// [`run`] on a socket already bound (to port 0, say: the caller reports the port the
/// system chose, rather than guessing a free one).
pub async fn run_on(
    front: UdpSocket,
    upstream: SocketAddr,
    cfg: LinkConfig,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    let front = Arc::new(front);
    let mut clients: HashMap<SocketAddr, (Arc<UdpSocket>, Arc<Mutex<Link>>)> = HashMap::new();
    let mut buf = vec![0u8; 65536];
    loop {
        let (n, from) = front.recv_from(&mut buf).await?;
        counters.packets.fetch_add(1, Ordering::Relaxed);
        let (up, link) = match clients.get(&from) {
            Some(c) => c.clone(),
            None => {
                let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
                sock.connect(upstream).await?;
                let link = Arc::new(Mutex::new(Link::new(cfg.clone(), u64::from(from.port()))));
                counters.clients.fetch_add(1, Ordering::Relaxed);
                // Hub → client direction.
                let (s2, f2, l2, c2) =
                    (sock.clone(), front.clone(), link.clone(), counters.clone());
                tokio::spawn(async move {
                    let mut b = vec![0u8; 65536];
                    while let Ok(n) = s2.recv(&mut b).await {
                        c2.packets.fetch_add(1, Ordering::Relaxed);
                        let when = l2.lock().await.schedule(1, n);
                        if when.is_empty() {
                            c2.dropped.fetch_add(1, Ordering::Relaxed);
                        }
                        for t in when {
                            let (f, data, c) = (f2.clone(), b[..n].to_vec(), c2.clone());
                            tokio::spawn(async move {
                                tokio::time::sleep_until(t.into()).await;
                                if f.send_to(&data, from).await.is_ok() {
                                    c.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                                }
                            });
                        }
                    }
                });
                clients.insert(from, (sock.clone(), link.clone()));
                (sock, link)
            }
        };
        let when = link.lock().await.schedule(0, n);
        if when.is_empty() {
            counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        for t in when {
            let (u, data, c) = (up.clone(), buf[..n].to_vec(), counters.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until(t.into()).await;
                if u.send(&data).await.is_ok() {
                    c.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
                }
            });
        }
    }
}
