//! The plain copies of sealed minutes in `HOME/sealed/` (`SESSION.SEQ.automerge`,
//! `SESSION.SEQ.seal`), kept so that sealed minutes stay readable without the store.
//!
//! They are derived from the store, never the other way round. The store commits a seal
//! first; the copies follow. When they cannot be written (a full disk), the seal still
//! stands and every later command rewrites the missing ones from the store
//! ([`rebuild_missing`]). A copy that is there but differs from the store is never
//! rewritten or trusted: `verify`, `backup` and `restore` name it ([`check`]), since a
//! changed copy is either a damaged disk or someone's doing, and the clerk must see it.

use crate::home::write_atomic;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tinnhiem_core::doc::SessionDoc;
use tinnhiem_core::domain::SessionId;
use tinnhiem_core::seal::{self, Seal};
use tinnhiem_store::faults::{check_env, Io};
use tinnhiem_store::{Store, Table};

/// The two copies of seal `seq` of `session`.
pub(crate) fn files(dir: &Path, session: &SessionId, seq: u32) -> [PathBuf; 2] {
    [
        dir.join(format!("{session}.{seq}.automerge")),
        dir.join(format!("{session}.{seq}.seal")),
    ]
}

/// Writes both copies of a seal made on `doc` (the document's bytes at the seal).
pub(crate) fn write(dir: &Path, session: &SessionId, sealed: &Seal, doc: &[u8]) -> Result<()> {
    let [am, sf] = files(dir, session, sealed.body.seq);
    check_env(Io::Copy).with_context(|| format!("không ghi được {}", am.display()))?;
    write_atomic(&am, doc)?;
    write_atomic(&sf, &sealed.to_bytes())?;
    Ok(())
}

/// Writes every copy missing from `dir` from the store: the seal as stored, the
/// document as it was at the seal's heads. Returns the files written. A copy that is
/// there is left alone, whatever it holds (see [`check`]).
pub(crate) fn rebuild_missing(dir: &Path, store: &Store) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    // The seals table alone (small), documents only for what is missing.
    let mut docs: std::collections::BTreeMap<SessionId, SessionDoc> = Default::default();
    for (_, v) in store.scan_table(Table::Seals, b"")? {
        let s = Seal::from_bytes(&v)?;
        let sid = SessionId::new(s.body.session.clone())?;
        let [am, sf] = files(dir, &sid, s.body.seq);
        if !am.exists() {
            if !docs.contains_key(&sid) {
                let Some(bytes) = store.doc(&sid)? else {
                    continue;
                };
                docs.insert(sid.clone(), SessionDoc::load(&bytes, &[0; 16])?);
            }
            let Some(d) = docs.get_mut(&sid) else {
                continue;
            };
            if !d.has_heads(&s.body.heads) {
                continue;
            }
            let bytes = d.at(&s.body.heads)?.save();
            check_env(Io::Copy).with_context(|| format!("không ghi được {}", am.display()))?;
            write_atomic(&am, &bytes)?;
            written.push(am);
        }
        if !sf.exists() {
            check_env(Io::Copy).with_context(|| format!("không ghi được {}", sf.display()))?;
            write_atomic(&sf, &s.to_bytes())?;
            written.push(sf);
        }
    }
    Ok(written)
}

/// A copy that does not match the store.
#[derive(Debug)]
pub(crate) struct Bad {
    /// The file.
    pub(crate) file: PathBuf,
    /// How it differs, in Vietnamese.
    pub(crate) why: String,
}

impl std::fmt::Display for Bad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.why)
    }
}

/// Every copy in `dir` (of `only` one session, or all) that differs from the store or
/// is missing: the seal file must be the stored seal byte for byte; the document must
/// load, stop at the seal's heads and give the sealed result (so that a copy that still
/// passes is, change for change, what was sealed). Copies naming a seal the store does
/// not have are named too.
pub(crate) fn check(dir: &Path, store: &Store, only: Option<&SessionId>) -> Result<Vec<Bad>> {
    let mut bad = Vec::new();
    let sessions = match only {
        Some(s) => vec![s.clone()],
        None => store.sessions()?,
    };
    let mut known = std::collections::BTreeSet::new();
    for sid in &sessions {
        for s in store.seals(sid)? {
            let [am, sf] = files(dir, sid, s.body.seq);
            known.insert(am.clone());
            known.insert(sf.clone());
            match std::fs::read(&sf) {
                Err(_) => bad.push(Bad {
                    file: sf,
                    why: "thiếu (chưa ghi lại được từ kho)".into(),
                }),
                Ok(b) if b != s.to_bytes() => bad.push(Bad {
                    file: sf,
                    why: format!(
                        "KHÁC với niêm phong lần {} trong kho: bản sao này đã bị sửa hoặc hỏng, không dùng được",
                        s.body.seq
                    ),
                }),
                Ok(_) => {}
            }
            match std::fs::read(&am) {
                Err(_) => bad.push(Bad {
                    file: am,
                    why: "thiếu (chưa ghi lại được từ kho)".into(),
                }),
                Ok(b) => {
                    if let Some(why) = doc_differs(&b, &s) {
                        bad.push(Bad {
                            file: am,
                            why: format!(
                                "KHÁC với biên bản đã niêm phong lần {} ({why}): bản sao này đã bị sửa hoặc hỏng, không dùng được",
                                s.body.seq
                            ),
                        });
                    }
                }
            }
        }
    }
    // Copies of seals the store does not hold.
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            // SESSION.SEQ.automerge or SESSION.SEQ.seal (a session id may hold dots).
            let Some(stem) = name
                .strip_suffix(".automerge")
                .or_else(|| name.strip_suffix(".seal"))
            else {
                continue;
            };
            let Some((session, _seq)) = stem.rsplit_once('.') else {
                continue;
            };
            let ours = match only {
                Some(s) => session == s.as_str(),
                None => true,
            };
            if ours && !known.contains(&p) {
                bad.push(Bad {
                    file: p,
                    why: "không ứng với niêm phong nào trong kho".into(),
                });
            }
        }
    }
    Ok(bad)
}

fn doc_differs(bytes: &[u8], sealed: &Seal) -> Option<String> {
    let mut d = match SessionDoc::load(bytes, &[0; 16]) {
        Ok(d) => d,
        Err(e) => return Some(format!("không đọc được: {e}")),
    };
    let mut want = sealed.body.heads.clone();
    want.sort_unstable();
    if d.heads() != want {
        return Some("nội dung không dừng ở đúng thời điểm niêm phong".into());
    }
    seal::check(sealed, &mut d).err().map(|e| e.to_string())
}
