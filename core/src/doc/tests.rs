use super::*;
use crate::domain::{compute, Flag};
use proptest::prelude::*;

fn unit() -> UnitId {
    UnitId::new("phong-tho").expect("unit")
}
fn sid(s: &str) -> SubjectId {
    SubjectId::new(s).expect("sid")
}

/// A fresh entries-mode poll with two subjects, created on `device`.
fn fresh(device: &[u8]) -> SessionDoc {
    let session = SessionId::new("ky-hop-15").expect("session");
    let mut d = SessionDoc::new(&unit(), &session, device).expect("new");
    let date = NaiveDate::from_ymd_opt(2023, 12, 8).expect("date");
    d.set_setup(Profile::Nq96_2023, Procedure::Poll, Mode::Entries, date)
        .expect("setup");
    d.set_meta(MetaField::Body, "HĐND huyện Phong Thổ")
        .expect("body");
    for (i, id) in ["s01", "s02"].iter().enumerate() {
        d.put_subject(&Subject {
            id: sid(id),
            person_id: PersonId::new(format!("p-{i}")).expect("pid"),
            name: format!("Người {i}"),
            position: "Phó Chủ tịch".into(),
            unit: "UBND huyện".into(),
            order: i as u64 + 1,
            excluded: None,
        })
        .expect("subject");
    }
    d.commit(1, "setup");
    d
}

fn ballot(n: u32, a: Mark, b: Mark) -> Entry {
    let mut marks = BTreeMap::new();
    marks.insert(sid("s01"), a);
    marks.insert(sid("s02"), b);
    Entry {
        id: format!("{n:08x}"),
        marks,
    }
}

#[test]
fn two_laptops_that_each_create_the_session_merge_cleanly() {
    let mut a = fresh(b"laptop-a");
    let mut b = fresh(b"laptop-b");
    a.set_count(CountField::Total, 30).expect("count");
    b.set_count(CountField::Issued, 25).expect("count");
    a.commit(2, "a");
    b.commit(2, "b");
    a.merge(&mut b).expect("merge");
    let s = a.read().expect("read");
    assert!(s.conflicts.is_empty(), "{:?}", s.conflicts);
    assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
    assert_eq!(s.attendance.total, Some(30));
    assert_eq!(s.ballots.issued, Some(25));
    assert_eq!(s.subjects.len(), 2);
}

#[test]
fn a_concurrent_conflict_on_one_number_is_reported() {
    let mut a = fresh(b"laptop-a");
    let heads = a.heads();
    let mut b = a.at(&heads).expect("fork");
    b.automerge()
        .set_actor(ActorId::from(b"laptop-b".as_slice()));
    a.set_count(CountField::Collected, 49).expect("a");
    b.set_count(CountField::Collected, 48).expect("b");
    a.commit(3, "a");
    b.commit(3, "b");
    a.merge(&mut b).expect("merge");
    let s = a.read().expect("read");
    assert_eq!(
        s.conflicts,
        vec![Conflict {
            field: "ballots.collected".into(),
            values: vec!["48".into(), "49".into()]
        }]
    );
    let r = compute(&s);
    assert!(!r.consistent);
    assert!(r.problems.iter().any(|p| p.code() == "conflict"));
    // Typing the value again resolves it.
    a.set_count(CountField::Collected, 49).expect("fix");
    a.commit(4, "fix");
    assert!(a.read().expect("read").conflicts.is_empty());
}

#[test]
fn the_same_value_typed_twice_is_no_conflict() {
    let mut a = fresh(b"laptop-a");
    let heads = a.heads();
    let mut b = a.at(&heads).expect("fork");
    b.automerge()
        .set_actor(ActorId::from(b"laptop-b".as_slice()));
    a.set_count(CountField::Collected, 49).expect("a");
    b.set_count(CountField::Collected, 49).expect("b");
    a.commit(3, "a");
    b.commit(3, "b");
    a.merge(&mut b).expect("merge");
    assert!(a.read().expect("read").conflicts.is_empty());
}

#[test]
fn save_load_round_trip_and_result_at_heads() {
    let mut a = fresh(b"laptop-a");
    a.add_entry(&ballot(1, Mark::High, Mark::Low), "a")
        .expect("entry");
    a.commit(5, "e1");
    let sealed_heads = a.heads();
    a.add_entry(&ballot(2, Mark::Low, Mark::Low), "a")
        .expect("entry");
    a.commit(6, "e2");
    let bytes = a.save();
    let mut back = SessionDoc::load(&bytes, b"other").expect("load");
    assert_eq!(back.read().expect("read"), a.read().expect("read"));
    assert!(back.has_heads(&sealed_heads));
    let old = back.at(&sealed_heads).expect("at").read().expect("read");
    assert_eq!(old.entries.len(), 1);
    assert!(!back.has_heads(&[[7u8; 32]]));
}

