//! Wire messages: postcard-encoded, each framed by a 4-byte big-endian length, with a
//! maximum size checked before anything is allocated.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The protocol version this build speaks. 2: the Hello carries enrollments, and a
/// document's name may be `unit/session` (a descendant's, forwarded by a hub). 3: a
/// node may send a document and its seals right behind its Hello, before the Welcome;
/// the hub holds them until it has read the Hello. 4: a hub whose store lost items it
/// had receipted names them ([`Msg::Lost`], before its Welcome), so that the peers
/// holding their receipts deliver them again.
pub const PROTOCOL_VERSION: u16 = 4;

/// The first version that understands [`Msg::Lost`].
pub const LOST_VERSION: u16 = 4;

/// The oldest version a hub still answers (a version-2 node never sends before the
/// Welcome, so the hub need only echo its version).
pub const OLDEST_VERSION: u16 = 2;

/// Where a message travels: the connection's control channel, or one document's.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Hello / Welcome and connection-level errors.
    Control,
    /// One document's sync, seals and receipts.
    Doc(String),
}

/// A document and its heads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocHeads {
    /// The document's name ([`super::doc_name`]): the session id for the speaker's own,
    /// `unit/session` for a descendant's. Every `session` field of [`Msg`] is such a name.
    pub session: String,
    /// Sorted change hashes; empty when the sender has no such document.
    pub heads: Vec<[u8; 32]>,
}

/// Why a hub refuses something. Stable codes: nodes show them to clerks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RejectReason {
    /// The peer speaks another protocol version.
    Version,
    /// The unit is not in the hub's registry.
    UnknownUnit,
    /// The seal is signed by a key that is not the unit's registered key.
    WrongKey,
    /// The seal's signature does not verify.
    BadSignature,
    /// The document or seal belongs to another unit than the authenticated peer.
    OtherUnit,
    /// The hub does not hold the document at the sealed heads.
    HeadsMissing,
    /// The result recomputed at the sealed heads differs from the seal's digest.
    ResultMismatch,
    /// The sealed result breaks a consistency rule or the quorum.
    Inconsistent,
    /// Bytes that do not decode, or a message out of place.
    Malformed,
    /// A message or document over the configured limit.
    TooLarge,
    /// The hub could not store it (disk); retry later.
    Unavailable,
    /// The seal is signed by a key of the unit that was revoked before it was made.
    RevokedKey,
}

impl RejectReason {
    /// Every reason, in declaration (and postcard index) order.
    pub const ALL: [RejectReason; 12] = [
        RejectReason::Version,
        RejectReason::UnknownUnit,
        RejectReason::WrongKey,
        RejectReason::BadSignature,
        RejectReason::OtherUnit,
        RejectReason::HeadsMissing,
        RejectReason::ResultMismatch,
        RejectReason::Inconsistent,
        RejectReason::Malformed,
        RejectReason::TooLarge,
        RejectReason::Unavailable,
        RejectReason::RevokedKey,
    ];

