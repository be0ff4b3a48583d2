//! Login throttling and the gate in front of argon2.
//!
//! A field test sent 200 wrong passwords in 14 s, and a thousand at once grew the hub
//! to 10.5 GB: every login ran argon2 (19 MiB each) on its own blocking thread, and
//! nothing refused a guesser. Two things stop that here:
//!
//! - [`Throttle`] counts attempts per account name and per client address. An attempt
//!   counts when it starts, before the password is checked (so a thousand concurrent
//!   attempts from one address see each other), and a success clears both. After
//!   [`FREE`] failures the next attempt must wait 1 s, then 2, 4, 8, 16; an attempt made
//!   while waiting is refused at once (429) and does not count: no password was
//!   checked, so a clerk who retries early with the right one is not locked out for
//!   it, and the lock message ("wrong 10 times") stays true. At [`LOCK_AFTER`] the key is
//!   locked for [`LOCK`], during which nothing counts (a guesser cannot lengthen it).
//!   State lives in memory and is forgotten [`LOCK`] after the last failure, or on a
//!   restart (the way an operator lifts a lock early). Each table holds at most
//!   [`MAX_KEYS`] keys; at the bound the oldest is forgotten.
//! - [`HashGate`] runs password checks on [`HASHES_AT_ONCE`] threads of its own, with
//!   at most [`MAX_WAITING`] waiting; the rest get "busy" at once. Memory stays at about
//!   two argon2 blocks whatever arrives.
//!
//! A locked account is also a way to keep its owner out: that is the price of the
//! lock, bounded by [`LOCK`] and lifted by a restart (ARCHITECTURE.md, Web security).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures allowed without a delay.
pub const FREE: u32 = 5;
/// Failures after which the account or address is locked.
pub const LOCK_AFTER: u32 = 10;
/// How long a lock lasts, and how long a key's failures are remembered.
pub const LOCK: Duration = Duration::from_secs(15 * 60);
/// Keys kept per table (accounts, addresses).
pub const MAX_KEYS: usize = 10_000;
/// Password checks running at once.
pub const HASHES_AT_ONCE: usize = 2;
/// Password checks waiting for their turn; more are answered "busy".
pub const MAX_WAITING: usize = 64;

/// Why an attempt is refused before its password is looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Too many failures lately: wait this long.
    Wait {
        /// Whose failures.
        who: Who,
        /// How long, rounded up to seconds.
        secs: u64,
    },
    /// Locked after [`LOCK_AFTER`] failures.
    Locked {
        /// Whose failures.
        who: Who,
        /// How long is left.
        left: Duration,
    },
}

/// The account or the address an attempt was counted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// A login name, as typed.
    Account(String),
    /// A client address (an IPv6 address stands for its /64).
    Address(IpAddr),
}

impl Refusal {
    /// Seconds until a retry can be considered (the `Retry-After` header).
    pub fn retry_after(&self) -> u64 {
        match self {
            Refusal::Wait { secs, .. } => *secs,
            Refusal::Locked { left, .. } => left.as_secs().max(1),
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Wait { who, secs } => write!(
                f,
                "Đăng nhập sai nhiều lần liên tiếp {}: hãy chờ {secs} giây rồi thử lại. \
                 Sai đủ {LOCK_AFTER} lần thì bị khóa đăng nhập {} phút.",
                who.phrase(),
                LOCK.as_secs() / 60
            ),
            Refusal::Locked { who, left } => {
                let mins = left.as_secs().div_ceil(60).max(1);
                // The clerk reads Vietnam time, whatever the server's zone.
                let unlock = chrono::Utc::now().timestamp()
                    + i64::try_from(left.as_secs()).unwrap_or(0)
                    + i64::from(left.subsec_nanos() > 0);
                let at = tinnhiem_core::domain::when::in_vietnam(unlock)
                    .map(|t| t.format("%H:%M").to_string())
                    .unwrap_or_else(|| "?".into());
                write!(
                    f,
                    "{} tạm bị khóa đăng nhập vì nhập sai mật khẩu {LOCK_AFTER} lần liên tiếp. \
                     Hãy thử lại sau {mins} phút (khoảng {}). Nếu cần gấp, nhờ người quản trị \
                     khởi động lại dịch vụ để mở khóa.",
                    who.subject(),
                    at
                )
            }
        }
    }
}

