//! The command line, as clap types.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// A council office's offline node: sessions, ballots, results and sealed minutes.
#[derive(Debug, Parser)]
#[command(name = "tinnhiem-node", version, about, long_about = None)]
pub struct Cli {
    /// The node's home directory (key, store, sealed minutes). Default: the platform
    /// data directory, or $TINNHIEM_HOME.
    #[arg(long, global = true, env = "TINNHIEM_HOME")]
    pub home: Option<PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the home: the unit's key pair (mode 0600) and its config.
    Init {
        /// The unit's id (e.g. `lai-chau.phong-tho`).
        #[arg(long)]
        unit: String,
        /// The unit's name, for printed minutes (e.g. `HĐND huyện Phong Thổ`).
        #[arg(long)]
        name: Option<String>,
        /// Storage engine for a new home: `redb` (default) or `sled` (see
        /// ARCHITECTURE.md: sled 0.34 stores can be corrupted by a kill -9).
        #[arg(long, default_value = "redb")]
        store: String,
    },
    /// The unit's key.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Sessions: create, import, list, show.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Subjects on the ballot.
    #[command(subcommand)]
    Subject(SubjectCmd),
    /// Counting board and header of the minutes.
    #[command(subcommand)]
    Board(BoardCmd),
    /// Attendance counts.
    #[command(subcommand)]
    Attendance(AttendanceCmd),
    /// Ballot counts.
    #[command(subcommand)]
    Ballots(BallotsCmd),
    /// Per-subject totals typed from paper (tallies mode).
    #[command(subcommand)]
    Tally(TallyCmd),
    /// Per-ballot entries (entries mode).
    #[command(subcommand)]
    Entry(EntryCmd),
    /// The result: a table, or JSON with --json.
    Result {
        /// The session.
        session: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Seal the counting minutes: refused, with every problem, unless the quorum is met
    /// and the numbers are consistent.
    Seal {
        /// The session.
        session: String,
    },
    /// Check every stored seal of a session against its document. Exit 0 when valid.
    Verify {
        /// The session.
        session: String,
    },
    /// Carry a session between laptops: export to a file, merge a file.
    #[command(subcommand)]
    Doc(DocCmd),
    /// Export the printable counting minutes (HTML) and/or the result as CSV.
    Export {
        /// The session.
        session: String,
        /// Write the counting minutes (Annex 4 layout, printable) to this HTML file.
        #[arg(long, value_name = "FILE.html")]
        minutes: Option<PathBuf>,
        /// Write the per-subject result to this CSV file.
        #[arg(long, value_name = "FILE.csv")]
        csv: Option<PathBuf>,
        /// Write the QR code of the current seal (seal and result) to this PNG file.
        #[arg(long, value_name = "FILE.png")]
        qr: Option<PathBuf>,
    },
    /// The legal deadlines of a session.
    Deadlines {
        /// The session.
        session: String,
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
    /// The audit log of this home (who changed what, when).
    Audit,
    /// The hub this node reports to.
    #[command(subcommand)]
    Hub(HubCmd),
    /// Deliver sealed minutes to the hub: `--once` (exit 0 only when every seal has a
    /// verified receipt) or `--daemon` (keep trying, with backoff, until stopped).
    Sync {
        /// Sync everything, wait for receipts or give up after --timeout.
        #[arg(long, conflicts_with = "daemon")]
        once: bool,
        /// Keep trying forever.
        #[arg(long)]
        daemon: bool,
        /// With --once: give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// With --once: print a JSON summary instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Delivery of every seal to the hub: pending, sent, received or rejected.
    Status {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the stored receipts offline against the hub's key.
    VerifyReceipt,
    /// Serve the clerk's web pages (the whole session flow, offline) until stopped.
    Serve {
        /// Address, e.g. 127.0.0.1:8080. Keep it on localhost unless a TLS proxy is in
        /// front (deploy/OPERATIONS.md).
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        http: std::net::SocketAddr,
        /// Also deliver sealed minutes to the hub, as `sync --daemon` does.
        #[arg(long)]
        sync: bool,
    },
    /// Check a photograph or scan of printed minutes: the QR code's seal and result are
    /// verified and compared with this home's record. Exit 0 only when they match.
    VerifyPaper {
        /// PNG or JPEG image.
        image: std::path::PathBuf,
    },
    /// Back up this home while it works: the store as one consistent snapshot, the
    /// config, the keys, the accounts and the plain copies of sealed minutes.
    Backup {
        /// A directory that does not exist yet.
        dest: std::path::PathBuf,
    },
    /// Restore a backup into --home, which must be new (never overwrites a home).
    Restore {
        /// The backup directory.
        from: std::path::PathBuf,
    },
    /// Accounts for the web pages (roles clerk, admin).
    #[command(subcommand)]
    User(tinnhiem_web::users::UserCmd),
}

/// `hub` subcommands.
#[derive(Debug, Subcommand)]
pub enum HubCmd {
    /// Set the hub: its QUIC address and its public key (`tinnhiem-hub key show`).
    Set {
        /// `HOST:PORT`.
        #[arg(long)]
        addr: String,
        /// 64 hex characters.
        #[arg(long)]
        key: String,
    },
}

/// `key` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCmd {
    /// Print the public key as 64 hex characters.
    Show,
    /// Make a new key pair; the old one is kept as unit.key.<time>.old. Then have the hub
    /// register it (`tinnhiem-hub registry rotate`): seals made before stay valid.
    Rotate,
}

/// `session` subcommands.
#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// Create an empty session.
    Create(CreateArgs),
    /// Import a whole session from a JSON file.
    Import {
        /// The JSON file.
        file: PathBuf,
    },
    /// List the sessions of this home.
    List,
    /// Delete a session that was never sealed (sealed minutes are never deleted). Its
    /// last document is kept in HOME/deleted/; a copy merged later from another laptop
    /// is refused unless `doc merge --restore`.
    Delete {
        /// The session.
        session: String,
        /// Confirm: without it, only says what would be deleted.
        #[arg(long)]
        yes: bool,
    },
}

/// Arguments of `session create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The session's id (e.g. `hdnd-2023-ky-hop-14`).
    pub session: String,
    /// `nq96-2023` (councils) or `qd96-2023` (Party).
    #[arg(long)]
    pub profile: String,
    /// `poll` (high/confidence/low) or `binding` (confidence/no confidence).
    #[arg(long, default_value = "poll")]
    pub procedure: String,
    /// `entries` (one entry per ballot) or `tallies` (totals typed from paper).
    #[arg(long, default_value = "entries")]
    pub mode: String,
    /// The voting body (e.g. `HĐND huyện Phong Thổ`).
    #[arg(long)]
    pub body: String,
    /// The day of the vote, YYYY-MM-DD.
    #[arg(long)]
    pub date: String,
    /// The session or conference name (e.g. `Kỳ họp thứ mười lăm`).
    #[arg(long)]
    pub title: Option<String>,
}

/// `subject` subcommands.
#[derive(Debug, Subcommand)]
pub enum SubjectCmd {
    /// Add one subject, last on the ballot. A line id already on the list is refused,
    /// naming who is there (use `subject edit` to change them).
    Add {
        /// The session.
        session: String,
        /// Line id (e.g. `s01`).
        #[arg(long)]
        id: String,
        /// Person id, stable across sessions (e.g. `p-0001`).
        #[arg(long)]
        person: String,
        /// Full name.
        #[arg(long)]
        name: String,
        /// Position.
        #[arg(long, default_value = "")]
        position: String,
        /// Unit of work.
        #[arg(long, default_value = "")]
        unit: String,
        /// Listed but not polled: retiring, elected_this_year, appointed_this_year,
        /// polled_on_another_line, or in words ("nghỉ hưu", "được bầu trong năm", …).
        #[arg(long)]
        excluded: Option<String>,
    },
    /// Change one subject's line; what is not given stays as it is.
    Edit {
        /// The session.
        session: String,
        /// The line id (e.g. `s03`).
        id: String,
        /// Person id.
        #[arg(long)]
        person: Option<String>,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Position.
        #[arg(long)]
        position: Option<String>,
        /// Unit of work.
        #[arg(long)]
        unit: Option<String>,
        /// Listed but not polled, for this reason (as for `subject add`).
        #[arg(long, conflicts_with = "polled")]
        excluded: Option<String>,
        /// Polled after all: clears the reason not to poll.
        #[arg(long)]
        polled: bool,
    },
    /// Remove one subject's line. Refused when ballots or a tally already give them a
    /// mark, unless --drop-marks (the marks go too; the ballots stay).
    Remove {
        /// The session.
        session: String,
        /// The line id.
        id: String,
        /// Remove the marks and tally given to this person too.
        #[arg(long)]
        drop_marks: bool,
    },
    /// The list, in ballot order.
    List {
        /// The session.
        session: String,
    },
    /// Import subjects from CSV: headers `STT` or `id`, `Họ và tên` (name), `Mã người`
    /// (person_id), `Chức vụ`, `Đơn vị công tác`, `Lý do không lấy phiếu` (any case, with
    /// or without diacritics; `,` or `;`). Lines whose id is already on the list refuse
    /// the whole file, unless --replace.
    Import {
        /// The session.
        session: String,
        /// The CSV file.
        file: PathBuf,
        /// Replace the lines whose id is already on the list.
        #[arg(long)]
        replace: bool,
    },
}

/// `board` subcommands.
#[derive(Debug, Subcommand)]
pub enum BoardCmd {
    /// Set the counting board and the header of the minutes.
    Set {
        /// The session.
        session: String,
        /// The chair of the counting board.
        #[arg(long)]
        chair: Option<String>,
        /// Members, separated by `;`.
        #[arg(long)]
        members: Option<String>,
        /// Counting started at HH:MM.
        #[arg(long)]
        from: Option<String>,
        /// Counting ended at HH:MM.
        #[arg(long)]
        to: Option<String>,
        /// Where the count took place.
        #[arg(long)]
        place: Option<String>,
        /// The session or conference name.
        #[arg(long)]
        title: Option<String>,
        /// Date of the resolution confirming the results, YYYY-MM-DD.
        #[arg(long)]
        resolution_date: Option<String>,
    },
}

/// `attendance` subcommands.
#[derive(Debug, Subcommand)]
pub enum AttendanceCmd {
    /// Set one or more attendance counts.
    Set {
        /// The session.
        session: String,
        /// Total delegates or members summoned.
        #[arg(long)]
        total: Option<u64>,
        /// Present at the session.
        #[arg(long)]
        present: Option<u64>,
        /// Absent from the start until the vote.
        #[arg(long)]
        absent_from_start: Option<u64>,
        /// Present at the time of voting.
        #[arg(long)]
        present_at_vote: Option<u64>,
    },
}

/// `ballots` subcommands.
#[derive(Debug, Subcommand)]
pub enum BallotsCmd {
    /// Set one or more ballot counts.
    Set {
        /// The session.
        session: String,
        /// Ballots issued.
        #[arg(long)]
        issued: Option<u64>,
        /// Ballots collected.
        #[arg(long)]
        collected: Option<u64>,
        /// Collected ballots invalid as a whole (not issued by the board).
        #[arg(long)]
        wholly_invalid: Option<u64>,
    },
}

/// `tally` subcommands.
#[derive(Debug, Subcommand)]
pub enum TallyCmd {
    /// Set one subject's totals.
    Set {
        /// The session.
        session: String,
        /// The subject's line id.
        subject: String,
        /// Poll: high.
        #[arg(long)]
        high: Option<u64>,
        /// Confidence (both procedures).
        #[arg(long)]
        confidence: Option<u64>,
        /// Poll: low.
        #[arg(long)]
        low: Option<u64>,
        /// Binding vote: no confidence.
        #[arg(long)]
        no_confidence: Option<u64>,
        /// Ballots invalid for this subject only.
        #[arg(long, default_value_t = 0)]
        invalid: u64,
    },
}

/// `entry` subcommands.
#[derive(Debug, Subcommand)]
pub enum EntryCmd {
    /// Enter one ballot: `--marks s01=high,s02=low,...` (a subject left out had no box
    /// marked and counts as invalid for that subject).
    Add {
        /// The session.
        session: String,
        /// Marks: high|confidence|low (poll), confidence|no_confidence (binding), invalid.
        #[arg(long)]
        marks: String,
    },
    /// Remove a ballot entered by mistake.
    Remove {
        /// The session.
        session: String,
        /// The entry id printed by `entry add`.
        id: String,
    },
}

/// `doc` subcommands.
#[derive(Debug, Subcommand)]
pub enum DocCmd {
    /// Write the session document to a file (for a USB stick).
    Export {
        /// The session.
        session: String,
        /// Output file.
        #[arg(short = 'o', long = "output")]
        output: PathBuf,
    },
    /// Merge a session document from a file into this home. A copy of a session
    /// deleted here is refused unless --restore.
    Merge {
        /// The file written by `doc export`.
        file: PathBuf,
        /// Bring back a session deleted on this laptop.
        #[arg(long)]
        restore: bool,
    },
}
