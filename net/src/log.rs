//! Structured logs of the long-running commands (`serve`, `sync --daemon`): to stderr,
//! filtered by `TINNHIEM_LOG` (e.g. `debug`, `tinnhiem_net=debug`), colored only on
//! a terminal so that journald and log files stay clean. `TINNHIEM_LOG_FORMAT=json`
//! writes one JSON object per event, for a log collector.

/// Installs the subscriber once; later calls do nothing.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TINNHIEM_LOG")
        .unwrap_or_else(|_| "info".into());
    let json = std::env::var("TINNHIEM_LOG_FORMAT").is_ok_and(|f| f == "json");
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if json {
        b.json().try_init()
    } else {
        b.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init()
    };
}

/// Prints why a command failed, the same way in every binary: `Lỗi: …`, then each cause
/// on its own line (`  do: …`), so a clerk reads what went wrong and an operator why.
pub fn print_error(e: &(dyn std::error::Error + 'static)) {
    // An error may quote a name from a document or a file: never raw to the terminal.
    let safe = |x: &dyn std::fmt::Display| {
        tinnhiem_core::domain::limits::for_terminal_lines(&x.to_string())
    };
    eprintln!("Lỗi: {}", safe(&e));
    let mut cause = e.source();
    while let Some(c) = cause {
        eprintln!("  do: {}", safe(&c));
        cause = c.source();
    }
}
