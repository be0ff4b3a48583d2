//! The main job on the embedded default: a provincial hub and many district offices,
//! each on its own home, that seal their minutes offline and deliver them through a
//! simulated flaky link (loss, delay, jitter, duplication, reordering, a bandwidth cap
//! and partitions), each receiving a signed receipt; then the province forwards every
//! district's minutes, unchanged, to two upper hubs (the national council body and the
//! Party organization department), each behind its own flaky link.
//!
//! Run with `cargo run --release -p tinnhiem-tests --bin tinnhiem-demo`. Options:
//! `--districts N` (default 20), `--seed S`, `--keep DIR` (keep the homes there),
//! `--clean` (no impairment) or the link settings of `tinnhiem-netsim`.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tinnhiem_tests::{bin, Rng};

const NAMES: [&str; 12] = [
    "Nguyễn Văn An",
    "Trần Thị Bích",
    "Lê Văn Cường",
    "Phạm Thị Dung",
    "Hoàng Văn Em",
    "Vũ Thị Phương",
    "Đặng Văn Giang",
    "Bùi Thị Hà",
    "Đỗ Văn Hùng",
    "Hồ Thị Lan",
    "Ngô Văn Minh",
    "Dương Thị Nga",
];
const POSITIONS: [&str; 8] = [
    "Chủ tịch HĐND",
    "Phó Chủ tịch HĐND",
    "Trưởng Ban Pháp chế",
    "Trưởng Ban Kinh tế - Xã hội",
    "Chủ tịch UBND",
    "Phó Chủ tịch UBND",
    "Chánh Văn phòng",
    "Trưởng Công an",
];

