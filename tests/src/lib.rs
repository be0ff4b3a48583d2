//! The harness of tinnhiem's end-to-end tests: real binaries, real homes on disk.
//!
//! Tests call [`bin`] to get the path of a tinnhiem binary. The first call in a test
//! process runs `cargo build` for the binaries, so that `cargo test --workspace` alone
//! always tests the current code (an integration test of this crate cannot depend on
//! another crate's binary otherwise).

pub mod netsim;

pub mod flood;

pub mod https;

pub mod tunlink;

pub mod browser;

pub mod http;

pub mod workload;

pub mod ceiling;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The directory of the built binaries (`target/debug`), built when missing or older
/// than the sources.
///
/// `cargo test --workspace` builds them itself (the node and hub crates have
/// integration tests, so cargo builds their binaries with the test run's features);
/// running `cargo build` again from here would resolve features differently and rebuild
/// the world, so it happens only when a binary is missing or stale.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> or target/<profile>/<bin>
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace")
            .to_path_buf();
        // Each binary is stale only against the crates it is built from, so a change to
        // this harness does not make the node look stale (it would not be relinked).
        let newest_of = |crates: &[&str]| {
            crates
                .iter()
                .flat_map(|c| {
                    [
                        workspace.join(c).join("src"),
                        workspace.join(c).join("assets"),
                        workspace.join(c).join("Cargo.toml"),
                    ]
                })
                .chain([workspace.join("Cargo.toml")])
                .filter_map(|p| newest(&p))
                .max()
        };
        let stale = [
            (
                "tinnhiem-node",
                &["core", "store", "net", "web", "node"][..],
            ),
            ("tinnhiem-hub", &["core", "store", "net", "web", "hub"][..]),
            ("tinnhiem-netsim", &["core", "store", "net", "tests"][..]),
        ]
        .iter()
        .any(|(b, crates)| {
            let built = std::fs::metadata(dir.join(b))
                .and_then(|m| m.modified())
                .ok();
            match (built, newest_of(crates)) {
                (Some(b), Some(s)) => b < s,
                (Some(_), None) => false,
                (None, _) => true,
            }
        });
        if stale {
            let release = dir.ends_with("release");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(&workspace);
            // The same selection as `cargo test --workspace` builds, so the features
            // resolve alike and an up-to-date tree is a no-op, not a rebuild.
            cmd.args(["build", "--quiet", "--workspace", "--all-targets"]);
            if release {
                cmd.arg("--release");
            }
            let st = cmd.status().expect("run cargo build");
            assert!(st.success(), "cargo build of the binaries failed");
        }
        dir
    })
}

/// The newest modification time of a file or of any file under a directory.
fn newest(p: &Path) -> Option<std::time::SystemTime> {
    let m = std::fs::metadata(p).ok()?;
    if m.is_file() {
        return m.modified().ok();
    }
    std::fs::read_dir(p)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| newest(&e.path()))
        .max()
}

/// The path of a tinnhiem binary.
pub fn bin(name: &str) -> PathBuf {
    bin_dir().join(name)
}

/// A node home in a temporary directory.
pub struct NodeHome {
    dir: tempfile::TempDir,
}

impl NodeHome {
    /// `init --unit UNIT` in a fresh temporary home.
    pub fn init(unit: &str) -> NodeHome {
        NodeHome::init_with_store(unit, "redb")
    }

    /// `init --unit UNIT --store STORE` in a fresh temporary home.
    pub fn init_with_store(unit: &str, store: &str) -> NodeHome {
        let h = NodeHome {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        h.ok(&[
            "init",
            "--unit",
            unit,
            "--name",
            &format!("Đơn vị {unit}"),
            "--store",
            store,
        ]);
        h
    }

    /// A copy of a committed home (`tests/fixtures/NAME`) in a temporary directory, so
    /// that the test may open and change it: a home made by an earlier release.
    pub fn copy_of(fixture: &str) -> NodeHome {
        fn copy(from: &Path, to: &Path) {
            std::fs::create_dir_all(to).expect("mkdir");
            for e in std::fs::read_dir(from).expect("fixture dir") {
                let e = e.expect("entry");
                let dest = to.join(e.file_name());
                if e.file_type().expect("type").is_dir() {
                    copy(&e.path(), &dest);
                } else {
                    std::fs::copy(e.path(), &dest).expect("copy");
                }
            }
        }
        let h = NodeHome {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(fixture);
        copy(&from, h.path());
        // Git keeps no 0600; the node wants its key private.
        use std::os::unix::fs::PermissionsExt;
        let key = h.path().join("unit.key");
        if key.exists() {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600))
                .expect("chmod key");
        }
        h
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `tinnhiem-node --home HOME args...`.
    pub fn run(&self, args: &[&str]) -> Output {
        Command::new(bin("tinnhiem-node"))
            .arg("--home")
            .arg(self.path())
            .args(args)
            .env_remove("TINNHIEM_HOME")
            .output()
            .expect("run tinnhiem-node")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "tinnhiem-node {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            o.status,
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            !o.status.success(),
            "tinnhiem-node {args:?} should have failed:\nstdout: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        String::from_utf8_lossy(&o.stderr).into_owned()
    }

    /// `result SESSION --json`, parsed.
    pub fn result_json(&self, session: &str) -> serde_json::Value {
        let out = self.ok(&["result", session, "--json"]);
        serde_json::from_str(&out).expect("result --json is JSON")
    }

    /// Writes a file into the home's parent temp dir and returns its path.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.path().join(name);
        std::fs::write(&p, content).expect("write file");
        p
    }
}

