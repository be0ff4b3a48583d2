//! The rejections a hub counted: one record per (unit, reason), with the latest one as
//! a sample.

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tinnhiem_store::{Store, Table};

/// A rejection record as stored. Records from before the counting (one per rejection,
/// keyed by time: `session`, `seal_id`, `detail`, `at` at the top) have no `count`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Stored {
    #[serde(default)]
    pub(crate) unit: String,
    #[serde(default)]
    pub(crate) reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) first: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) last: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sample: Option<Sample>,
    // The older records' own fields.
    #[serde(default, skip_serializing)]
    session: Option<String>,
    #[serde(default, skip_serializing)]
    seal_id: Option<String>,
    #[serde(default, skip_serializing)]
    detail: Option<String>,
    #[serde(default, skip_serializing)]
    at: Option<i64>,
}

impl Stored {
    /// A record of `count` rejections, the latest being `sample`.
    pub(crate) fn counted(
        unit: &str,
        reason: &str,
        count: u64,
        first: i64,
        last: i64,
        sample: Sample,
    ) -> Stored {
        Stored {
            unit: unit.to_owned(),
            reason: reason.to_owned(),
            count: Some(count),
            first: Some(first),
            last: Some(last),
            sample: Some(sample),
            ..Stored::default()
        }
    }
}

/// The latest rejection of a record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Sample {
    #[serde(default)]
    pub(crate) session: String,
    /// Hex; all zeros when no seal was involved (a refused enrollment, a wrong unit).
    #[serde(default)]
    pub(crate) seal_id: String,
    #[serde(default)]
    pub(crate) detail: String,
}

/// A record as `status` shows it: the count and times, and the sample's fields at the
/// top as well, for older readers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Rejection {
    pub(crate) unit: String,
    /// [`tinnhiem_core::proto::RejectReason::code`].
    pub(crate) reason: String,
    pub(crate) count: u64,
    /// Unix seconds.
    pub(crate) first: i64,
    pub(crate) last: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sample: Option<Sample>,
    pub(crate) session: String,
    pub(crate) seal_id: String,
    pub(crate) detail: String,
    /// The last one's time, as `last`.
    pub(crate) at: i64,
}

/// Every rejection record, the latest first.
pub(crate) fn rejections(store: &Store) -> Result<Vec<Rejection>> {
    let mut out = Vec::new();
    for (_, v) in store.scan_table(Table::Rejects, b"")? {
        let Ok(r) = serde_json::from_slice::<Stored>(&v) else {
            continue;
        };
        // Transient protocol answers recorded by older releases are not rejections.
        if matches!(r.reason.as_str(), "heads_missing" | "unavailable") {
            continue;
        }
        out.push(match r.count {
            None => {
                // A record of one rejection, as written before.
                let at = r.at.unwrap_or(0);
                Rejection {
                    unit: r.unit,
                    reason: r.reason,
                    count: 1,
                    first: at,
                    last: at,
                    sample: None,
                    session: r.session.unwrap_or_default(),
                    seal_id: r.seal_id.unwrap_or_default(),
                    detail: r.detail.unwrap_or_default(),
                    at,
                }
            }
            Some(count) => {
                let last = r.last.unwrap_or(0);
                let s = r.sample.clone().unwrap_or_default();
                Rejection {
                    unit: r.unit,
                    reason: r.reason,
                    count,
                    first: r.first.unwrap_or(last),
                    last,
                    sample: r.sample,
                    session: s.session,
                    seal_id: s.seal_id,
                    detail: s.detail,
                    at: last,
                }
            }
        });
    }
    out.sort_by_key(|r| std::cmp::Reverse(r.last));
    Ok(out)
}