    /// The reason a stored [`RejectReason::code`] names.
    pub fn from_code(code: &str) -> Option<RejectReason> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// A stable code.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::Version => "version",
            RejectReason::UnknownUnit => "unknown_unit",
            RejectReason::WrongKey => "wrong_key",
            RejectReason::BadSignature => "bad_signature",
            RejectReason::OtherUnit => "other_unit",
            RejectReason::HeadsMissing => "heads_missing",
            RejectReason::ResultMismatch => "result_mismatch",
            RejectReason::Inconsistent => "inconsistent",
            RejectReason::Malformed => "malformed",
            RejectReason::TooLarge => "too_large",
            RejectReason::Unavailable => "unavailable",
            RejectReason::RevokedKey => "revoked_key",
        }
    }

    /// What it means, in Vietnamese.
    pub fn title(self) -> &'static str {
        match self {
            RejectReason::Version => "phiên bản giao thức khác nhau",
            RejectReason::UnknownUnit => "đơn vị chưa được đăng ký ở máy chủ",
            RejectReason::WrongKey => "khóa ký không phải khóa đã đăng ký của đơn vị",
            RejectReason::BadSignature => "chữ ký niêm phong không hợp lệ",
            RejectReason::OtherUnit => "tài liệu của đơn vị khác",
            RejectReason::HeadsMissing => "máy chủ chưa có tài liệu đúng trạng thái niêm phong",
            RejectReason::ResultMismatch => "kết quả tính lại khác kết quả niêm phong",
            RejectReason::Inconsistent => "số liệu không khớp hoặc không đủ 2/3",
            RejectReason::Malformed => "dữ liệu không đúng dạng",
            RejectReason::TooLarge => "dữ liệu quá lớn",
            RejectReason::Unavailable => "máy chủ tạm thời không lưu được",
            RejectReason::RevokedKey => "khóa ký đã bị thu hồi trước thời điểm niêm phong",
        }
    }

    /// Whether trying again later may succeed without a change on the node.
    pub fn transient(self) -> bool {
        matches!(
            self,
            RejectReason::Unavailable | RejectReason::HeadsMissing | RejectReason::UnknownUnit
        )
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The node's opening message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The unit the node speaks for (must match its authenticated key).
    pub unit: String,
    /// The documents it wants to deliver seals of, with its heads.
    pub docs: Vec<DocHeads>,
    /// `Enrollment::to_bytes()` of the units below the speaker whose documents it
    /// forwards, parents before children; empty for a node.
    pub enrollments: Vec<Vec<u8>>,
    /// The size of the latest log head of this hub the speaker verified (0: none): the
    /// Welcome proves the log now extends it.
    pub known_log: u64,
}

/// The hub's log head and the proof that it extends the one the peer knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHead {
    /// `TreeHead::to_bytes()`.
    pub head: Vec<u8>,
    /// Consistency proof from the peer's `known_log` size to this head's size.
    pub consistency: Vec<[u8; 32]>,
}

/// The hub's answer to [`Hello`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The hub's unit.
    pub hub: String,
    /// The hub's heads of each document named in the Hello.
    pub docs: Vec<DocHeads>,
    /// The hub's transparency log head, when it keeps one.
    pub log: Option<LogHead>,
}

/// Every message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// Node → hub, control.
    Hello(Hello),
    /// Hub → node, control.
    Welcome(Welcome),
    /// An Automerge sync message for one document.
    Sync {
        /// The session.
        session: String,
        /// `automerge::sync::Message::encode()`.
        data: Vec<u8>,
    },
    /// A seal to deliver.
    Seal {
        /// The session.
        session: String,
        /// `Seal::to_bytes()`.
        seal: Vec<u8>,
    },
    /// The hub holds the seal durably.
    Receipt {
        /// The session.
        session: String,
        /// `Receipt::to_bytes()`.
        receipt: Vec<u8>,
        /// Consistency proof between the Welcome's log head and the receipt's tree (from
        /// the smaller to the larger), so that every signed root joins one history.
        consistency: Vec<[u8; 32]>,
    },
    /// A lower hub's sealed aggregate of a period (`Aggregate::to_bytes()`), on the
    /// channel named by [`crate::seal::Aggregate::name`]; answered by a `Receipt` or a
    /// `Reject` there. Sent after every document of the connection is answered, so the
    /// seals it names are already held.
    Aggregate {
        /// `aggregate-PERIOD`.
        name: String,
        /// The aggregate.
        aggregate: Vec<u8>,
    },
    /// The hub refuses a seal (or, with [`EVERY_SEAL`], every seal of its channel; on
    /// the control channel, the connection).
    Reject {
        /// The session ("" for the connection).
        session: String,
        /// The refused seal's id.
        seal_id: [u8; 32],
        /// Why.
        reason: RejectReason,
        /// Details for the log.
        detail: String,
    },
    /// Hub → peer, control, before the Welcome (version 4): items this hub signed into
    /// its log whose seal or aggregate its store no longer holds. A peer holding a
    /// receipt for one delivers that item again; the hub takes it back at its index.
    /// Appended last: the encodings of every other message are unchanged.
    Lost {
        /// The missing items, by log index, ascending (at most [`MAX_LOST`]).
        items: Vec<LostItem>,
    },
}

