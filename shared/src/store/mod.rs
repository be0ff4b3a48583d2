//! The sled store both binaries use. Every sled call of the project is in this module.
//!
//! Trees: `meta` (store version, device actor), `docs` (session → saved Automerge
//! bytes), `seals` (session ‖ 0 ‖ seq big-endian → seal bytes), `audit` (time-ordered
//! log of who did what).
//!
//! Durability: every public write that a caller reports as done is followed by
//! [`Store::flush`] inside the same call, so an acknowledged write survives `kill -9`
//! and power loss (sled's flush is an fsync of its log). A seal and the document bytes
//! it names are written in one transaction: after a crash either both are there or
//! neither is.

use crate::domain::SessionId;
use crate::seal::Seal;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The on-disk format this build writes. Bumped with a migration in [`Store::open`].
pub const STORE_VERSION: u64 = 1;

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store open.
    #[error("kho dữ liệu {0} đang được một tiến trình khác dùng (ví dụ `sync --daemon` hoặc `serve`); hãy dừng tiến trình đó hoặc thử lại")]
    Locked(PathBuf),
    /// sled reports corruption or an unreadable file.
    #[error("kho dữ liệu {path} bị hỏng hoặc không đọc được: {detail}. Không ghi gì thêm; hãy khôi phục từ bản sao lưu gần nhất (các biên bản đã niêm phong còn ở thư mục sealed/)")]
    Corrupt {
        /// Which store.
        path: PathBuf,
        /// sled's words.
        detail: String,
    },
    /// Written by a newer version of tinnhiem.
    #[error("kho dữ liệu có phiên bản {found}, bản này chỉ đọc được đến {STORE_VERSION}; hãy cập nhật phần mềm")]
    NewerVersion {
        /// The version found.
        found: u64,
    },
    /// An OS error.
    #[error("lỗi đọc/ghi kho dữ liệu: {0}")]
    Io(String),
    /// A value stored under a key does not decode.
    #[error("bản ghi {key} trong kho không đọc được: {detail}")]
    BadRecord {
        /// The key.
        key: String,
        /// Why.
        detail: String,
    },
    /// The session already exists (on create).
    #[error("phiên «{0}» đã có")]
    Exists(String),
}

fn from_sled(path: &Path, e: sled::Error) -> StoreError {
    match e {
        sled::Error::Io(io)
            if io.kind() == std::io::ErrorKind::WouldBlock || io.to_string().contains("lock") =>
        {
            StoreError::Locked(path.to_owned())
        }
        sled::Error::Io(io) => StoreError::Io(io.to_string()),
        sled::Error::Corruption { .. } | sled::Error::Unsupported(_) | sled::Error::ReportableBug(_) => {
            StoreError::Corrupt { path: path.to_owned(), detail: e.to_string() }
        }
        sled::Error::CollectionNotFound(_) => StoreError::Io(e.to_string()),
    }
}

/// An open store.
pub struct Store {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    docs: sled::Tree,
    seals: sled::Tree,
    audit: sled::Tree,
}

fn seal_key(session: &SessionId, seq: u32) -> Vec<u8> {
    let mut k = session.as_str().as_bytes().to_vec();
    k.push(0);
    k.extend(seq.to_be_bytes());
    k
}

impl Store {
    /// Opens (or creates) the store in `dir`. When another process holds it, waits up to
    /// `wait` for it to be released before reporting [`StoreError::Locked`].
    pub fn open(dir: &Path, wait: Duration) -> Result<Store, StoreError> {
        let start = std::time::Instant::now();
        let db = loop {
            match sled::Config::new().path(dir).mode(sled::Mode::LowSpace).open() {
                Ok(db) => break db,
                Err(e) => match from_sled(dir, e) {
                    StoreError::Locked(_) if start.elapsed() < wait => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    other => return Err(other),
                },
            }
        };
        let e = |err| from_sled(dir, err);
        let store = Store {
            path: dir.to_owned(),
            meta: db.open_tree("meta").map_err(e)?,
            docs: db.open_tree("docs").map_err(e)?,
            seals: db.open_tree("seals").map_err(e)?,
            audit: db.open_tree("audit").map_err(e)?,
            db,
        };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self, e: sled::Error) -> StoreError {
        from_sled(&self.path, e)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        match self.meta.get("store_version").map_err(|e| self.err(e))? {
            None => {
                self.meta
                    .insert("store_version", &STORE_VERSION.to_be_bytes())
                    .map_err(|e| self.err(e))?;
                self.flush()
            }
            Some(v) => {
                let found = u64::from_be_bytes(v.as_ref().try_into().map_err(|_| StoreError::BadRecord {
                    key: "meta/store_version".into(),
                    detail: "độ dài".into(),
                })?);
                if found > STORE_VERSION {
                    return Err(StoreError::NewerVersion { found });
                }
                // Version 1 is the first: nothing to migrate yet. A future version
                // rewrites records here, in one transaction, before bumping the number.
                Ok(())
            }
        }
    }

