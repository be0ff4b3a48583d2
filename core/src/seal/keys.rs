//! Unit keys: an ed25519 key pair per reporting unit, its public half the unit's identity.

use ed25519_dalek::{Signature, Signer, SigningKey};
use std::fmt;
use std::path::Path;

/// Why a key could not be made, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read or written.
    #[error("tệp khóa {path}: {source}")]
    Io {
        /// Which file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file or text does not hold a key.
    #[error("khóa không hợp lệ ({0}): cần 64 ký tự hex")]
    Format(String),
    /// The OS random source failed.
    #[error("không lấy được số ngẫu nhiên từ hệ điều hành: {0}")]
    Random(String),
    /// A key file already exists; we never overwrite one.
    #[error("đã có tệp khóa {0}; không ghi đè")]
    Exists(String),
}

/// A unit's public key.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses 64 hex characters.
    pub fn from_hex(s: &str) -> Result<PublicKey, KeyError> {
        let b = hex::decode(s.trim()).map_err(|e| KeyError::Format(e.to_string()))?;
        let a: [u8; 32] = b
            .try_into()
            .map_err(|_| KeyError::Format("độ dài".into()))?;
        ed25519_dalek::VerifyingKey::from_bytes(&a)
            .map_err(|_| KeyError::Format("không phải điểm ed25519".into()))?;
        Ok(PublicKey(a))
    }
    /// 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// A short name of the key to read over the telephone and compare on two screens:
    /// the first 8 bytes of its SHA-256, in four groups (`3f2a-9c01-7be4-55d0`). The
    /// node's refusal message and the hub's list of refused keys show the same one.
    pub fn fingerprint(&self) -> String {
        use sha2::Digest;
        let h = sha2::Sha256::digest(self.0);
        h[..8]
            .chunks(2)
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join("-")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}
impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

/// A unit's signing key. Never printed, never serialized except to its own file.
pub struct UnitKey(SigningKey);

impl UnitKey {
    /// A new key from the OS random source.
    pub fn generate() -> Result<UnitKey, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(UnitKey(SigningKey::from_bytes(&seed)))
    }

    /// A key from a fixed seed (tests and the deterministic demo only).
    pub fn from_seed(seed: [u8; 32]) -> UnitKey {
        UnitKey(SigningKey::from_bytes(&seed))
    }

    /// The secret seed, for callers that derive other credentials (the QUIC
    /// certificate) from the unit key.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// Signs bytes (callers domain-separate them).
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.0.sign(msg)
    }

    /// Writes a new key file readable by its owner only (mode 0600). Refuses to
    /// overwrite an existing one.
    pub fn create_file(&self, path: &Path) -> Result<(), KeyError> {
        use std::io::Write;
        let io = |source| KeyError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::Exists(path.display().to_string())
            } else {
                io(e)
            }
        })?;
        f.write_all(format!("{}\n", hex::encode(self.0.to_bytes())).as_bytes())
            .map_err(io)?;
        f.sync_all().map_err(io)?;
        Ok(())
    }

    /// Reads a key file written by [`UnitKey::create_file`].
    pub fn load_file(path: &Path) -> Result<UnitKey, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let b = hex::decode(text.trim()).map_err(|e| KeyError::Format(e.to_string()))?;
        let seed: [u8; 32] = b
            .try_into()
            .map_err(|_| KeyError::Format("độ dài".into()))?;
        Ok(UnitKey(SigningKey::from_bytes(&seed)))
    }
}

/// A unit key and the time window in which it may sign (unix seconds). Rotating a key
/// adds a new one and closes the old one's window; seals made inside a window stay
/// verifiable for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyValidity {
    /// The key.
    pub key: PublicKey,
    /// Valid from (inclusive); `None`: from the beginning.
    pub valid_from: Option<i64>,
    /// Revoked at (exclusive); `None`: not revoked.
    pub revoked_at: Option<i64>,
}

impl KeyValidity {
    /// Whether the key may sign at `t`.
    pub fn valid_at(&self, t: i64) -> bool {
        self.valid_from.is_none_or(|f| f <= t) && self.revoked_at.is_none_or(|r| t < r)
    }
}
