//! The simulator over many seeds (`TINNHIEM_SIM_SEEDS`, default below; or the one
//! seed `TINNHIEM_SIM_SEED`), and the replay of a seed.

use std::time::Instant;

/// Seeds run by default: about a minute in a debug build on two cores.
const DEFAULT_SEEDS: u64 = 1000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

#[test]
fn every_seed_keeps_every_invariant() {
    let seeds: Vec<u64> = match env_u64("TINNHIEM_SIM_SEED") {
        Some(s) => vec![s],
        None => {
            let first = env_u64("TINNHIEM_SIM_FIRST").unwrap_or(1);
            let n = env_u64("TINNHIEM_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
            (first..first + n).collect()
        }
    };
    let start = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let results: Vec<(u64, Result<tinnhiem_sim::Outcome, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let mine: Vec<u64> = seeds.iter().copied().skip(t).step_by(threads).collect();
                s.spawn(move || {
                    mine.into_iter()
                        .map(|seed| {
                            let t = Instant::now();
                            let r = tinnhiem_sim::run(seed).map_err(|b| b.0);
                            if t.elapsed().as_secs_f64() > 1.0 {
                                println!("seed {seed}: {:.1} s", t.elapsed().as_secs_f64());
                            }
                            (seed, r)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a simulator thread panicked"))
            .collect()
    });
    let mut failed = Vec::new();
    let (mut steps, mut crashes, mut seals) = (0, 0, 0);
    for (seed, r) in &results {
        match r {
            Ok(o) => {
                steps += o.steps;
                crashes += o.crashes;
                seals += o.seals;
            }
            Err(e) => failed.push(format!(
                "seed {seed}: {e}\n  replay: TINNHIEM_SIM_SEED={seed} cargo test --workspace --test sim"
            )),
        }
    }
    println!(
        "simulator: {} seeds in {:.1} s ({} threads): {steps} events, {crashes} crashes, {seals} seals",
        results.len(),
        start.elapsed().as_secs_f64(),
        threads
    );
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

#[test]
fn a_seed_replays_the_same_run() {
    // A seed whose plan has every kind of fault.
    let seed = env_u64("TINNHIEM_SIM_SEED").unwrap_or_else(|| {
        (1..)
            .find(|s| {
                let f = tinnhiem_sim::Plan::of(*s).faults;
                f.loss > 10
                    && f.dup > 5
                    && f.reorder > 10
                    && f.crashes >= 2
                    && f.partitions >= 1
                    && f.reseals >= 1
                    && f.rollbacks >= 1
            })
            .expect("a seed")
    });
    let a = tinnhiem_sim::run(seed).map_err(|b| b.0).expect("run");
    let b = tinnhiem_sim::run(seed).map_err(|b| b.0).expect("run");
    assert_eq!(
        hex(&a.trace),
        hex(&b.trace),
        "seed {seed} ran differently twice"
    );
    assert_eq!(a.steps, b.steps);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
