//! Everything a tinnhiem node and a tinnhiem hub must agree on, without IO.
//!
//! * [`domain`]: the rules of confidence polls and binding votes (profiles, quorum,
//!   ballot validity, results, thresholds, deadlines). Pure functions.
//! * [`doc`]: the Automerge schema of one session document and its typed reads and
//!   writes, including conflict detection.
//! * [`seal`]: canonical result bytes, digests, seals, receipts, tree heads and their
//!   ed25519 signatures.
//! * [`merkle`]: the transparency log's tree (RFC 6962 hashing, inclusion and
//!   consistency proofs).
//! * [`proto`]: the sans-IO sync protocol: state machines that take bytes and time and
//!   return bytes, in the manner of quinn-proto.
//!
//! This crate depends on no async runtime, network or storage crate, so nothing here
//! can touch a socket, a task or the store: the compiler holds that boundary. Time is
//! passed in. (Key files are read and written with `std::fs` in [`seal::keys`]; that is
//! the one file access, kept here because a key's format belongs with the seal.)
#![warn(missing_docs)]

pub mod doc;
pub mod domain;
pub mod merkle;
pub mod proto;
pub mod seal;
