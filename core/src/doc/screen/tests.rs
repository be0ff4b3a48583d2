use super::*;
use crate::doc::SessionDoc;
use crate::domain::{Entry, Mark, Mode, PersonId, Procedure, Profile, Subject};
use crate::domain::{SessionId, SubjectId, UnitId};
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::AutoCommit;
use chrono::NaiveDate;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::io::Write;

/// A session of `subjects` subjects with `ballots` ballots typed one commit each, then
/// `corrections` ballots removed and typed again.
fn session(subjects: usize, ballots: u32, corrections: u32) -> SessionDoc {
    let unit = UnitId::new("phong-tho").expect("unit");
    let session = SessionId::new("ky-hop-15").expect("session");
    let mut d = SessionDoc::new(&unit, &session, b"laptop").expect("new");
    let date = NaiveDate::from_ymd_opt(2023, 12, 8).expect("date");
    d.set_setup(Profile::Nq96_2023, Procedure::Poll, Mode::Entries, date)
        .expect("setup");
    let ids: Vec<SubjectId> = (0..subjects)
        .map(|i| SubjectId::new(format!("s{i:02}")).expect("sid"))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        d.put_subject(&Subject {
            id: id.clone(),
            person_id: PersonId::new(format!("p-{i}")).expect("pid"),
            name: format!("Người thứ {i}"),
            position: "Phó Chủ tịch".into(),
            unit: "UBND huyện".into(),
            order: i as u64 + 1,
            excluded: None,
        })
        .expect("subject");
    }
    d.commit(1, "setup");
    let marks = [Mark::High, Mark::Confidence, Mark::Low, Mark::Invalid];
    let entry = |n: u32| Entry {
        id: format!("{n:08x}"),
        marks: ids
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), marks[(n as usize + i) % marks.len()]))
            .collect::<BTreeMap<_, _>>(),
    };
    for n in 0..ballots {
        d.add_entry(&entry(n), "laptop").expect("entry");
        d.commit(2 + i64::from(n), "ballot");
    }
    for n in 0..corrections {
        d.remove_entry(&format!("{n:08x}")).expect("remove");
        d.add_entry(&entry(n), "laptop").expect("entry");
        d.commit(1000 + i64::from(n), "correction");
    }
    d
}

/// Every message of a full sync from `from` to an empty peer, and back.
fn sync_messages(from: &mut AutoCommit, to: &mut AutoCommit) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (sync::State::new(), sync::State::new());
    let mut out = Vec::new();
    for _ in 0..20 {
        let mut quiet = true;
        if let Some(m) = from.sync().generate_sync_message(&mut a) {
            let bytes = m.encode();
            to.sync()
                .receive_sync_message(&mut b, sync::Message::decode(&bytes).expect("decode"))
                .expect("receive");
            out.push(bytes);
            quiet = false;
        }
        if let Some(m) = to.sync().generate_sync_message(&mut b) {
            let bytes = m.encode();
            from.sync()
                .receive_sync_message(&mut a, sync::Message::decode(&bytes).expect("decode"))
                .expect("receive");
            out.push(bytes);
            quiet = false;
        }
        if quiet {
            break;
        }
    }
    out
}

#[test]
fn what_automerge_writes_passes_and_the_row_bound_covers_it() {
    let mut d = session(12, 200, 20);
    let bytes = d.save();
    let rows = chunks(&bytes, Limits::SESSION).expect("a saved document passes");
    // At least one row per ballot's mark: the bound is not vacuous.
    assert!(rows >= 12 * 200, "rows {rows}");
    assert!(SessionDoc::load(&bytes, b"other").is_ok());

    // Changes one by one (what a sync message carries) pass too.
    let changes = d.automerge().get_changes(&[]);
    assert!(changes.len() > 200);
    for c in changes {
        chunks(c.raw_bytes(), Limits::SESSION).expect("a change passes");
    }
}

#[test]
fn every_message_of_a_real_sync_passes() {
    let mut a = session(5, 40, 5).automerge().clone();
    let mut b = AutoCommit::new();
    let messages = sync_messages(&mut a, &mut b);
    assert!(messages.len() >= 2, "a sync has at least two messages");
    for m in &messages {
        sync_message(m, Limits::SESSION).expect("a real sync message passes");
        assert!(crate::doc::decode_sync(m).is_ok());
    }
    // Both sides with new changes: the messages carry Bloom filters.
    let mut c = b.fork();
    c.put(automerge::ROOT, "c", 1).expect("put");
    a.put(automerge::ROOT, "a", 1).expect("put");
    for m in sync_messages(&mut a, &mut c) {
        sync_message(&m, Limits::SESSION).expect("an incremental sync message passes");
    }
}

