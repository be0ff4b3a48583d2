//! The node's home directory: config, key, store, and plain copies of sealed minutes.
//!
//! ```text
//! HOME/node.toml        unit id and name
//! HOME/unit.key         ed25519 secret, hex, mode 0600
//! HOME/store/           the sled store
//! HOME/sealed/          SESSION.SEQ.automerge + SESSION.SEQ.seal, written at sealing:
//!                       the sealed minutes stay readable even if the store is lost
//! ```

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tinnhiem_core::domain::UnitId;
use tinnhiem_core::seal::UnitKey;
use tinnhiem_store::{BackendKind, Store};

/// `node.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The unit this node belongs to.
    pub unit: UnitId,
    /// The unit's name, for printed minutes.
    #[serde(default)]
    pub name: Option<String>,
    /// The storage engine of a new store (an existing store keeps its own).
    #[serde(default = "default_store")]
    pub store: BackendKind,
    /// The hub this node reports to.
    #[serde(default)]
    pub hub: Option<crate::sync::HubTarget>,
}

fn default_store() -> BackendKind {
    BackendKind::Redb
}

/// An opened home.
pub struct Home {
    /// The directory.
    pub dir: PathBuf,
    /// `node.toml`.
    pub config: NodeConfig,
}

/// The default home: `$XDG_DATA_HOME/tinnhiem-node` or the platform's equivalent.
pub fn default_dir() -> Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("tinnhiem-node"))
        .context("không tìm được thư mục dữ liệu của hệ điều hành; hãy dùng --home")
}

impl Home {
    /// Creates a new home with a fresh key. Refuses when one exists.
    pub fn init(
        dir: &Path,
        unit: UnitId,
        name: Option<String>,
        store: BackendKind,
    ) -> Result<Home> {
        let config_path = dir.join("node.toml");
        if config_path.exists() {
            bail!(
                "{} đã được khởi tạo (có node.toml); không ghi đè",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("không tạo được {}", dir.display()))?;
        let key = UnitKey::generate()?;
        key.create_file(&dir.join("unit.key"))?;
        let config = NodeConfig {
            unit,
            name,
            store,
            hub: None,
        };
        write_atomic(&config_path, toml::to_string(&config)?.as_bytes())?;
        Ok(Home {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Opens an existing home.
    pub fn open(dir: &Path) -> Result<Home> {
        let config_path = dir.join("node.toml");
        let text = std::fs::read_to_string(&config_path).with_context(|| {
            format!(
                "chưa khởi tạo {}: hãy chạy `tinnhiem-node --home {} init --unit MÃ_ĐƠN_VỊ`",
                dir.display(),
                dir.display()
            )
        })?;
        let config: NodeConfig = toml::from_str(&text)
            .with_context(|| format!("{} không hợp lệ", config_path.display()))?;
        Ok(Home {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Rewrites node.toml.
    pub fn save_config(&self) -> Result<()> {
        write_atomic(
            &self.dir.join("node.toml"),
            toml::to_string(&self.config)?.as_bytes(),
        )
    }

    /// The unit's signing key.
    pub fn key(&self) -> Result<UnitKey> {
        Ok(UnitKey::load_file(&self.dir.join("unit.key"))?)
    }

    /// Opens the store, waiting a little if another command holds it.
    pub fn store(&self) -> Result<Store> {
        Ok(Store::open(
            &self.dir.join("store"),
            self.config.store,
            Duration::from_secs(10),
        )?)
    }

    /// Where plain copies of sealed minutes go.
    pub fn sealed_dir(&self) -> PathBuf {
        self.dir.join("sealed")
    }

    /// Where a deleted session's last document is kept, so a deletion can be undone
    /// (`doc merge FILE --restore`).
    pub fn deleted_dir(&self) -> PathBuf {
        self.dir.join("deleted")
    }
}

/// Writes a file so that a crash leaves either the old or the new content
/// ([`tinnhiem_store::file::write_atomic`], the one helper of both binaries).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tinnhiem_store::file::write_atomic(path, bytes, None)
        .with_context(|| format!("không ghi được {}", path.display()))
}