/// The `seal_id` of a [`Msg::Reject`] that refuses every seal of its channel rather
/// than one (a document that cannot be taken, a refused connection).
pub const EVERY_SEAL: [u8; 32] = [0; 32];

/// One item a hub lost: its place in the log and its leaf ([`crate::merkle::leaf_of`]
/// of its id), which the holder of its receipt recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostItem {
    /// The log index the hub signed it at.
    pub index: u64,
    /// The leaf at that index.
    pub leaf: [u8; 32],
}

/// The most lost items one [`Msg::Lost`] names (the rest go at later connections, as
/// the first come back): 20,000 × 40 bytes stays far below any frame limit.
pub const MAX_LOST: usize = 20_000;

/// Why bytes could not be turned into messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A frame announces more than the limit: the peer is cut off.
    #[error("message of {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// Announced size.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// A complete frame that does not decode.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message of ours that could not be encoded (or whose length does not fit the
    /// frame's 4 bytes): nothing is sent, rather than an empty or cut frame.
    #[error("could not encode a message: {0}")]
    Encode(String),
}

impl Msg {
    /// The channel a message belongs on, by its kind and the document it names (a
    /// server reads the channel of a stream from its first message).
    pub fn channel(&self) -> Channel {
        match self {
            Msg::Hello(_) | Msg::Welcome(_) | Msg::Lost { .. } => Channel::Control,
            Msg::Sync { session, .. }
            | Msg::Seal { session, .. }
            | Msg::Receipt { session, .. }
            | Msg::Reject { session, .. } => Channel::Doc(session.clone()),
            Msg::Aggregate { name, .. } => Channel::Doc(name.clone()),
        }
    }

    /// The framed bytes: 4-byte big-endian length, then postcard.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let body = postcard::to_stdvec(self).map_err(|e| FrameError::Encode(e.to_string()))?;
        let len = u32::try_from(body.len())
            .map_err(|_| FrameError::Encode(format!("{} bytes in one frame", body.len())))?;
        let mut out = Vec::with_capacity(body.len() + 4);
        out.extend(len.to_be_bytes());
        out.extend(body);
        Ok(out)
    }

    /// Decodes one unframed message body.
    pub fn decode_body(body: &[u8]) -> Result<Msg, FrameError> {
        postcard::from_bytes(body).map_err(|e| FrameError::Malformed(e.to_string()))
    }
}

/// Accumulates bytes from a stream and yields whole messages. `Ok(None)` means "read
/// more", not an error.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    limit: usize,
}

impl Framer {
    /// A framer refusing messages over `limit` bytes.
    pub fn new(limit: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            limit,
        }
    }

    /// Adds received bytes; fails as soon as a frame header announces too much.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        self.buf.extend_from_slice(bytes);
        self.check()
    }

    fn check(&self) -> Result<(), FrameError> {
        if self.buf.len() >= 4 {
            let size =
                u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
            if size > self.limit {
                return Err(FrameError::TooLarge {
                    size,
                    limit: self.limit,
                });
            }
        }
        Ok(())
    }

    /// The next whole message, if one has arrived.
    pub fn next_msg(&mut self) -> Result<Option<Msg>, FrameError> {
        self.check()?;
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let size =
            u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if self.buf.len() < 4 + size {
            return Ok(None);
        }
        let msg = Msg::decode_body(&self.buf[4..4 + size]);
        self.buf.drain(..4 + size);
        msg.map(Some)
    }

    /// Bytes received but not yet part of a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}
