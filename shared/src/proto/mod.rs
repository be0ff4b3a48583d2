//! The sync protocol between a node (or a lower hub) and a hub: wire messages and the
//! sans-IO state machines of both ends.
//!
//! No networking, no clock: time comes in as `now` (milliseconds from any origin), bytes
//! come in as [`wire::Msg`] values on a [`Channel`], and the machines hand back messages
//! to send, events and the next deadline. A driver (`shared::net`, or the in-memory
//! pair of the tests) moves them:
//!
//! 1. feed input: `handle(channel, msg, now)` and, when the deadline passed,
//!    `handle_timeout(now)`;
//! 2. drain `poll_transmit()` until `None` and send each message on its channel;
//! 3. drain `poll_event()` and act on it (persist, report);
//! 4. sleep until `poll_timeout()` or the next input.
//!
//! The conversation, per connection:
//!
//! ```text
//! node (or lower hub)                   hub
//! Hello{version, unit, docs+heads,
//!       enrollments}                ──▶  verify and record each enrollment
//!                                        (a forwarding hub's children), then
//!                                   ◀──  Welcome{version, hub, docs+heads}
//! per document, on its own channel (a QUIC bi-stream):
//!   if heads differ: Sync{automerge sync message} ◀──▶ Sync … until the hub has ours
//! Seal{seal}                        ──▶  verify, store durably
//!                                   ◀──  Receipt{receipt}  or  Reject{reason}
//! ```
//!
//! A document already in sync costs the Hello/Welcome round trip and one Seal/Receipt
//! round trip for an undelivered seal, nothing for a delivered one. Automerge sync state
//! per (peer, document) is handed out as an event so the driver persists it, and a
//! reconnect resumes from it.

pub mod hub;
pub mod node;
pub mod wire;

#[cfg(test)]
mod tests;

use crate::domain::{SessionId, UnitId};

/// The name of a document on the wire when `speaker` delivers it: the session id for the
/// speaker's own, `unit/session` for a descendant's (ids never contain `/`).
pub fn doc_name(speaker: &str, unit: &str, session: &str) -> String {
    if unit == speaker {
        session.to_owned()
    } else {
        format!("{unit}/{session}")
    }
}

/// The (unit, session) a name from `speaker` stands for, both ids checked.
pub fn parse_doc_name(speaker: &str, name: &str) -> Option<(String, String)> {
    let (unit, session) = match name.split_once('/') {
        Some((u, s)) => (u, s),
        None => (speaker, name),
    };
    UnitId::new(unit).ok()?;
    SessionId::new(session).ok()?;
    Some((unit.to_owned(), session.to_owned()))
}

pub use wire::{
    Channel, DocHeads, FrameError, Framer, Msg, RejectReason, OLDEST_VERSION, PROTOCOL_VERSION,
};
