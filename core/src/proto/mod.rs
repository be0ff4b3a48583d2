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
//!                                   ◀──  Welcome{version, hub, docs+heads, log head}
//! per document, on its own channel (a QUIC bi-stream):
//!   if heads differ: Sync{automerge sync message} ◀──▶ Sync … until the hub has ours
//! Seal{seal}                        ──▶  verify, store durably
//!                                   ◀──  Receipt{receipt}  or  Reject{reason}
//! ```
//!
//! Two shortcuts cut the round trips on slow links (protocol version 3). A document
//! never synced with this hub goes whole (one Automerge v2 sync message) with its seals
//! right behind the Hello; a document whose sync state says the hub holds every change
//! sends its seals right behind the Hello. Either way the delivery is one round trip
//! after the QUIC handshake. Messages on a document's stream may outrun the Hello (the
//! hub holds them, up to [`hub::EARLY_BYTES`]) or the Welcome (the node holds them, so
//! that receipts are checked against the Welcome's log head).
//!
//! A delivered seal costs nothing (the outbox knows). Automerge sync state per (peer,
//! document) is handed out as an event so the driver persists it, and a reconnect
//! resumes from it: what the hub acknowledged is not sent again.

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
pub fn parse_doc_name(speaker: &str, name: &str) -> Option<(UnitId, SessionId)> {
    let (unit, session) = match name.split_once('/') {
        Some((u, s)) => (u, s),
        None => (speaker, name),
    };
    Some((UnitId::new(unit).ok()?, SessionId::new(session).ok()?))
}

pub use wire::{
    Channel, DocHeads, FrameError, Framer, LostItem, Msg, RejectReason, EVERY_SEAL, LOST_VERSION,
    MAX_LOST, OLDEST_VERSION, PROTOCOL_VERSION,
};
