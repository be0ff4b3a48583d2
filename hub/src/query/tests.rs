//! The queries against a real store on disk: seals, documents and receipts written as
//! ingest writes them, the registry as `registry add` writes it.

use super::deadlines::{deadlines, DeadlineState, ReportState};
use super::paper::{ingest_paper, papers, PaperState};
use super::person::person;
use super::rejections::rejections;
use super::results::{flagged, results};
use super::sessions::sessions;
use super::status::{counts, status};
use super::{Hub, ResultCache};
use crate::keys::{doc_key, reject_key, seal_key};
use crate::registry::{self, Entry};
use chrono::NaiveDate;
use std::time::Duration;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{SessionFile, UnitId};
use tinnhiem_core::seal::{canonical_result, paper, seal_doc, LogPosition, Receipt, Seal, UnitKey};
use tinnhiem_store::{BackendKind, Store, Table, Write};

const HUB: &str = "lai-chau";

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    cache: ResultCache,
    hub_key: UnitKey,
    index: std::cell::Cell<u64>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(&dir.path().join("store"), BackendKind::Redb, Duration::ZERO)
            .expect("store");
        Fixture {
            _dir: dir,
            store,
            cache: ResultCache::default(),
            hub_key: UnitKey::from_seed([1; 32]),
            index: Default::default(),
        }
    }

    fn hub(&self) -> Hub<'_> {
        Hub {
            store: &self.store,
            unit: HUB,
            cache: &self.cache,
        }
    }

    /// `registry add` of a district with the key seeded by `seed`.
    fn register(&self, unit: &str, name: &str, seed: u8) {
        let e = Entry {
            id: unit.into(),
            parent: HUB.into(),
            name: Some(name.into()),
            level: Some("district".into()),
            key: Some(UnitKey::from_seed([seed; 32]).public().to_hex()),
            keys: vec![],
            enrollment: None,
        };
        registry::add(&self.store, &[e], false).expect("register");
    }

    /// A session of `unit` sealed with its key and accepted at `received_at`, as ingest
    /// and the committer store it.
    fn accept(&self, unit: &str, seed: u8, session: &str, date: &str, low: u64, received_at: i64) {
        let (seal, mut doc, _) = sealed(unit, seed, session, date, low, 1, received_at - 60);
        self.store_accepted(unit, session, &seal, &mut doc, received_at);
    }

    fn store_accepted(
        &self,
        unit: &str,
        session: &str,
        seal: &Seal,
        doc: &mut SessionDoc,
        received_at: i64,
    ) {
        let index = self.index.get();
        self.index.set(index + 1);
        let at = LogPosition {
            index,
            tree_size: index + 1,
            root: [0; 32],
            inclusion: vec![],
        };
        let receipt = Receipt::sign(&self.hub_key, seal, received_at, &at);
        self.store
            .batch(&[
                Write::Put(Table::Docs, doc_key(unit, session), doc.save()),
                Write::Put(
                    Table::Seals,
                    seal_key(unit, session, seal.body.seq),
                    seal.to_bytes(),
                ),
                Write::Put(Table::Receipts, seal.id().to_vec(), receipt.to_bytes()),
            ])
            .expect("store");
    }
}

/// A session of `unit` sealed by the key seeded by `seed`: the seal, the document, and
/// the paper record (QR bytes) of that seal.
fn sealed(
    unit: &str,
    seed: u8,
    session: &str,
    date: &str,
    low: u64,
    seq: u32,
    sealed_at: i64,
) -> (Seal, SessionDoc, Vec<u8>) {
    let file = format!(
        r#"{{"id": "{session}", "profile": "nq96-2023", "procedure": "poll",
  "body": "HĐND huyện", "date": "{date}",
  "attendance": {{"total": 30, "present": 30, "absent_from_start": 0, "present_at_vote": 30}},
  "ballots": {{"issued": 30, "collected": 30, "wholly_invalid": 0}},
  "subjects": [{{"id": "s01", "person_id": "p-1", "name": "Nguyễn Văn An", "position": "Chủ tịch", "unit": "UBND"}}],
  "tallies": {{"s01": {{"high": 5, "confidence": {}, "low": {low}, "invalid": 0}}}}}}"#,
        25 - low
    );
    let unit_id = UnitId::new(unit).expect("unit");
    let s = SessionFile::from_json(&file)
        .expect("json")
        .into_session(&unit_id, || "e".into())
        .expect("valid");
    let mut doc = SessionDoc::from_session(&s, b"dev", 1_700_000_000).expect("doc");
    let key = UnitKey::from_seed([seed; 32]);
    let (seal, r) = seal_doc(&mut doc, &key, seq, sealed_at).expect("sealable");
    let meta = doc.read().expect("read").meta;
    let canon = canonical_result(&r, meta.mode, &meta.body, meta.date);
    let record = paper::encode(&seal, &canon);
    (seal, doc, record)
}

