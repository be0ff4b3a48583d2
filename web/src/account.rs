//! Accounts: `users.toml` in the home, one `[[user]]` per person, each with a role and
//! an argon2id hash of the password (PHC string). The file is read again at every login,
//! so `user add` takes effect while a server runs, and written atomically with mode 0600.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a person may do on the pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Enters and seals sessions on a node.
    Clerk,
    /// Provincial staff: the hub dashboard.
    Staff,
    /// Reads results of persons across places; changes nothing.
    Reviewer,
    /// Everything on the server it belongs to.
    Admin,
}

impl Role {
    /// Parses `clerk`, `staff`, `reviewer`, `admin`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "clerk" => Some(Role::Clerk),
            "staff" => Some(Role::Staff),
            "reviewer" => Some(Role::Reviewer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The key written in `users.toml`.
    pub fn key(self) -> &'static str {
        match self {
            Role::Clerk => "clerk",
            Role::Staff => "staff",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    /// The Vietnamese name shown on the pages.
    pub fn title(self) -> &'static str {
        match self {
            Role::Clerk => "thư ký kiểm phiếu",
            Role::Staff => "cán bộ tỉnh",
            Role::Reviewer => "người xem xét (chỉ đọc)",
            Role::Admin => "quản trị",
        }
    }
}

/// One account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// argon2id PHC string.
    pub hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersFile {
    #[serde(default)]
    user: Vec<User>,
}

/// Why an account operation failed, in Vietnamese for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML of the expected shape.
    #[error("{path}: tệp tài khoản sai dạng: {detail}")]
    Format {
        /// Which file.
        path: PathBuf,
        /// The parser's message (line and column).
        detail: String,
    },
    /// A name that cannot be used.
    #[error("tên đăng nhập «{0}» không hợp lệ: dùng 1–64 chữ thường không dấu, số, `.`, `-`, `_`")]
    BadName(String),
    /// Too short a password.
    #[error("mật khẩu quá ngắn: cần ít nhất {0} ký tự")]
    ShortPassword(usize),
    /// No such account.
    #[error("không có tài khoản «{0}»")]
    NoSuchUser(String),
    /// Hashing failed (should not happen; the OS random source failed).
    #[error("không băm được mật khẩu: {0}")]
    Hash(String),
}

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 8;

/// Refuses a login name that cannot be used, before anyone is asked for a password.
pub fn check_name(name: &str) -> Result<(), AccountError> {
    let ok_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if ok_name {
        Ok(())
    } else {
        Err(AccountError::BadName(name.into()))
    }
}

/// The accounts of one home.
#[derive(Debug, Clone)]
pub struct Accounts {
    path: PathBuf,
}

impl Accounts {
    /// The accounts kept in `dir/users.toml`.
    pub fn in_dir(dir: &Path) -> Accounts {
        Accounts {
            path: dir.join("users.toml"),
        }
    }

