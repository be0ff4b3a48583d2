//! The simulated world: processes (three hubs, the districts), the network between
//! them, and one loop over a queue of timed events. Everything happens in this thread,
//! in the order of (virtual time, sequence number); chance comes from one [`Rng`].

use crate::fixture;
use crate::rng::Rng;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tinnhiem_core::domain::SessionId;
use tinnhiem_core::proto::hub::{HubSession, Limits};
use tinnhiem_core::proto::node::{Event, Extras, NodeSession};
use tinnhiem_core::proto::{Channel, Msg};
use tinnhiem_core::seal::{Seal, UnitKey};
use tinnhiem_hub::sim::{Conn, SimHub};
use tinnhiem_net::outbox::{self, Outbox, OutboxError};
use tinnhiem_store::faults::Power;
use tinnhiem_store::{AuditLine, Store};

/// How long a node waits for an answer before sending again (the daemon's value).
const RETRY_MS: u64 = 2_000;
/// A connection with nothing heard for this long is given up (the client's stall).
const STALL_MS: u64 = 6_000;

/// More events than any plan needs: a livelock (two sides answering each other for
/// ever) is a failure, not a hang.
const MAX_STEPS: u64 = 200_000;

/// The hubs, by index in [`World::procs`].
pub const PROVINCE: usize = 0;
/// The national hub (Quốc hội's).
pub const NATIONAL: usize = 1;
/// The Party organization department's hub.
pub const PARTY: usize = 2;
const HUBS: [(&str, &str); 3] = [
    ("lai-chau", "quoc-hoi"),
    ("quoc-hoi", "quoc-hoi"),
    ("ban-to-chuc-tu", "ban-to-chuc-tu"),
];

/// Faults of one run, drawn from its seed.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Message loss, duplication, and extra delay that reorders (percent each).
    pub loss: u64,
    /// Duplication.
    pub dup: u64,
    /// Reordering (a long extra delay).
    pub reorder: u64,
    /// Process crashes over the run.
    pub crashes: usize,
    /// Partitions (one process cut off for a while).
    pub partitions: usize,
    /// New seals made during the run.
    pub reseals: usize,
    /// A hub's store put back to an earlier copy of itself (a restore from an older
    /// backup, or a disk that lost its newest commits), its log file kept.
    pub rollbacks: usize,
}

/// The whole run's parameters.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Districts under the province.
    pub districts: usize,
    /// Sessions per district.
    pub sessions: usize,
    /// Virtual time with faults, in ms; then the network heals and every process runs.
    pub chaos_ms: u64,
    /// The most virtual time after healing for every delivery to finish.
    pub settle_ms: u64,
    /// What goes wrong.
    pub faults: Faults,
}

impl Plan {
    /// The plan of `seed`.
    pub fn of(seed: u64) -> Plan {
        let mut r = Rng::new(seed ^ 0x51_u64);
        Plan {
            districts: r.range(1, 4) as usize,
            sessions: r.range(1, 2) as usize,
            chaos_ms: r.range(10_000, 60_000),
            settle_ms: 600_000,
            faults: Faults {
                loss: r.range(0, 30),
                dup: r.range(0, 20),
                reorder: r.range(0, 30),
                crashes: r.range(0, 4) as usize,
                partitions: r.range(0, 3) as usize,
                reseals: r.range(0, 3) as usize,
                rollbacks: r.range(0, 1) as usize,
            },
        }
    }
}

/// A process while it runs.
enum Up {
    Node(Store),
    Hub(SimHub),
}

/// A unit's machine: what survives a crash is its directory on disk.
pub(crate) struct Proc {
    pub(crate) unit: String,
    pub(crate) key: UnitKey,
    dir: PathBuf,
    power: Arc<Power>,
    up: Option<Up>,
    /// Where it delivers (indices of hubs).
    pub(crate) dests: Vec<usize>,
    /// Cut off from the network until this time.
    partitioned_until: u64,
}