impl Who {
    fn phrase(&self) -> String {
        match self {
            Who::Account(a) => format!("với tài khoản «{a}»"),
            Who::Address(ip) => format!("từ máy có địa chỉ {ip}"),
        }
    }

    fn subject(&self) -> String {
        match self {
            Who::Account(a) => format!("Tài khoản «{a}»"),
            Who::Address(ip) => format!("Máy có địa chỉ {ip}"),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

/// The delay that `failures` impose after the last attempt.
fn delay(failures: u32) -> Duration {
    if failures < FREE {
        Duration::ZERO
    } else {
        Duration::from_secs(1u64 << (failures - FREE).min(10))
    }
}

enum Verdict {
    Free,
    /// Too early: this much is left.
    Wait(Duration),
    Locked(Duration),
}

struct Table<K> {
    map: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> Table<K> {
    fn new() -> Self {
        Table {
            map: HashMap::new(),
        }
    }

    fn live(&mut self, k: &K, now: Instant) -> Option<Entry> {
        let e = *self.map.get(k)?;
        if now.saturating_duration_since(e.last) >= LOCK {
            self.map.remove(k);
            return None;
        }
        Some(e)
    }

    fn verdict(&mut self, k: &K, now: Instant) -> Verdict {
        let Some(e) = self.live(k, now) else {
            return Verdict::Free;
        };
        if e.failures >= LOCK_AFTER {
            return Verdict::Locked(LOCK.saturating_sub(now.saturating_duration_since(e.last)));
        }
        let left = delay(e.failures).saturating_sub(now.saturating_duration_since(e.last));
        if left > Duration::ZERO {
            Verdict::Wait(left)
        } else {
            Verdict::Free
        }
    }

    /// Counts an attempt.
    fn count(&mut self, k: &K, now: Instant) {
        if !self.map.contains_key(k) && self.map.len() >= MAX_KEYS {
            self.map
                .retain(|_, e| now.saturating_duration_since(e.last) < LOCK);
            if self.map.len() >= MAX_KEYS {
                if let Some(old) = self
                    .map
                    .iter()
                    .min_by_key(|(_, e)| e.last)
                    .map(|(k, _)| k.clone())
                {
                    self.map.remove(&old);
                }
            }
        }
        let e = self.map.entry(k.clone()).or_insert(Entry {
            failures: 0,
            last: now,
        });
        e.failures = e.failures.saturating_add(1);
        e.last = now;
    }

    fn clear(&mut self, k: &K) {
        self.map.remove(k);
    }
}

/// Failures per account name and per client address.
pub struct Throttle {
    accounts: Mutex<Table<String>>,
    addresses: Mutex<Table<IpAddr>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new()
    }
}

/// The key an account name is counted under: names longer than any valid one are cut,
/// so a guesser cannot fill memory with long names.
fn account_key(name: &str) -> String {
    name.chars().take(64).collect()
}

/// The key an address is counted under: an IPv6 host controls its whole /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
    }
}

impl Throttle {
    /// Empty tables.
    pub fn new() -> Throttle {
        Throttle {
            accounts: Mutex::new(Table::new()),
            addresses: Mutex::new(Table::new()),
        }
    }