/// Runs `program --home HOME args...` and returns its stdout, or its stderr as the error.
fn run(program: &str, home: &Path, args: &[&str]) -> Result<String> {
    let o = Command::new(bin(program))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()?;
    if !o.status.success() {
        bail!("{program} {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

fn node(home: &Path, args: &[&str]) -> Result<String> {
    run("tinnhiem-node", home, args)
}

fn hub(home: &Path, args: &[&str]) -> Result<String> {
    run("tinnhiem-hub", home, args)
}

/// A district's session file: random but consistent tallies, one subject now and then
/// over a threshold.
fn session_json(rng: &mut Rng, district: usize) -> serde_json::Value {
    let total = 25 + rng.below(16);
    let present = total - rng.below(3);
    let collected = present - rng.below(2);
    let wholly = rng.below(2);
    let counted = collected - wholly;
    let mut subjects = Vec::new();
    let mut tallies = serde_json::Map::new();
    for i in 0..8 {
        let sid = format!("s{:02}", i + 1);
        let invalid = rng.below(2);
        let valid = counted - invalid;
        let low = if rng.below(10) == 0 {
            valid * 6 / 10
        } else {
            rng.below(valid / 5 + 1)
        };
        let high = rng.below(valid - low + 1);
        let conf = valid - low - high;
        // A provincial cadre who also sits in the first three district councils: the
        // reviewer sees them in three places side by side.
        let (person, name) = if i == 7 && district <= 3 {
            ("p-lc-0001".to_string(), "Hoàng Văn Đức")
        } else {
            (
                format!("p-{district:02}-{i:02}"),
                NAMES[(district + i) % NAMES.len()],
            )
        };
        subjects.push(serde_json::json!({
            "id": sid, "person_id": person,
            "name": name, "position": POSITIONS[i], "unit": format!("Huyện {district:02}"),
        }));
        tallies.insert(
            sid,
            serde_json::json!({"high": high, "confidence": conf, "low": low, "invalid": invalid}),
        );
    }
    serde_json::json!({
        "id": "ky-hop-2023", "profile": "nq96-2023", "procedure": "poll",
        "body": format!("HĐND huyện số {district:02}"), "date": "2023-12-12",
        "count_from": "14:00", "count_to": "14:45", "chair": "Trưởng ban kiểm phiếu",
        "board": ["Trưởng ban kiểm phiếu", "Thành viên thứ hai", "Thành viên thứ ba"],
        "place": format!("Hội trường huyện số {district:02}"),
        "attendance": {"total": total, "present": present, "absent_from_start": total - present, "present_at_vote": present},
        "ballots": {"issued": present, "collected": collected, "wholly_invalid": wholly},
        "subjects": subjects, "tallies": tallies,
    })
}

struct Options {
    /// Seconds to wait, pages open, before the districts start (time to open a browser).
    hold: u64,
    /// Keep the hubs and their pages up at the end, until Ctrl-C.
    serve: bool,
    districts: usize,
    seed: u64,
    keep: Option<PathBuf>,
    link: Vec<String>,
    timeout: u64,
}

fn options() -> Result<Option<Options>> {
    use std::io::IsTerminal;
    let tty = std::io::stdout().is_terminal();
    let mut o = Options {
        hold: if tty { 10 } else { 0 },
        serve: tty,
        districts: 20,
        seed: 2023,
        keep: None,
        link: vec![
            "--loss".into(),
            "20".into(),
            "--delay-ms".into(),
            "60".into(),
            "--jitter-ms".into(),
            "40".into(),
            "--dup".into(),
            "2".into(),
            "--reorder".into(),
            "5".into(),
            "--rate-kbps".into(),
            "512".into(),
            "--up-secs".into(),
            "4".into(),
            "--down-secs".into(),
            "2".into(),
        ],
        timeout: 300,
    };
    let mut args = std::env::args().skip(1);
    let mut custom_link = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--districts" => o.districts = args.next().context("--districts N")?.parse()?,
            "--seed" => o.seed = args.next().context("--seed S")?.parse()?,
            "--keep" => o.keep = Some(args.next().context("--keep DIR")?.into()),
            "--timeout" => o.timeout = args.next().context("--timeout SECS")?.parse()?,
            "--hold" => o.hold = args.next().context("--hold SECS")?.parse()?,
            "--serve" => o.serve = true,
            "--no-serve" => o.serve = false,
            "--clean" => custom_link.push("--loss".into()),
            "--loss" | "--delay-ms" | "--jitter-ms" | "--dup" | "--reorder" | "--rate-kbps"
            | "--up-secs" | "--down-secs" => {
                custom_link.push(a.clone());
                custom_link.push(args.next().context("a value")?);
            }
            "-h" | "--help" => {
                println!("tinnhiem-demo [--districts N] [--seed S] [--keep DIR] [--timeout SECS]");
                println!("              [--hold SECS] [--serve | --no-serve]");
                println!("              [--clean | --loss PCT --delay-ms MS --jitter-ms MS --dup PCT --reorder PCT");
                println!("               --rate-kbps KBPS --up-secs S --down-secs S]");
                println!("Default link: 20% loss, 60±40 ms, 2% duplicated, 5% reordered, 512 kbit/s, up 4 s / down 2 s.");
                println!("On a terminal: waits 10 s (--hold) before the districts start, and keeps the pages up at the end (--serve) until Ctrl-C.");
                return Ok(None);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    if custom_link == ["--loss"] {
        o.link = vec!["--loss".into(), "0".into()];
    } else if !custom_link.is_empty() {
        o.link = custom_link;
    }
    Ok(Some(o))
}

/// A child process killed when dropped.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_udp_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `init` a hub in `root/dir` and start `serve` on a free port; its home, key, port and
/// process.
fn start_hub(
    root: &Path,
    dir: &str,
    unit: &str,
    name: &str,
    http: Option<u16>,
) -> Result<(PathBuf, String, u16, Child)> {
    let home = root.join(dir);
    hub(&home, &["init", "--unit", unit, "--name", name])?;
    let key = hub(&home, &["key", "show"])?.trim().to_string();
    let port = free_udp_port()?;
    let log = std::fs::File::create(root.join(format!("{dir}.log")))?;
    let child = Child(
        Command::new(bin("tinnhiem-hub"))
            .arg("--home")
            .arg(&home)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(
                http.map(|p| vec!["--http".to_string(), format!("127.0.0.1:{p}")])
                    .unwrap_or_default(),
            )
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()?,
    );
    // Ready when its admin socket answers.
    let start = Instant::now();
    while !home.join("admin.sock").exists() {
        if start.elapsed() > std::time::Duration::from_secs(15) {
            bail!("{dir}: the hub did not start (see {dir}.log)");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok((home, key, port, child))
}

/// `preferred` when free, else any free TCP port of loopback.
fn web_port(preferred: u16) -> Result<u16> {
    if std::net::TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The demo's web password (every account).
const PASSWORD: &str = "tinnhiem-demo";

fn user_add(home: &Path, name: &str, role: &str) -> Result<()> {
    let out = Command::new(bin("tinnhiem-hub"))
        .arg("--home")
        .arg(home)
        .args(["user", "add", name, "--role", role])
        .env("TINNHIEM_PASSWORD", PASSWORD)
        .output()?;
    if !out.status.success() {
        bail!("user add {name}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// A `tinnhiem-netsim` in front of `to_port`; its port and process.
fn start_sim(
    root: &Path,
    name: &str,
    to_port: u16,
    seed: u64,
    link: &[String],
) -> Result<(u16, Child)> {
    let port = free_udp_port()?;
    let log = std::fs::File::create(root.join(format!("{name}-link.log")))?;
    let mut args = vec![
        "--listen".to_string(),
        format!("127.0.0.1:{port}"),
        "--to".into(),
        format!("127.0.0.1:{to_port}"),
        "--seed".into(),
        seed.to_string(),
    ];
    args.extend(link.iter().cloned());
    let child = Child(
        Command::new(bin("tinnhiem-netsim"))
            .args(&args)
            .stdout(log)
            .spawn()?,
    );
    Ok((port, child))
}

fn main() -> Result<()> {
    let Some(o) = options()? else { return Ok(()) };
    let tmp = tempfile::tempdir()?;
    let root = o.keep.clone().unwrap_or_else(|| tmp.path().to_owned());
    std::fs::create_dir_all(&root)?;
    let mut rng = Rng::new(o.seed);
    println!(
        "tinnhiem demo: {} district nodes → a provincial hub → the national council body and the Party organization department, over simulated flaky links",
        o.districts
    );
    println!("link: {}", o.link.join(" "));

    // The hubs: the province, and above it the national council body and the Party
    // organization department, each reached through its own flaky link.
    let province_web = web_port(8080)?;
    let (hub_home, hub_key, hub_port, _hub) = start_hub(
        &root,
        "tinh-lai-chau",
        "lai-chau",
        "Thường trực HĐND tỉnh Lai Châu",
        Some(province_web),
    )?;
    let (sim_port, _sim) = start_sim(&root, "netsim", hub_port, o.seed, &o.link)?;
    let mut uppers = Vec::new();
    let mut party_web = None;
    for (i, (dir, unit, name)) in [
        ("quoc-hoi", "quoc-hoi", "Ủy ban Thường vụ Quốc hội"),
        ("ban-to-chuc-tu", "ban-to-chuc-tu", "Ban Tổ chức Trung ương"),
    ]
    .into_iter()
    .enumerate()
    {
        let web = if unit == "ban-to-chuc-tu" {
            Some(web_port(8081)?)
        } else {
            None
        };
        let (home, key, port, child) = start_hub(&root, dir, unit, name, web)?;
        if web.is_some() {
            user_add(&home, "xem", "reviewer")?;
            party_web = web;
        }
        let (sport, sim) = start_sim(&root, dir, port, o.seed + 1 + i as u64, &o.link)?;
        hub(
            &home,
            &[
                "registry",
                "add",
                "--unit",
                "lai-chau",
                "--key",
                &hub_key,
                "--parent",
                unit,
                "--level",
                "province",
                "--name",
                "HĐND tỉnh Lai Châu",
            ],
        )?;
        hub(
            &hub_home,
            &[
                "destination",
                "add",
                "--unit",
                unit,
                "--addr",
                &format!("127.0.0.1:{sport}"),
                "--key",
                &key,
                "--name",
                name,
            ],
        )?;
        uppers.push((unit, home, child, sim));
    }
    user_add(&hub_home, "tinh", "staff")?;
    user_add(&hub_home, "xem", "reviewer")?;
    println!();
    println!(
        "  Provincial dashboard:  http://127.0.0.1:{}/   login tinh / {PASSWORD}  (reviewer: xem / {PASSWORD})",
        province_web
    );
    if let Some(p) = party_web {
        println!(
            "  Party organization department, reviewer: http://127.0.0.1:{p}/review   login xem / {PASSWORD}"
        );
    }
    println!();
    if o.hold > 0 {
        println!(
            "Open the dashboard now; the districts start in {} s…",
            o.hold
        );
        std::thread::sleep(std::time::Duration::from_secs(o.hold));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));

    // The districts: each seals its session offline, then enrolls with the hub.
    let mut homes = Vec::new();
    for d in 1..=o.districts {
        let home = root.join(format!("huyen-{d:02}"));
        let unit = format!("lai-chau.huyen-{d:02}");
        node(
            &home,
            &[
                "init",
                "--unit",
                &unit,
                "--name",
                &format!("Thường trực HĐND huyện số {d:02}"),
            ],
        )?;
        let file = home.join("session.json");
        std::fs::write(
            &file,
            serde_json::to_string_pretty(&session_json(&mut rng, d))?,
        )?;
        node(
            &home,
            &["session", "import", file.to_str().context("path")?],
        )?;
        node(&home, &["seal", "ky-hop-2023"])?;
        let key = node(&home, &["key", "show"])?.trim().to_string();
        hub(
            &hub_home,
            &[
                "registry",
                "add",
                "--unit",
                &unit,
                "--key",
                &key,
                "--parent",
                "lai-chau",
                "--name",
                &format!("HĐND huyện số {d:02}"),
            ],
        )?;
        node(
            &home,
            &[
                "hub",
                "set",
                "--addr",
                &format!("127.0.0.1:{sim_port}"),
                "--key",
                &hub_key,
            ],
        )?;
        homes.push((unit, home));
    }
    println!(
        "{} sessions sealed offline; syncing through the link…",
        homes.len()
    );

    let start = Instant::now();
    let mut running: Vec<(String, std::process::Child)> = Vec::new();
    for (unit, home) in &homes {
        let child = Command::new(bin("tinnhiem-node"))
            .arg("--home")
            .arg(home)
            .args([
                "sync",
                "--once",
                "--json",
                "--timeout",
                &o.timeout.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        running.push((unit.clone(), child));
    }
    let mut rows: Vec<(String, u64, u64, u64, f64)> = Vec::new();
    while !running.is_empty() {
        let mut i = 0;
        while i < running.len() {
            if running[i].1.try_wait()?.is_some() {
                let (unit, child) = running.remove(i);
                let out = child.wait_with_output()?;
                let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
                let (sealed, received, bytes) = (
                    j["sealed"].as_u64().unwrap_or(0),
                    j["received"].as_u64().unwrap_or(0),
                    j["wire_bytes"].as_u64().unwrap_or(0),
                );
                let t = start.elapsed().as_secs_f64();
                println!("  [{t:6.1}s] {unit:<22} received {received}/{sealed}  {bytes:>7} bytes  {} connection(s)", j["connections"].as_u64().unwrap_or(0));
                rows.push((unit, sealed, received, bytes, t));
            } else {
                i += 1;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let total = start.elapsed().as_secs_f64();
    let status: serde_json::Value = serde_json::from_str(&hub(&hub_home, &["status", "--json"])?)?;
    let sealed: u64 = rows.iter().map(|r| r.1).sum();
    let received: u64 = rows.iter().map(|r| r.2).sum();
    let bytes: u64 = rows.iter().map(|r| r.3).sum();
    println!();
    println!(
        "{:>6} {:>7} {:>9} {:>12} {:>9}",
        "units", "sealed", "received", "wire bytes", "time"
    );
    println!(
        "{:>6} {:>7} {:>9} {:>12} {:>8.1}s",
        rows.len(),
        sealed,
        received,
        bytes,
        total
    );
    println!(
        "hub: {}/{} units reported, {} seals accepted, {} rejected",
        status["units_reported"],
        status["units_expected"],
        status["seals_accepted"],
        status["seals_rejected"]
    );
    if let Some(k) = &o.keep {
        println!(
            "homes kept in {} (hub: tinnhiem-hub --home {}/tinh-lai-chau status)",
            k.display(),
            k.display()
        );
    }
    if received != sealed || status["seals_accepted"].as_u64() != Some(sealed) {
        bail!("{} of {sealed} seals did not arrive", sealed - received);
    }

    // The province forwards every district's minutes, signatures intact, upward.
    println!("the province forwards upward through the same kind of link…");
    let deadline = Instant::now() + std::time::Duration::from_secs(o.timeout);
    for (unit, home, _, _) in &uppers {
        loop {
            let st: serde_json::Value = serde_json::from_str(&hub(home, &["status", "--json"])?)?;
            let got = st["seals_accepted"].as_u64().unwrap_or(0);
            // Done when the upper hub holds them all and the province holds its receipts.
            let dests: serde_json::Value =
                serde_json::from_str(&hub(&hub_home, &["destination", "list", "--json"])?)?;
            let receipts = dests
                .as_array()
                .into_iter()
                .flatten()
                .find(|d| d["unit"] == *unit)
                .and_then(|d| d["received"].as_u64())
                .unwrap_or(0);
            if got == sealed && receipts == sealed {
                println!(
                    "  [{:6.1}s] {unit:<16} holds {got}/{sealed} district seals, each verified against the district's own key; {receipts} receipts back at the province",
                    start.elapsed().as_secs_f64()
                );
                break;
            }
            if Instant::now() > deadline {
                bail!("{unit} holds {got} of {sealed} seals after {}s", o.timeout);
            }
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    print!("{}", hub(&hub_home, &["destination", "list"])?);
    if o.serve {
        println!();
        println!(
            "The hubs keep serving: dashboard http://127.0.0.1:{province_web}/ (tinh / {PASSWORD}); try the reviewer's search for «hoang van duc». Ctrl-C to stop."
        );
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    Ok(())
}
