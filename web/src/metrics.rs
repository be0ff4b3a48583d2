//! `/metrics` in the Prometheus text format (0.0.4), for the node and the hub.
//!
//! Written by hand rather than through a metrics registry crate: each server exports a
//! dozen figures it reads from its store at scrape time, so there is nothing to
//! register, aggregate or keep between scrapes, only text to write correctly (`HELP` and
//! `TYPE` once per family, label values escaped).

use axum::http::header;
use axum::response::{IntoResponse, Response};

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