    /// Counts an attempt to sign in as `name` from `addr` (unknown when the server was
    /// not given client addresses), or refuses it.
    pub fn attempt(&self, name: &str, addr: Option<IpAddr>, now: Instant) -> Result<(), Refusal> {
        let name = account_key(name);
        let addr = addr.map(address_key);
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|e| e.into_inner());
        let by_addr = addr.map(|a| (a, addresses.verdict(&a, now)));
        if let Some((a, Verdict::Locked(left))) = by_addr {
            return Err(Refusal::Locked {
                who: Who::Address(a),
                left,
            });
        }
        let by_name = accounts.verdict(&name, now);
        if let Verdict::Locked(left) = by_name {
            return Err(Refusal::Locked {
                who: Who::Account(name),
                left,
            });
        }
        // Refused while waiting: not counted (no password is checked).
        let secs = |left: Duration| left.as_secs() + u64::from(left.subsec_nanos() > 0);
        match (by_addr, by_name) {
            (Some((a, Verdict::Wait(left))), _) => Err(Refusal::Wait {
                who: Who::Address(a),
                secs: secs(left).max(1),
            }),
            (_, Verdict::Wait(left)) => Err(Refusal::Wait {
                who: Who::Account(name),
                secs: secs(left).max(1),
            }),
            _ => {
                accounts.count(&name, now);
                if let Some(a) = addr {
                    addresses.count(&a, now);
                }
                Ok(())
            }
        }
    }

    /// A correct password: forgets the failures of the account and of the address.
    pub fn succeed(&self, name: &str, addr: Option<IpAddr>) {
        self.accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear(&account_key(name));
        if let Some(a) = addr {
            self.addresses
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clear(&address_key(a));
        }
    }

    /// How many failures in a row `name` has now (for the message after a wrong
    /// password).
    pub fn failures(&self, name: &str, now: Instant) -> u32 {
        self.accounts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .live(&account_key(name), now)
            .map_or(0, |e| e.failures)
    }
}

/// The server is checking as many passwords as it will at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// At most [`HASHES_AT_ONCE`] password checks at a time, at most [`MAX_WAITING`]
/// waiting.
///
/// The checks run on threads of their own, not on tokio's blocking pool (which starts a
/// new thread whenever none is idle at that instant), so that each keeps one argon2
/// block buffer for the life of the process (`account::verify`).
pub struct HashGate {
    jobs: Mutex<std::sync::mpsc::Sender<Job>>,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: usize,
}

impl Default for HashGate {
    fn default() -> Self {
        HashGate::new(HASHES_AT_ONCE, MAX_WAITING)
    }
}

