//! A hub's sealed aggregate of one reporting period: which units reported, which are
//! missing or late, every subject over a threshold, and a reference (id and result
//! digest) to each seal it includes.
//!
//! It adds no number of its own: every flag in it is recomputed, by whoever receives
//! it, from the referenced seals, which travel beside it unchanged. What the hub's
//! signature adds is its word on completeness: these are the seals of the period, these
//! units are missing, these were late.

use super::{verify_signed, KeyValidity, Seal, SealError, UnitKey};
use crate::domain::{Flag, SessionResult};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separation of an aggregate signature.
pub const AGGREGATE_CONTEXT: &[u8] = b"tinnhiem/aggregate/v1";

/// One included seal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Included {
    /// The unit that sealed it.
    pub unit: String,
    /// Its session.
    pub session: String,
    /// Its seq (the latest accepted for the session).
    pub seq: u32,
    /// [`Seal::id`].
    pub seal_id: [u8; 32],
    /// The seal's result digest.
    pub result_digest: [u8; 32],
    /// Unix seconds when the hub received it.
    pub received_at: i64,
}

/// A subject over a threshold.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Flagged {
    /// The unit.
    pub unit: String,
    /// The session.
    pub session: String,
    /// The subject id on the ballot.
    pub subject: String,
    /// The person.
    pub person_id: String,
    /// Their name.
    pub name: String,
    /// [`Flag::key`].
    pub flag: String,
}

/// The signed part of an aggregate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregateBody {
    /// The hub's unit.
    pub hub: String,
    /// The reporting period (the year of the sessions).
    pub period: i32,
    /// 1, then +1 for each re-seal of the same period.
    pub seq: u32,
    /// Unix seconds.
    pub sealed_at: i64,
    /// The signing key.
    pub signer: [u8; 32],
    /// Every included seal, sorted.
    pub included: Vec<Included>,
    /// Units expected here with no session in the period, sorted.
    pub missing: Vec<String>,
    /// Units whose first seal of the period arrived after the report was due, sorted.
    pub late: Vec<String>,
    /// Every subject over a threshold in the included seals, sorted.
    pub flagged: Vec<Flagged>,
}

/// An aggregate: body and the hub's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// What is signed.
    pub body: AggregateBody,
    /// ed25519 over [`AGGREGATE_CONTEXT`] ‖ postcard(body).
    pub signature: Vec<u8>,
}

fn signed(body: &AggregateBody) -> Vec<u8> {
    let mut m = AGGREGATE_CONTEXT.to_vec();
    m.extend(postcard::to_stdvec(body).unwrap_or_default());
    m
}

/// The flagged subjects of one sealed result, as an aggregate lists them.
pub fn flagged_of(r: &SessionResult) -> Vec<Flagged> {
    r.subjects
        .iter()
        .filter(|x| x.flag != Flag::None)
        .map(|x| Flagged {
            unit: r.unit.to_string(),
            session: r.session.to_string(),
            subject: x.id.to_string(),
            person_id: x.person_id.to_string(),
            name: x.name.clone(),
            flag: x.flag.key().to_owned(),
        })
        .collect()
}

impl Included {
    /// The reference to `seal`, received at `received_at`.
    pub fn of(seal: &Seal, received_at: i64) -> Included {
        Included {
            unit: seal.body.unit.to_string(),
            session: seal.body.session.to_string(),
            seq: seal.body.seq,
            seal_id: seal.id(),
            result_digest: seal.body.result_digest,
            received_at,
        }
    }
}

impl Aggregate {
    /// Signs `body` (its lists sorted first, so that equal content is equal bytes).
    pub fn sign(key: &UnitKey, mut body: AggregateBody) -> Aggregate {
        body.included.sort();
        body.missing.sort();
        body.late.sort();
        body.flagged.sort();
        body.signer = key.public().0;
        let signature = key.sign(&signed(&body)).to_bytes().to_vec();
        Aggregate { body, signature }
    }

    /// Checks the signature and that the signer is one of the hub's `keys`, valid when
    /// sealed.
    pub fn verify(&self, keys: &[KeyValidity]) -> Result<(), SealError> {
        let ok = keys
            .iter()
            .any(|k| k.key.0 == self.body.signer && k.valid_at(self.body.sealed_at));
        if !ok {
            return Err(SealError::BadKey);
        }
        verify_signed(&self.body.signer, &signed(&self.body), &self.signature)
    }

    /// A digest over body and signature: how receipts name it.
    pub fn id(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(AGGREGATE_CONTEXT);
        h.update(self.to_bytes());
        h.finalize().into()
    }

    /// The name it travels and is stored under: `aggregate-PERIOD`.
    pub fn name(&self) -> String {
        format!("aggregate-{}", self.body.period)
    }

    /// Storage and wire encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`Aggregate::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Aggregate, SealError> {
        postcard::from_bytes(b).map_err(|e| SealError::Decode(e.to_string()))
    }
}
