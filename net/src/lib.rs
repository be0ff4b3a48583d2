//! The network adapter and the delivery queue: quinn endpoints with rustls, each side's
//! certificate self-signed from its ed25519 unit key, each side checking the other's key
//! against what it pins (the node: its hub's key; the hub: its registry), not against a CA;
//! framing over streams, reconnect backoff, and the outbox that drives the sans-IO node
//! machine of `tinnhiem_core::proto` over them.
//!
//! Architecture invariant: this crate and the binaries' drivers are the only code that
//! touches sockets or tokio; `tinnhiem-core` cannot (it does not depend on them).
#![warn(missing_docs)]

pub mod log;
pub mod outbox;

mod backoff;
pub mod client;
pub mod gate;
pub mod server;
mod tls;

pub use backoff::Backoff;
pub use tls::{
    cert_key, cert_unit, client_endpoint, client_endpoint_as, client_endpoint_on, peer_key,
    peer_unit, refusal_of, server_endpoint, KeyCheck, KeyVerdict, NetConfig, RefusalSlot,
    RefusedKey, ServerTls, ALPN,
};

use tinnhiem_core::proto::{FrameError, Framer, Msg};

/// Why a stream read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The peer broke framing (oversized or malformed message).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream or connection went away.
    #[error("stream: {0}")]
    Io(String),
    /// A message begun was not complete in time: the peer is cut off.
    #[error("slow message: not complete after {0:?}")]
    Slow(std::time::Duration),
}

/// Writes one framed message.
pub async fn write_msg(send: &mut quinn::SendStream, msg: &Msg) -> Result<usize, StreamError> {
    let b = msg.encode()?;
    send.write_all(&b)
        .await
        .map_err(|e| StreamError::Io(e.to_string()))?;
    Ok(b.len())
}

/// Reads the next whole message; `Ok(None)` when the peer finished the stream cleanly.
/// A message over the framer's limit fails before it is buffered.
pub async fn read_msg(
    recv: &mut quinn::RecvStream,
    framer: &mut Framer,
) -> Result<Option<(Msg, usize)>, StreamError> {
    read_msg_within(recv, framer, None).await
}

/// [`read_msg`], and a message begun must be complete within `limit` of its first
/// bytes (a server's defence against a peer that dribbles).
pub async fn read_msg_within(
    recv: &mut quinn::RecvStream,
    framer: &mut Framer,
    limit: Option<std::time::Duration>,
) -> Result<Option<(Msg, usize)>, StreamError> {
    let mut started: Option<tokio::time::Instant> = None;
    loop {
        let before = framer.pending();
        if let Some(m) = framer.next_msg()? {
            // The frame's size, without encoding the message again.
            return Ok(Some((m, before - framer.pending())));
        }
        let read = recv.read_chunk(64 * 1024, true);
        let chunk = match (limit, framer.pending() > 0) {
            (Some(limit), true) => {
                let since = *started.get_or_insert_with(tokio::time::Instant::now);
                match tokio::time::timeout_at(since + limit, read).await {
                    Ok(r) => r,
                    Err(_) => return Err(StreamError::Slow(limit)),
                }
            }
            _ => read.await,
        };
        match chunk.map_err(|e| StreamError::Io(e.to_string()))? {
            Some(chunk) => framer.push(&chunk.bytes)?,
            None => {
                if framer.pending() > 0 {
                    return Err(StreamError::Io("stream ended inside a message".into()));
                }
                return Ok(None);
            }
        }
    }
}
