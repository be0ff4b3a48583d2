//! Canonical result bytes, digests, seals and their ed25519 signatures.
//!
//! A seal signs `b"tinnhiem/seal/v1" || postcard(SealBody)`. The body names the
//! document's heads, which commit to its whole history through Automerge's hash DAG,
//! and the digest of the canonical result computed at those heads, so a change to any
//! edit or to the arithmetic breaks the seal.
//!
//! Architecture invariant: every byte that is signed is produced here, from types whose
//! postcard encoding is fixed (no maps with unordered keys, no floats).

mod aggregate;
mod enroll;
mod keys;
pub mod paper;
mod receipt;
mod treehead;

pub use aggregate::{flagged_of, Aggregate, AggregateBody, Flagged, Included, AGGREGATE_CONTEXT};
pub use enroll::{EnrollBody, EnrolledKey, Enrollment, ENROLL_CONTEXT};
pub use keys::{KeyError, KeyValidity, PublicKey, UnitKey};
pub use receipt::{LogPosition, Receipt, ReceiptBody, RECEIPT_CONTEXT};
pub use treehead::{TreeHead, TreeHeadBody, TREE_HEAD_CONTEXT};

use crate::doc::Head;
use crate::domain::{Mode, SessionId, SessionResult, UnitId};
use ed25519_dalek::{Signature, Verifier};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Domain separation of a seal signature.
pub const SEAL_CONTEXT: &[u8] = b"tinnhiem/seal/v1";
/// Domain separation of the result digest.
pub const RESULT_CONTEXT: &[u8] = b"tinnhiem/result/v1";
/// Domain separation of a seal's id.
pub const SEAL_ID_CONTEXT: &[u8] = b"tinnhiem/seal-id/v1";

/// Checks an ed25519 `signature` (64 bytes, from the wire or a file) by `key` over `msg`.
pub(crate) fn verify_signed(key: &[u8; 32], msg: &[u8], signature: &[u8]) -> Result<(), SealError> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(key).map_err(|_| SealError::BadKey)?;
    let sig: [u8; 64] = signature.try_into().map_err(|_| SealError::BadSignature)?;
    key.verify(msg, &Signature::from_bytes(&sig))
        .map_err(|_| SealError::BadSignature)
}

/// Why a seal does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The signature does not match the body and key.
    #[error("chữ ký không hợp lệ")]
    BadSignature,
    /// The signer's key is not a valid ed25519 point.
    #[error("khóa ký không hợp lệ")]
    BadKey,
    /// The document does not contain the sealed heads.
    #[error("tài liệu không chứa đúng trạng thái đã niêm phong")]
    HeadsMissing,
    /// The result recomputed at the heads differs from the sealed digest.
    #[error("kết quả tính lại khác kết quả đã niêm phong")]
    ResultMismatch,
    /// The seal names another unit or session than the document.
    #[error("niêm phong thuộc đơn vị hoặc phiên khác")]
    WrongDocument,
    /// A receipt whose inclusion proof does not put its item in the log it signs.
    #[error("biên nhận không chứng minh được bản ghi nằm trong nhật ký của máy chủ")]
    NotInLog,
    /// Bytes that do not decode as a seal.
    #[error("dữ liệu niêm phong không đọc được: {0}")]
    Decode(String),
}

/// The signed part of a seal. The ids are checked when a seal is decoded; their
/// postcard bytes are those of the plain strings earlier releases signed, so old seals
/// verify unchanged (`seal/tests.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealBody {
    /// The unit that holds the session.
    pub unit: UnitId,
    /// The session.
    pub session: SessionId,
    /// 1 for the first seal, +1 for each correction.
    pub seq: u32,
    /// Sorted change hashes of the document at sealing.
    pub heads: Vec<Head>,
    /// SHA-256 over [`RESULT_CONTEXT`] and the canonical result.
    pub result_digest: [u8; 32],
    /// Unix seconds at sealing (advisory; ordering comes from `seq`).
    pub sealed_at: i64,
    /// The signer's public key.
    pub signer: [u8; 32],
}

/// A seal: the body and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// What is signed.
    pub body: SealBody,
    /// ed25519 signature over [`SEAL_CONTEXT`] ‖ postcard(body).
    pub signature: Vec<u8>,
}

impl Seal {
    /// Signs a body.
    pub fn sign(key: &UnitKey, body: SealBody) -> Seal {
        let msg = signed_bytes(&body);
        let signature = key.sign(&msg).to_bytes().to_vec();
        Seal { body, signature }
    }

    /// Checks the signature against the body's signer key (not whether that key is
    /// allowed to sign for the unit: that is the registry's job).
    pub fn verify_signature(&self) -> Result<(), SealError> {
        verify_signed(
            &self.body.signer,
            &signed_bytes(&self.body),
            &self.signature,
        )
    }

    /// The seal's id: a digest over its body and signature.
    pub fn id(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(SEAL_ID_CONTEXT);
        h.update(self.to_bytes());
        h.finalize().into()
    }

    /// The wire and storage encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`Seal::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Seal, SealError> {
        postcard::from_bytes(b).map_err(|e| SealError::Decode(e.to_string()))
    }
}