/// One connection: the client's machine and the server's, and what each has heard.
struct Link {
    client: usize,
    server: usize,
    node: NodeSession,
    hub: HubSession,
    env: Conn,
    last_heard: u64,
    timer: Option<u64>,
    /// The last delivery time scheduled on each stream (direction, channel): a stream
    /// delivers in order.
    fifo: BTreeMap<(bool, String), u64>,
    /// Opened after the network healed.
    since_heal: bool,
}

/// What happens at a point of virtual time.
enum Ev {
    /// A message arrives at one end of a connection.
    Msg {
        link: u64,
        to_hub: bool,
        ch: Channel,
        msg: Msg,
    },
    /// The client of a connection checks its timers.
    Timer { link: u64 },
    /// The connection breaks.
    Break { link: u64 },
    /// A client tries to deliver to a destination.
    Attempt { proc: usize, dest: usize },
    /// A process dies: what it had not synced to disk is gone.
    Crash { proc: usize },
    /// It starts again from its directory.
    Restart { proc: usize },
    /// A district seals one of its sessions again after a change.
    Reseal { proc: usize },
    /// A process is cut off from everyone.
    Partition { proc: usize, ms: u64 },
    /// A hub's store is copied aside (a backup).
    Snapshot { proc: usize },
    /// The hub stops, and its store is replaced by that copy.
    Rollback { proc: usize },
}

/// Something the run observed that an invariant rules out, or a step that failed.
#[derive(Debug)]
pub struct Broken(pub String);

impl<E: std::fmt::Display> From<E> for Broken {
    fn from(e: E) -> Broken {
        Broken(e.to_string())
    }
}

/// A district's outbox: its own sessions' seals by session id (as the node's).
pub(crate) struct NodeOutbox<'a>(pub(crate) &'a Store);

impl Outbox for NodeOutbox<'_> {
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        f(self.0)
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

/// The world.
pub struct World {
    pub(crate) procs: Vec<Proc>,
    links: BTreeMap<u64, Link>,
    /// The live connection of each (client, destination).
    pairs: BTreeMap<(usize, usize), u64>,
    queue: BTreeMap<(u64, u64), Ev>,
    seq: u64,
    next_link: u64,
    pub(crate) now: u64,
    rng: Rng,
    plan: Plan,
    healed: bool,
    next_settle_check: u64,
    trace: Sha256,
    /// `TINNHIEM_SIM_TRACE` set: every line of the trace on stderr, with its time.
    print: bool,
    pub(crate) steps: u64,
    /// Every receipt any client verified, per hub: log index → item id.
    pub(crate) signed: BTreeMap<(usize, u64), [u8; 32]>,
    /// Every log head a client adopted, per hub: (size, root).
    pub(crate) heads: Vec<(usize, u64, [u8; 32])>,
    /// Every seal a district made: (district, seal).
    pub(crate) made: Vec<(usize, Seal)>,
    pub(crate) crashes: usize,
    /// (client, destination) pairs that finished a connection after the network healed.
    checked: std::collections::BTreeSet<(usize, usize)>,
    _tmp: tempfile::TempDir,
}

fn tmp_root() -> PathBuf {
    // tmpfs where there is one: the store's fsyncs then cost nothing, and the simulator
    // decides itself what a crash keeps.
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_owned()
    } else {
        std::env::temp_dir()
    }
}

fn open_store(dir: &Path, power: &Arc<Power>) -> Result<Store, Broken> {
    Ok(Store::open_volatile(dir, power.clone())?)
}

fn registry_toml(units: &[(&str, &str, &UnitKey)]) -> String {
    let mut s = String::new();
    for (id, parent, key) in units {
        s.push_str(&format!(
            "[[unit]]\nid = \"{id}\"\nparent = \"{parent}\"\nkey = \"{}\"\n\n",
            key.public().to_hex()
        ));
    }
    s
}

