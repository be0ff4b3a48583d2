//! The registry: which units report here, at which level, under which parent, with which
//! keys over time. Units and levels are data: a province may list communes directly
//! after the 2025 reform, or two merged provinces may report as one.

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use tinnhiem_core::domain::UnitId;
use tinnhiem_core::seal::{KeyValidity, PublicKey};
use tinnhiem_store::{Store, Table, Write};

/// A key of a unit, as written in files: hex and RFC 3339 times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyEntry {
    pub(crate) key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) valid_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) revoked_at: Option<String>,
}

/// One enrolled unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) parent: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Free text: `commune`, `district`, `province`, `national`, `party`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) level: Option<String>,
    /// Shorthand for one key valid from the beginning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) keys: Vec<KeyEntry>,
    /// Hex of the verified `Enrollment` this entry came from, when a child hub enrolled
    /// it rather than the operator; kept to forward further up unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) enrollment: Option<String>,
}

/// A registry file: `[[unit]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistryFile {
    #[serde(default)]
    pub(crate) unit: Vec<Entry>,
}

fn time(field: &str, id: &str, s: &Option<String>) -> Result<Option<i64>> {
    match s {
        None => Ok(None),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(|d| Some(d.timestamp()))
            .map_err(|_| anyhow!("{field} của «{id}»: «{t}» phải có dạng RFC 3339, ví dụ 2024-01-01T00:00:00+07:00")),
    }
}

/// RFC 3339 text of unix seconds.
pub(crate) fn rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_default()
}

impl Entry {
    /// Every key with its window, the shorthand `key` folded in.
    pub(crate) fn keys(&self) -> Result<Vec<KeyValidity>> {
        let mut out = Vec::new();
        if let Some(k) = &self.key {
            let key = PublicKey::from_hex(k).map_err(|e| anyhow!("key của «{}»: {e}", self.id))?;
            out.push(KeyValidity {
                key,
                valid_from: None,
                revoked_at: None,
            });
        }
        for k in &self.keys {
            let key =
                PublicKey::from_hex(&k.key).map_err(|e| anyhow!("key của «{}»: {e}", self.id))?;
            out.push(KeyValidity {
                key,
                valid_from: time("valid_from", &self.id, &k.valid_from)?,
                revoked_at: time("revoked_at", &self.id, &k.revoked_at)?,
            });
        }
        Ok(out)
    }

    /// Checks the id, the parent and every key.
    pub(crate) fn validate(&self) -> Result<()> {
        UnitId::new(&self.id).map_err(|e| anyhow!("unit «{}»: {e}", self.id))?;
        UnitId::new(&self.parent).map_err(|e| anyhow!("parent của «{}»: {e}", self.id))?;
        if self.keys()?.is_empty() {
            bail!("«{}» không có khóa nào (key hoặc [[unit.keys]])", self.id);
        }
        Ok(())
    }

    /// Folds the shorthand into `keys`, so that rotation can append.
    fn normalized(mut self) -> Entry {
        if let Some(k) = self.key.take() {
            self.keys.insert(
                0,
                KeyEntry {
                    key: k,
                    valid_from: None,
                    revoked_at: None,
                },
            );
        }
        self
    }
}

/// Parses a registry TOML file, reporting every bad entry.
pub(crate) fn parse_file(text: &str) -> Result<Vec<Entry>> {
    let f: RegistryFile =
        toml::from_str(text).map_err(|e| anyhow!("tệp danh sách đơn vị không hợp lệ: {e}"))?;
    let mut problems = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for e in &f.unit {
        if let Err(p) = e.validate() {
            problems.push(p.to_string());
        }
        if !seen.insert(e.id.clone()) {
            problems.push(format!("unit «{}» có hai lần", e.id));
        }
    }
    if !problems.is_empty() {
        bail!(
            "{} lỗi, không ghi gì:\n  - {}",
            problems.len(),
            problems.join("\n  - ")
        );
    }
    Ok(f.unit)
}

/// Enrolls entries in one durable batch. An entry for a unit that exists replaces its
/// name, level and parent and adds keys it did not have: a key once registered is
/// never forgotten, so old seals stay verifiable.
///
/// A different key for a unit that already has a key in force is refused unless
/// `add_key`: silently keeping both made an impostor that claimed an existing unit
/// (and whose `registry add` line status printed) a second valid signer. A district
/// that really changed its key is rotated (`registry rotate`), which closes the old one.
pub(crate) fn add(store: &Store, entries: &[Entry], add_key: bool) -> Result<()> {
    let mut writes = Vec::new();
    for e in entries {
        e.validate()?;
        // By hand is the operator's word: never an enrollment, whatever the file says.
        let new = Entry {
            enrollment: None,
            ..e.clone().normalized()
        };
        let merged = match get(store, &e.id)? {
            None => new,
            Some(old) => {
                if !add_key {
                    refuse_second_key(&old, &new)?;
                }
                let mut keys = old.keys.clone();
                for k in new.keys {
                    if !keys.iter().any(|o| o.key == k.key) {
                        keys.push(k);
                    }
                }
                Entry { keys, ..new }
            }
        };
        writes.push(put(&merged)?);
    }
    store.batch(&writes)?;
    Ok(())
}

