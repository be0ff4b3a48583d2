//! Everything a tinnhiem node and a tinnhiem hub must agree on.
//!
//! * [`domain`]: the rules of confidence polls and binding votes (profiles, quorum,
//!   ballot validity, results, thresholds, deadlines). Pure functions, no IO.
//! * [`doc`]: the Automerge schema of one session document and its typed reads and
//!   writes, including conflict detection.
//! * [`seal`]: canonical result bytes, digests, seals and their ed25519 signatures.
//! * [`store`]: the sled store both binaries use. The only module that touches sled.
//!
//! Nothing here knows about sockets, tasks or the wall clock: time is passed in.
#![warn(missing_docs)]

pub mod doc;
pub mod domain;
pub mod log;
pub mod merkle;
pub mod net;
pub mod outbox;
pub mod proto;
pub mod seal;
pub mod store;