impl World {
    /// A world for `seed`: hubs registered, districts' sessions sealed, faults planned.
    pub fn new(seed: u64) -> Result<World, Broken> {
        let plan = Plan::of(seed);
        let tmp = tempfile::Builder::new()
            .prefix("tinnhiem-sim-")
            .tempdir_in(tmp_root())?;
        let mut procs = Vec::new();
        for (i, (unit, _)) in HUBS.iter().enumerate() {
            let dir = tmp.path().join(unit);
            std::fs::create_dir_all(&dir)?;
            procs.push(Proc {
                unit: (*unit).to_owned(),
                key: fixture::key(i),
                dir,
                power: Arc::new(Power::new(&tmp.path().join(unit).join("store"))),
                up: None,
                dests: if i == PROVINCE {
                    vec![NATIONAL, PARTY]
                } else {
                    Vec::new()
                },
                partitioned_until: 0,
            });
        }
        for d in 0..plan.districts {
            let unit = format!("huyen-{d}");
            let dir = tmp.path().join(&unit);
            std::fs::create_dir_all(&dir)?;
            procs.push(Proc {
                unit,
                key: fixture::key(3 + d),
                dir: dir.clone(),
                power: Arc::new(Power::new(&dir.join("store"))),
                up: None,
                dests: vec![PROVINCE],
                partitioned_until: 0,
            });
        }
        let mut w = World {
            procs,
            links: BTreeMap::new(),
            pairs: BTreeMap::new(),
            queue: BTreeMap::new(),
            seq: 0,
            next_link: 1,
            now: 0,
            rng: Rng::new(seed),
            plan,
            healed: false,
            next_settle_check: 0,
            trace: Sha256::new(),
            print: std::env::var_os("TINNHIEM_SIM_TRACE").is_some(),
            steps: 0,
            signed: BTreeMap::new(),
            heads: Vec::new(),
            made: Vec::new(),
            crashes: 0,
            checked: Default::default(),
            _tmp: tmp,
        };
        w.setup()?;
        Ok(w)
    }

    /// Registries, and each district's first seals, all durable before the run.
    fn setup(&mut self) -> Result<(), Broken> {
        for i in 0..self.procs.len() {
            self.start(i)?;
        }
        let province_key = fixture::key(PROVINCE);
        let districts: Vec<(String, UnitKey)> = self.procs[3..]
            .iter()
            .map(|p| (p.unit.clone(), UnitKey::from_seed(p.key.seed())))
            .collect();
        let units: Vec<(&str, &str, &UnitKey)> = districts
            .iter()
            .map(|(u, k)| (u.as_str(), HUBS[PROVINCE].0, k))
            .collect();
        self.hub(PROVINCE)?.register(&registry_toml(&units))?;
        for h in [NATIONAL, PARTY] {
            let parent = HUBS[h].0;
            self.hub(h)?
                .register(&registry_toml(&[(HUBS[PROVINCE].0, parent, &province_key)]))?;
        }
        for d in 3..self.procs.len() {
            for s in 0..self.plan.sessions {
                let ballots = self.rng.range(1, 3);
                let unit = self.procs[d].unit.clone();
                let sid = fixture::session(s);
                let (mut doc, seal) =
                    fixture::sealed(&unit, sid.as_str(), ballots, &self.procs[d].key);
                let store = self.node(d)?;
                store.create_doc(&sid, &doc.save(), &AuditLine::new(0, "sim", "create"))?;
                store.put_seal(&sid, &seal, &doc.save(), &AuditLine::new(1, "sim", "seal"))?;
                self.made.push((d, seal));
            }
        }
        Ok(())
    }

    fn hub(&self, i: usize) -> Result<&SimHub, Broken> {
        match &self.procs[i].up {
            Some(Up::Hub(h)) => Ok(h),
            _ => Err(Broken(format!(
                "{} is not a running hub",
                self.procs[i].unit
            ))),
        }
    }

    fn node(&self, i: usize) -> Result<&Store, Broken> {
        match &self.procs[i].up {
            Some(Up::Node(s)) => Ok(s),
            _ => Err(Broken(format!(
                "{} is not a running district",
                self.procs[i].unit
            ))),
        }
    }

