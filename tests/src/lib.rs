//! The harness of tinnhiem's end-to-end tests: real binaries, real homes on disk.
//!
//! Tests call [`bin`] to get the path of a tinnhiem binary. The first call in a test
//! process runs `cargo build` for the binaries, so that `cargo test --workspace` alone
//! always tests the current code (an integration test of this crate cannot depend on
//! another crate's binary otherwise).

pub mod netsim;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The directory of the built binaries (`target/debug`), built on first use.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> or target/<profile>/<bin>
        let mut dir = exe.parent().expect("exe dir").to_path_buf();
        if dir.ends_with("deps") {
            dir.pop();
        }
        let release = dir.ends_with("release");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args([
            "build",
            "--quiet",
            "-p",
            "tinnhiem-node",
            "--bin",
            "tinnhiem-node",
        ]);
        if release {
            cmd.arg("--release");
        }
        let st = cmd.status().expect("run cargo build");
        assert!(st.success(), "cargo build of the binaries failed");
        dir
    })
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
