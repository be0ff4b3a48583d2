//! The node-side driver: one connection, one [`NodeSession`], bytes moved by tokio.

use super::{peer_unit, read_msg, refusal_of, write_msg, KeyVerdict, NetConfig};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;
use tinnhiem_core::proto::node::{Event, NodeSession};
use tinnhiem_core::proto::{Channel, Framer, Msg};
use tokio::sync::mpsc;

/// What one connection achieved.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// UDP bytes sent and received on the connection (handshake included).
    pub wire_bytes: u64,
    /// Payload bytes of protocol messages, both ways.
    pub payload_bytes: u64,
    /// Protocol messages sent and received.
    pub messages: u64,
}

/// Why a connection ended before its work was done.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// No connection could be made.
    #[error("không kết nối được máy chủ {addr}: {detail}")]
    Connect {
        /// The hub's address.
        addr: SocketAddr,
        /// Why.
        detail: String,
    },
    /// The connection dropped (link down, idle timeout).
    #[error("mất kết nối: {0}")]
    Lost(String),
    /// The peer broke the protocol.
    #[error("máy chủ vi phạm giao thức: {0}")]
    Protocol(String),
    /// The deadline passed.
    #[error("hết thời gian chờ")]
    Timeout,
    /// The hub refused this node's key during the handshake: it does not know it
    /// (`Unknown`), or its window there is closed (`Revoked`). Trying again changes
    /// nothing until the hub's registry does.
    #[error("{}", refused_text(*verdict))]
    Refused {
        /// What the hub said of the key.
        verdict: KeyVerdict,
        /// The hub's unit, as its certificate names it (the `--parent` to enrol under).
        hub_unit: Option<String>,
    },
}

fn refused_text(v: KeyVerdict) -> &'static str {
    match v {
        KeyVerdict::Revoked => "máy chủ từ chối: khóa của đơn vị này đã bị thu hồi ở máy chủ",
        _ => "máy chủ từ chối: máy chủ chưa đăng ký khóa của đơn vị này",
    }
}

/// The refusal a connection's close carries, if the hub refused our key.
fn refused(conn: &quinn::Connection) -> Option<DeliverError> {
    let verdict = refusal_of(&conn.close_reason()?)?;
    Some(DeliverError::Refused {
        verdict,
        hub_unit: peer_unit(conn),
    })
}

/// Runs `machine` over a new connection to `addr` until it is done, the connection drops
/// or `deadline` passes. Every event is handed to `on_event` as it happens, so the caller
/// persists receipts one by one; `on_slow` is called once if the handshake is still
/// unanswered after [`SLOW_HANDSHAKE`].
pub async fn deliver(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
    mut machine: NodeSession,
    cfg: &NetConfig,
    deadline: Instant,
    mut on_event: impl FnMut(Event),
    mut on_slow: impl FnMut(),
) -> Result<Stats, DeliverError> {
    let start = Instant::now();
    let now_ms = || start.elapsed().as_millis() as u64;
    let conn = connect(ep, addr, deadline, &mut on_slow).await?;
    let (tx, mut rx) = mpsc::channel::<Result<(Channel, Msg, usize), String>>(64);
    let mut sends: BTreeMap<Channel, quinn::SendStream> = BTreeMap::new();
    let mut stats = Stats::default();
    let mut last_heard = Instant::now();
    // Datagrams from the hub so far: any of them (an ACK, a keep-alive answer) proves
    // the path still works, however slowly messages cross it.
    let mut heard_datagrams = conn.stats().udp_rx.datagrams;
    let result = loop {
        // Outputs first: messages, then events.
        let mut failed = None;
        while let Some((ch, msg)) = machine.poll_transmit() {
            if !sends.contains_key(&ch) {
                match conn.open_bi().await {
                    Ok((send, recv)) => {
                        sends.insert(ch.clone(), send);
                        spawn_reader(recv, ch.clone(), cfg.max_message, tx.clone());
                    }
                    Err(e) => {
                        failed = Some(DeliverError::Lost(e.to_string()));
                        break;
                    }
                }
            }
            if let Some(send) = sends.get_mut(&ch) {
                match write_msg(send, &msg).await {
                    Ok(n) => {
                        stats.payload_bytes += n as u64;
                        stats.messages += 1;
                    }
                    Err(e) => {
                        failed = Some(DeliverError::Lost(e.to_string()));
                        break;
                    }
                }
            }
        }
        if let Some(e) = failed {
            break Err(e);
        }
        let mut protocol_error = None;
        while let Some(ev) = machine.poll_event() {
            match &ev {
                Event::ProtocolError(p) => protocol_error = Some(p.clone()),
                // Close a finished document's stream: the hub grants a limited number.
                Event::DocFinished { session } => {
                    if let Some(mut send) = sends.remove(&Channel::Doc(session.clone())) {
                        let _ = send.finish();
                    }
                }
                _ => {}
            }
            on_event(ev);
        }
        if let Some(p) = protocol_error {
            break Err(DeliverError::Protocol(p));
        }
        if machine.is_done() {
            break Ok(());
        }
        let timer = machine
            .poll_timeout()
            .map(|t| start + std::time::Duration::from_millis(t));
        let stall = last_heard + cfg.stall_after;
        let wake = timer.map_or(deadline, |t| t.min(deadline)).min(stall);
        tokio::select! {
            m = rx.recv() => match m {
                Some(Ok((ch, msg, n))) => {
                    last_heard = Instant::now();
                    stats.payload_bytes += n as u64;
                    stats.messages += 1;
                    machine.handle(ch, msg, now_ms());
                }
                Some(Err(e)) => break Err(DeliverError::Lost(e)),
                None => break Err(DeliverError::Lost("streams closed".into())),
            },
            e = conn.closed() => break Err(DeliverError::Lost(e.to_string())),
            _ = tokio::time::sleep_until(wake.into()) => {
                if Instant::now() >= deadline {
                    break Err(DeliverError::Timeout);
                }
                if Instant::now() >= stall {
                    let now_heard = conn.stats().udp_rx.datagrams;
                    if now_heard == heard_datagrams {
                        break Err(DeliverError::Lost(format!("nothing heard for {:?}", cfg.stall_after)));
                    }
                    // Slow, not dead: the hub's packets still arrive. Keep this
                    // connection (and what it has delivered) rather than start over.
                    heard_datagrams = now_heard;
                    last_heard = Instant::now();
                    continue;
                }
                machine.handle_timeout(now_ms());
            }
        }
    };
    for (_, mut s) in sends {
        let _ = s.finish();
    }
    // Whatever broke first (a write, a read, the close itself), a close that says the
    // hub refused our key is the reason.
    let result = match result {
        Err(e) => Err(refused(&conn).unwrap_or(e)),
        ok => ok,
    };
    let st = conn.stats();
    stats.wire_bytes = st.udp_tx.bytes + st.udp_rx.bytes;
    conn.close(0u32.into(), b"done");
    result.map(|()| stats)
}