/// Unix seconds of a day at noon, Vietnam time.
fn day(y: i32, m: u32, d: u32) -> i64 {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(5, 0, 0))
        .expect("day")
        .and_utc()
        .timestamp()
}

fn today(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("day")
}

#[test]
fn status_counts_each_expected_unit_once_and_names_the_next_report() {
    let f = Fixture::new();
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    f.register("lai-chau.sin-ho", "Sìn Hồ", 3);
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-1",
        "2023-12-08",
        0,
        day(2023, 12, 20),
    );
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-2",
        "2023-12-09",
        20,
        day(2023, 12, 21),
    );
    let s = status(f.hub(), today(2024, 1, 10)).expect("status");
    assert_eq!(
        (s.units_expected, s.units_reported, s.seals_accepted),
        (2, 1, 2)
    );
    let pt = &s.units[0];
    assert_eq!(pt.unit, "lai-chau.phong-tho");
    assert!(pt.reported);
    assert_eq!((pt.sessions, pt.seals), (2, 2));
    assert_eq!(pt.last_received_at, Some(day(2023, 12, 21)));
    assert!(!s.units[1].reported);
    assert_eq!(s.units[1].last_received_at, None);
    let next = s.next_report.clone().expect("a report is due");
    assert_eq!(
        (next.period, next.state, next.days),
        (2023, ReportState::Due, 5)
    );
    assert_eq!(next.missing.len(), 1);
    // The JSON keeps the names the pages and scripts read.
    let v = serde_json::to_value(&s).expect("json");
    assert_eq!(v["units"][1]["paper_only"], 0);
    assert_eq!(v["next_report"]["state"], "due");
    let c = counts(&f.store, HUB).expect("counts");
    assert_eq!(
        (c.units_expected, c.units_reported, c.seals_accepted),
        (2, 1, 2)
    );
}

#[test]
fn a_period_is_met_only_when_every_unit_reported_by_the_due_day() {
    let f = Fixture::new();
    let on = |t| deadlines(f.hub(), t).expect("deadlines").periods;
    // No unit registered: its own state, never "met".
    assert_eq!(on(today(2024, 2, 1))[0].state, ReportState::NoUnits);
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    f.register("lai-chau.sin-ho", "Sìn Hồ", 3);
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-1",
        "2023-12-08",
        0,
        day(2023, 12, 20),
    );
    assert_eq!(on(today(2024, 1, 10))[0].state, ReportState::Due);
    assert_eq!(on(today(2024, 1, 15))[0].days, 0);
    assert_eq!(on(today(2024, 1, 16))[0].state, ReportState::Overdue);
    // Sìn Hồ reports after the due day: every unit in, one late.
    f.accept(
        "lai-chau.sin-ho",
        3,
        "ky-hop-1",
        "2023-12-10",
        0,
        day(2024, 1, 20),
    );
    let p = &on(today(2024, 2, 1))[0];
    assert_eq!(p.state, ReportState::Late);
    assert_eq!(p.late[0].unit, "lai-chau.sin-ho");
    assert_eq!(p.late[0].reported_on, Some(today(2024, 1, 20)));
    assert_eq!((p.units_reported, p.units_on_time), (2, 1));
    let json = serde_json::to_value(p).expect("json");
    assert_eq!(json["state"], "late");
    assert_eq!(json["report_due"], "2024-01-15");
}

