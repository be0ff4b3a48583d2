//! What the node's and the hub's web pages share: accounts with argon2 password hashes
//! ([`account`]), login sessions and the role check every handler starts with
//! ([`login`]), and the page frame with its embedded style and script ([`page`]); and
//! what their command lines share: clap in Vietnamese ([`command_line`]), `user`
//! ([`users`]), and the process's edges: exit codes, SIGPIPE, SIGTERM ([`process`]).
//!
//! Both servers are plain axum routers over tokio; nothing here talks to the network
//! beyond the listener the binary gives it, and every asset is compiled into the binary
//! so the pages work in an office with no connection at all.

pub mod account;
pub mod command_line;
pub mod guard;
pub mod login;
pub mod metrics;
pub mod minutes;
pub mod page;
pub mod paper;
pub mod process;
pub mod sheet;
pub mod throttle;
pub mod users;

pub use account::{Accounts, Role};
pub use login::{Auth, MetricsReader, Signed};

/// Puts a server's router behind [`guard::check`]: security headers on every answer,
/// origin and anti-forgery checks on every request that may change something.
pub fn guarded(app: axum::Router, auth: std::sync::Arc<Auth>) -> axum::Router {
    app.layer(axum::middleware::from_fn_with_state(auth, guard::check))
}

/// Serves `app` on a bound listener until the task is aborted, logging where it listens.
/// Handlers see the peer's address (`ConnectInfo`), which login throttling counts by.
pub async fn serve(listener: tokio::net::TcpListener, app: axum::Router) {
    serve_until(listener, app, std::future::pending()).await
}

/// [`serve`] until `stop` resolves, then drains: no new connection is taken, idle ones
/// close, and every request already being answered is answered (a clerk's save in
/// flight when systemd stops the service is not cut off half way).
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) {
    if let Ok(local) = listener.local_addr() {
        tracing::info!(%local, "web pages served");
        if !local.ip().is_loopback() {
            tracing::warn!(
                %local,
                "web pages are served on a non-loopback address without TLS; put a TLS proxy in front (deploy/OPERATIONS.md)"
            );
        }
    }
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!("web server stopped: {e}");
    }
}