/// Refuses `new`'s keys that `old` does not have while `old` has a key in force.
fn refuse_second_key(old: &Entry, new: &Entry) -> Result<()> {
    let open: Vec<&KeyEntry> = old.keys.iter().filter(|k| k.revoked_at.is_none()).collect();
    if open.is_empty() {
        return Ok(());
    }
    let Some(other) = new
        .keys
        .iter()
        .find(|k| !old.keys.iter().any(|o| o.key == k.key))
    else {
        return Ok(());
    };
    let fingerprint = |hex: &str| {
        PublicKey::from_hex(hex)
            .map(|k| k.fingerprint())
            .unwrap_or_else(|_| hex.to_owned())
    };
    let have: Vec<String> = open.iter().map(|k| fingerprint(&k.key)).collect();
    bail!(
        "đơn vị «{id}» đã có khóa {have}; khóa mới {new_fp} khác khóa đó. Đây có thể là kẻ mạo danh \
         đơn vị. Hãy gọi điện cho đơn vị để đối chiếu dấu vân tay khóa (ở đơn vị: tinnhiem-node key show). \
         Nếu đơn vị thật sự đã đổi khóa, dùng: tinnhiem-hub registry rotate --unit {id} --key {key} \
         (khóa cũ bị thu hồi từ lúc đó). Chỉ khi cố ý để đơn vị có hai khóa cùng hợp lệ mới thêm --add-key. \
         Chưa đăng ký gì.",
        id = old.id,
        have = have.join(", "),
        new_fp = fingerprint(&other.key),
        key = other.key,
    )
}

/// Whether `unit` is registered with a key in force (a refused key claiming it may be
/// an impostor, or the district's new key: to rotate, not to add).
pub(crate) fn open_key_fingerprints(store: &Store, unit: &str) -> Vec<String> {
    let Ok(Some(e)) = get(store, unit) else {
        return Vec::new();
    };
    e.keys
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .filter_map(|k| PublicKey::from_hex(&k.key).ok())
        .map(|k| k.fingerprint())
        .collect()
}

/// The write that stores an entry under its id.
fn put(e: &Entry) -> Result<Write> {
    Ok(Write::Put(
        Table::Registry,
        e.id.as_bytes().to_vec(),
        serde_json::to_vec(e)?,
    ))
}

/// One unit.
pub(crate) fn get(store: &Store, id: &str) -> Result<Option<Entry>> {
    match store.read(Table::Registry, id.as_bytes())? {
        None => Ok(None),
        Some(v) => Ok(Some(
            serde_json::from_slice::<Entry>(&v)
                .map_err(|e| anyhow!("bản ghi đăng ký hỏng: {e}"))?
                .normalized(),
        )),
    }
}

/// Rotates a unit's key at `at`: the new key is valid from `at`, every open key is
/// revoked at `at`.
pub(crate) fn rotate(store: &Store, id: &str, new_key: &str, at: i64) -> Result<()> {
    let mut e = get(store, id)?.ok_or_else(|| anyhow!("chưa có đơn vị «{id}» trong danh sách"))?;
    PublicKey::from_hex(new_key).map_err(|err| anyhow!("--key: {err}"))?;
    if e.keys.iter().any(|k| k.key == new_key) {
        bail!("khóa này đã có trong danh sách của «{id}»");
    }
    for k in &mut e.keys {
        if k.revoked_at.is_none() {
            k.revoked_at = Some(rfc3339(at));
        }
    }
    e.keys.push(KeyEntry {
        key: new_key.to_owned(),
        valid_from: Some(rfc3339(at)),
        revoked_at: None,
    });
    store.batch(&[put(&e)?])?;
    Ok(())
}

/// Revokes one key of a unit at `at`.
pub(crate) fn revoke(store: &Store, id: &str, key: &str, at: i64) -> Result<()> {
    let mut e = get(store, id)?.ok_or_else(|| anyhow!("chưa có đơn vị «{id}» trong danh sách"))?;
    let k = e
        .keys
        .iter_mut()
        .find(|k| k.key == key)
        .ok_or_else(|| anyhow!("«{id}» không có khóa {key}"))?;
    k.revoked_at = Some(rfc3339(at));
    store.batch(&[put(&e)?])?;
    Ok(())
}

/// Every enrolled unit.
pub(crate) fn list(store: &Store) -> Result<Vec<Entry>> {
    store
        .scan_table(Table::Registry, b"")?
        .into_iter()
        .map(|(_, v)| {
            serde_json::from_slice::<Entry>(&v)
                .map(Entry::normalized)
                .map_err(|e| anyhow!("bản ghi đăng ký hỏng: {e}"))
        })
        .collect()
}

/// How many parents up a chain of enrollments may go (commune → district → province →
/// national is three).
const MAX_DEPTH: usize = 8;

