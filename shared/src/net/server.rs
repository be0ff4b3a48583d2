//! The hub-side driver: accept connections, authenticate the peer's key against the
//! registry, run one [`HubSession`] per connection.

use super::{peer_key, read_msg_within, write_msg, NetConfig};
use crate::proto::hub::{HubEnv, HubSession, Limits};
use crate::proto::{Channel, Framer, Msg};
use crate::seal::PublicKey;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, Semaphore};

/// A reader's word that the peer finished a stream.
const END: &str = "end of stream";

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
        _reason: crate::proto::RejectReason,
        _detail: &str,
    ) {
    }
    /// Called with traffic counts when a connection ends.
    fn connection_closed(&self, _unit: &str, _bytes: u64, _messages: u64) {}
}

/// Accepts connections until the endpoint closes, at most `max_connections` at once.
pub async fn serve<H: Host>(
    ep: quinn::Endpoint,
    host: Arc<H>,
    cfg: NetConfig,
    limits: Limits,
    max_connections: usize,
) {
    let slots = Arc::new(Semaphore::new(max_connections.max(1)));
    while let Some(incoming) = ep.accept().await {
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Over the limit: refuse now rather than queue without bound.
            incoming.refuse();
            continue;
        };
        let host = host.clone();
        let cfg = cfg.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let Ok(conn) = incoming.await else { return };
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
    let (tx, mut rx) = mpsc::channel::<(u64, Result<Msg, String>)>(64);
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
                                    let _ = tx.send((id, Err(END.into()))).await;
                                    return;
                                }
                                Err(e) => { let _ = tx.send((id, Err(e.to_string()))).await; return; }
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
                    Err(e) if e == END => {
                        if let Some(mut send) = streams.remove(&id) {
                            let _ = send.finish();
                        }
                        channel_of.retain(|_, v| *v != id);
                        continue;
                    }
                    Err(e) if e.starts_with("stream:") => {
                        tracing::debug!(unit, "stream ended: {e}");
                        continue;
                    }
                    Err(e) => {
                        // Oversized or malformed: cut the peer off.
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
