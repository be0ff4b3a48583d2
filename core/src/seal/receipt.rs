//! Receipts: the hub's signed word that it holds a seal durably.

use super::{PublicKey, Seal, SealError, UnitKey};
use serde::{Deserialize, Serialize};

/// Domain separation of a receipt signature.
pub const RECEIPT_CONTEXT: &[u8] = b"tinnhiem/receipt/v1";

/// The signed part of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptBody {
    /// The hub's public key.
    pub hub: [u8; 32],
    /// The unit whose seal this is.
    pub unit: String,
    /// The session.
    pub session: String,
    /// The seal's sequence number.
    pub seq: u32,
    /// The seal's id ([`Seal::id`]).
    pub seal_id: [u8; 32],
    /// Unix seconds when the hub stored it.
    pub received_at: i64,
    /// Position of the seal among everything the hub accepted (its log index).
    pub log_index: u64,
    /// The size of the hub's transparency log once this item was appended.
    pub tree_size: u64,
    /// The log's root at that size ([`crate::merkle`]): the hub signs the whole history
    /// up to this item, not only the item.
    pub root: [u8; 32],
}

/// Where an accepted item sits in the hub's log when its receipt is signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPosition {
    /// The item's leaf index.
    pub index: u64,
    /// The log's size with it.
    pub tree_size: u64,
    /// The log's root at that size.
    pub root: [u8; 32],
    /// The inclusion proof of the item's leaf in that tree.
    pub inclusion: Vec<[u8; 32]>,
}

impl LogPosition {
    /// Appends item `id` (a seal's or an aggregate's id) to `tree`: its position, with
    /// the root and inclusion proof of the tree it makes.
    pub fn append(tree: &mut crate::merkle::Tree, id: &[u8; 32]) -> LogPosition {
        let index = tree.push(crate::merkle::leaf_of(id));
        let tree_size = tree.size();
        LogPosition {
            index,
            tree_size,
            root: tree
                .root(tree_size)
                .unwrap_or_else(crate::merkle::empty_root),
            inclusion: tree.inclusion(index, tree_size).unwrap_or_default(),
        }
    }

    /// The position of a leaf already in `tree` at `index`, proved in the whole tree:
    /// an item the log holds but the store lost, taken back at the place it was signed
    /// at (never a new one, never another item's). `None` past the end.
    pub fn at(tree: &crate::merkle::Tree, index: u64) -> Option<LogPosition> {
        let tree_size = tree.size();
        Some(LogPosition {
            index,
            tree_size,
            root: tree.root(tree_size)?,
            inclusion: tree.inclusion(index, tree_size)?,
        })
    }
}

/// A receipt: body, hub signature, and the proof that the item is in the signed log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// What is signed.
    pub body: ReceiptBody,
    /// ed25519 over [`RECEIPT_CONTEXT`] ‖ postcard(body).
    pub signature: Vec<u8>,
    /// Inclusion proof of the item's leaf ([`crate::merkle::leaf_of`] of its id) at
    /// `log_index` in the tree of `tree_size` with `root`. Not signed: it proves itself.
    pub inclusion: Vec<[u8; 32]>,
}

fn signed(body: &ReceiptBody) -> Vec<u8> {
    let mut m = RECEIPT_CONTEXT.to_vec();
    m.extend(postcard::to_stdvec(body).unwrap_or_default());
    m
}

impl Receipt {
    /// The hub signs a receipt for `seal`.
    pub fn sign(hub: &UnitKey, seal: &Seal, received_at: i64, at: &LogPosition) -> Receipt {
        Self::sign_body(
            hub,
            ReceiptBody {
                hub: hub.public().0,
                unit: seal.body.unit.to_string(),
                session: seal.body.session.to_string(),
                seq: seal.body.seq,
                seal_id: seal.id(),
                received_at,
                log_index: at.index,
                tree_size: at.tree_size,
                root: at.root,
            },
            at,
        )
    }

    /// The upper hub signs a receipt for a lower hub's aggregate: `session` is the
    /// aggregate's name (`aggregate-PERIOD`), `seal_id` its id.
    pub fn sign_aggregate(
        hub: &UnitKey,
        agg: &super::Aggregate,
        received_at: i64,
        at: &LogPosition,
    ) -> Receipt {
        Self::sign_body(
            hub,
            ReceiptBody {
                hub: hub.public().0,
                unit: agg.body.hub.clone(),
                session: agg.name(),
                seq: agg.body.seq,
                seal_id: agg.id(),
                received_at,
                log_index: at.index,
                tree_size: at.tree_size,
                root: at.root,
            },
            at,
        )
    }

    fn sign_body(hub: &UnitKey, body: ReceiptBody, at: &LogPosition) -> Receipt {
        let signature = hub.sign(&signed(&body)).to_bytes().to_vec();
        Receipt {
            body,
            signature,
            inclusion: at.inclusion.clone(),
        }
    }

    /// Checks that the receipt is signed by `hub` and names exactly `agg`.
    pub fn verify_aggregate(
        &self,
        hub: &PublicKey,
        agg: &super::Aggregate,
    ) -> Result<(), SealError> {
        self.verify_names(hub, &agg.body.hub, &agg.name(), agg.body.seq, agg.id())
    }

    /// Checks that the receipt is signed by `hub` and names exactly `seal`.
    pub fn verify(&self, hub: &PublicKey, seal: &Seal) -> Result<(), SealError> {
        let b = &seal.body;
        self.verify_names(hub, b.unit.as_str(), b.session.as_str(), b.seq, seal.id())
    }

    fn verify_names(
        &self,
        hub: &PublicKey,
        unit: &str,
        session: &str,
        seq: u32,
        id: [u8; 32],
    ) -> Result<(), SealError> {
        if self.body.hub != hub.0 {
            return Err(SealError::BadKey);
        }
        if self.body.seal_id != id
            || self.body.unit != unit
            || self.body.session != session
            || self.body.seq != seq
        {
            return Err(SealError::WrongDocument);
        }
        // The item is in the log whose root the hub signs.
        if !crate::merkle::verify_inclusion(
            &crate::merkle::leaf_of(&id),
            self.body.log_index,
            self.body.tree_size,
            &self.inclusion,
            &self.body.root,
        ) {
            return Err(SealError::NotInLog);
        }
        super::verify_signed(&hub.0, &signed(&self.body), &self.signature)
    }

    /// Storage and wire encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`Receipt::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Receipt, SealError> {
        postcard::from_bytes(b).map_err(|e| SealError::Decode(e.to_string()))
    }
}