    /// Starts (or restarts) a process from its directory.
    fn start(&mut self, i: usize) -> Result<(), Broken> {
        let p = &mut self.procs[i];
        p.power = Arc::new(Power::new(&p.dir.join("store")));
        let store = open_store(&p.dir.join("store"), &p.power)?;
        p.up = Some(if i < 3 {
            let key = UnitKey::from_seed(p.key.seed());
            Up::Hub(SimHub::open(&p.unit, key, store, &p.dir.join("log.leaves")))
        } else {
            Up::Node(store)
        });
        Ok(())
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((t, self.seq), ev);
    }

    fn note(&mut self, line: impl AsRef<str>) {
        if self.print {
            eprintln!("{:>9} {}", self.now, line.as_ref());
        }
        self.trace.update(self.now.to_be_bytes());
        self.trace.update(line.as_ref().as_bytes());
        self.trace.update(b"\n");
    }

    /// Runs the whole plan, then lets everything finish; the trace's hash.
    pub fn run(&mut self) -> Result<[u8; 32], Broken> {
        let f = self.plan.faults.clone();
        for i in 0..self.procs.len() {
            for d in self.procs[i].dests.clone() {
                let t = self.rng.range(0, 500);
                self.at(t, Ev::Attempt { proc: i, dest: d });
            }
        }
        let chaos = self.plan.chaos_ms;
        for _ in 0..f.crashes {
            let t = self.rng.range(1, chaos);
            let proc = self.rng.below(self.procs.len());
            self.at(t, Ev::Crash { proc });
        }
        for _ in 0..f.partitions {
            let t = self.rng.range(1, chaos);
            let proc = self.rng.below(self.procs.len());
            let ms = self.rng.range(1_000, 20_000);
            self.at(t, Ev::Partition { proc, ms });
        }
        for _ in 0..f.rollbacks {
            let t = self.rng.range(1, chaos / 2);
            let later = self.rng.range(t + 1, chaos);
            let proc = self.rng.below(3);
            self.at(t, Ev::Snapshot { proc });
            self.at(later, Ev::Rollback { proc });
        }
        for _ in 0..f.reseals {
            let t = self.rng.range(1, chaos);
            let proc = 3 + self.rng.below(self.procs.len() - 3);
            self.at(t, Ev::Reseal { proc });
        }
        let end = chaos + self.plan.settle_ms;
        while let Some(((t, _), ev)) = self.queue.pop_first() {
            self.now = t;
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Err(Broken(format!(
                    "runaway: {MAX_STEPS} events by {} ms of virtual time",
                    self.now
                )));
            }
            if !self.healed && t >= chaos {
                self.heal()?;
            }
            if self.healed && t >= self.next_settle_check {
                self.next_settle_check = t + 1_000;
                if self.settled()? {
                    break;
                }
            }
            if t > end {
                return Err(Broken(format!(
                    "not settled {} s after the network healed",
                    self.plan.settle_ms / 1000
                )));
            }
            self.step(ev)?;
        }
        if !self.healed {
            self.heal()?;
        }
        Ok(self.trace.clone().finalize().into())
    }

    /// From now on: no loss, no partition, every process running.
    fn heal(&mut self) -> Result<(), Broken> {
        self.healed = true;
        self.note("heal");
        for i in 0..self.procs.len() {
            self.procs[i].partitioned_until = 0;
            if self.procs[i].up.is_none() {
                self.restart(i)?;
            }
        }
        Ok(())
    }

    /// Every delivery answered: the run can stop.
    fn settled(&self) -> Result<bool, Broken> {
        for (i, p) in self.procs.iter().enumerate() {
            for d in &p.dests {
                let dest = self.procs[*d].key.public();
                let all = match &p.up {
                    Some(Up::Node(s)) => outbox::deliveries(&NodeOutbox(s), s, &dest)?,
                    Some(Up::Hub(h)) => outbox::deliveries(&h.outbox(), h.store(), &dest)?,
                    None => return Ok(false),
                };
                if all.iter().any(|(_, d)| !d.received()) {
                    return Ok(false);
                }
                // And it heard the destination since: a loss is told at each connection.
                if !self.checked.contains(&(i, *d)) {
                    return Ok(false);
                }
                // A hub must also have every district seal to forward.
                if i == PROVINCE && all.len() < self.made.len() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    fn step(&mut self, ev: Ev) -> Result<(), Broken> {
        match ev {
            Ev::Msg {
                link,
                to_hub,
                ch,
                msg,
            } => self.on_msg(link, to_hub, ch, msg),
            Ev::Timer { link } => self.on_timer(link),
            Ev::Break { link } => self.on_break(link),
            Ev::Attempt { proc, dest } => self.attempt(proc, dest),
            Ev::Crash { proc } => self.crash(proc),
            Ev::Restart { proc } => self.restart(proc),
            Ev::Reseal { proc } => self.reseal(proc),
            Ev::Snapshot { proc } => self.snapshot(proc),
            Ev::Rollback { proc } => self.rollback(proc),
            Ev::Partition { proc, ms } => {
                if !self.healed {
                    self.note(format!("partition {proc} {ms}"));
                    self.procs[proc].partitioned_until = self.now + ms;
                }
                Ok(())
            }
        }
    }

    /// A client opens a connection to `dest` when it has something to deliver (or now
    /// and then, to check the log); else looks again later.
    fn attempt(&mut self, i: usize, dest: usize) -> Result<(), Broken> {
        if self.procs[i].up.is_none() || self.pairs.contains_key(&(i, dest)) {
            return Ok(());
        }
        let dest_key = self.procs[dest].key.public();
        let p = &self.procs[i];
        let pending = match &p.up {
            Some(Up::Node(s)) => outbox::pending(&NodeOutbox(s), &dest_key, fixture::DEVICE)?,
            Some(Up::Hub(h)) => {
                let device = h.store().device()?;
                outbox::pending(&h.outbox(), &dest_key, &device)?
            }
            None => return Ok(()),
        };
        let check = self.rng.pct(20);
        if pending.jobs.is_empty() && pending.aggregates.is_empty() && !check {
            let again = self.now + self.rng.range(1_000, 5_000);
            self.at(again, Ev::Attempt { proc: i, dest });
            return Ok(());
        }
        let Some(Up::Hub(server)) = &self.procs[dest].up else {
            // Nobody answers: the handshake times out, and the client tries later.
            let again = self.now + STALL_MS + self.rng.range(200, 5_000);
            self.note(format!("attempt {i}->{dest} no server"));
            self.at(again, Ev::Attempt { proc: i, dest });
            return Ok(());
        };
        let unit = self.procs[i].unit.clone();
        // The handshake: the hub knows the client by its key.
        let Some(peer) = server.unit_of(&self.procs[i].key.public()) else {
            return Err(Broken(format!("{} refused {unit}'s key", HUBS[dest].0)));
        };
        let env = server.env(&peer);
        let hub = HubSession::new(&self.procs[dest].unit, &peer, Limits::default());
        let node = NodeSession::forwarding(
            &unit,
            dest_key,
            pending.jobs,
            Extras {
                enrollments: pending.enrollments,
                aggregates: pending.aggregates,
                known_log: pending.known_log,
            },
            self.now,
            RETRY_MS,
        );
        let id = self.next_link;
        self.next_link += 1;
        self.note(format!("connect {id} {i}->{dest}"));
        self.links.insert(
            id,
            Link {
                client: i,
                server: dest,
                node,
                hub,
                env,
                last_heard: self.now,
                timer: None,
                fifo: BTreeMap::new(),
                since_heal: self.healed,
            },
        );
        self.pairs.insert((i, dest), id);
        self.client_flush(id)
    }

    /// One message onto the network, as QUIC carries it: a stream delivers its messages
    /// once and in order (a lost packet is a retransmission, later), streams race each
    /// other, a partition holds everything back until it ends, and a connection may
    /// break (its messages in flight are gone; the client connects again). Duplication
    /// is a connection breaking right after a message arrived, before its answer came
    /// back: the client sends the same seal again on its next connection.
    fn send(&mut self, link: u64, to_hub: bool, ch: Channel, msg: Msg) {
        let f = self.plan.faults.clone();
        let healed = self.healed;
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let mut t = self.now + self.rng.range(5, 60);
        if !healed {
            let held = self.procs[l.client]
                .partitioned_until
                .max(self.procs[l.server].partitioned_until);
            if held > self.now {
                t = t.max(held) + self.rng.range(5, 300);
            }
            if self.rng.pct(f.loss) {
                t += self.rng.range(200, 1_500); // retransmitted
            }
            if self.rng.pct(f.reorder) {
                t += self.rng.range(50, 3_000); // this stream is slow
            }
            if self.rng.pct(f.loss / 5) {
                self.at(t - 1, Ev::Break { link });
            } else if self.rng.pct(f.dup / 2) {
                self.at(t + 1, Ev::Break { link });
            }
        }
        let stream = (
            to_hub,
            match &ch {
                Channel::Control => String::new(),
                Channel::Doc(d) => d.clone(),
            },
        );
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        let last = l.fifo.entry(stream).or_insert(0);
        t = t.max(*last + 1);
        *last = t;
        self.at(
            t,
            Ev::Msg {
                link,
                to_hub,
                ch,
                msg,
            },
        );
    }

    /// The connection breaks: the client hears of it and connects again later.
    fn on_break(&mut self, id: u64) -> Result<(), Broken> {
        let Some(l) = self.links.get(&id) else {
            return Ok(());
        };
        let (c, s) = (l.client, l.server);
        self.note(format!("break {id}"));
        self.close(id);
        let again = self.now + self.rng.range(200, 5_000);
        self.at(again, Ev::Attempt { proc: c, dest: s });
        Ok(())
    }

    fn on_msg(&mut self, id: u64, to_hub: bool, ch: Channel, msg: Msg) -> Result<(), Broken> {
        if !self.links.contains_key(&id) {
            return Ok(()); // the connection is gone
        }
        self.note(format!("msg {id} {} {}", to_hub as u8, kind(&msg)));
        let Some(l) = self.links.get_mut(&id) else {
            return Ok(());
        };
        if to_hub {
            l.hub.handle(&mut l.env, ch, msg);
            let mut out = Vec::new();
            while let Some(m) = l.hub.poll_transmit() {
                out.push(m);
            }
            let server = l.server;
            let client_unit = self.procs[l.client].unit.clone();
            for (ch, m) in out {
                if let Msg::Reject {
                    session,
                    seal_id,
                    reason,
                    detail,
                } = &m
                {
                    self.hub(server)?
                        .rejected(&client_unit, session, seal_id, *reason, detail);
                }
                self.send(id, false, ch, m);
            }
            Ok(())
        } else {
            l.last_heard = self.now;
            l.node.handle(ch, msg, self.now);
            self.client_flush(id)
        }
    }

    fn on_timer(&mut self, id: u64) -> Result<(), Broken> {
        let now = self.now;
        let Some(l) = self.links.get_mut(&id) else {
            return Ok(());
        };
        if l.timer != Some(now) {
            return Ok(()); // superseded
        }
        l.timer = None;
        if now >= l.last_heard + STALL_MS {
            let (c, s) = (l.client, l.server);
            self.note(format!("stall {id}"));
            self.close(id);
            let again = now + self.rng.range(200, 5_000);
            self.at(again, Ev::Attempt { proc: c, dest: s });
            return Ok(());
        }
        l.node.handle_timeout(now);
        self.client_flush(id)
    }

    /// Sends what the client's machine wants sent, records its events as the real
    /// outbox does (durably, or lazily for sync progress), sets its next timer.
    fn client_flush(&mut self, id: u64) -> Result<(), Broken> {
        let Some(l) = self.links.get_mut(&id) else {
            return Ok(());
        };
        let mut out = Vec::new();
        while let Some(m) = l.node.poll_transmit() {
            out.push(m);
        }
        let mut events = Vec::new();
        while let Some(e) = l.node.poll_event() {
            events.push(e);
        }
        let (client, server) = (l.client, l.server);
        for (ch, m) in out {
            self.send(id, true, ch, m);
        }
        let dest = self.procs[server].key.public();
        let mut done = false;
        for ev in &events {
            self.observe(client, server, ev)?;
            match &self.procs[client].up {
                Some(Up::Node(s)) => outbox::record(s, &dest, ev)?,
                Some(Up::Hub(h)) => outbox::record(h.store(), &dest, ev)?,
                None => return Err(Broken("a dead client's connection ran".into())),
            }
            match ev {
                Event::Done => {
                    done = true;
                    if self.links.get(&id).is_some_and(|l| l.since_heal) {
                        self.checked.insert((client, server));
                    }
                }
                Event::ProtocolError(e) => {
                    self.note(format!("protocol error {id}: {e}"));
                    done = true;
                }
                _ => {}
            }
        }
        if done {
            self.close(id);
            let again = self.now + self.rng.range(500, 3_000);
            self.at(
                again,
                Ev::Attempt {
                    proc: client,
                    dest: server,
                },
            );
            return Ok(());
        }
        let Some(l) = self.links.get_mut(&id) else {
            return Ok(());
        };
        let stall = l.last_heard + STALL_MS;
        let t = l
            .node
            .poll_timeout()
            .map_or(stall, |t| t.min(stall))
            .max(self.now + 1);
        if l.timer != Some(t) {
            l.timer = Some(t);
            self.at(t, Ev::Timer { link: id });
        }
        Ok(())
    }

    /// What a client learned, kept for the invariants and the trace.
    fn observe(&mut self, client: usize, server: usize, ev: &Event) -> Result<(), Broken> {
        match ev {
            Event::Receipt {
                session,
                seq,
                receipt,
            } => {
                let b = &receipt.body;
                self.note(format!(
                    "receipt {client}->{server} {session} {seq} at {}",
                    b.log_index
                ));
                if let Some(other) = self.signed.insert((server, b.log_index), b.seal_id) {
                    if other != b.seal_id {
                        return Err(Broken(format!(
                            "{} signed index {} for two items ({} and {})",
                            self.procs[server].unit,
                            b.log_index,
                            hex::encode(&other[..6]),
                            hex::encode(&b.seal_id[..6])
                        )));
                    }
                }
            }
            Event::LogHead { size, root } => {
                self.note(format!("head {client}->{server} {size}"));
                self.heads.push((server, *size, *root));
            }
            Event::LogInconsistent { detail } => {
                return Err(Broken(format!(
                    "{} saw {}'s log inconsistent: {detail}",
                    self.procs[client].unit, self.procs[server].unit
                )));
            }
            Event::Rejected {
                session,
                seq,
                reason,
                detail,
            } if !reason.transient() => {
                return Err(Broken(format!(
                    "{} refused {}'s {session} seal {seq}: {reason:?} {detail}",
                    self.procs[server].unit, self.procs[client].unit
                )));
            }
            Event::Rejected { reason, .. } => self.note(format!("transient {reason:?}")),
            Event::Lost { items, from_index } => {
                self.note(format!("lost {} {from_index:?}", items.len()))
            }
            Event::SealSent { session, seq } => self.note(format!("sent {session} {seq}")),
            _ => {}
        }
        Ok(())
    }

    fn close(&mut self, id: u64) {
        if let Some(l) = self.links.remove(&id) {
            self.pairs.remove(&(l.client, l.server));
        }
    }

    /// The process dies: its connections with it, and whatever its disk had not synced.
    fn crash(&mut self, i: usize) -> Result<(), Broken> {
        if self.healed || self.procs[i].up.is_none() {
            return Ok(());
        }
        self.note(format!("crash {i}"));
        self.crashes += 1;
        let gone: Vec<u64> = self
            .links
            .iter()
            .filter(|(_, l)| l.client == i || l.server == i)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(l) = self.links.get(&id) {
                if l.client != i {
                    // The client hears nothing more and gives up after its stall.
                    let (c, s) = (l.client, l.server);
                    let t = self.now + STALL_MS + self.rng.range(200, 5_000);
                    self.at(t, Ev::Attempt { proc: c, dest: s });
                }
            }
            self.close(id);
        }
        // Power first: nothing the dying process writes afterwards reaches the disk.
        self.procs[i].power.cut()?;
        self.procs[i].up = None;
        let t = self.now + self.rng.range(500, 15_000);
        self.at(t, Ev::Restart { proc: i });
        Ok(())
    }

    fn restart(&mut self, i: usize) -> Result<(), Broken> {
        if self.procs[i].up.is_some() {
            return Ok(());
        }
        self.note(format!("restart {i}"));
        self.start(i)?;
        for d in self.procs[i].dests.clone() {
            let t = self.now + self.rng.range(0, 1_000);
            self.at(t, Ev::Attempt { proc: i, dest: d });
        }
        Ok(())
    }

    fn snapshot(&mut self, i: usize) -> Result<(), Broken> {
        let dest = self.procs[i].dir.join("snapshot");
        if self.procs[i].up.is_none() || dest.exists() {
            return Ok(());
        }
        self.note(format!("snapshot {i}"));
        self.hub(i)?.store().backup_to(&dest)?;
        Ok(())
    }

    fn rollback(&mut self, i: usize) -> Result<(), Broken> {
        let snap = self.procs[i].dir.join("snapshot");
        if self.healed || self.procs[i].up.is_none() || !snap.exists() {
            return Ok(());
        }
        self.note(format!("rollback {i}"));
        self.crash(i)?;
        let store = self.procs[i].dir.join("store");
        std::fs::remove_dir_all(&store)?;
        std::fs::create_dir_all(&store)?;
        for e in std::fs::read_dir(&snap)? {
            let e = e?;
            std::fs::copy(e.path(), store.join(e.file_name()))?;
        }
        std::fs::remove_dir_all(&snap)?;
        Ok(())
    }

    /// A district changes a sealed session and seals it again.
    fn reseal(&mut self, i: usize) -> Result<(), Broken> {
        if self.procs[i].up.is_none() {
            return Ok(());
        }
        let s = self.rng.below(self.plan.sessions);
        let sid = fixture::session(s);
        let store = self.node(i)?;
        let Some(bytes) = store.doc(&sid)? else {
            return Err(Broken(format!(
                "{}: session {sid} gone",
                self.procs[i].unit
            )));
        };
        let seq = store.seals(&sid)?.len() as u32 + 1;
        let Some((mut doc, seal)) = fixture::resealed(&bytes, seq, &self.procs[i].key) else {
            return Err(Broken("reseal failed".into()));
        };
        store.put_seal(&sid, &seal, &doc.save(), &AuditLine::new(5, "sim", "seal"))?;
        self.note(format!("reseal {i} {sid} {seq}"));
        self.made.push((i, seal));
        Ok(())
    }

    /// The running hub `i` (after the run every process runs).
    pub(crate) fn hub_now(&self, i: usize) -> Result<&SimHub, Broken> {
        self.hub(i)
    }

    /// The running district `i`'s store.
    pub(crate) fn node_now(&self, i: usize) -> Result<&Store, Broken> {
        self.node(i)
    }
}

/// A message's kind and the facts a replay must repeat (no signatures: receipts carry
/// the hub's wall-clock time).
fn kind(m: &Msg) -> String {
    match m {
        Msg::Hello(h) => format!("hello {} {}", h.unit, h.docs.len()),
        Msg::Welcome(_) => "welcome".into(),
        Msg::Sync { session, data } => format!("sync {session} {}", data.len()),
        Msg::Seal { session, .. } => format!("seal {session}"),
        Msg::Receipt { session, .. } => format!("receipt {session}"),
        Msg::Aggregate { name, .. } => format!("aggregate {name}"),
        Msg::Reject {
            session, reason, ..
        } => format!("reject {session} {reason:?}"),
        Msg::Lost { items, .. } => format!("lost {}", items.len()),
    }
}
