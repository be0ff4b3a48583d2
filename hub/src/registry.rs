//! The registry: which units report here, with which keys.

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use tinnhiem_shared::domain::UnitId;
use tinnhiem_shared::seal::PublicKey;
use tinnhiem_shared::store::{Store, Table, Write};

/// One enrolled unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    pub(crate) id: String,
    pub(crate) key: String,
    pub(crate) parent: String,
    #[serde(default)]
    pub(crate) name: Option<String>,
}

/// A registry file: `[[unit]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RegistryFile {
    #[serde(default)]
    pub(crate) unit: Vec<Entry>,
}

impl Entry {
    /// Checks the id, the parent and the key.
    pub(crate) fn validate(&self) -> Result<PublicKey> {
        UnitId::new(&self.id).map_err(|e| anyhow!("unit «{}»: {e}", self.id))?;
        UnitId::new(&self.parent).map_err(|e| anyhow!("parent của «{}»: {e}", self.id))?;
        PublicKey::from_hex(&self.key).map_err(|e| anyhow!("key của «{}»: {e}", self.id))
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

/// Enrolls entries in one durable batch.
pub(crate) fn add(store: &Store, entries: &[Entry]) -> Result<()> {
    let mut writes = Vec::new();
    for e in entries {
        e.validate()?;
        writes.push(Write::Put(
            Table::Registry,
            e.id.as_bytes().to_vec(),
            serde_json::to_vec(e)?,
        ));
    }
    store.batch(&writes)?;
    Ok(())
}

/// Every enrolled unit.
pub(crate) fn list(store: &Store) -> Result<Vec<Entry>> {
    store
        .scan_table(Table::Registry, b"")?
        .into_iter()
        .map(|(_, v)| serde_json::from_slice(&v).map_err(|e| anyhow!("bản ghi đăng ký hỏng: {e}")))
        .collect()
}
