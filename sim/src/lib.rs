//! The whole-system simulator, in the manner of FoundationDB's simulation and
//! TigerBeetle's VOPR: the province hub, the national and the Party hubs, and the
//! districts run in one process on a virtual clock. Their conversations go through the
//! real sans-IO machines (`tinnhiem_core::proto`), the hubs' real ingest, group commit,
//! log file, registry and forwarding outbox (`tinnhiem_hub::sim`), the real outbox
//! bookkeeping (`tinnhiem_net::outbox`) and the real store (redb on disk) on a machine
//! whose power the simulator cuts ([`tinnhiem_store::faults::Power`]). One seed draws
//! the world and every fault: message loss, duplication, reordering, partitions,
//! crashes that lose what was not synced, restarts from disk, new seals during the run.
//! After the network heals and everything settles, [`check::all`] reads every store.
//!
//! A failure names its seed; `TINNHIEM_SIM_SEED=n cargo test --workspace --test sim`
//! runs that seed alone, and the same seed replays the same run (its trace hash is
//! compared in the tests).

pub mod check;
pub mod fixture;
pub mod rng;
pub mod world;

pub use world::{Broken, Plan, World};

/// What one seed did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The hash of everything that happened, in order (no wall-clock time in it).
    pub trace: [u8; 32],
    /// Events processed.
    pub steps: u64,
    /// Process crashes.
    pub crashes: usize,
    /// Seals made.
    pub seals: usize,
    /// Virtual milliseconds at the end.
    pub virtual_ms: u64,
}

/// Runs one seed: the world, the run, the invariants.
pub fn run(seed: u64) -> Result<Outcome, Broken> {
    let mut w = World::new(seed)?;
    let trace = w.run()?;
    check::all(&w)?;
    Ok(Outcome {
        trace,
        steps: w.steps,
        crashes: w.crashes,
        seals: w.made.len(),
        virtual_ms: w.now,
    })
}
