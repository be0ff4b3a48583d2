//! Replayed QUIC client Initials, as in the field report: real Initials captured from
//! a real client (quinn, with a key no hub knows), sent again at a hub from sockets that
//! never finish a handshake. Used by `tests/hostile.rs` and `tinnhiem-bench --flood`.
//! Every packet goes to a loopback address the caller gives; counts are bounded.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tinnhiem_core::seal::{PublicKey, UnitKey};
use tinnhiem_net::{self as net, NetConfig};
use tokio::net::UdpSocket;

/// Captures `n` distinct client Initials (one per connection attempt, each with its own
/// connection id), made by a quinn client with `key` trying to reach a plain UDP socket
/// that never answers. Each is the first datagram of its attempt, padded to 1200 bytes
/// as QUIC requires.
pub async fn capture_initials(n: usize, key: &UnitKey, hub: PublicKey) -> Vec<Vec<u8>> {
    let sink = UdpSocket::bind("127.0.0.1:0").await.expect("sink socket");
    let to = sink.local_addr().expect("sink address");
    let ep = net::client_endpoint_on(
        key,
        hub,
        &NetConfig::default(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
    )
    .expect("client endpoint");
    // In batches, so that the sink's receive buffer never overflows; a datagram lost
    // anyway comes again with the attempt's next probe (same connection id).
    let mut attempts = Vec::with_capacity(n);
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n);
    let mut buf = vec![0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < n && Instant::now() < deadline {
        let batch = (n - attempts.len()).min(50);
        for _ in 0..batch {
            attempts.push(ep.connect(to, "tinnhiem").expect("connect"));
        }
        while out.len() < attempts.len() && Instant::now() < deadline {
            let Ok(Ok((len, _))) =
                tokio::time::timeout(Duration::from_millis(1500), sink.recv_from(&mut buf)).await
            else {
                break;
            };
            let d = &buf[..len];
            // Long header: flags, version (4), DCID length, DCID.
            let Some(&cid_len) = d.get(5) else { continue };
            let Some(cid) = d.get(6..6 + usize::from(cid_len)) else {
                continue;
            };
            if d[0] & 0xf0 == 0xc0 && seen.insert(cid.to_vec()) {
                out.push(d.to_vec());
            }
        }
    }
    drop(attempts);
    ep.close(0u32.into(), b"");
    out
}

/// What came back to the replaying sockets.
#[derive(Debug, Default, Clone, Copy)]
pub struct Replayed {
    /// Datagrams sent.
    pub sent: usize,
    /// Bytes sent.
    pub bytes: usize,
    /// QUIC Retry packets received (the hub asked for address validation).
    pub retries: usize,
    /// Other datagrams received (handshake answers, refusals).
    pub answers: usize,
}

/// Sends `initials` to `to` from `sockets` sockets (round robin), spread evenly over
/// `over`, then listens `linger` more for answers.
pub async fn replay(
    initials: &[Vec<u8>],
    to: SocketAddr,
    sockets: usize,
    over: Duration,
    linger: Duration,
) -> Replayed {
    let mut socks = Vec::new();
    for _ in 0..sockets.max(1) {
        socks.push(std::sync::Arc::new(
            UdpSocket::bind("127.0.0.1:0").await.expect("socket"),
        ));
    }
    let counts = std::sync::Arc::new(std::sync::Mutex::new(Replayed::default()));
    let mut readers = Vec::new();
    for s in &socks {
        let (s, counts) = (s.clone(), counts.clone());
        readers.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            while let Ok((len, _)) = s.recv_from(&mut buf).await {
                if let (Some(b), Ok(mut c)) = (buf.get(..len), counts.lock()) {
                    // Long header, type Retry (0b11).
                    if b.first().is_some_and(|f| f & 0xf0 == 0xf0) {
                        c.retries += 1;
                    } else {
                        c.answers += 1;
                    }
                }
            }
        }));
    }
    let start = tokio::time::Instant::now();
    let step = over / initials.len().max(1) as u32;
    let (mut sent, mut bytes) = (0, 0);
    for (i, d) in initials.iter().enumerate() {
        tokio::time::sleep_until(start + step * i as u32).await;
        if socks[i % socks.len()].send_to(d, to).await.is_ok() {
            sent += 1;
            bytes += d.len();
        }
    }
    tokio::time::sleep(linger).await;
    for r in readers {
        r.abort();
    }
    let mut c = counts.lock().map(|c| *c).unwrap_or_default();
    c.sent = sent;
    c.bytes = bytes;
    c
}