#[test]
fn the_largest_council_fits_the_session_bound() {
    // 500 members, 60 subjects would be 30 000 marks; scaled down 10× for test time, the
    // ratio of rows to marks must leave room for the full size under `Limits::SESSION`.
    let mut d = session(60, 50, 5);
    let rows = chunks(&d.save(), Limits::SESSION).expect("passes");
    let marks = 60 * 55;
    assert!(
        rows * 10 < Limits::SESSION.max_rows / 2,
        "rows {rows} for {marks} marks leaves too little room"
    );
}

/// Found by `cargo fuzz run automerge_doc`: 79 bytes that grew the process past 2 GB
/// inside `Automerge::load`.
const RLE_BOMB: [u8; 79] = [
    133, 111, 74, 131, 255, 19, 19, 67, 3, 61, 1, 208, 114, 208, 208, 1, 1, 19, 19, 19, 67, 3, 61,
    1, 1, 1, 1, 1, 30, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1, 1, 1,
    1, 1, 1, 35, 7, 255, 255, 255, 255, 255, 255, 255, 255, 51, 9, 255, 255, 255, 255, 255, 255,
    255, 58, 133, 39,
];

#[test]
fn a_run_length_bomb_is_refused_before_automerge_sees_it() {
    assert!(chunks(&RLE_BOMB, Limits::SESSION).is_err());
    // A well-formed one: a change whose one delta column says "+1, 2^40 times".
    let mut body = vec![0, 1, 0xaa, 1, 1, 0, 0, 0];
    let run = [0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x02];
    body.extend([1, (1 << 4) | 3, run.len() as u8]);
    body.extend(run);
    let bomb = chunk(1, &body);
    assert_eq!(
        chunks(&bomb, Limits::SESSION),
        Err(ScreenError::TooManyRows {
            limit: Limits::SESSION.max_rows
        })
    );
    // And through the public door, as a document error with a Vietnamese message.
    let e = SessionDoc::load(&bomb, b"x").err().expect("refused");
    assert!(e.to_string().contains("quá lớn"), "{e}");
    assert!(SessionDoc::load(&RLE_BOMB, b"x").is_err());
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(data).expect("deflate");
    z.finish().expect("deflate")
}

fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend([0; 4]);
    out.push(kind);
    let mut n = body.len() as u64;
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
    out.extend(body);
    out
}

#[test]
fn a_deflate_bomb_is_cut_off_at_the_limit() {
    let small = Limits {
        max_rows: 1 << 20,
        max_inflated: 1 << 20,
    };
    let bomb = chunk(2, &deflate(&vec![0u8; 2 << 20]));
    assert!(bomb.len() < 10_000, "the bomb is small: {}", bomb.len());
    assert_eq!(
        chunks(&bomb, small),
        Err(ScreenError::Inflated { limit: 1 << 20 })
    );
    // A real compressed change under the limit is inflated and walked.
    let mut d = session(3, 30, 0);
    let change = d
        .automerge()
        .get_changes(&[])
        .last()
        .cloned()
        .expect("change");
    let raw = change.raw_bytes();
    let mut r = Reader::new(raw);
    r.take(9, "magic, checksum, type").expect("header");
    let len = r.len("length").expect("length");
    let inner = r.take(len, "body").expect("body");
    assert!(chunks(&chunk(2, &deflate(inner)), small).is_ok());
}

#[test]
fn a_bloom_filter_asking_for_a_billion_probes_is_refused() {
    let mut m = vec![0x42, 0, 0, 1, 0];
    let bloom = [1u8, 10, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0];
    m.push(bloom.len() as u8);
    m.extend(bloom);
    m.push(0);
    assert_eq!(
        sync_message(&m, Limits::SESSION),
        Err(ScreenError::Malformed("bloom filter parameters"))
    );
    assert!(crate::doc::decode_sync(&m).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Whatever the bytes, the screen answers (never panics, never allocates past the
    /// inflation limit), and a truncated real document is never accepted as longer.
    #[test]
    fn any_bytes_get_an_answer(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = chunks(&bytes, Limits::SESSION);
        let _ = sync_message(&bytes, Limits::SESSION);
    }

    #[test]
    fn a_truncated_document_is_refused(cut in 1usize..400) {
        let bytes = session(2, 4, 1).save();
        let cut = cut.min(bytes.len() - 1);
        prop_assert!(chunks(&bytes[..cut], Limits::SESSION).is_err());
    }
}
