//! Seals made by an earlier release still verify: the fixture was sealed before the
//! session had an opening day; adding one later changes the calendar, never the result
//! the seal signed.

use std::path::PathBuf;
use tinnhiem_core::doc::{MetaField, SessionDoc};
use tinnhiem_core::domain::{compute, deadlines};
use tinnhiem_core::seal;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/before-opening-day")
        .join(name)
}

#[test]
fn a_seal_from_before_the_opening_day_still_verifies() {
    let records = tinnhiem_web::paper::read(&fixture("seal.png")).expect("read the QR");
    assert_eq!(records.len(), 1);
    let paper = seal::paper::decode(&records[0]).expect("decode");
    paper.verify().expect("the paper record verifies by itself");
    assert_eq!(
        hex::encode(paper.seal.id()),
        "bc09672bc712ac8e900c41b281d55f5beca53474a094bfc5829359b77424d569"
    );
    let bytes = std::fs::read(fixture("session.automerge")).expect("doc");
    let mut doc = SessionDoc::load(&bytes, b"fixture").expect("load");
    let r = seal::check(&paper.seal, &mut doc).expect("the old seal verifies");
    assert_eq!(r.subjects.len(), 2);

    // Read today: no opening day, so the calendar counts from the vote day.
    let s = doc.read().expect("read");
    assert_eq!(s.meta.opening_date, None);
    let first = &deadlines(&s.meta)[0];
    assert_eq!(
        (first.key, first.due.to_string()),
        ("list_and_reports", "2023-10-24".to_string())
    );

    // The clerk adds the opening day after sealing: the old seal still verifies, the
    // calendar moves, and the result computes to the very digest the seal signed.
    doc.set_meta(MetaField::OpeningDate, "2023-12-06")
        .expect("set");
    doc.commit(1_700_000_000, "ngày khai mạc");
    seal::check(&paper.seal, &mut doc).expect("still verifies");
    let s = doc.read().expect("read");
    assert_eq!(deadlines(&s.meta)[0].due.to_string(), "2023-10-22");
    let canon = seal::canonical_result(&compute(&s), s.meta.mode, &s.meta.body, s.meta.date);
    assert_eq!(seal::result_digest(&canon), paper.seal.body.result_digest);
}
