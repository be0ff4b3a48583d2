//! What the simulated units hold before the run: keys, registries, sealed sessions.

use tinnhiem_core::doc::{CountField, MetaField, SessionDoc};
use tinnhiem_core::domain::{Entry, Mark, SessionFile, SessionId, SubjectId, UnitId};
use tinnhiem_core::seal::{seal_doc, Seal, UnitKey};

const FILE: &str = r#"{
  "id": "SESSION", "profile": "nq96-2023", "procedure": "poll",
  "body": "HĐND huyện", "date": "2023-12-08",
  "attendance": {"total": 50, "present": 49, "absent_from_start": 1, "present_at_vote": 49},
  "ballots": {"issued": 49, "collected": 49, "wholly_invalid": 0},
  "subjects": [{"id": "s01", "person_id": "p-0001", "name": "Nguyễn Văn A", "position": "Chủ tịch", "unit": "HĐND"}],
  "entries": []
}"#;

/// The device tag the simulated laptops write with.
pub const DEVICE: &[u8] = b"sim-laptop";

/// A unit's key, fixed by its index (hubs and districts alike).
pub fn key(i: usize) -> UnitKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    seed[31] = 0x5e;
    UnitKey::from_seed(seed)
}

/// A session document of `unit` with `ballots` ballots, sealed as seal 1.
pub fn sealed(unit: &str, session: &str, ballots: u64, key: &UnitKey) -> (SessionDoc, Seal) {
    let u = UnitId::new(unit).expect("fixture unit id");
    let s = SessionFile::from_json(&FILE.replace("SESSION", session))
        .expect("fixture json")
        .into_session(&u, || "x".into())
        .expect("fixture session");
    let mut d = SessionDoc::from_session(&s, DEVICE, 1).expect("fixture doc");
    for i in 0..ballots {
        let mut marks = std::collections::BTreeMap::new();
        marks.insert(SubjectId::new("s01").expect("sid"), Mark::High);
        d.add_entry(
            &Entry {
                id: format!("{i:016x}"),
                marks,
            },
            "sim",
        )
        .expect("fixture entry");
    }
    for (f, v) in [
        (CountField::Issued, ballots),
        (CountField::Collected, ballots),
        (CountField::Total, 50),
        (CountField::Present, 49),
        (CountField::AbsentFromStart, 1),
        (CountField::PresentAtVote, 49),
    ] {
        d.set_count(f, v).expect("fixture count");
    }
    for (f, v) in [
        (MetaField::Chair, "Nguyễn Văn B"),
        (MetaField::Board, "Trần Thị C"),
        (MetaField::CountFrom, "08:00"),
        (MetaField::CountTo, "09:00"),
    ] {
        d.set_meta(f, v).expect("fixture meta");
    }
    d.commit(2, "ballots");
    let (seal, _) = seal_doc(&mut d, key, 1, 3).expect("fixture sealable");
    (d, seal)
}

/// The same document changed after its last seal (the place of the count written),
/// sealed again as `seq`.
pub fn resealed(bytes: &[u8], seq: u32, key: &UnitKey) -> Option<(SessionDoc, Seal)> {
    let mut d = SessionDoc::load(bytes, DEVICE).ok()?;
    d.set_meta(MetaField::Place, &format!("Phòng họp số {seq}"))
        .ok()?;
    d.commit(i64::from(seq) * 10, "place");
    let (seal, _) = seal_doc(&mut d, key, seq, i64::from(seq) * 10 + 1).ok()?;
    Some((d, seal))
}

/// A session id.
pub fn session(i: usize) -> SessionId {
    SessionId::new(format!("ky-hop-{i}")).expect("session id")
}
