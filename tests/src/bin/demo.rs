//! The main job on the embedded default: many district offices, each on its own home,
//! run their poll offline, seal their minutes and verify them.
//!
//! Run with `cargo run --release -p tinnhiem-tests --bin tinnhiem-demo`. Options:
//! `--districts N` (default 20), `--seed S`, `--keep DIR` (keep the homes there).

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

fn node(home: &Path, args: &[&str]) -> Result<String> {
    let o = Command::new(bin("tinnhiem-node"))
        .arg("--home")
        .arg(home)
        .args(args)
        .output()?;
    if !o.status.success() {
        bail!(
            "tinnhiem-node {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
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
        subjects.push(serde_json::json!({
            "id": sid, "person_id": format!("p-{district:02}-{i:02}"),
            "name": NAMES[(district + i) % NAMES.len()], "position": POSITIONS[i], "unit": format!("Huyện {district:02}"),
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
        "attendance": {"total": total, "present": present, "absent_from_start": total - present, "present_at_vote": present},
        "ballots": {"issued": present, "collected": collected, "wholly_invalid": wholly},
        "subjects": subjects, "tallies": tallies,
    })
}

fn main() -> Result<()> {
    let mut districts = 20usize;
    let mut seed = 2023u64;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--districts" => districts = args.next().context("--districts N")?.parse()?,
            "--seed" => seed = args.next().context("--seed S")?.parse()?,
            "--keep" => keep = Some(args.next().context("--keep DIR")?.into()),
            "-h" | "--help" => {
                println!("tinnhiem-demo [--districts N] [--seed S] [--keep DIR]");
                return Ok(());
            }
            other => bail!("unknown argument {other}"),
        }
    }
    let tmp = tempfile::tempdir()?;
    let root = keep.clone().unwrap_or_else(|| tmp.path().to_owned());
    let mut rng = Rng::new(seed);
    println!("tinnhiem demo: {districts} district offices, offline, seed {seed}");
    let start = Instant::now();
    let mut rows = Vec::new();
    for d in 1..=districts {
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
        let sealed = node(&home, &["seal", "ky-hop-2023"])?;
        let verified = node(&home, &["verify", "ky-hop-2023"]).is_ok();
        let j: serde_json::Value =
            serde_json::from_str(&node(&home, &["result", "ky-hop-2023", "--json"])?)?;
        let flagged = j["subjects"]
            .as_array()
            .map_or(0, |a| a.iter().filter(|s| s["flag"] != "none").count());
        let seal_id = sealed
            .lines()
            .find_map(|l| l.strip_prefix("Mã niêm phong (seal id): "))
            .unwrap_or("")
            .to_string();
        let minutes = home.join("bien-ban.html");
        node(
            &home,
            &[
                "export",
                "ky-hop-2023",
                "--minutes",
                minutes.to_str().context("path")?,
            ],
        )?;
        println!(
            "  {unit:<22} sealed {}…  verified: {}  over threshold: {flagged}",
            &seal_id[..12.min(seal_id.len())],
            if verified { "yes" } else { "NO" }
        );
        rows.push((unit, verified, flagged));
    }
    let ok = rows.iter().filter(|r| r.1).count();
    println!();
    println!(
        "{:<24}{:>8}{:>10}{:>16}",
        "units", "sealed", "verified", "over threshold"
    );
    println!(
        "{:<24}{:>8}{:>10}{:>16}",
        districts,
        rows.len(),
        ok,
        rows.iter().map(|r| r.2).sum::<usize>()
    );
    println!("time: {:.1} s", start.elapsed().as_secs_f64());
    if let Some(k) = keep {
        println!(
            "homes kept in {} (open huyen-01/bien-ban.html in a browser)",
            k.display()
        );
    }
    println!("Sync to a provincial hub over QUIC is not built yet (issue 4): this demo stops at sealed, verified minutes.");
    if ok != districts {
        bail!("{} of {districts} sessions did not verify", districts - ok);
    }
    Ok(())
}
