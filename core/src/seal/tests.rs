use super::*;
use crate::doc::{CountField, SessionDoc};
use crate::domain::{SessionFile, UnitId};

const FILE: &str = r#"{
  "id": "ky-hop-14", "profile": "nq96-2023", "procedure": "poll",
  "body": "HĐND tỉnh Lai Châu", "date": "2023-12-08",
  "attendance": {"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49},
  "ballots": {"issued": 49, "collected": 49, "wholly_invalid": 0},
  "subjects": [{"id": "s01", "person_id": "p-0001", "name": "Nguyễn Văn A", "position": "Chủ tịch HĐND tỉnh", "unit": "HĐND tỉnh"}],
  "tallies": {"s01": {"high": 40, "confidence": 8, "low": 1, "invalid": 0}}
}"#;

fn doc() -> SessionDoc {
    let unit = UnitId::new("lai-chau").expect("unit");
    let s = SessionFile::from_json(FILE)
        .expect("json")
        .into_session(&unit, || "e".into())
        .expect("valid");
    SessionDoc::from_session(&s, b"dev", 1_700_000_000).expect("doc")
}

fn key() -> UnitKey {
    UnitKey::from_seed([7; 32])
}

#[test]
fn a_seal_verifies_and_survives_encoding() {
    let mut d = doc();
    let (seal, r) = seal_doc(&mut d, &key(), 1, 1_702_000_000).expect("sealable");
    assert_eq!(r.subjects[0].percent[0].dot(), "81.63");
    let back = Seal::from_bytes(&seal.to_bytes()).expect("decode");
    assert_eq!(back, seal);
    check(&back, &mut d).expect("valid");
    // Editing after the seal does not break it: the seal names its heads.
    d.set_count(CountField::Collected, 48).expect("edit");
    d.commit(2, "edit");
    check(&seal, &mut d).expect("still valid at its heads");
}

#[test]
fn tampering_is_detected() {
    let mut d = doc();
    let (seal, _) = seal_doc(&mut d, &key(), 1, 1).expect("sealable");

    let mut s = seal.clone();
    s.body.seq = 2;
    assert_eq!(check(&s, &mut d), Err(SealError::BadSignature));

    let mut s = seal.clone();
    s.signature[0] ^= 1;
    assert_eq!(check(&s, &mut d), Err(SealError::BadSignature));

    // A consistent re-signature of a wrong digest (a forger with the key) is caught
    // by recomputation.
    let mut body = seal.body.clone();
    body.result_digest[0] ^= 1;
    assert_eq!(
        check(&Seal::sign(&key(), body), &mut d),
        Err(SealError::ResultMismatch)
    );

    // Heads the document does not have.
    let mut body = seal.body.clone();
    body.heads = vec![[9; 32]];
    assert_eq!(
        check(&Seal::sign(&key(), body), &mut d),
        Err(SealError::HeadsMissing)
    );

    // Another session's seal on this document.
    let mut body = seal.body.clone();
    body.session = crate::domain::SessionId::new("khac").expect("id");
    assert_eq!(
        check(&Seal::sign(&key(), body), &mut d),
        Err(SealError::WrongDocument)
    );

    assert!(Seal::from_bytes(&[1, 2, 3]).is_err());
}

#[test]
fn an_unsealable_session_lists_every_problem() {
    let mut d = doc();
    d.set_count(CountField::PresentAtVote, 30).expect("edit");
    d.set_count(CountField::Collected, 60).expect("edit");
    d.commit(2, "bad");
    let problems = seal_doc(&mut d, &key(), 1, 1).expect_err("refused");
    let codes: Vec<_> = problems.iter().map(|p| p.code()).collect();
    assert!(codes.contains(&"quorum_not_met"), "{codes:?}");
    assert!(codes.contains(&"exceeds"), "{codes:?}");
    assert!(codes.contains(&"subject_sum"), "{codes:?}");
}

#[test]
fn key_files_are_private_and_never_overwritten() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("unit.key");
    let k = key();
    k.create_file(&p).expect("create");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert!(matches!(k.create_file(&p), Err(KeyError::Exists(_))));
    assert_eq!(UnitKey::load_file(&p).expect("load").public(), k.public());
    std::fs::write(&p, "zz").expect("write");
    assert!(matches!(UnitKey::load_file(&p), Err(KeyError::Format(_))));
    assert!(PublicKey::from_hex(&k.public().to_hex()).is_ok());
    assert!(PublicKey::from_hex("abcd").is_err());
}

/// The body as the release before typed its ids: plain strings.
#[derive(Serialize, Deserialize)]
struct StringSealBody {
    unit: String,
    session: String,
    seq: u32,
    heads: Vec<Head>,
    result_digest: [u8; 32],
    sealed_at: i64,
    signer: [u8; 32],
}

#[test]
fn typed_ids_sign_and_travel_as_the_strings_did() {
    let mut d = doc();
    let (seal, _) = seal_doc(&mut d, &key(), 1, 1_702_000_000).expect("sealable");
    let b = &seal.body;
    let old = StringSealBody {
        unit: b.unit.to_string(),
        session: b.session.to_string(),
        seq: b.seq,
        heads: b.heads.clone(),
        result_digest: b.result_digest,
        sealed_at: b.sealed_at,
        signer: b.signer,
    };
    let old_bytes = postcard::to_stdvec(&old).expect("encode");
    assert_eq!(postcard::to_stdvec(b).expect("encode"), old_bytes);
    // Bytes the old type made decode into the new one, and its signature holds.
    let back: SealBody = postcard::from_bytes(&old_bytes).expect("decode");
    assert_eq!(&back, b);
    Seal {
        body: back,
        signature: seal.signature.clone(),
    }
    .verify_signature()
    .expect("the old bytes' signature");
    // A seal whose unit is not an id no longer decodes at all.
    let bad = StringSealBody {
        unit: "../x".into(),
        ..old
    };
    let bad = postcard::to_stdvec(&bad).expect("encode");
    assert!(postcard::from_bytes::<SealBody>(&bad).is_err());
}
