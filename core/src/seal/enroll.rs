//! Enrollments: a hub's signed word that a unit is its child, with the unit's keys.
//!
//! An upper hub registers only its direct children by hand. It learns the units below
//! them from enrollments its children sign and forward: a chain it verifies link by
//! link (each signer is a key, valid at signing, of the parent the record names, and
//! that parent is already known here). A district's seal then verifies at the national
//! hub against keys that the province vouched for, with the district's own signature
//! unchanged.

use super::{verify_signed, KeyValidity, PublicKey, SealError, UnitKey};
use serde::{Deserialize, Serialize};

/// Domain separation of an enrollment signature.
pub const ENROLL_CONTEXT: &[u8] = b"tinnhiem/enroll/v1";

/// A key of the enrolled unit and its validity window (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrolledKey {
    /// The key.
    pub key: [u8; 32],
    /// Valid from (inclusive).
    pub valid_from: Option<i64>,
    /// Revoked at (exclusive).
    pub revoked_at: Option<i64>,
}

/// The signed part of an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollBody {
    /// The enrolled unit.
    pub unit: String,
    /// Its parent: the unit that signs this record.
    pub parent: String,
    /// Display name.
    pub name: String,
    /// Level (free text: `district`, `commune`...).
    pub level: String,
    /// Every key the unit ever had, with windows: old seals stay verifiable.
    pub keys: Vec<EnrolledKey>,
    /// Unix seconds when signed; a later record of the same unit replaces an earlier one.
    pub issued_at: i64,
}

/// An enrollment: body and the parent's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// What is signed.
    pub body: EnrollBody,
    /// The parent's key that signed.
    pub signer: [u8; 32],
    /// ed25519 over [`ENROLL_CONTEXT`] ‖ postcard(body).
    pub signature: Vec<u8>,
}

fn signed(body: &EnrollBody) -> Vec<u8> {
    let mut m = ENROLL_CONTEXT.to_vec();
    m.extend(postcard::to_stdvec(body).unwrap_or_default());
    m
}

impl Enrollment {
    /// The parent hub signs a record for one of its children.
    pub fn sign(parent_key: &UnitKey, body: EnrollBody) -> Enrollment {
        let signature = parent_key.sign(&signed(&body)).to_bytes().to_vec();
        Enrollment {
            body,
            signer: parent_key.public().0,
            signature,
        }
    }

    /// Checks the signature and that the signer is one of `parent_keys`, valid when the
    /// record was issued.
    pub fn verify(&self, parent_keys: &[KeyValidity]) -> Result<(), SealError> {
        let ok = parent_keys
            .iter()
            .any(|k| k.key.0 == self.signer && k.valid_at(self.body.issued_at));
        if !ok {
            return Err(SealError::BadKey);
        }
        verify_signed(&self.signer, &signed(&self.body), &self.signature)
    }

    /// The enrolled unit's keys.
    pub fn keys(&self) -> Vec<KeyValidity> {
        self.body
            .keys
            .iter()
            .map(|k| KeyValidity {
                key: PublicKey(k.key),
                valid_from: k.valid_from,
                revoked_at: k.revoked_at,
            })
            .collect()
    }

    /// Storage and wire encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_stdvec(self).unwrap_or_default()
    }

    /// Decodes [`Enrollment::to_bytes`].
    pub fn from_bytes(b: &[u8]) -> Result<Enrollment, SealError> {
        postcard::from_bytes(b).map_err(|e| SealError::Decode(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> EnrollBody {
        EnrollBody {
            unit: "phong-tho".into(),
            parent: "lai-chau".into(),
            name: "HĐND huyện Phong Thổ".into(),
            level: "district".into(),
            keys: vec![EnrolledKey {
                key: UnitKey::from_seed([3; 32]).public().0,
                valid_from: None,
                revoked_at: None,
            }],
            issued_at: 1_700_000_000,
        }
    }

    fn valid(k: &UnitKey) -> KeyValidity {
        KeyValidity {
            key: k.public(),
            valid_from: None,
            revoked_at: None,
        }
    }

    #[test]
    fn an_enrollment_verifies_only_against_the_parents_key_and_unaltered() {
        let parent = UnitKey::from_seed([1; 32]);
        let other = UnitKey::from_seed([2; 32]);
        let e = Enrollment::sign(&parent, body());
        let back = Enrollment::from_bytes(&e.to_bytes()).expect("decode");
        assert_eq!(back.verify(&[valid(&parent)]), Ok(()));
        assert_eq!(back.verify(&[valid(&other)]), Err(SealError::BadKey));
        let mut forged = back.clone();
        forged.body.keys[0].key = other.public().0;
        assert_eq!(
            forged.verify(&[valid(&parent)]),
            Err(SealError::BadSignature)
        );
        // A parent key revoked before the record was issued does not vouch.
        let revoked = KeyValidity {
            revoked_at: Some(1_600_000_000),
            ..valid(&parent)
        };
        assert_eq!(back.verify(&[revoked]), Err(SealError::BadKey));
        assert!(Enrollment::from_bytes(&[0xff; 7]).is_err());
    }
}
