//! The hub's home: `hub.toml`, `unit.key`, `store/`, `admin.sock`.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tinnhiem_core::domain::UnitId;
use tinnhiem_core::seal::UnitKey;
use tinnhiem_store::{BackendKind, Store};

/// `hub.toml`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct HubConfig {
    pub(crate) unit: UnitId,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// Upper hubs to forward to: `[[destination]]` tables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) destination: Vec<Destination>,
}

/// An upper hub this hub forwards to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Destination {
    pub(crate) unit: UnitId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// `HOST:PORT`.
    pub(crate) addr: String,
    /// 64 hex characters.
    pub(crate) key: String,
}

impl Destination {
    pub(crate) fn target(&self) -> tinnhiem_net::outbox::Target {
        tinnhiem_net::outbox::Target {
            addr: self.addr.clone(),
            key: self.key.clone(),
        }
    }
}

pub(crate) struct Home {
    pub(crate) dir: PathBuf,
    pub(crate) config: HubConfig,
}

pub(crate) fn default_dir() -> Result<PathBuf> {
    dirs::data_dir()
        .map(|d| d.join("tinnhiem-hub"))
        .context("không tìm được thư mục dữ liệu của hệ điều hành; hãy dùng --home")
}

impl Home {
    pub(crate) fn init(dir: &Path, unit: UnitId, name: Option<String>) -> Result<Home> {
        let path = dir.join("hub.toml");
        if path.exists() {
            bail!(
                "{} đã được khởi tạo (có hub.toml); không ghi đè",
                dir.display()
            );
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("không tạo được {}", dir.display()))?;
        UnitKey::generate()?.create_file(&dir.join("unit.key"))?;
        let config = HubConfig {
            unit,
            name,
            destination: Vec::new(),
        };
        tinnhiem_store::file::write_atomic(&path, toml::to_string(&config)?.as_bytes(), None)
            .with_context(|| format!("không ghi được {}", path.display()))?;
        Ok(Home {
            dir: dir.to_owned(),
            config,
        })
    }

    pub(crate) fn open(dir: &Path) -> Result<Home> {
        let path = dir.join("hub.toml");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "chưa khởi tạo {}: hãy chạy `tinnhiem-hub --home {} init --unit MÃ_ĐƠN_VỊ`",
                dir.display(),
                dir.display()
            )
        })?;
        let config =
            toml::from_str(&text).with_context(|| format!("{} không hợp lệ", path.display()))?;
        Ok(Home {
            dir: dir.to_owned(),
            config,
        })
    }

    /// Writes hub.toml whole and durably (a reader never sees half of it, a crash
    /// leaves the old or the new).
    pub(crate) fn save_config(&self) -> Result<()> {
        let path = self.dir.join("hub.toml");
        tinnhiem_store::file::write_atomic(&path, toml::to_string(&self.config)?.as_bytes(), None)
            .with_context(|| format!("không ghi được {}", path.display()))
    }

    pub(crate) fn key(&self) -> Result<UnitKey> {
        Ok(UnitKey::load_file(&self.dir.join("unit.key"))?)
    }

    pub(crate) fn store(&self, wait: Duration) -> Result<Store> {
        Ok(Store::open(
            &self.dir.join("store"),
            BackendKind::Redb,
            wait,
        )?)
    }

    pub(crate) fn admin_socket(&self) -> PathBuf {
        self.dir.join("admin.sock")
    }
}
