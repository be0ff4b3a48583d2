//! Sealed session documents shaped like real councils' (issue 15), for `tinnhiem-bench`.
//!
//! Every document is made the way a district node makes it: imported from a session file
//! (`SessionDoc::from_session`), then edited one clerk's action at a time, each a commit
//! of its own as `Desk::save` does (a tally per subject, a ballot per entry), the copies
//! of several laptops merged with `SessionDoc::merge` as `doc merge` does, then sealed
//! with `seal_doc`. What reaches the hub is therefore the change history a real session
//! has, not one flat change: Automerge's cost on the hub depends on that history.

use anyhow::{anyhow, Result};
use serde_json::json;
use std::collections::BTreeMap;
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::{Entry, Mark, Procedure, SessionFile, SubjectId, Tally, UnitId};
use tinnhiem_core::seal::{seal_doc, Seal, UnitKey};

/// A kind of session document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// One subject, its tally imported with the file: today's ingest benchmark.
    OneSubject,
    /// 30 subjects polled, their tallies typed from paper one subject at a time.
    Tallies30,
    /// 50 ballots × 30 marks, each ballot entered on one laptop as its own change.
    Ballots50,
    /// The same 50 ballots × 30 marks entered on 5 laptops (10 each), merged.
    Merged5,
}

/// Subjects on a realistic ballot.
const SUBJECTS: usize = 30;
/// Delegates present and ballots collected in a realistic session.
const BALLOTS: u64 = 50;
/// Laptops entering ballots of one session in [`Workload::Merged5`].
const LAPTOPS: usize = 5;

impl Workload {
    /// Every workload, the realistic ones first.
    pub const ALL: [Workload; 4] = [
        Workload::Tallies30,
        Workload::Ballots50,
        Workload::Merged5,
        Workload::OneSubject,
    ];

    /// The name used on the command line (`--workloads`).
    pub fn key(self) -> &'static str {
        match self {
            Workload::OneSubject => "one-subject",
            Workload::Tallies30 => "tallies-30",
            Workload::Ballots50 => "ballots-50x30",
            Workload::Merged5 => "merged-5-laptops",
        }
    }

    /// Parses [`Workload::key`].
    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.key() == s)
    }

    /// What a row of the table says it is.
    pub fn describe(self) -> &'static str {
        match self {
            Workload::OneSubject => "1 subject, tally imported (one change)",
            Workload::Tallies30 => "30 subjects, tallies typed one by one (31 changes)",
            Workload::Ballots50 => "50 ballots × 30 marks, one laptop (51 changes)",
            Workload::Merged5 => {
                "50 ballots × 30 marks from 5 laptops, merged (51 changes, 5 actors)"
            }
        }
    }

    /// Session `n` of `unit`, built and sealed with `key`: the sealed document's saved
    /// bytes (as the node stores them) and its seal.
    pub fn sealed(self, unit: &UnitId, n: usize, key: &UnitKey) -> Result<(Vec<u8>, Seal)> {
        let session = format!("ky-{n:03}");
        let mut doc = match self {
            Workload::OneSubject => {
                let f = crate::session_file(&session, 10 + (n as u64 % 15));
                import(&f, unit, b"may-0")?
            }
            Workload::Tallies30 => tallies(unit, &session, n)?,
            Workload::Ballots50 => {
                let mut d = import(&entries_file(&session), unit, b"may-0")?;
                enter(&mut d, &session, n, 0..BALLOTS as usize, "may-0")?;
                d
            }
            Workload::Merged5 => merged(unit, &session, n)?,
        };
        let (seal, _) =
            seal_doc(&mut doc, key, 1, NOW + 3600).map_err(|p| anyhow!("not sealable: {p:?}"))?;
        Ok((doc.save(), seal))
    }
}

/// The sessions' edit time (2023-12-08, Vietnam afternoon), unix seconds.
const NOW: i64 = 1_702_018_800;

fn import(file: &str, unit: &UnitId, device: &[u8]) -> Result<SessionDoc> {
    let s = SessionFile::from_json(file)
        .map_err(|e| anyhow!("{e:?}"))?
        .into_session(unit, || "e".into())
        .map_err(|e| anyhow!("{e:?}"))?;
    Ok(SessionDoc::from_session(&s, device, NOW)?)
}

/// A session file of 30 subjects and no results yet, in `mode`.
fn file(session: &str, mode: &str) -> String {
    let subjects: Vec<_> = (1..=SUBJECTS)
        .map(|i| {
            json!({
                "id": format!("s{i:02}"),
                "person_id": format!("p-{i:02}"),
                "name": format!("{} {}", NAMES[i % NAMES.len()], GIVEN[i % GIVEN.len()]),
                "position": POSTS[i % POSTS.len()],
                "unit": "HĐND huyện",
            })
        })
        .collect();
    json!({
        "id": session,
        "profile": "nq96-2023",
        "procedure": "poll",
        "mode": mode,
        "body": "Hội đồng nhân dân huyện",
        "title": "Kỳ họp thứ bảy, Hội đồng nhân dân huyện khóa XX",
        "date": "2023-12-08",
        "place": "Hội trường Huyện ủy",
        "attendance": {"total": BALLOTS, "present": BALLOTS, "absent_from_start": 0, "present_at_vote": BALLOTS},
        "ballots": {"issued": BALLOTS, "collected": BALLOTS, "wholly_invalid": 0},
        "count_from": "14:05",
        "count_to": "15:40",
        "chair": "Lò Thị Hoa",
        "board": ["Lò Thị Hoa", "Vàng A Sình", "Nguyễn Thị Mai"],
        "subjects": subjects,
    })
    .to_string()
}

