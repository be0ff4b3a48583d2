//! `tinnhiem-netsim`: a flaky link between nodes and a hub, to run by hand.
//!
//! ```text
//! tinnhiem-netsim --listen 127.0.0.1:5000 --to 127.0.0.1:4433 \
//!     --loss 30 --delay-ms 150 --jitter-ms 50 --dup 2 --reorder 5 --rate-kbps 256 \
//!     --up-secs 5 --down-secs 3 --seed 7
//! ```
//! then point nodes at 127.0.0.1:5000 (`tinnhiem-node hub set --addr 127.0.0.1:5000`).

use clap::Parser;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tinnhiem_tests::netsim::{run_on, Counters, LinkConfig};

/// A UDP proxy with seeded loss, delay, jitter, duplication, reordering, a bandwidth cap
/// and partitions.
#[derive(Parser)]
#[command(name = "tinnhiem-netsim", version)]
struct Cli {
    /// Where nodes send to (port 0: any free port, printed on the first line).
    #[arg(long)]
    listen: SocketAddr,
    /// The hub.
    #[arg(long)]
    to: SocketAddr,
    /// Print counters every this many seconds (0: only at exit).
    #[arg(long, default_value_t = 0)]
    stats_secs: u64,
    #[command(flatten)]
    link: LinkConfig,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tinnhiem-netsim: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let counters = Arc::new(Counters::default());
    let res = rt.block_on(async {
        // Bound before the first line, which names the address (port 0: the one the
        // system chose), so that whoever started us can use it as soon as it reads it.
        let front = tokio::net::UdpSocket::bind(cli.listen).await?;
        println!(
            "tinnhiem-netsim {} -> {} ({:?})",
            front.local_addr()?,
            cli.to,
            cli.link
        );
        let c = counters.clone();
        let every = cli.stats_secs;
        if every > 0 {
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(std::time::Duration::from_secs(every)).await;
                    print_counters(&c);
                }
            });
        }
        tokio::select! {
            r = run_on(front, cli.to, cli.link.clone(), counters.clone()) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    print_counters(&counters);
    match res {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tinnhiem-netsim: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

fn print_counters(c: &Counters) {
    println!(
        "netsim: {} clients, {} packets, {} dropped, {} bytes forwarded",
        c.clients.load(Ordering::Relaxed),
        c.packets.load(Ordering::Relaxed),
        c.dropped.load(Ordering::Relaxed),
        c.bytes.load(Ordering::Relaxed)
    );
}
