//! The hub-side driver: admit handshakes through the [`Gate`], authenticate the peer's
//! key against the registry (during the handshake), run one [`HubSession`] per
//! connection.

use super::gate::{Admit, Gate, GateCounts, GateLimits};
use super::tls::{RefusedKey, ServerTls};
use super::{peer_key, read_msg_within, write_msg, NetConfig, StreamError};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tinnhiem_core::proto::hub::{HubEnv, HubSession, Limits};
use tinnhiem_core::proto::{Channel, Framer, Msg};
use tinnhiem_core::seal::PublicKey;
use tokio::sync::{mpsc, Semaphore};

/// A reader's word that the peer finished a stream.
/// What a stream's reader task reports instead of a message. The driver branches on
/// the kind, never on an error's text: a reworded message must not cut off every peer
/// whose stream was reset.
#[derive(Debug)]
enum StreamEnd {
    /// The peer finished its side cleanly.
    Finished,
    /// The stream or connection went away (a reset, a closed connection): that
    /// stream ends, the connection stays.
    Gone(StreamError),
    /// The peer broke framing or dribbled a message: it is cut off.
    Violation(StreamError),
}

impl From<StreamError> for StreamEnd {
    fn from(e: StreamError) -> StreamEnd {
        match e {
            StreamError::Io(_) => StreamEnd::Gone(e),
            StreamError::Frame(_) | StreamError::Slow(_) => StreamEnd::Violation(e),
        }
    }
}

/// What the server needs from the hub: who a key is, and an environment per connection.
pub trait Host: Send + Sync + 'static {
    /// The environment one connection's machine uses.
    type Env: HubEnv + Send + 'static;
    /// The hub's own unit id.
    fn hub_unit(&self) -> String;
    /// The unit whose registered key this is, if any.
    fn unit_of(&self, key: &PublicKey) -> Option<String>;
    /// A fresh environment for a connection from `unit`.
    fn env(self: &Arc<Self>, unit: &str) -> Self::Env;
    /// Called for every rejection sent to a peer (to count and log them).
    fn rejected(
        &self,
        _unit: &str,
        _session: &str,
        _seal_id: &[u8; 32],
        _reason: tinnhiem_core::proto::RejectReason,
        _detail: &str,
    ) {
    }
    /// Called when a handshake was refused for the client's key (unknown or closed),
    /// with the address it came from.
    fn refused_key(&self, _refused: &RefusedKey, _from: SocketAddr) {}
    /// Called after every decision of the door, with its counts and the handshakes in
    /// progress.
    fn door(&self, _counts: GateCounts, _in_progress: u32) {}
    /// Called with traffic counts when a connection ends.
    fn connection_closed(&self, _unit: &str, _bytes: u64, _messages: u64) {}
}

/// How many peers the server takes on.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    /// Established connections at once; one over is closed right after its handshake.
    pub max_connections: usize,
    /// Handshakes in progress ([`Gate`]).
    pub gate: GateLimits,
}

/// Gives a ticket back to the gate however the handshake ends.
struct Held {
    gate: Arc<Mutex<Gate>>,
    ticket: Option<super::gate::Ticket>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let (Some(t), Ok(mut g)) = (self.ticket.take(), self.gate.lock()) {
            g.finished(t);
        }
    }
}

/// Accepts connections until the endpoint closes.
pub async fn serve<H: Host>(
    ep: quinn::Endpoint,
    tls: ServerTls,
    host: Arc<H>,
    cfg: NetConfig,
    limits: Limits,
    admission: Admission,
) {
    let slots = Arc::new(Semaphore::new(admission.max_connections.max(1)));
    let gate = Arc::new(Mutex::new(Gate::new(admission.gate)));
    let timeout = admission.gate.handshake_timeout;
    while let Some(incoming) = ep.accept().await {
        let from = incoming.remote_address();
        let decision = match gate.lock() {
            Ok(mut g) => {
                let d = g.admit(
                    from,
                    incoming.remote_address_validated(),
                    incoming.may_retry(),
                );
                host.door(g.counts(), g.in_progress());
                d
            }
            Err(_) => Admit::Refuse,
        };
        let ticket = match decision {
            Admit::Accept(t) => t,
            Admit::Retry => {
                if let Err(e) = incoming.retry() {
                    e.into_incoming().ignore();
                }
                continue;
            }
            Admit::Refuse => {
                incoming.refuse();
                continue;
            }
            Admit::Ignore => {
                incoming.ignore();
                continue;
            }
        };
        let held = Held {
            gate: gate.clone(),
            ticket: Some(ticket),
        };
        let Ok((config, refusal)) = tls.for_connection() else {
            incoming.refuse();
            continue;
        };
        let connecting = match incoming.accept_with(config) {
            Ok(c) => c,
            Err(_) => continue,
        };
        let (host, cfg, slots) = (host.clone(), cfg.clone(), slots.clone());
        tokio::spawn(async move {
            // Dropping the unfinished handshake closes it: its state is gone within a
            // few probe timeouts instead of the idle timeout.
            let conn = match tokio::time::timeout(timeout, connecting).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(_)) => {
                    let refused = refusal.lock().ok().and_then(|mut s| s.take());
                    if let Some(r) = refused {
                        host.refused_key(&r, from);
                    }
                    return;
                }
                Err(_) => return,
            };
            drop(held);
            let Ok(_permit) = slots.try_acquire_owned() else {
                // Over the limit: refuse now rather than queue without bound.
                conn.close(5u32.into(), b"busy");
                return;
            };
            let Some(key) = peer_key(&conn) else {
                conn.close(1u32.into(), b"no key");
                return;
            };
            let Some(unit) = host.unit_of(&key) else {
                conn.close(2u32.into(), b"unknown unit");
                return;
            };
            let (bytes, messages) = connection(conn, &host, &unit, &cfg, limits).await;
            host.connection_closed(&unit, bytes, messages);
        });
    }
}