#[test]
fn session_deadlines_are_sorted_and_stated_on_the_day_asked() {
    let f = Fixture::new();
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-1",
        "2023-12-08",
        0,
        day(2023, 12, 20),
    );
    let d = deadlines(f.hub(), today(2023, 12, 8)).expect("deadlines");
    assert!(!d.sessions.is_empty());
    assert!(d.sessions.windows(2).all(|w| w[0].due <= w[1].due));
    for s in &d.sessions {
        let want = match (s.due - today(2023, 12, 8)).num_days() {
            n if n < 0 => DeadlineState::Passed,
            0 => DeadlineState::DueToday,
            _ => DeadlineState::Due,
        };
        assert_eq!(s.state, want, "{s:?}");
    }
    assert!(d
        .sessions
        .iter()
        .any(|s| s.state == DeadlineState::DueToday));
    let json = serde_json::to_value(&d).expect("json");
    assert!(json["sessions"]
        .as_array()
        .expect("list")
        .iter()
        .any(|s| s["state"] == "due_today"));
}

#[test]
fn results_are_computed_once_per_seal_and_kept_by_the_hubs_cache() {
    let f = Fixture::new();
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-1",
        "2023-12-08",
        0,
        day(2023, 12, 20),
    );
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-2",
        "2023-12-09",
        20,
        day(2023, 12, 21),
    );
    assert_eq!(f.cache.len(), 0);
    assert_eq!(sessions(&f.store, &f.cache).expect("sessions").len(), 2);
    assert_eq!(f.cache.len(), 2);
    // Answered from the cache: the documents are no longer read.
    f.store
        .batch(&[Write::Put(
            Table::Docs,
            doc_key("lai-chau.phong-tho", "ky-hop-1"),
            b"not a document".to_vec(),
        )])
        .expect("overwrite");
    assert_eq!(sessions(&f.store, &f.cache).expect("cached").len(), 2);
    // A cache of its own (a command run without the server) reads the store.
    assert!(sessions(&f.store, &ResultCache::default()).is_err());

    let r = results(f.hub()).expect("results");
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].seal.seq, 1);
    assert_eq!(r[0].result["session"], "ky-hop-1");
    let flagged = flagged(f.hub()).expect("flagged");
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!(flagged[0].session, "ky-hop-2");
    assert!(!flagged[0].unflagged());
    assert!(flagged[0].consequence.is_some());
}

#[test]
fn a_person_is_found_by_id_or_by_name_without_diacritics() {
    let f = Fixture::new();
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    f.register("lai-chau.sin-ho", "Sìn Hồ", 3);
    f.accept(
        "lai-chau.phong-tho",
        2,
        "ky-hop-1",
        "2023-12-08",
        0,
        day(2023, 12, 20),
    );
    f.accept(
        "lai-chau.sin-ho",
        3,
        "ky-hop-1",
        "2023-12-09",
        0,
        day(2023, 12, 21),
    );
    let by_id = person(f.hub(), "p-1").expect("person");
    assert_eq!(by_id.people.len(), 1);
    assert_eq!(by_id.people[0].places, 2);
    assert_eq!(by_id.people[0].name, "Nguyễn Văn An");
    let by_name = person(f.hub(), "nguyen van an").expect("person");
    assert_eq!(by_name.people.len(), 1);
    assert!(person(f.hub(), "khong ai").expect("none").people.is_empty());
}

