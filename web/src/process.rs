//! What both binaries do around their commands: parse the command line in Vietnamese, run,
//! map the outcome to an exit code, end quietly when the reader of their output goes
//! away, and stop on SIGTERM or Ctrl-C. One copy, so the node and the hub cannot drift.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// Parses the command line into `C` and runs it: 0 done (or what `run` returns), 1 refused
/// or failed with the error printed in Vietnamese, 2 bad usage (by [`crate::command_line`]).
pub fn main<C: CommandFactory + FromArgMatches>(
    run: impl FnOnce(C) -> anyhow::Result<ExitCode>,
) -> ExitCode {
    quiet_on_broken_pipe();
    let cli: C = crate::command_line::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            tinnhiem_net::log::print_error(e.as_ref());
            ExitCode::from(1)
        }
    }
}

/// Resolves on SIGTERM or Ctrl-C, whichever comes first.
pub async fn stop_signal() {
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

/// `tinnhiem-hub result | head` must end quietly, as other Unix tools do, instead of
/// panicking when the reader goes away (std's print macros panic on EPIPE). The exit code
/// is the shell's for a death by SIGPIPE (128 + 13).
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
