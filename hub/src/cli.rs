//! The command line.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// A provincial (or upper) hub: receives, verifies and receipts sealed minutes.
#[derive(Debug, Parser)]
#[command(name = "tinnhiem-hub", version, about)]
pub(crate) struct Cli {
    /// The hub's home directory. Default: the platform data directory, or
    /// $TINNHIEM_HUB_HOME.
    #[arg(long, global = true, env = "TINNHIEM_HUB_HOME")]
    pub(crate) home: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the home: the hub's key pair (mode 0600) and config.
    Init {
        /// The hub's unit id (e.g. `lai-chau`).
        #[arg(long)]
        unit: String,
        /// Its name.
        #[arg(long)]
        name: Option<String>,
    },
    /// The hub's key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// The registry of units that report to this hub.
    #[command(subcommand)]
    Registry(RegistryCmd),
    /// The upper hubs this hub forwards to (national council body, Party organization
    /// department...): in hub.toml, read again by a running `serve` within seconds.
    #[command(subcommand)]
    Destination(DestinationCmd),
    /// The hub's sealed aggregate of a reporting period, forwarded to every destination.
    #[command(subcommand)]
    Aggregate(AggregateCmd),
    /// The transparency log of everything this hub accepted.
    #[command(subcommand)]
    Log(LogCmd),
    /// Run the QUIC server (and the admin socket for the other commands).
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "0.0.0.0:4433")]
        listen: SocketAddr,
        /// At most this many connections at once.
        #[arg(long, default_value_t = 512)]
        max_connections: usize,
        /// The largest message a peer may send, in bytes.
        #[arg(long, default_value_t = 8 << 20)]
        max_message: usize,
        /// The largest document the hub keeps, in bytes.
        #[arg(long, default_value_t = 16 << 20)]
        max_doc: usize,
        /// Seconds a peer has to complete a message it has begun (slow peers are cut
        /// off; mind links as slow as max-message / this).
        #[arg(long, default_value_t = 60)]
        message_timeout: u64,
        /// Also serve the web pages (dashboard, reviewer's search, minutes, /metrics) on
        /// this address, e.g. 127.0.0.1:8080. Keep it on localhost and put a TLS proxy
        /// in front for other machines (deploy/OPERATIONS.md).
        #[arg(long, value_name = "ADDR")]
        http: Option<SocketAddr>,
    },
    /// Back up this hub while it serves: the store as one consistent snapshot (taken
    /// by the running server), the config, the keys and the accounts.
    Backup {
        /// A directory that does not exist yet.
        dest: PathBuf,
    },
    /// Restore a backup into --home, which must be new (never overwrites a home).
    Restore {
        /// The backup directory.
        from: PathBuf,
    },
    /// Accept a result from a photograph or scan of printed minutes (their QR code) when
    /// no link exists at all: verified like a seal, shown as paper-delivered until the
    /// document itself arrives and matches.
    IngestQr {
        /// PNG or JPEG image.
        image: PathBuf,
    },
    /// Accounts for the web pages (roles staff, reviewer, admin).
    #[command(subcommand)]
    User(tinnhiem_web::users::UserCmd),
    /// Units expected and reported, seals accepted and rejected.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// A reviewer's view of one person: every place they were polled, side by side.
    /// QUERY is a person id or a name, with or without diacritics ("nguyen van a").
    Person {
        /// Person id or name.
        query: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every subject over a threshold, with the consequence the profile prescribes and
    /// the body that must act.
    Flagged {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Legal deadlines: every accepted session's calendar, and per period the report due
    /// on 15 January with the units that have not reported yet.
    Deadlines {
        /// As JSON.
        #[arg(long)]
        json: bool,
        /// Judge against this day instead of today (YYYY-MM-DD).
        #[arg(long)]
        today: Option<String>,
    },
    /// Every accepted session with its results and flags.
    Result {
        /// As JSON (the node's `result --json` shape, one per session).
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum DestinationCmd {
    /// Add (or replace) an upper hub: every accepted seal, with its document, and the
    /// enrollments of this hub's units go there, unchanged.
    Add {
        /// The upper hub's unit id (e.g. `quoc-hoi`, `ban-to-chuc-tu`).
        #[arg(long)]
        unit: String,
        /// `HOST:PORT` of its QUIC endpoint.
        #[arg(long)]
        addr: String,
        /// Its public key (`tinnhiem-hub key show` there).
        #[arg(long)]
        key: String,
        /// Its name.
        #[arg(long)]
        name: Option<String>,
    },
    /// Stop forwarding to an upper hub (what it received stays received).
    Remove {
        /// The upper hub's unit id.
        #[arg(long)]
        unit: String,
    },
    /// The upper hubs, with delivery counts when `serve` runs.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AggregateCmd {
    /// Seal the aggregate of a period (the year of the sessions): which units reported,
    /// which are missing or late, every subject over a threshold, a reference to each
    /// seal included. Sealing again later makes the next seq.
    Seal {
        /// The period, e.g. 2023.
        #[arg(long)]
        period: i32,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every aggregate held: this hub's own, and those received from lower hubs.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum LogCmd {
    /// The log's size and root.
    Show {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the whole log: every leaf stored, every receipt's item at its index, every
    /// signed root a root of this log (nothing rewritten), every accepted seal in it.
    /// Exit 0 only when all holds.
    Verify {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum KeyCmd {
    /// Print the public key as 64 hex characters.
    Show,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistryCmd {
    /// Enroll one unit (takes effect at once, also while `serve` runs).
    Add {
        /// The unit's id.
        #[arg(long)]
        unit: String,
        /// Its public key (`tinnhiem-node key show`).
        #[arg(long)]
        key: String,
        /// The unit it reports to.
        #[arg(long)]
        parent: String,
        /// Its name.
        #[arg(long)]
        name: Option<String>,
        /// Its level (commune, district, province, national, party...).
        #[arg(long)]
        level: Option<String>,
    },
    /// Replace a unit's key from a moment on (default: now): the new key is valid from
    /// then, the old one revoked then; seals made before stay valid.
    Rotate {
        /// The unit.
        #[arg(long)]
        unit: String,
        /// The new public key.
        #[arg(long)]
        key: String,
        /// RFC 3339 time (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Revoke one key of a unit from a moment on (default: now).
    Revoke {
        /// The unit.
        #[arg(long)]
        unit: String,
        /// The key to revoke.
        #[arg(long)]
        key: String,
        /// RFC 3339 time (default: now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Enroll every `[[unit]]` of a TOML file (id, key or [[unit.keys]], parent, name,
    /// level).
    Import {
        /// The file.
        file: PathBuf,
    },
    /// List the registry.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}
