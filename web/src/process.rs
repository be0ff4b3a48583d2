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

/// One stop for every part of a serving process: the signal handler (or a test) fires
/// it once, and each part (web server, sync loop, forwarder) waits on its own clone.
#[derive(Clone)]
pub struct Stop(tokio::sync::watch::Receiver<bool>);

impl Stop {
    /// A stop fired by SIGTERM or Ctrl-C ([`stop_signal`]). Must be called inside a
    /// tokio runtime.
    pub fn on_signal() -> Stop {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            stop_signal().await;
            tracing::info!("stop signal: finishing what is in flight");
            let _ = tx.send(true);
        });
        Stop(rx)
    }

    /// Resolves once the stop fired.
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|s| *s).await;
    }
}

/// How long a stopping server waits for requests in flight: a page request takes
/// milliseconds; a client that holds a request open longer is not waited for.
pub const DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

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
