//! Identifiers with their preconditions in the type.
//!
//! Ids travel in file names, sled keys, URLs and CSV cells, so they are restricted to a
//! safe alphabet: ASCII letters, digits, `-`, `_` and `.`, 1 to 64 characters, not
//! starting with `.`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a text is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is empty.
    #[error("mã {kind} trống (empty {kind})")]
    Empty {
        /// Which kind of id.
        kind: &'static str,
    },
    /// The text is longer than 64 bytes.
    #[error("mã {kind} «{value}» dài quá 64 ký tự")]
    TooLong {
        /// Which kind of id.
        kind: &'static str,
        /// The offending text.
        value: String,
    },
    /// The text has a character outside `[A-Za-z0-9._-]` or starts with `.`.
    #[error(
        "mã {kind} «{value}» có ký tự không hợp lệ: chỉ được dùng chữ không dấu, số, '-', '_', '.', và không bắt đầu bằng '.'"
    )]
    BadChar {
        /// Which kind of id.
        kind: &'static str,
        /// The offending text.
        value: String,
    },
}

fn check(kind: &'static str, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if s.len() > 64 {
        return Err(IdError::TooLong {
            kind,
            value: s.to_owned(),
        });
    }
    let ok = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && !s.starts_with('.');
    if !ok {
        return Err(IdError::BadChar {
            kind,
            value: s.to_owned(),
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Checks `s` and wraps it.
            pub fn new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                check($kind, &s)?;
                Ok(Self(s))
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

id_type!(
    /// A reporting unit (a district council office, a province, a hub).
    UnitId, "đơn vị"
);
id_type!(
    /// One session (kỳ họp / hội nghị) of one unit.
    SessionId, "phiên"
);
id_type!(
    /// A subject's line on the ballot, unique within a session (`s01`).
    SubjectId, "người được lấy phiếu"
);
id_type!(
    /// A person across sessions and localities, so that reviewers can line up results.
    PersonId, "cá nhân"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_safe_ids_and_rejects_the_rest() {
        assert!(UnitId::new("lai-chau.phong-tho_01").is_ok());
        assert!(matches!(UnitId::new(""), Err(IdError::Empty { .. })));
        assert!(matches!(UnitId::new("a/b"), Err(IdError::BadChar { .. })));
        assert!(matches!(UnitId::new("../x"), Err(IdError::BadChar { .. })));
        assert!(matches!(
            UnitId::new("Lai Châu"),
            Err(IdError::BadChar { .. })
        ));
        assert!(matches!(
            UnitId::new("x".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
        let j: Result<SubjectId, _> = serde_json::from_str("\"s 1\"");
        assert!(j.is_err());
    }
}