#[test]
fn entries_read_back_in_the_order_they_were_entered_not_by_their_random_id() {
    // Ids that sort backwards: a reader in key order would reverse them.
    let mut a = fresh(b"laptop-a");
    let ids: Vec<String> = (0..12)
        .map(|i| format!("{:08x}", 0xffff_ff00_u32 - i))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        let mut e = ballot(0, Mark::High, Mark::Low);
        e.id = id.clone();
        a.add_entry(&e, "a").expect("entry");
        a.commit(10 + i as i64, "e");
        // Each ballot on its own save and load, as the desk does.
        a = SessionDoc::load(&a.save(), b"laptop-a").expect("load");
    }
    let read: Vec<String> = a
        .read()
        .expect("read")
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(read, ids);
    // Merged with another laptop's later ballot: ours keep their order, theirs follows.
    let mut b = SessionDoc::load(&a.save(), b"laptop-b").expect("fork");
    let mut e = ballot(0, Mark::Low, Mark::Low);
    e.id = "00000000".into();
    b.add_entry(&e, "b").expect("entry");
    b.commit(30, "b");
    a.merge(&mut b).expect("merge");
    let read: Vec<String> = a
        .read()
        .expect("read")
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(read[..12], ids[..]);
    assert_eq!(read[12], "00000000");
}

#[test]
fn loading_garbage_is_an_error_not_a_panic() {
    // Found by the fuzzer: automerge 0.12 panics inside its decoder on these 28 bytes.
    let crash: [u8; 28] = [
        0x85, 0x6f, 0x4a, 0x83, 0x7e, 0xf7, 0x4a, 0x86, 0x03, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x02,
        0x23, 0x02, 0x83, 0x15, 0x00, 0xfa, 0x30, 0xff, 0x1f, 0x00, 0x00, 0x00, 0x00,
    ];
    assert!(SessionDoc::load(&crash, b"x").is_err());
    assert!(SessionDoc::load(b"not automerge", b"x").is_err());
    assert!(SessionDoc::load(&[], b"x").is_err());
    // A valid Automerge document that is not a session.
    let mut other = AutoCommit::new();
    other.put(ROOT, "hello", "world").expect("put");
    assert!(matches!(
        SessionDoc::load(&other.save(), b"x"),
        Err(DocError::Shape(_))
    ));
}

#[test]
fn merging_another_session_is_refused() {
    let mut a = fresh(b"a");
    let mut b = SessionDoc::new(&unit(), &SessionId::new("khac").expect("id"), b"b").expect("new");
    assert!(matches!(
        a.merge(&mut b),
        Err(DocError::OtherSession { .. })
    ));
}