fn entries_file(session: &str) -> String {
    file(session, "entries")
}

const NAMES: [&str; 6] = [
    "Nguyễn Văn",
    "Lò Thị",
    "Trần Đức",
    "Vàng A",
    "Phạm Thị",
    "Hoàng Văn",
];
const GIVEN: [&str; 7] = ["An", "Bình", "Chiến", "Dung", "Hạnh", "Khoa", "Sình"];
const POSTS: [&str; 4] = [
    "Chủ tịch Hội đồng nhân dân",
    "Phó Chủ tịch Ủy ban nhân dân",
    "Trưởng ban Kinh tế - Xã hội",
    "Ủy viên Ủy ban nhân dân",
];

/// 30 subjects imported, then each subject's tally typed and saved on its own.
fn tallies(unit: &UnitId, session: &str, n: usize) -> Result<SessionDoc> {
    let mut d = import(&file(session, "tallies"), unit, b"may-0")?;
    for i in 1..=SUBJECTS {
        let sid = SubjectId::new(format!("s{i:02}"))?;
        let low = ((i + n) % 4) as u64;
        let invalid = u64::from((i + n).is_multiple_of(3));
        let high = 20 + ((i * 7 + n) % 20) as u64;
        let t = Tally {
            levels: vec![high, BALLOTS - high - low - invalid, low],
            invalid,
        };
        d.set_tally(&sid, Procedure::Poll, &t)?;
        d.commit(NOW + i as i64 * 60, &format!("ghi kết quả của {sid}"));
    }
    Ok(d)
}

/// Ballots `range` of session `n` entered on `device`, each saved as its own change.
fn enter(
    d: &mut SessionDoc,
    session: &str,
    n: usize,
    range: std::ops::Range<usize>,
    device: &str,
) -> Result<()> {
    for b in range {
        let mut marks = BTreeMap::new();
        for i in 1..=SUBJECTS {
            let mark = match (b * 31 + i * 7 + n) % 10 {
                0..=5 => Mark::High,
                6..=8 => Mark::Confidence,
                _ => Mark::Low,
            };
            // Now and then a subject's box left empty: invalid for that subject only.
            if (b + i + n).is_multiple_of(37) {
                continue;
            }
            marks.insert(SubjectId::new(format!("s{i:02}"))?, mark);
        }
        let e = Entry {
            id: entry_id(session, n, b),
            marks,
        };
        d.add_entry(&e, device)?;
        d.commit(NOW + b as i64 * 20, "nhập một phiếu");
    }
    Ok(())
}

/// A 32-hex-digit entry id, as random as the node's, but the same in every run.
fn entry_id(session: &str, n: usize, b: usize) -> String {
    let mut x: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c834;
    for byte in session
        .bytes()
        .chain((n as u64).to_be_bytes())
        .chain((b as u64).to_be_bytes())
    {
        x = (x ^ u128::from(byte)).wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    format!("{x:032x}")
}

/// One laptop imports the session; its file is copied to four more (`doc merge` of a
/// new session takes the file as it is); each laptop enters 10 ballots; the first merges
/// the other four's files.
fn merged(unit: &UnitId, session: &str, n: usize) -> Result<SessionDoc> {
    let mut first = import(&entries_file(session), unit, b"may-0")?;
    let copy = first.save();
    let per = BALLOTS as usize / LAPTOPS;
    enter(&mut first, session, n, 0..per, "may-0")?;
    for l in 1..LAPTOPS {
        let device = format!("may-{l}");
        let mut other = SessionDoc::load(&copy, device.as_bytes())?;
        enter(&mut other, session, n, l * per..(l + 1) * per, &device)?;
        // The file travels saved, as on a USB stick.
        let mut theirs = SessionDoc::load(&other.save(), b"import")?;
        first.merge(&mut theirs)?;
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_workload_seals_and_verifies() {
        let unit = UnitId::new("huyen-000").expect("unit");
        let key = UnitKey::from_seed([3; 32]);
        for w in Workload::ALL {
            let (bytes, seal) = w.sealed(&unit, 1, &key).expect("sealed");
            let mut doc = SessionDoc::load(&bytes, b"hub").expect("load");
            let r = tinnhiem_core::seal::check(&seal, &mut doc).expect("check");
            let subjects = if w == Workload::OneSubject { 1 } else { 30 };
            assert_eq!(r.subjects.len(), subjects, "{w:?}");
            assert!(r.sealable(), "{w:?}: {:?}", r.problems);
        }
    }
}