    /// Where they are kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<UsersFile, AccountError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UsersFile::default()),
            Err(source) => {
                return Err(AccountError::Io {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        toml::from_str(&text).map_err(|e| AccountError::Format {
            path: self.path.clone(),
            detail: e.to_string(),
        })
    }

    fn write(&self, f: &UsersFile) -> Result<(), AccountError> {
        let io = |source| AccountError::Io {
            path: self.path.clone(),
            source,
        };
        let text = toml::to_string(f).map_err(|e| AccountError::Hash(e.to_string()))?;
        tinnhiem_store::file::write_atomic(&self.path, text.as_bytes(), Some(0o600)).map_err(io)
    }

    /// Every account (hashes included: for the server, not for display).
    pub fn list(&self) -> Result<Vec<User>, AccountError> {
        Ok(self.read()?.user)
    }

    /// Adds an account or replaces the password and role of an existing one.
    pub fn set(&self, name: &str, role: Role, password: &str) -> Result<(), AccountError> {
        check_name(name)?;
        if password.chars().count() < MIN_PASSWORD {
            return Err(AccountError::ShortPassword(MIN_PASSWORD));
        }
        let salt = SaltString::generate(&mut OsRng);
        let hash = Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map_err(|e| AccountError::Hash(e.to_string()))?
            .to_string();
        let mut f = self.read()?;
        f.user.retain(|u| u.name != name);
        f.user.push(User {
            name: name.into(),
            role,
            hash,
        });
        self.write(&f)
    }

    /// Removes an account.
    pub fn remove(&self, name: &str) -> Result<(), AccountError> {
        let mut f = self.read()?;
        let before = f.user.len();
        f.user.retain(|u| u.name != name);
        if f.user.len() == before {
            return Err(AccountError::NoSuchUser(name.into()));
        }
        self.write(&f)
    }

    /// The account when `password` is its password. Takes argon2's time whether or not
    /// the name exists, so a wrong name and a wrong password look alike.
    pub fn check(&self, name: &str, password: &str) -> Result<Option<User>, AccountError> {
        let users = self.read()?.user;
        let found = users.into_iter().find(|u| u.name == name);
        let hash = match &found {
            Some(u) => u.hash.as_str(),
            None => dummy_hash(),
        };
        let ok = verify(password.as_bytes(), hash);
        Ok(found.filter(|_| ok))
    }
}

/// The most argon2 memory a stored hash may ask for (256 MiB; the default is 19 MiB).
const MAX_BLOCKS: usize = 256 * 1024;

/// Whether `password` matches the PHC string `phc`, computed in a block buffer this
/// thread keeps. argon2's own `verify_password` allocates and frees 19 MiB each time,
/// and glibc kept the freed blocks in every malloc arena a checking thread had used
/// (310 MiB after 66 wrong logins); the servers check on two long-lived threads, so
/// this is two buffers for the life of the process.
fn verify(password: &[u8], phc: &str) -> bool {
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let need = params.block_count();
    if need > MAX_BLOCKS {
        tracing::error!("a stored password hash asks for {need} KiB of memory; refused");
        return false;
    }
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let mut out = [0u8; 64];
    let Some(out) = out.get_mut(..expected.len()) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let computed = BLOCKS.with(|b| {
        let mut b = b.borrow_mut();
        if b.len() < need {
            b.resize(need, Block::default());
        }
        argon
            .hash_password_into_with_memory(password, salt, out, &mut b[..need])
            .is_ok()
    });
    computed && crate::guard::ct_eq(out, expected.as_bytes())
}

/// A hash to verify against when the name is unknown, so that costs the same.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"not a password", &salt)
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// Reads a password for `user add`: from `$TINNHIEM_PASSWORD` when set (scripts,
/// tests); at a terminal, typed twice without echo (a password on the screen is read by
/// whoever stands behind the clerk, and one typo would lock them out); otherwise one line
/// of standard input (a pipe).
pub fn read_password() -> anyhow::Result<String> {
    use anyhow::Context as _;
    use std::io::IsTerminal as _;
    if let Ok(p) = std::env::var("TINNHIEM_PASSWORD") {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        let ask = |prompt: String| {
            rpassword::prompt_password(prompt).context("không đọc được mật khẩu từ bàn phím")
        };
        let first = ask(format!(
            "Mật khẩu (ít nhất {MIN_PASSWORD} ký tự; không hiện khi gõ), rồi Enter: "
        ))?;
        if first.chars().count() < MIN_PASSWORD {
            return Err(AccountError::ShortPassword(MIN_PASSWORD).into());
        }
        let again = ask("Nhập lại mật khẩu để chắc chắn, rồi Enter: ".into())?;
        if first != again {
            anyhow::bail!("hai lần nhập mật khẩu không giống nhau; chưa ghi gì, hãy chạy lại lệnh");
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("không đọc được mật khẩu từ đầu vào chuẩn")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_check_replace_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Accounts::in_dir(dir.path());
        assert!(a.check("lan", "mat-khau-1").expect("read").is_none());
        a.set("lan", Role::Clerk, "mat-khau-1").expect("set");
        let u = a.check("lan", "mat-khau-1").expect("read").expect("user");
        assert_eq!(u.role, Role::Clerk);
        assert!(a.check("lan", "mat-khau-2").expect("read").is_none());
        assert!(a.check("khac", "mat-khau-1").expect("read").is_none());
        a.set("lan", Role::Admin, "mat-khau-2").expect("replace");
        assert!(a.check("lan", "mat-khau-1").expect("read").is_none());
        assert_eq!(
            a.check("lan", "mat-khau-2").expect("read").map(|u| u.role),
            Some(Role::Admin)
        );
        assert_eq!(a.list().expect("list").len(), 1);
        // The hash is stored, never the password.
        let text = std::fs::read_to_string(a.path()).expect("file");
        assert!(text.contains("$argon2id$") && !text.contains("mat-khau-2"));
        // Our verification agrees with the argon2 crate's on its own hashes, and on a
        // hash with other parameters (argon2i, smaller memory).
        use argon2::PasswordVerifier;
        let other = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x13,
            Params::new(1024, 3, 1, None).expect("params"),
        )
        .hash_password(b"mat-khau-3", &SaltString::generate(&mut OsRng))
        .expect("hash")
        .to_string();
        for (phc, pw, want) in [
            (a.list().expect("list")[0].hash.clone(), "mat-khau-2", true),
            (other.clone(), "mat-khau-3", true),
            (other.clone(), "mat-khau-4", false),
        ] {
            assert_eq!(verify(pw.as_bytes(), &phc), want, "{phc}");
            let theirs = Argon2::default()
                .verify_password(pw.as_bytes(), &PasswordHash::new(&phc).expect("phc"))
                .is_ok();
            assert_eq!(theirs, want);
        }
        assert!(!verify(b"x", "not a hash"));
        a.remove("lan").expect("remove");
        assert!(matches!(a.remove("lan"), Err(AccountError::NoSuchUser(_))));
    }

    #[test]
    fn refuses_bad_names_short_passwords_and_broken_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Accounts::in_dir(dir.path());
        assert!(matches!(
            a.set("Lan Anh", Role::Clerk, "mat-khau-1"),
            Err(AccountError::BadName(_))
        ));
        assert!(matches!(
            a.set("lan", Role::Clerk, "ngan"),
            Err(AccountError::ShortPassword(_))
        ));
        std::fs::write(a.path(), "[[user]]\nname = 3\n").expect("write");
        let e = a.check("lan", "x").expect_err("broken file");
        assert!(e.to_string().contains("sai dạng"), "{e}");
    }
}
