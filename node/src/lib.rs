//! `tinnhiem-node`: the offline node of a council office.
//!
//! The binary's `main` calls [`main`]; every command is a function of [`commands`] that
//! opens the home, does one thing, makes it durable, and prints in Vietnamese.

pub mod cli;
mod commands;
mod copies;
mod desk;
pub mod home;
mod report;
mod sync;
mod web;

use std::process::ExitCode;

/// Runs the command line: 0 done, 1 refused or failed, 2 bad usage (see
/// [`tinnhiem_web::process`]).
pub fn main() -> ExitCode {
    tinnhiem_web::process::main::<cli::Cli>(commands::run)
}

pub(crate) use tinnhiem_web::process::stop_signal;
