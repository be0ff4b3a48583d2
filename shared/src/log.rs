//! Structured logs of the long-running commands (`serve`, `sync --daemon`): to stderr,
//! filtered by `TINNHIEM_LOG` (e.g. `debug`, `tinnhiem_shared=debug`), colored only on
//! a terminal so that journald and log files stay clean.

/// Installs the subscriber once; later calls do nothing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TINNHIEM_LOG")
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