/// A handshake unanswered this long is said to the caller while it goes on: a hub that is
/// down answers nothing, and the first error otherwise came only with QUIC's idle
/// timeout, 30 s later, while the clerk's status said "chờ gửi" and nothing else.
pub const SLOW_HANDSHAKE: std::time::Duration = std::time::Duration::from_secs(8);

/// A new handshake is started beside the ones in flight after this long without one
/// finishing...
const RACE_AFTER: std::time::Duration = std::time::Duration::from_secs(3);
/// ...keeping at most this many (the oldest is abandoned for the newest).
const RACE_MAX: usize = 3;

/// Connects to `addr`, racing handshakes. On a lossy link QUIC's probe timeout doubles
/// with every lost handshake flight, so after a partition the first attempt may sit
/// silent for seconds while the link is back; a fresh attempt started beside it probes
/// on its own clock and often finishes first. The first to finish wins, the others are
/// dropped (and closed); a refusal from the hub ends the whole attempt at once, as does
/// the deadline. (Abandoning the slow handshake and backing off instead was measured
/// and was slower: BENCHMARKS.md.)
async fn connect(
    ep: &quinn::Endpoint,
    addr: SocketAddr,
    deadline: Instant,
    on_slow: &mut impl FnMut(),
) -> Result<quinn::Connection, DeliverError> {
    let slow_at = Instant::now() + SLOW_HANDSHAKE;
    let mut told = false;
    let start = |set: &mut tokio::task::JoinSet<_>| {
        ep.connect(addr, "tinnhiem")
            .map(|c| set.spawn(c))
            .map_err(|e| DeliverError::Connect {
                addr,
                detail: e.to_string(),
            })
    };
    let mut set = tokio::task::JoinSet::new();
    let mut racing = std::collections::VecDeque::new();
    racing.push_back(start(&mut set)?);
    let mut next = Instant::now() + RACE_AFTER;
    loop {
        tokio::select! {
            r = set.join_next() => match r {
                Some(Ok(Ok(conn))) => return Ok(conn),
                Some(Ok(Err(e))) => {
                    if let Some(verdict) = refusal_of(&e) {
                        return Err(DeliverError::Refused { verdict, hub_unit: None });
                    }
                    return Err(DeliverError::Connect {
                        addr,
                        detail: e.to_string(),
                    });
                }
                // One we abandoned below.
                Some(Err(_)) => {}
                None => {
                    return Err(DeliverError::Connect {
                        addr,
                        detail: "no handshake in flight".into(),
                    })
                }
            },
            _ = tokio::time::sleep_until(if told { next.min(deadline) } else { next.min(deadline).min(slow_at) }.into()) => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(DeliverError::Timeout);
                }
                if !told && now >= slow_at {
                    told = true;
                    on_slow();
                }
                if now < next {
                    continue;
                }
                if racing.len() >= RACE_MAX {
                    if let Some(oldest) = racing.pop_front() {
                        oldest.abort();
                    }
                }
                racing.push_back(start(&mut set)?);
                next = Instant::now() + RACE_AFTER;
            }
        }
    }
}

fn spawn_reader(
    mut recv: quinn::RecvStream,
    ch: Channel,
    limit: usize,
    tx: mpsc::Sender<Result<(Channel, Msg, usize), String>>,
) {
    tokio::spawn(async move {
        let mut framer = Framer::new(limit);
        loop {
            match read_msg(&mut recv, &mut framer).await {
                Ok(Some((m, n))) => {
                    if tx.send(Ok((ch.clone(), m, n))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => return,
                Err(e) => {
                    let _ = tx.send(Err(e.to_string())).await;
                    return;
                }
            }
        }
    });
}