#[test]
fn rejections_of_both_record_formats_are_counted_and_transient_ones_skipped() {
    let f = Fixture::new();
    let new = r#"{"unit":"a","reason":"wrong_key","count":3,"first":10,"last":30,"sample":{"session":"s","seal_id":"00","detail":"d"}}"#;
    let old = r#"{"unit":"b","session":"s2","seal_id":"11","reason":"bad_signature","detail":"x","at":20}"#;
    let transient = r#"{"unit":"c","reason":"unavailable","count":9,"first":1,"last":40}"#;
    f.store
        .batch(&[
            Write::Put(Table::Rejects, reject_key("a", "wrong_key"), new.into()),
            Write::Put(Table::Rejects, b"1700000000".to_vec(), old.into()),
            Write::Put(
                Table::Rejects,
                reject_key("c", "unavailable"),
                transient.into(),
            ),
        ])
        .expect("store");
    let r = rejections(&f.store).expect("rejections");
    assert_eq!(r.len(), 2);
    assert_eq!((r[0].unit.as_str(), r[0].count, r[0].at), ("a", 3, 30));
    assert_eq!(r[0].detail, "d");
    assert_eq!((r[1].unit.as_str(), r[1].count, r[1].first), ("b", 1, 20));
    assert_eq!(r[1].session, "s2");
    assert_eq!(counts(&f.store, HUB).expect("counts").seals_rejected, 4);
}

#[test]
fn paper_states_have_their_wire_names() {
    for (s, name) in [
        (PaperState::Superseded, "superseded"),
        (PaperState::Matched, "matched"),
        (PaperState::Differs, "differs"),
        (PaperState::PaperOnly, "paper_only"),
    ] {
        assert_eq!(serde_json::to_value(s).expect("json"), name);
    }
}

#[test]
fn a_paper_record_waits_for_its_document_and_is_then_matched_or_superseded() {
    let f = Fixture::new();
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    let unit = "lai-chau.phong-tho";
    let (seal, mut doc, record) = sealed(unit, 2, "ky-hop-1", "2023-12-08", 0, 1, day(2023, 12, 9));
    let taken = ingest_paper(&f.store, &record, day(2023, 12, 10)).expect("paper");
    assert!(!taken.digital);
    let state = || papers(&f.store).expect("papers")[0].state;
    assert_eq!(state(), PaperState::PaperOnly);
    let s = status(f.hub(), today(2023, 12, 11)).expect("status");
    assert_eq!((s.units[0].paper_only, s.units[0].reported), (1, false));
    // The document arrives with the same seal.
    f.store_accepted(unit, "ky-hop-1", &seal, &mut doc, day(2023, 12, 12));
    assert_eq!(state(), PaperState::Matched);
    assert_eq!(
        status(f.hub(), today(2023, 12, 13)).expect("status").units[0].paper_only,
        0
    );
    // A later seal of the session: the paper is no longer the current result, and a
    // paper of the older seal is refused.
    let (seal2, mut doc2, _) = sealed(unit, 2, "ky-hop-1", "2023-12-08", 0, 2, day(2023, 12, 14));
    f.store_accepted(unit, "ky-hop-1", &seal2, &mut doc2, day(2023, 12, 15));
    let p = &papers(&f.store).expect("papers")[0];
    assert_eq!(
        (p.state, p.superseded_by),
        (PaperState::Superseded, Some(2))
    );
    assert!(ingest_paper(&f.store, &record, day(2023, 12, 16)).is_err());
}

#[test]
fn a_paper_of_a_seal_other_than_the_documents_differs() {
    let f = Fixture::new();
    f.register("lai-chau.phong-tho", "Phong Thổ", 2);
    let unit = "lai-chau.phong-tho";
    let (_, _, record) = sealed(unit, 2, "ky-hop-1", "2023-12-08", 0, 1, day(2023, 12, 9));
    ingest_paper(&f.store, &record, day(2023, 12, 10)).expect("paper");
    // Sealed again at seq 1 at another time: another seal of the same seq.
    let (other, mut doc, _) = sealed(unit, 2, "ky-hop-1", "2023-12-08", 0, 1, day(2023, 12, 11));
    f.store_accepted(unit, "ky-hop-1", &other, &mut doc, day(2023, 12, 12));
    assert_eq!(
        papers(&f.store).expect("papers")[0].state,
        PaperState::Differs
    );
    // A paper of a unit the hub does not know is refused.
    let (_, _, stranger) = sealed(
        "dien-bien.x",
        9,
        "ky-hop-1",
        "2023-12-08",
        0,
        1,
        day(2023, 12, 9),
    );
    assert!(ingest_paper(&f.store, &stranger, day(2023, 12, 10)).is_err());
}