/// A small deterministic PRNG (xorshift64*) for seeded test schedules.
pub struct Rng(u64);

impl Rng {
    /// Seeded; a zero seed is replaced by a constant.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The seed of a test run: `TINNHIEM_SEED` or a fixed default, printed so a failure
/// can be replayed.
pub fn seed(test: &str) -> u64 {
    let s = std::env::var("TINNHIEM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20231208);
    eprintln!("{test}: seed {s} (TINNHIEM_SEED={s} to replay)");
    s
}

/// A child process that is killed when dropped.
pub struct Proc(pub std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `http://HOST:PORT` out of a line that prints a URL.
pub fn web_base(line: &str) -> Option<String> {
    let at = line.find("http://")?;
    let url = line[at..].split_whitespace().next()?;
    Some(url.trim_end_matches('/').to_string())
}

/// A hub home with a running `tinnhiem-hub serve` on a loopback port.
pub struct Hub {
    dir: tempfile::TempDir,
    /// The QUIC address it listens on.
    pub addr: std::net::SocketAddr,
    /// Its public key, hex.
    pub key: String,
    proc: Option<Proc>,
    _stdout: Option<std::process::ChildStdout>,
    /// The web pages' base URL (`http://127.0.0.1:PORT`), when served with `--http`.
    pub web: Option<String>,
}

impl Hub {
    /// `init` a hub for `unit` and start serving.
    pub fn start(unit: &str) -> Hub {
        let mut h = Hub::init(unit);
        h.serve(&[]);
        h
    }

    /// `init` a hub for `unit`, not serving yet.
    pub fn init(unit: &str) -> Hub {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut h = Hub {
            dir,
            addr: "127.0.0.1:1".parse().expect("addr"),
            key: String::new(),
            proc: None,
            _stdout: None,
            web: None,
        };
        h.ok(&["init", "--unit", unit]);
        h.key = h.ok(&["key", "show"]).trim().to_string();
        h
    }

    /// (Re)starts `serve` with extra arguments, on the same port when it had one.
    pub fn serve(&mut self, extra: &[&str]) {
        let listen = if self.addr.port() == 1 {
            "127.0.0.1:0".to_string()
        } else {
            self.addr.to_string()
        };
        let cmd = Command::new(bin("tinnhiem-hub"));
        self.serve_with(cmd, &listen, extra);
    }

    /// [`Hub::serve`] with environment variables set for the server (e.g. test faults).
    pub fn serve_with_env(&mut self, env: &[(&str, &Path)], extra: &[&str]) {
        let listen = if self.addr.port() == 1 {
            "127.0.0.1:0".to_string()
        } else {
            self.addr.to_string()
        };
        let mut cmd = Command::new(bin("tinnhiem-hub"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        self.serve_with(cmd, &listen, extra);
    }

    /// Starts `serve --listen LISTEN` inside the network namespace `ns` (`ip netns exec`).
    pub fn serve_in_netns(&mut self, ns: &str, listen: &str) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).arg(bin("tinnhiem-hub"));
        self.serve_with(cmd, listen, &[]);
    }

    fn serve_with(&mut self, mut cmd: Command, listen: &str, extra: &[&str]) {
        use std::io::BufRead;
        self.proc = None;
        let mut child = cmd
            .arg("--home")
            .arg(self.dir.path())
            .args(["serve", "--listen", listen])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(self.dir.path().join("serve.log")).expect("log"))
            .spawn()
            .expect("spawn hub");
        let out = child.stdout.take().expect("stdout");
        let mut r = std::io::BufReader::new(out);
        let mut line = String::new();
        r.read_line(&mut line).expect("hub prints its address");
        let addr = line.rsplit(' ').next().unwrap_or("").trim();
        self.addr = addr
            .parse()
            .unwrap_or_else(|_| panic!("hub address in {line:?}"));
        if extra.contains(&"--http") {
            let mut line = String::new();
            r.read_line(&mut line).expect("hub prints its web address");
            self.web = web_base(&line);
        }
        self._stdout = Some(r.into_inner());
        self.proc = Some(Proc(child));
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.proc.as_ref().map(|p| p.0.id())
    }

    /// Kills the server (SIGKILL).
    pub fn kill(&mut self) {
        self.proc = None;
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `tinnhiem-hub --home HOME args...`, asserting success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = Command::new(bin("tinnhiem-hub"))
            .arg("--home")
            .arg(self.dir.path())
            .args(args)
            .output()
            .expect("run hub");
        assert!(
            o.status.success(),
            "tinnhiem-hub {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `status --json`, whether or not it exits 1 for an alarm (see [`Hub::status_code`]).
    pub fn status(&self) -> serde_json::Value {
        self.status_code().1
    }

    /// `status --json` and its exit code: 1 while an alarm is printed (a store down or
    /// failing, minutes lost from the store still missing).
    pub fn status_code(&self) -> (Option<i32>, serde_json::Value) {
        let o = Command::new(bin("tinnhiem-hub"))
            .arg("--home")
            .arg(self.dir.path())
            .args(["status", "--json"])
            .output()
            .expect("run hub");
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "tinnhiem-hub status failed:\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            panic!("status --json: {e}: {}", String::from_utf8_lossy(&o.stdout))
        });
        (o.status.code(), v)
    }

    /// Registers a unit by hand: `registry add`.
    pub fn register(&self, unit: &str, key: &str, parent: &str, level: &str) {
        self.ok(&[
            "registry", "add", "--unit", unit, "--key", key, "--parent", parent, "--level", level,
        ]);
    }

    /// Names an upper hub to forward to, reached at `addr`.
    pub fn forward_to(&self, upper: &Hub, unit: &str, addr: std::net::SocketAddr) {
        self.ok(&[
            "destination",
            "add",
            "--unit",
            unit,
            "--addr",
            &addr.to_string(),
            "--key",
            &upper.key,
        ]);
    }

    /// Enrolls a node home.
    pub fn enroll(&self, node: &NodeHome, unit: &str) {
        let key = node.ok(&["key", "show"]);
        self.ok(&[
            "registry",
            "add",
            "--unit",
            unit,
            "--key",
            key.trim(),
            "--parent",
            "lai-chau",
        ]);
    }
}

/// A running `tinnhiem-netsim` in front of `to`; returns the proxy and its address,
/// which it binds (port 0) and names on its first line before it reads any packet.
pub fn netsim(to: std::net::SocketAddr, link: &[&str]) -> (Proc, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = Command::new(bin("tinnhiem-netsim"))
        .args(["--listen", "127.0.0.1:0", "--to", &to.to_string()])
        .args(link)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn netsim");
    let mut line = String::new();
    if let Some(out) = child.stdout.as_mut() {
        std::io::BufReader::new(out)
            .read_line(&mut line)
            .expect("netsim prints its address");
    }
    let addr = line
        .split_whitespace()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("netsim's address in {line:?}"));
    (Proc(child), addr)
}

/// A session file for unit tests of the sync: consistent tallies, one subject, the
/// counting board filled in (sealing needs it).
pub fn session_file(id: &str, high: u64) -> String {
    format!(
        r#"{{"id": "{id}", "profile": "nq96-2023", "procedure": "poll", "body": "HĐND huyện", "date": "2023-12-08",
  "attendance": {{"total": 30, "present": 30, "absent_from_start": 0, "present_at_vote": 30}},
  "ballots": {{"issued": 30, "collected": 30, "wholly_invalid": 0}},
  "count_from": "14:05", "count_to": "14:40", "chair": "Lò Thị Hoa", "board": ["Lò Thị Hoa", "Vàng A Sình"],
  "subjects": [{{"id": "s01", "person_id": "p-1", "name": "Nguyễn Văn A", "position": "Chủ tịch", "unit": "UBND"}}],
  "tallies": {{"s01": {{"high": {high}, "confidence": {}, "low": 0, "invalid": 0}}}}}}"#,
        30 - high
    )
}

impl NodeHome {
    /// Imports and seals a session, and points the node at `addr` with `hub_key`.
    pub fn seal_session(&self, id: &str, high: u64) {
        let f = self.file(&format!("{id}.json"), &session_file(id, high));
        self.ok(&["session", "import", f.to_str().expect("path")]);
        self.ok(&["seal", id]);
    }

    /// `hub set`.
    pub fn point_at(&self, addr: std::net::SocketAddr, key: &str) {
        self.ok(&["hub", "set", "--addr", &addr.to_string(), "--key", key]);
    }

    /// `status --json`.
    pub fn status(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["status", "--json"])).expect("json")
    }

    /// Starts `sync --daemon` on this home (killed when dropped).
    pub fn daemon(&self) -> Proc {
        Proc(
            Command::new(bin("tinnhiem-node"))
                .arg("--home")
                .arg(self.path())
                .args(["sync", "--daemon"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("daemon"),
        )
    }

    /// `key rotate`: returns the new public key.
    pub fn rotate_key(&self) -> String {
        let out = self.ok(&["key", "rotate"]);
        out.lines()
            .find_map(|l| l.strip_prefix("Khóa mới: "))
            .expect("new key printed")
            .trim()
            .to_string()
    }
}