fn any_mark() -> impl Strategy<Value = Mark> {
    prop_oneof![
        Just(Mark::High),
        Just(Mark::Confidence),
        Just(Mark::Low),
        Just(Mark::Invalid)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Ballots entered on three laptops in any split, merged in any order, give the same
    /// result as all of them entered on one laptop.
    #[test]
    fn concurrent_entries_merge_to_the_same_result(
        ballots in prop::collection::vec((any_mark(), any_mark(), 0usize..3), 1..40),
        order in Just(()).prop_perturb(|_, mut rng| {
            let mut o = vec![0usize, 1, 2];
            for i in (1..3).rev() { o.swap(i, (rng.next_u32() as usize) % (i + 1)); }
            o
        }),
    ) {
        let base = fresh(b"base");
        let bytes = { let mut b = base; b.save() };
        let mut laptops: Vec<SessionDoc> = (0..3)
            .map(|i| SessionDoc::load(&bytes, format!("laptop-{i}").as_bytes()).expect("load"))
            .collect();
        let mut single = SessionDoc::load(&bytes, b"single").expect("load");
        let n = ballots.len() as u64;
        for (i, (a, b, who)) in ballots.iter().enumerate() {
            let e = ballot(i as u32, *a, *b);
            laptops[*who].add_entry(&e, "x").expect("entry");
            single.add_entry(&e, "x").expect("entry");
        }
        for (i, l) in laptops.iter_mut().enumerate() { l.commit(10 + i as i64, "entries"); }
        single.set_count(CountField::Collected, n).expect("c");
        single.commit(20, "single");
        laptops[0].set_count(CountField::Collected, n).expect("c");
        laptops[0].commit(21, "collected");

        let mut merged_a = SessionDoc::load(&laptops[order[0]].save(), b"ma").expect("load");
        for &i in &order[1..] { merged_a.merge(&mut laptops[i]).expect("merge"); }
        let mut merged_b = SessionDoc::load(&laptops[2].save(), b"mb").expect("load");
        merged_b.merge(&mut laptops[1]).expect("merge");
        merged_b.merge(&mut laptops[0]).expect("merge");

        let ra = compute(&merged_a.read().expect("read"));
        let rb = compute(&merged_b.read().expect("read"));
        let rs = compute(&single.read().expect("read"));
        prop_assert_eq!(&ra.subjects, &rb.subjects);
        prop_assert_eq!(&ra.subjects, &rs.subjects);
        prop_assert_eq!(merged_a.heads(), merged_b.heads());
        let lows = ballots.iter().filter(|(a, _, _)| *a == Mark::Low).count() as u64;
        prop_assert_eq!(ra.subjects[0].counts[2], lows);
        prop_assert!(ra.subjects.iter().all(|s| s.flag == Flag::None || n > 0));
    }
}

#[test]
fn an_edit_writes_only_what_changed_so_other_fields_merge_cleanly() {
    let mut a = fresh(b"laptop-a");
    let mut b = SessionDoc::load(&a.save(), b"laptop-b").expect("copy");
    let old = a.read().expect("read").subjects[0].clone();
    let mut on_a = old.clone();
    on_a.name = "Nguyễn Văn Sửa".into();
    a.edit_subject(&old, &on_a).expect("edit a");
    a.commit(2, "a");
    let mut on_b = old.clone();
    on_b.position = "Chủ tịch".into();
    b.edit_subject(&old, &on_b).expect("edit b");
    b.commit(2, "b");
    a.merge(&mut b).expect("merge");
    let s = a.read().expect("read");
    assert!(s.conflicts.is_empty(), "{:?}", s.conflicts);
    assert_eq!(s.subjects[0].name, "Nguyễn Văn Sửa");
    assert_eq!(s.subjects[0].position, "Chủ tịch");
}

#[test]
fn removing_a_subject_takes_its_marks_and_keeps_the_ballots() {
    let mut d = fresh(b"laptop-a");
    for n in 0..3 {
        d.add_entry(&ballot(n, Mark::High, Mark::Low), "dev")
            .expect("entry");
    }
    d.commit(2, "ballots");
    let (marks, tally) = d.remove_subject(&sid("s02")).expect("remove");
    d.commit(3, "remove");
    assert_eq!((marks, tally), (3, false));
    let s = d.read().expect("read");
    assert_eq!(s.subjects.len(), 1);
    assert_eq!(s.entries.len(), 3);
    assert!(s.entries.iter().all(|e| !e.marks.contains_key(&sid("s02"))));
    assert!(s.anomalies.is_empty(), "{:?}", s.anomalies);
}

#[test]
fn a_deleted_history_is_known_again_in_any_copy_but_a_fresh_one() {
    let mut a = fresh(b"laptop-a");
    let mut copy = SessionDoc::load(&a.save(), b"laptop-b").expect("copy");
    let gone = a.own_changes().expect("changes");
    assert!(!gone.is_empty());
    assert!(copy.holds_any(&gone));
    // A session made anew with the same id shares only the first, fixed change.
    let session = SessionId::new("ky-hop-15").expect("session");
    let mut anew = SessionDoc::new(&unit(), &session, b"laptop-c").expect("new");
    assert!(!anew.holds_any(&gone));
}

/// One thing a laptop does to its copy, including writes the pages never make (a text
/// in a count, an object where a value belongs, a mark nobody knows), so the readers
/// are compared on anomalies too.
#[derive(Debug, Clone)]
enum Op {
    Count(u8, u64),
    Title(u8),
    Tally(u8, u64),
    Entry(u8, Mark, Mark),
    Mark(u8, u8),
    Name(u8, u8),
    Raw(u8, u8),
}

fn any_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..7, 0u64..60).prop_map(|(f, n)| Op::Count(f, n)),
        (0u8..4).prop_map(Op::Title),
        (0u8..2, 0u64..20).prop_map(|(s, n)| Op::Tally(s, n)),
        (0u8..6, any_mark(), any_mark()).prop_map(|(n, a, b)| Op::Entry(n, a, b)),
        (0u8..6, 0u8..5).prop_map(|(n, m)| Op::Mark(n, m)),
        (0u8..2, 0u8..4).prop_map(|(s, v)| Op::Name(s, v)),
        (0u8..6, 0u8..3).prop_map(|(w, v)| Op::Raw(w, v)),
    ]
}

