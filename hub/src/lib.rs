//! `tinnhiem-hub`: receives sealed minutes over QUIC, verifies them, stores them durably,
//! answers with signed receipts, and reports what arrived.
//!
//! `serve` owns the store; every other command talks to a running server through its
//! admin socket (`HOME/admin.sock`), or opens the store itself when none runs.

mod admin;
mod cli;
mod commands;
mod commit;
mod forward;
mod home;
mod ingest;
mod keys;
mod leaves;
mod print;
mod query;
mod registry;
#[doc(hidden)]
pub mod sim;
mod state;
mod web;

/// Entry points for the fuzz targets in `fuzz/` (not an API).
#[doc(hidden)]
pub mod fuzzing {
    /// Parses and validates a registry TOML file; the number of units on success.
    pub fn parse_registry(text: &str) -> Result<usize, String> {
        crate::registry::parse_file(text)
            .map(|v| v.len())
            .map_err(|e| e.to_string())
    }
}

use std::process::ExitCode;

/// Runs the command line: 0 done, 1 failed, 2 bad usage (see [`tinnhiem_web::process`]).
pub fn main() -> ExitCode {
    tinnhiem_web::process::main::<cli::Cli>(commands::run)
}
