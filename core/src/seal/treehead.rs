//! A signed tree head: the hub's word on the size and root of its transparency log at a
//! moment. A node keeps the latest it verified and asks, at each connection, for a
//! proof that the log it sees now extends it (`merkle::verify_consistency`): a hub that
//! dropped or rewrote an acknowledged item cannot give one.

use super::{verify_signed, PublicKey, SealError, UnitKey};
use serde::{Deserialize, Serialize};

/// Domain separation of a tree head signature.
pub const TREE_HEAD_CONTEXT: &[u8] = b"tinnhiem/treehead/v1";

/// The signed part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHeadBody {
    /// The hub's key.
    pub hub: [u8; 32],
    /// Leaves in the log.
    pub size: u64,
    /// Its root.
    pub root: [u8; 32],
    /// Unix seconds.
    pub at: i64,
}

/// A tree head and the hub's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeHead {
    /// What is signed.
    pub body: TreeHeadBody,
    /// ed25519 over [`TREE_HEAD_CONTEXT`] ‖ postcard(body).
    pub signature: Vec<u8>,
}

fn signed(body: &TreeHeadBody) -> Vec<u8> {
    let mut m = TREE_HEAD_CONTEXT.to_vec();
    m.extend(postcard::to_stdvec(body).unwrap_or_default());
    m
}

impl TreeHead {
    /// The hub signs its log's head.
    pub fn sign(hub: &UnitKey, size: u64, root: [u8; 32], at: i64) -> TreeHead {
        let body = TreeHeadBody {
            hub: hub.public().0,
            size,
            root,
            at,
        };
        let signature = hub.sign(&signed(&body)).to_bytes().to_vec();
        TreeHead { body, signature }
    }

    /// Checks that `hub` signed it.
    pub fn verify(&self, hub: &PublicKey) -> Result<(), SealError> {
        if self.body.hub != hub.0 {
            return Err(SealError::BadKey);
        }
        verify_signed(&hub.0, &signed(&self.body), &self.signature)
    }

    /// Wire encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`TreeHead::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<TreeHead, SealError> {
        postcard::from_bytes(b).map_err(|e| SealError::Decode(e.to_string()))
    }
}
