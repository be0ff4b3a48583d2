//! `/metrics` in the Prometheus text format (0.0.4), for the node and the hub.
//!
//! Written by hand rather than through a metrics registry crate: each server exports a
//! dozen figures it reads from its store at scrape time, so there is nothing to
//! register, aggregate or keep between scrapes, only text to write correctly (`HELP` and
//! `TYPE` once per family, label values escaped).

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The file in a home that holds the token a scraper reads `/metrics` with
/// (`Authorization: Bearer TOKEN`; Prometheus: `authorization: credentials_file:`).
pub const TOKEN_FILE: &str = "metrics.token";

/// Why the token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file holds too short a token (an operator wrote it by hand).
    #[error("{0}: mã cho /metrics quá ngắn (cần ít nhất 32 ký tự không có khoảng trắng); xóa tệp để máy chủ tạo mã mới")]
    Short(std::path::PathBuf),
    /// The OS random source failed.
    #[error("không lấy được số ngẫu nhiên: {0}")]
    Random(String),
}

/// The home's scrape token: read from [`TOKEN_FILE`], or made (256 random bits, hex)
/// and written there with mode 0600 when the file does not exist. Remove the file and
/// restart to change it.
pub fn token(home: &std::path::Path) -> Result<String, TokenError> {
    let path = home.join(TOKEN_FILE);
    let io = |source| TokenError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let t = text.trim();
            if t.len() < 32 || t.contains(char::is_whitespace) {
                return Err(TokenError::Short(path));
            }
            return Ok(t.to_string());
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut b = [0u8; 32];
    getrandom::getrandom(&mut b).map_err(|e| TokenError::Random(e.to_string()))?;
    let t = hex::encode(b);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    match o.open(&path) {
        Ok(mut f) => {
            use std::io::Write;
            f.write_all(format!("{t}\n").as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
            Ok(t)
        }
        // Another process made it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => token(home),
        Err(e) => Err(io(e)),
    }
}

/// A family's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// A value that goes up and down (read from the store at scrape time).
    Gauge,
    /// A total since the process started.
    Counter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// The text of one scrape.
#[derive(Debug, Default)]
pub struct Metrics(String);

impl Metrics {
    /// An empty scrape.
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn family(&mut self, name: &str, help: &str, kind: Kind) {
        self.0.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {}\n",
            kind.name()
        ));
    }

    /// One unlabelled series.
    pub fn one(&mut self, kind: Kind, name: &str, help: &str, value: u64) -> &mut Metrics {
        self.family(name, help, kind);
        self.0.push_str(&format!("{name} {value}\n"));
        self
    }

    /// A family of series told apart by labels: each item is its (label, value) pairs
    /// and the series' value.
    pub fn labelled<'a>(
        &mut self,
        kind: Kind,
        name: &str,
        help: &str,
        series: impl IntoIterator<Item = (Vec<(&'a str, String)>, u64)>,
    ) -> &mut Metrics {
        self.family(name, help, kind);
        for (labels, value) in series {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            self.0
                .push_str(&format!("{name}{{{}}} {value}\n", labels.join(",")));
        }
        self
    }

    /// The text.
    pub fn text(&self) -> &str {
        &self.0
    }
}

impl IntoResponse for Metrics {
    fn into_response(self) -> Response {
        (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            self.0,
        )
            .into_response()
    }
}

/// A label value as the format wants it: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_made_once_private_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = token(dir.path()).expect("made");
        assert_eq!(t.len(), 64);
        assert_eq!(token(dir.path()).expect("read"), t);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(TOKEN_FILE), "short\n").expect("write");
        assert!(matches!(token(dir.path()), Err(TokenError::Short(_))));
    }

    #[test]
    fn families_are_declared_once_and_labels_escaped() {
        let mut m = Metrics::new();
        m.one(Kind::Gauge, "x_sessions", "Sessions.", 3).labelled(
            Kind::Counter,
            "x_deliveries",
            "Deliveries.",
            [
                (vec![("to", "a\"b\\c\nd".to_string())], 1),
                (vec![("to", "e".to_string()), ("state", "sent".into())], 2),
            ],
        );
        assert_eq!(
            m.text(),
            "# HELP x_sessions Sessions.\n# TYPE x_sessions gauge\nx_sessions 3\n\
             # HELP x_deliveries Deliveries.\n# TYPE x_deliveries counter\n\
             x_deliveries{to=\"a\\\"b\\\\c\\nd\"} 1\nx_deliveries{to=\"e\",state=\"sent\"} 2\n"
        );
    }
}