fn signed_bytes(body: &SealBody) -> Vec<u8> {
    let mut msg = SEAL_CONTEXT.to_vec();
    msg.extend(postcard::to_stdvec(body).unwrap_or_default());
    msg
}

/// The result as it is signed: fixed field order, integers and text only.
#[derive(Serialize)]
struct CanonicalResult<'a> {
    unit: &'a str,
    session: &'a str,
    profile: &'a str,
    procedure: &'a str,
    mode: &'a str,
    body: &'a str,
    date: String,
    counts: [u64; 7],
    subjects: Vec<CanonicalSubject<'a>>,
    excluded: Vec<(&'a str, &'a str, &'a str)>,
}

#[derive(Serialize)]
struct CanonicalSubject<'a> {
    id: &'a str,
    person_id: &'a str,
    name: &'a str,
    position: &'a str,
    unit: &'a str,
    valid: u64,
    invalid: u64,
    counts: &'a [u64],
    flag: &'a str,
}

/// The canonical bytes of a result, as signed (through its digest).
pub fn canonical_result(
    r: &SessionResult,
    mode: Mode,
    body: &str,
    date: chrono::NaiveDate,
) -> Vec<u8> {
    let c = CanonicalResult {
        unit: r.unit.as_str(),
        session: r.session.as_str(),
        profile: r.profile.key(),
        procedure: r.procedure.key(),
        mode: mode.key(),
        body,
        date: date.to_string(),
        counts: [
            r.total,
            r.present,
            r.absent_from_start,
            r.present_at_vote,
            r.issued,
            r.collected,
            r.wholly_invalid,
        ],
        subjects: r
            .subjects
            .iter()
            .map(|s| CanonicalSubject {
                id: s.id.as_str(),
                person_id: s.person_id.as_str(),
                name: &s.name,
                position: &s.position,
                unit: &s.unit,
                valid: s.valid,
                invalid: s.invalid,
                counts: &s.counts,
                flag: s.flag.key(),
            })
            .collect(),
        excluded: r
            .excluded
            .iter()
            .map(|e| (e.id.as_str(), e.person_id.as_str(), e.reason.key()))
            .collect(),
    };
    postcard::to_stdvec(&c).unwrap_or_default()
}

/// The digest a seal carries: SHA-256 over [`RESULT_CONTEXT`] ‖ canonical bytes.
pub fn result_digest(canonical: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(RESULT_CONTEXT);
    h.update(canonical);
    h.finalize().into()
}

#[cfg(test)]
mod tests;

/// Verifies `seal` against `doc`: signature, identity, heads present, and the result
/// recomputed at those heads matching the sealed digest. Returns that result.
pub fn check(seal: &Seal, doc: &mut crate::doc::SessionDoc) -> Result<SessionResult, SealError> {
    check_session(seal, doc).map(|(_, r)| r)
}

/// [`check`], also returning the session as sealed (the body, the date, the subjects'
/// names), so a caller that shows them reads the document once, not twice.
pub fn check_session(
    seal: &Seal,
    doc: &mut crate::doc::SessionDoc,
) -> Result<(crate::domain::Session, SessionResult), SealError> {
    seal.verify_signature()?;
    let (unit, session) = doc.identity().map_err(|_| SealError::WrongDocument)?;
    if unit != seal.body.unit || session != seal.body.session {
        return Err(SealError::WrongDocument);
    }
    if seal.body.heads.is_empty() || !doc.has_heads(&seal.body.heads) {
        return Err(SealError::HeadsMissing);
    }
    // Read at the sealed heads without forking: on a first delivery they are the
    // document's own heads, and a fork would rebuild it from its changes.
    let mut sealed = seal.body.heads.clone();
    sealed.sort_unstable();
    let read = if doc.heads() == sealed {
        doc.read()
    } else {
        doc.read_at(&seal.body.heads)
    };
    let s = read.map_err(|_| SealError::ResultMismatch)?;
    let r = crate::domain::compute(&s);
    let canon = canonical_result(&r, s.meta.mode, &s.meta.body, s.meta.date);
    if result_digest(&canon) != seal.body.result_digest {
        return Err(SealError::ResultMismatch);
    }
    Ok((s, r))
}

/// Seals `doc` as it is now: refuses with every problem when the result is not
/// sealable. `seq` is one more than the last seal's.
pub fn seal_doc(
    doc: &mut crate::doc::SessionDoc,
    key: &UnitKey,
    seq: u32,
    now: i64,
) -> Result<(Seal, SessionResult), Vec<crate::domain::Problem>> {
    let s = doc.read().map_err(|e| {
        vec![crate::domain::Problem::Malformed {
            what: e.to_string(),
        }]
    })?;
    let r = crate::domain::compute(&s);
    if !r.sealable() {
        return Err(r.problems);
    }
    let canon = canonical_result(&r, s.meta.mode, &s.meta.body, s.meta.date);
    let body = SealBody {
        unit: s.meta.unit.clone(),
        session: s.meta.session.clone(),
        seq,
        heads: doc.heads(),
        result_digest: result_digest(&canon),
        sealed_at: now,
        signer: key.public().0,
    };
    Ok((Seal::sign(key, body), r))
}