/// Whether `peer` may deliver `unit`'s documents: its own, or a unit whose chain of
/// enrolled parents reaches `peer`.
pub(crate) fn speaks_for(store: &Store, peer: &str, unit: &str) -> Result<Option<bool>> {
    if peer == unit {
        return Ok(Some(true));
    }
    let mut u = unit.to_owned();
    for _ in 0..MAX_DEPTH {
        let Some(e) = get(store, &u)? else {
            return Ok(if u == unit { None } else { Some(false) });
        };
        if e.enrollment.is_none() {
            return Ok(Some(false)); // registered here by hand: nobody's to forward
        }
        if e.parent == peer {
            return Ok(Some(true));
        }
        u = e.parent;
    }
    Ok(Some(false))
}

/// Verifies an enrollment from `peer` and records it. The signer must be a key of the
/// record's parent, valid when it was issued; that parent must be `peer` or a unit
/// `peer` speaks for; an entry the operator registered by hand is never replaced; an
/// older record never replaces a newer one; keys are merged, never forgotten.
pub(crate) fn enroll(store: &Store, peer: &str, record: &[u8]) -> Result<()> {
    use tinnhiem_core::seal::Enrollment;
    let e = Enrollment::from_bytes(record).map_err(|e| anyhow!("{e}"))?;
    let b = &e.body;
    UnitId::new(&b.unit).map_err(|x| anyhow!("unit «{}»: {x}", b.unit))?;
    if speaks_for(store, peer, &b.parent)? != Some(true) {
        bail!("{peer} không được ghi danh đơn vị dưới «{}»", b.parent);
    }
    let parent = get(store, &b.parent)?
        .ok_or_else(|| anyhow!("chưa biết đơn vị cấp trên «{}»", b.parent))?;
    e.verify(&parent.keys()?)
        .map_err(|x| anyhow!("ghi danh «{}»: {x}", b.unit))?;
    if b.keys.is_empty() {
        bail!("ghi danh «{}» không có khóa nào", b.unit);
    }
    let mut keys: Vec<KeyEntry> = e
        .keys()
        .iter()
        .map(|k| KeyEntry {
            key: k.key.to_hex(),
            valid_from: k.valid_from.map(rfc3339),
            revoked_at: k.revoked_at.map(rfc3339),
        })
        .collect();
    if let Some(old) = get(store, &b.unit)? {
        let Some(old_record) = &old.enrollment else {
            bail!("«{}» đã được đăng ký trực tiếp ở máy chủ này", b.unit);
        };
        let older = hex::decode(old_record)
            .ok()
            .and_then(|r| Enrollment::from_bytes(&r).ok());
        if let Some(o) = older {
            if o.body.issued_at > b.issued_at {
                return Ok(()); // a stale copy
            }
            let mut unchanged = o.body.clone();
            unchanged.issued_at = b.issued_at;
            if unchanged == *b {
                return Ok(()); // nothing new: every Hello repeats its enrollments
            }
        }
        for k in old.keys {
            if !keys.iter().any(|n| n.key == k.key) {
                keys.push(k);
            }
        }
    }
    let entry = Entry {
        id: b.unit.clone(),
        parent: b.parent.clone(),
        name: Some(b.name.clone()),
        level: Some(b.level.clone()),
        key: None,
        keys,
        enrollment: Some(hex::encode(record)),
    };
    store.batch(&[put(&entry)?])?;
    Ok(())
}

/// The enrollments this hub sends up, parents first: one signed now for each child
/// registered here, then every record its children enrolled, unchanged.
pub(crate) fn enrollments_to_forward(
    store: &Store,
    hub: &str,
    key: &tinnhiem_core::seal::UnitKey,
    now: i64,
) -> Result<Vec<Vec<u8>>> {
    use tinnhiem_core::seal::{EnrollBody, EnrolledKey, Enrollment};
    let all = list(store)?;
    let mut out = Vec::new();
    for e in all
        .iter()
        .filter(|e| e.parent == hub && e.enrollment.is_none())
    {
        let keys = e
            .keys()?
            .into_iter()
            .map(|k| EnrolledKey {
                key: k.key.0,
                valid_from: k.valid_from,
                revoked_at: k.revoked_at,
            })
            .collect();
        let body = EnrollBody {
            unit: e.id.clone(),
            parent: hub.to_owned(),
            name: e.name.clone().unwrap_or_default(),
            level: e.level.clone().unwrap_or_default(),
            keys,
            issued_at: now,
        };
        out.push(Enrollment::sign(key, body).to_bytes());
    }
    // Deeper records by depth, so that each one's parent is known above before it.
    let depth = |id: &str| {
        let mut d = 0;
        let mut u = id.to_owned();
        while let Some(e) = all.iter().find(|e| e.id == u) {
            if e.parent == hub || d > MAX_DEPTH {
                break;
            }
            d += 1;
            u = e.parent.clone();
        }
        d
    };
    let mut deeper: Vec<&Entry> = all.iter().filter(|e| e.enrollment.is_some()).collect();
    deeper.sort_by_key(|e| depth(&e.id));
    for e in deeper {
        if let Some(r) = e.enrollment.as_deref().and_then(|h| hex::decode(h).ok()) {
            out.push(r);
        }
    }
    Ok(out)
}