async fn connection<H: Host>(
    conn: quinn::Connection,
    host: &Arc<H>,
    unit: &str,
    cfg: &NetConfig,
    limits: Limits,
) -> (u64, u64) {
    let mut machine = HubSession::new(&host.hub_unit(), unit, limits);
    let mut env = host.env(unit);
    let (tx, mut rx) = mpsc::channel::<(u64, Result<Msg, StreamEnd>)>(64);
    let mut streams: BTreeMap<u64, quinn::SendStream> = BTreeMap::new();
    let mut channel_of: BTreeMap<Channel, u64> = BTreeMap::new();
    let mut messages = 0u64;
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            s = conn.accept_bi() => match s {
                Ok((send, recv)) => {
                    if streams.len() >= cfg.max_streams as usize * 2 {
                        break; // a peer that floods streams is cut off
                    }
                    let id = next_id;
                    next_id += 1;
                    streams.insert(id, send);
                    let tx = tx.clone();
                    let limit = cfg.max_message;
                    let slow = cfg.message_timeout;
                    tokio::spawn(async move {
                        let mut recv = recv;
                        let mut framer = Framer::new(limit);
                        loop {
                            match read_msg_within(&mut recv, &mut framer, Some(slow)).await {
                                Ok(Some((m, _))) => if tx.send((id, Ok(m))).await.is_err() { return },
                                Ok(None) => {
                                    // The peer finished its side: finish ours, free the stream.
                                    let _ = tx.send((id, Err(StreamEnd::Finished))).await;
                                    return;
                                }
                                Err(e) => { let _ = tx.send((id, Err(e.into()))).await; return; }
                            }
                        }
                    });
                }
                Err(_) => break,
            },
            m = rx.recv() => {
                let Some((id, m)) = m else { break };
                let msg = match m {
                    Ok(m) => m,
                    Err(StreamEnd::Finished) => {
                        if let Some(mut send) = streams.remove(&id) {
                            let _ = send.finish();
                        }
                        channel_of.retain(|_, v| *v != id);
                        continue;
                    }
                    Err(StreamEnd::Gone(e)) => {
                        tracing::debug!(unit, "stream ended: {e}");
                        continue;
                    }
                    Err(StreamEnd::Violation(e)) => {
                        // Oversized, malformed or too slow: cut the peer off.
                        tracing::warn!(unit, "cut off: {e}");
                        conn.close(3u32.into(), b"protocol violation");
                        break;
                    }
                };
                messages += 1;
                let ch = msg.channel();
                channel_of.insert(ch.clone(), id);
                tokio::task::block_in_place(|| machine.handle(&mut env, ch, msg));
                while let Some((ch, out)) = machine.poll_transmit() {
                    if let Msg::Reject { session, seal_id, reason, detail } = &out {
                        host.rejected(unit, session, seal_id, *reason, detail);
                    }
                    let target = channel_of.get(&ch).copied().unwrap_or(id);
                    if let Some(send) = streams.get_mut(&target) {
                        if write_msg(send, &out).await.is_ok() {
                            messages += 1;
                        }
                    }
                }
                if machine.closed().is_some() {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    conn.close(4u32.into(), b"refused");
                    break;
                }
            }
        }
    }
    let st = conn.stats();
    (st.udp_tx.bytes + st.udp_rx.bytes, messages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tinnhiem_core::proto::FrameError;

    #[test]
    fn a_stream_that_went_away_ends_alone_and_a_broken_frame_cuts_the_peer_off() {
        let gone = StreamEnd::from(StreamError::Io("reset by peer".into()));
        assert!(matches!(gone, StreamEnd::Gone(_)));
        let torn = StreamEnd::from(StreamError::Io("stream ended inside a message".into()));
        assert!(matches!(torn, StreamEnd::Gone(_)));
        let big = StreamEnd::from(StreamError::Frame(FrameError::TooLarge {
            size: 9,
            limit: 1,
        }));
        assert!(matches!(big, StreamEnd::Violation(_)));
        let slow = StreamEnd::from(StreamError::Slow(std::time::Duration::from_secs(1)));
        assert!(matches!(slow, StreamEnd::Violation(_)));
    }
}
