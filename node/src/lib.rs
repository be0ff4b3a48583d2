//! `tinnhiem-node`: the offline node of a council office.
//!
//! The binary's `main` calls [`main`]; every command is a function of [`commands`] that
//! opens the home, does one thing, makes it durable, and prints in Vietnamese.

pub mod cli;
mod commands;
mod desk;
pub mod home;
mod report;
mod sync;
mod web;

use std::process::ExitCode;

/// Runs the command line and maps errors to exit codes: 0 done, 1 refused or failed,
/// 2 bad usage (written in Vietnamese by [`tinnhiem_web::command_line`]).
pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli: cli::Cli = tinnhiem_web::command_line::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            tinnhiem_shared::log::print_error(e.as_ref());
            ExitCode::from(1)
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut t) => {
            tokio::select! { _ = t.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// `tinnhiem-node result X | head` must end quietly, as other Unix tools do, instead of
/// panicking when the reader goes away (std's print macros panic on EPIPE).
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("failed printing to stdout") {
            std::process::exit(141);
        }
        default(info);
    }));
}