/// Gives a place back when a job is done, or dropped unrun.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashGate {
    /// `at_once` threads checking, `max_waiting` checks queued for them. The threads
    /// end when the gate is dropped.
    pub fn new(at_once: usize, max_waiting: usize) -> HashGate {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..at_once.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || loop {
                    let job = {
                        let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
                        rx.recv()
                    };
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                });
            if let Err(e) = spawned {
                tracing::error!("could not start a password-checking thread: {e}");
            }
        }
        HashGate {
            jobs: Mutex::new(tx),
            in_flight: Arc::new(AtomicUsize::new(0)),
            max_in_flight: at_once.max(1) + max_waiting,
        }
    }

    /// Runs `check` on one of the gate's threads when its turn comes, or says `Busy`
    /// at once when too many are queued. A request dropped while waiting leaves its
    /// job queued; it still counts until it has run.
    pub async fn run<T: Send + 'static>(
        &self,
        check: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        if self.in_flight.fetch_add(1, Ordering::AcqRel) >= self.max_in_flight {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        let place = Place(self.in_flight.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _place = place;
            let _ = tx.send(check());
        });
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 5));

    #[test]
    fn delays_grow_then_the_account_locks_and_a_success_clears() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for i in 0..FREE {
            assert_eq!(t.attempt("lan", Some(A), t0), Ok(()), "attempt {i}");
        }
        // The sixth at once must wait one second; refused early, it does not count.
        let r = t.attempt("lan", Some(A), t0).expect_err("too fast");
        assert!(matches!(r, Refusal::Wait { secs: 1, .. }), "{r:?}");
        assert!(r.to_string().contains("hãy chờ 1 giây"), "{r}");
        for i in 1..=5 {
            let early = t0 + Duration::from_millis(100 * i);
            assert!(t.attempt("lan", Some(A), early).is_err());
        }
        assert_eq!(
            t.failures("lan", t0),
            FREE,
            "early retries are not failures"
        );
        // The waits are the documented 1, 2, 4, 8, 16 s; the tenth failure locks.
        let mut now = t0;
        for want in [1u64, 2, 4, 8, 16] {
            let r = t.attempt("lan", Some(A), now).expect_err("must wait");
            assert!(
                matches!(r, Refusal::Wait { secs, .. } if secs == want),
                "{r:?}"
            );
            now += Duration::from_secs(want);
            assert_eq!(t.attempt("lan", Some(A), now), Ok(()), "after {want} s");
        }
        let r = t.attempt("lan", None, now).expect_err("locked");
        match &r {
            Refusal::Locked { who, left } => {
                assert_eq!(who, &Who::Account("lan".into()));
                assert!(*left > LOCK - Duration::from_secs(2), "{left:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(r.to_string().contains("tạm bị khóa"), "{r}");
        assert_eq!(t.failures("lan", now), LOCK_AFTER);
        // Another account from another address is not affected ...
        let b: IpAddr = "192.168.1.6".parse().expect("ip");
        assert_eq!(t.attempt("hoa", Some(b), now), Ok(()));
        // ... the lock ends after LOCK, and a success clears what remains.
        let later = now + LOCK;
        assert_eq!(t.attempt("lan", Some(A), later), Ok(()));
        t.succeed("lan", Some(A));
        assert_eq!(t.failures("lan", later), 0);
    }

    #[test]
    fn one_address_trying_many_names_is_locked_as_an_address() {
        let t = Throttle::new();
        let mut now = Instant::now();
        let mut last = Ok(());
        for i in 0..(LOCK_AFTER + 2) {
            last = t.attempt(&format!("ten-{i}"), Some(A), now);
            // Waiting out each delay, as a patient guesser would.
            now += Duration::from_secs(20);
        }
        assert_eq!(
            last.expect_err("locked")
                .to_string()
                .split(' ')
                .take(4)
                .collect::<Vec<_>>(),
            ["Máy", "có", "địa", "chỉ"]
        );
    }

    #[test]
    fn waiting_out_the_delay_lets_an_attempt_through() {
        let t = Throttle::new();
        let t0 = Instant::now();
        for _ in 0..FREE {
            assert_eq!(t.attempt("lan", None, t0), Ok(()));
        }
        assert_eq!(t.attempt("lan", None, t0 + Duration::from_secs(1)), Ok(()));
        // Six failures: the next waits two seconds.
        assert!(t.attempt("lan", None, t0 + Duration::from_secs(2)).is_err());
    }

    #[test]
    fn ipv6_hosts_count_by_their_64_and_tables_are_bounded() {
        let a: IpAddr = "fd00:1:2:3:aaaa::1".parse().expect("ip");
        let b: IpAddr = "fd00:1:2:3:bbbb::2".parse().expect("ip");
        assert_eq!(address_key(a), address_key(b));
        let m: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(address_key(m), "10.0.0.1".parse::<IpAddr>().expect("ip"));
        let mut table = Table::new();
        let now = Instant::now();
        for i in 0..(MAX_KEYS + 50) {
            table.count(&i, now);
        }
        assert_eq!(table.map.len(), MAX_KEYS);
        assert_eq!(account_key(&"x".repeat(1000)).len(), 64);
    }

    #[tokio::test]
    async fn the_gate_runs_two_at_once_and_turns_away_the_overflow() {
        let gate = Arc::new(HashGate::new(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                gate.run(move || {
                    let n = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(n, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(30));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut busy = 0;
        for t in tasks {
            if t.await.expect("task").is_err() {
                busy += 1;
            }
        }
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert!(
            busy > 0,
            "20 at once with 2 running and 3 waiting: some are busy"
        );
    }
}
