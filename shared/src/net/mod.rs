//! The thin adapter between the sans-IO protocol and the network: quinn endpoints with
//! rustls, each side's certificate self-signed from its ed25519 unit key, each side
//! checking the other's key against what it pins (the node: its hub's key; the hub: its
//! registry), not against a CA. Plus framing over streams and reconnect backoff.
//!
//! Architecture invariant: this module and the binaries' drivers are the only code
//! that touches sockets or tokio.

mod backoff;
pub mod client;
pub mod server;
mod tls;

pub use backoff::Backoff;
pub use tls::{cert_key, client_endpoint, peer_key, server_endpoint, KeyCheck, NetConfig, ALPN};

use crate::proto::{FrameError, Framer, Msg};

/// Why a stream read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The peer broke framing (oversized or malformed message).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The stream or connection went away.
    #[error("stream: {0}")]
    Io(String),
}

/// Writes one framed message.
pub async fn write_msg(send: &mut quinn::SendStream, msg: &Msg) -> Result<usize, StreamError> {
    let b = msg.encode();
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
    loop {
        let before = framer.pending();
        if let Some(m) = framer.next_msg()? {
            // The frame's size, without encoding the message again.
            return Ok(Some((m, before - framer.pending())));
        }
        match recv
            .read_chunk(64 * 1024, true)
            .await
            .map_err(|e| StreamError::Io(e.to_string()))?
        {
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