fn apply(d: &mut SessionDoc, op: &Op) {
    const FIELDS: [CountField; 7] = [
        CountField::Total,
        CountField::Present,
        CountField::AbsentFromStart,
        CountField::PresentAtVote,
        CountField::Issued,
        CountField::Collected,
        CountField::WhollyInvalid,
    ];
    match op {
        Op::Count(f, n) => d.set_count(FIELDS[*f as usize], *n).expect("count"),
        Op::Title(v) => d
            .set_meta(MetaField::Title, &format!("Kỳ họp {v}"))
            .expect("title"),
        Op::Tally(s, n) => d
            .set_tally(
                &sid(["s01", "s02"][*s as usize]),
                Procedure::Poll,
                &Tally {
                    levels: vec![*n, n / 2, n / 3],
                    invalid: n % 3,
                },
            )
            .expect("tally"),
        Op::Entry(n, a, b) => d
            .add_entry(&ballot(u32::from(*n), *a, *b), "x")
            .expect("entry"),
        Op::Mark(n, m) => {
            // Rewrite one mark of a ballot, or write one no page would.
            let doc = d.automerge();
            let Ok(Some((Value::Object(ObjType::Map), eo))) = doc.get(ROOT, "entries") else {
                return;
            };
            let Ok(Some((Value::Object(ObjType::Map), e))) =
                doc.get(&eo, format!("{:08x}", n).as_str())
            else {
                return;
            };
            let Ok(Some((Value::Object(ObjType::Map), marks))) = doc.get(&e, "marks") else {
                return;
            };
            let v = ["high", "confidence", "low", "invalid", "??"][*m as usize];
            doc.put(&marks, "s01", v).expect("mark");
        }
        Op::Name(s, v) => {
            let mut subj = d.read().expect("read").subjects[*s as usize].clone();
            subj.name = format!("Người {v}");
            d.put_subject(&subj).expect("name");
        }
        Op::Raw(w, v) => {
            let doc = d.automerge();
            let (o, key) = match w {
                0 => ("attendance", "total"),
                1 => ("ballots", "issued"),
                2 => ("meta", "place"),
                3 => ("subjects", "s01/order"),
                4 => ("tallies", "s02/high"),
                _ => ("meta", "chair"),
            };
            let Ok(Some((Value::Object(ObjType::Map), o))) = doc.get(ROOT, o) else {
                return;
            };
            match v {
                0 => doc.put(&o, key, "không phải số").map(|_| ()),
                1 => doc.put(&o, key, -3i64).map(|_| ()),
                _ => doc.put_object(&o, key, ObjType::Map).map(|_| ()),
            }
            .expect("raw");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// The one-walk reader gives the same session, conflicts and anomalies (in the same
    /// order) as two lookups per field did, on copies edited concurrently on three
    /// laptops and merged; and reading at earlier heads gives what a fork at those heads
    /// reads (what `seal::check` did before).
    #[test]
    fn the_one_walk_reader_reads_what_lookups_read(
        ops in prop::collection::vec((any_op(), 0usize..3, any::<bool>()), 1..40),
    ) {
        let bytes = { let mut b = fresh(b"base"); b.save() };
        let mut laptops: Vec<SessionDoc> = (0..3)
            .map(|i| SessionDoc::load(&bytes, format!("laptop-{i}").as_bytes()).expect("load"))
            .collect();
        let mut earlier = Vec::new();
        for (t, (op, who, commit)) in ops.iter().enumerate() {
            apply(&mut laptops[*who], op);
            if *commit {
                laptops[*who].commit(10 + t as i64, "op");
                earlier.push(laptops[*who].heads());
            }
        }
        for (i, l) in laptops.iter_mut().enumerate() { l.commit(100 + i as i64, "end"); }
        let (first, rest) = laptops.split_at_mut(1);
        for l in rest { first[0].merge(l).expect("merge"); }
        let merged = &mut first[0];

        let fast = merged.read().expect("read");
        let slow = merged.read_by_lookup().expect("read");
        prop_assert_eq!(&fast, &slow);
        let now = merged.heads();
        prop_assert_eq!(&merged.read_at(&now).expect("read at"), &fast);
        for heads in &earlier {
            let forked = merged.at(heads).expect("fork").read().expect("read");
            prop_assert_eq!(&merged.read_at(heads).expect("read at"), &forked);
        }
    }
}

#[test]
fn reading_at_heads_this_copy_does_not_hold_is_an_error_not_an_earlier_state() {
    let mut a = fresh(b"laptop-a");
    let mut b = SessionDoc::load(&a.save(), b"laptop-b").expect("copy");
    b.set_count(CountField::Total, 30).expect("count");
    b.commit(2, "b");
    let theirs = b.heads();
    assert!(matches!(a.read_at(&theirs), Err(DocError::HeadsMissing)));
    assert!(matches!(a.read_at(&[]), Err(DocError::HeadsMissing)));
    assert_eq!(b.read_at(&theirs).expect("read").attendance.total, Some(30));
}
