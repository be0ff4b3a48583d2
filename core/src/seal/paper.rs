//! The paper that verifies itself: what the QR code on printed counting minutes holds.
//! It carries the seal and the canonical result the seal's digest is over, so anyone
//! with the paper checks it offline (signature, digest) and against the digital record
//! (same seal id), and a hub can accept the result from a photograph when no link
//! exists at all. The bytes: `TNQ1` ‖ deflate(postcard((seal bytes, canonical bytes))).

use super::{result_digest, Seal, SealError};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// The first bytes of a paper record.
pub const PAPER_MAGIC: &[u8; 4] = b"TNQ1";
/// A paper record's largest inflated size: a QR code holds under 3 KB.
const MAX_INFLATED: u64 = 64 * 1024;

/// One subject as signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperSubject {
    /// Line id.
    pub id: String,
    /// Person id.
    pub person_id: String,
    /// Name.
    pub name: String,
    /// Position.
    pub position: String,
    /// Unit of work.
    pub unit: String,
    /// Valid ballots for this subject.
    pub valid: u64,
    /// Invalid for this subject.
    pub invalid: u64,
    /// Counts per level of the procedure.
    pub counts: Vec<u64>,
    /// Flag key.
    pub flag: String,
}

/// The result as signed (the owned mirror of the canonical form, field for field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaperResult {
    /// Unit.
    pub unit: String,
    /// Session.
    pub session: String,
    /// Profile key.
    pub profile: String,
    /// Procedure key.
    pub procedure: String,
    /// Mode key.
    pub mode: String,
    /// Voting body.
    pub body: String,
    /// Date, YYYY-MM-DD.
    pub date: String,
    /// total, present, absent from start, present at vote, issued, collected, wholly
    /// invalid.
    pub counts: [u64; 7],
    /// Subjects polled.
    pub subjects: Vec<PaperSubject>,
    /// (id, person id, reason) of those listed but not polled.
    pub excluded: Vec<(String, String, String)>,
}

/// A decoded paper record.
#[derive(Debug, Clone)]
pub struct Paper {
    /// The seal.
    pub seal: Seal,
    /// The result it signs.
    pub result: PaperResult,
    canonical: Vec<u8>,
}

/// The bytes to put in the QR code.
pub fn encode(seal: &Seal, canonical: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let inner = postcard::to_stdvec(&(seal.to_bytes(), canonical)).unwrap_or_default();
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let _ = z.write_all(&inner);
    let mut out = PAPER_MAGIC.to_vec();
    out.extend(z.finish().unwrap_or_default());
    out
}

/// Decodes what a QR code held, bounded; checks nothing yet (see [`Paper::verify`]).
pub fn decode(bytes: &[u8]) -> Result<Paper, SealError> {
    let body = bytes
        .strip_prefix(PAPER_MAGIC.as_slice())
        .ok_or_else(|| SealError::Decode("không phải mã QR của biên bản tinnhiem".into()))?;
    let mut inner = Vec::new();
    flate2::read::DeflateDecoder::new(body)
        .take(MAX_INFLATED + 1)
        .read_to_end(&mut inner)
        .map_err(|e| SealError::Decode(format!("nén hỏng: {e}")))?;
    if inner.len() as u64 > MAX_INFLATED {
        return Err(SealError::Decode("quá lớn".into()));
    }
    let (seal, canonical): (Vec<u8>, Vec<u8>) =
        postcard::from_bytes(&inner).map_err(|e| SealError::Decode(e.to_string()))?;
    let seal = Seal::from_bytes(&seal)?;
    let result: PaperResult =
        postcard::from_bytes(&canonical).map_err(|e| SealError::Decode(e.to_string()))?;
    Ok(Paper {
        seal,
        result,
        canonical,
    })
}

impl Paper {
    /// The seal's signature is valid, the result is the one its digest names, and both
    /// name the same unit and session. (Whether the signer may sign for the unit is the
    /// registry's question.)
    pub fn verify(&self) -> Result<(), SealError> {
        self.seal.verify_signature()?;
        if result_digest(&self.canonical) != self.seal.body.result_digest {
            return Err(SealError::ResultMismatch);
        }
        // The canonical form decoded and re-encoded gives the same bytes: nothing
        // trails or hides in it.
        if postcard::to_stdvec(&self.result).ok().as_deref() != Some(self.canonical.as_slice()) {
            return Err(SealError::ResultMismatch);
        }
        if self.result.unit != self.seal.body.unit.as_str()
            || self.result.session != self.seal.body.session.as_str()
        {
            return Err(SealError::WrongDocument);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::UnitKey;

    fn sealed() -> (Seal, Vec<u8>) {
        let text = include_str!("../../../deploy/examples/session.json");
        let f = crate::domain::SessionFile::from_json(text).expect("example");
        let unit = crate::domain::UnitId::new("lai-chau").expect("unit");
        let mut n = 0;
        let s = f
            .into_session(&unit, || {
                n += 1;
                format!("{n:032x}")
            })
            .expect("session");
        let mut doc = crate::doc::SessionDoc::from_session(&s, b"laptop-1", 1).expect("doc");
        let key = UnitKey::generate().expect("key");
        let (seal, r) = crate::seal::seal_doc(&mut doc, &key, 1, 2).expect("seal");
        let canon = crate::seal::canonical_result(&r, s.meta.mode, &s.meta.body, s.meta.date);
        (seal, canon)
    }

    #[test]
    fn a_paper_record_round_trips_and_verifies() {
        let (seal, canon) = sealed();
        let bytes = encode(&seal, &canon);
        assert!(bytes.len() < 2900, "fits a QR code: {} bytes", bytes.len());
        let p = decode(&bytes).expect("decode");
        p.verify().expect("verifies");
        assert_eq!(p.seal.id(), seal.id());
        assert_eq!(p.result.subjects.len(), 2);
        // `TINNHIEM_FUZZ_SEEDS=dir cargo test` refreshes the fuzz target's seed.
        if let Ok(dir) = std::env::var("TINNHIEM_FUZZ_SEEDS") {
            std::fs::write(std::path::Path::new(&dir).join("real.qr"), &bytes).expect("seed");
        }
    }

    #[test]
    fn a_changed_number_or_a_foreign_seal_is_refused() {
        let (seal, canon) = sealed();
        // Change one count in the result: the digest no longer matches.
        let mut p = decode(&encode(&seal, &canon)).expect("decode");
        p.result.subjects[0].counts[0] += 1;
        let forged = postcard::to_stdvec(&p.result).expect("encode");
        let bad = decode(&encode(&seal, &forged)).expect("decode");
        assert!(matches!(bad.verify(), Err(SealError::ResultMismatch)));
        // A seal whose body was edited (another session named) no longer verifies.
        let mut edited = seal.clone();
        edited.body.session = crate::domain::SessionId::new("ky-hop-khac").expect("id");
        let bad = decode(&encode(&edited, &canon)).expect("decode");
        assert!(bad.verify().is_err());
        // Not ours, truncated, a bomb: typed errors.
        assert!(decode(b"hello").is_err());
        let b = encode(&seal, &canon);
        assert!(decode(&b[..b.len() / 2]).is_err());
        let mut bomb = PAPER_MAGIC.to_vec();
        {
            use std::io::Write;
            let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
            z.write_all(&vec![0u8; 10 << 20]).expect("deflate");
            bomb.extend(z.finish().expect("deflate"));
        }
        assert!(decode(&bomb).is_err());
    }
}