    /// Makes every write so far durable (fsync).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush().map(|_| ()).map_err(|e| self.err(e))
    }

    /// A value from the `meta` tree.
    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(key).map_err(|e| self.err(e))?.map(|v| v.to_vec()))
    }

    /// Sets a value in the `meta` tree, durably.
    pub fn set_meta(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.meta.insert(key, value).map_err(|e| self.err(e))?;
        self.flush()
    }

    /// The device actor of this home, made on first use.
    pub fn device(&self) -> Result<Vec<u8>, StoreError> {
        if let Some(d) = self.meta("device")? {
            return Ok(d);
        }
        let mut d = [0u8; 16];
        getrandom::getrandom(&mut d).map_err(|e| StoreError::Io(e.to_string()))?;
        self.set_meta("device", &d)?;
        Ok(d.to_vec())
    }

    /// Every session id in the store.
    pub fn sessions(&self) -> Result<Vec<SessionId>, StoreError> {
        let mut out = Vec::new();
        for kv in self.docs.iter() {
            let (k, _) = kv.map_err(|e| self.err(e))?;
            let s = String::from_utf8_lossy(&k).into_owned();
            out.push(SessionId::new(s.clone()).map_err(|e| StoreError::BadRecord {
                key: format!("docs/{s}"),
                detail: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// The saved document of a session.
    pub fn doc(&self, session: &SessionId) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.docs.get(session.as_str()).map_err(|e| self.err(e))?.map(|v| v.to_vec()))
    }

    /// Stores a new session's document; refuses when the session exists.
    pub fn create_doc(&self, session: &SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        let r = self
            .docs
            .compare_and_swap(session.as_str(), None as Option<&[u8]>, Some(bytes))
            .map_err(|e| self.err(e))?;
        if r.is_err() {
            return Err(StoreError::Exists(session.to_string()));
        }
        self.flush()
    }

    /// Replaces a session's document, durably.
    pub fn put_doc(&self, session: &SessionId, bytes: &[u8]) -> Result<(), StoreError> {
        self.docs.insert(session.as_str(), bytes).map_err(|e| self.err(e))?;
        self.flush()
    }

    /// Every seal of a session, by `seq`.
    pub fn seals(&self, session: &SessionId) -> Result<Vec<Seal>, StoreError> {
        let mut prefix = session.as_str().as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.seals.scan_prefix(&prefix) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            out.push(Seal::from_bytes(&v).map_err(|e| StoreError::BadRecord {
                key: format!("seals/{}", String::from_utf8_lossy(&k)),
                detail: e.to_string(),
            })?);
        }
        Ok(out)
    }

    /// Stores a seal together with the document bytes it was made on, in one
    /// transaction, then flushes. Only after this returns may anyone be told.
    pub fn put_seal(&self, session: &SessionId, seal: &Seal, doc: &[u8]) -> Result<(), StoreError> {
        let key = seal_key(session, seal.body.seq);
        let sb = seal.to_bytes();
        let r: Result<(), TransactionError<()>> = (&self.docs, &self.seals).transaction(|(docs, seals)| {
            docs.insert(session.as_str().as_bytes(), doc)?;
            seals.insert(key.as_slice(), sb.as_slice())?;
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        match r {
            Ok(()) => {}
            Err(TransactionError::Storage(e)) => return Err(self.err(e)),
            Err(TransactionError::Abort(())) => return Err(StoreError::Io("giao dịch bị hủy".into())),
        }
        self.flush()
    }

    /// Appends to the audit log: `(unix seconds, who, what)`. Not flushed on its own:
    /// it rides on the flush of the change it describes.
    pub fn audit(&self, now: i64, who: &str, what: &str) -> Result<(), StoreError> {
        let id = self.db.generate_id().map_err(|e| self.err(e))?;
        let mut k = now.to_be_bytes().to_vec();
        k.extend(id.to_be_bytes());
        let v = serde_json::json!({"at": now, "who": who, "what": what}).to_string();
        self.audit.insert(k, v.as_bytes()).map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The audit log, oldest first, as JSON lines.
    pub fn audit_log(&self) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        for kv in self.audit.iter() {
            let (_, v) = kv.map_err(|e| self.err(e))?;
            out.push(String::from_utf8_lossy(&v).into_owned());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::{Seal, SealBody, UnitKey};

    #[test]
    fn docs_and_seals_round_trip_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tmp");
        let s = SessionId::new("ky-hop-1").expect("id");
        {
            let st = Store::open(dir.path(), Duration::ZERO).expect("open");
            st.create_doc(&s, b"doc-1").expect("create");
            assert!(matches!(st.create_doc(&s, b"doc-2"), Err(StoreError::Exists(_))));
            let body = SealBody {
                unit: "u".into(),
                session: s.to_string(),
                seq: 1,
                heads: vec![[1; 32]],
                result_digest: [2; 32],
                sealed_at: 3,
                signer: UnitKey::from_seed([1; 32]).public().0,
            };
            let seal = Seal::sign(&UnitKey::from_seed([1; 32]), body);
            st.put_seal(&s, &seal, b"doc-sealed").expect("seal");
            st.audit(5, "clerk", "seal").expect("audit");
        }
        let st = Store::open(dir.path(), Duration::ZERO).expect("reopen");
        assert_eq!(st.doc(&s).expect("doc").as_deref(), Some(&b"doc-sealed"[..]));
        let seals = st.seals(&s).expect("seals");
        assert_eq!(seals.len(), 1);
        seals[0].verify_signature().expect("sig");
        assert_eq!(st.sessions().expect("list"), vec![s]);
        assert_eq!(st.audit_log().expect("audit").len(), 1);
        assert_eq!(st.device().expect("dev"), st.device().expect("dev"));
    }

    #[test]
    fn a_newer_store_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        {
            let st = Store::open(dir.path(), Duration::ZERO).expect("open");
            st.set_meta("store_version", &99u64.to_be_bytes()).expect("set");
        }
        assert!(matches!(
            Store::open(dir.path(), Duration::ZERO),
            Err(StoreError::NewerVersion { found: 99 })
        ));
    }
}
