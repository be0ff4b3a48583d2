//! `result` (every session at its latest accepted seal) and `flagged` (every subject
//! over a threshold), and the row of one subject that `person` shares.

use super::sessions::{sessions, SessionOnHub};
use super::Hub;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tinnhiem_core::domain::{Flag, SubjectResult};

/// One session of `result --json`: the node's own `result --json` shape (the domain's
/// [`tinnhiem_core::domain::SessionResult::to_json`], kept as that JSON so that the
/// two never drift), then what the hub adds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SessionResultRow {
    #[serde(flatten)]
    pub(crate) result: Map<String, Value>,
    pub(crate) body: String,
    /// ISO day.
    pub(crate) date: String,
    pub(crate) seal: SealRef,
}

/// Which seal a result is at, and when the hub took it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SealRef {
    pub(crate) seq: u32,
    pub(crate) seal_id: String,
    /// Unix seconds (kept for the pages, which read them).
    pub(crate) sealed_at: i64,
    pub(crate) received_at: Option<i64>,
    pub(crate) log_index: Option<u64>,
}

/// `result --json`: the latest accepted seal of every session, recomputed at its heads.
pub(crate) fn results(hub: Hub<'_>) -> Result<Vec<SessionResultRow>> {
    let mut out = Vec::new();
    for s in sessions(hub.store, hub.cache)? {
        let result = match s.result.to_json() {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        out.push(SessionResultRow {
            result,
            body: s.meta.body.clone(),
            date: s.meta.date.to_string(),
            seal: SealRef {
                seq: s.seal.body.seq,
                seal_id: hex::encode(s.seal.id()),
                sealed_at: s.seal.body.sealed_at,
                received_at: s.receipt.as_ref().map(|r| r.body.received_at),
                log_index: s.receipt.as_ref().map(|r| r.body.log_index),
            },
        });
    }
    Ok(out)
}

/// What the regulation prescribes for a flagged subject, and who acts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Consequence {
    pub(crate) what: String,
    pub(crate) who: String,
    pub(crate) source: String,
}

/// One subject of one session, with its session's context: a row of `flagged` and of
/// each person's places in `person`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubjectRow {
    pub(crate) unit: String,
    pub(crate) session: String,
    pub(crate) body: String,
    /// ISO day.
    pub(crate) date: String,
    /// [`tinnhiem_core::domain::Profile::key`].
    pub(crate) profile: String,
    /// [`tinnhiem_core::domain::Procedure::key`].
    pub(crate) procedure: String,
    pub(crate) subject: String,
    pub(crate) person_id: String,
    pub(crate) name: String,
    pub(crate) position: String,
    pub(crate) collected: u64,
    pub(crate) total: u64,
    pub(crate) valid: u64,
    /// Ballots per level of the procedure, by [`tinnhiem_core::domain::Mark::key`], in
    /// the procedure's order.
    pub(crate) counts: ByLevel<u64>,
    /// Percent per level as a decimal with a dot (`"66.67"`), same keys.
    pub(crate) percent: ByLevel<String>,
    /// [`Flag::key`]; `none` when under every threshold.
    pub(crate) flag: String,
    pub(crate) flag_title: String,
    pub(crate) consequence: Option<Consequence>,
}

impl SubjectRow {
    pub(crate) fn of(s: &SessionOnHub, x: &SubjectResult) -> SubjectRow {
        let levels = s.result.procedure.levels();
        let counts = ByLevel(
            levels
                .iter()
                .zip(&x.counts)
                .map(|(l, c)| (l.key().to_string(), *c))
                .collect(),
        );
        let percent = ByLevel(
            levels
                .iter()
                .zip(&x.percent)
                .map(|(l, p)| (l.key().to_string(), p.dot()))
                .collect(),
        );
        SubjectRow {
            unit: s.unit.clone(),
            session: s.result.session.to_string(),
            body: s.meta.body.clone(),
            date: s.meta.date.to_string(),
            profile: s.result.profile.key().to_string(),
            procedure: s.result.procedure.key().to_string(),
            subject: x.id.to_string(),
            person_id: x.person_id.to_string(),
            name: x.name.clone(),
            position: x.position.clone(),
            collected: s.result.collected,
            total: s.result.total,
            valid: x.valid,
            counts,
            percent,
            flag: x.flag.key().to_string(),
            flag_title: x.flag.title().to_string(),
            consequence: x.flag.consequence(s.result.profile).map(|c| Consequence {
                what: c.what.to_string(),
                who: c.who.to_string(),
                source: c.source.to_string(),
            }),
        }
    }

    /// Under every threshold.
    pub(crate) fn unflagged(&self) -> bool {
        self.flag == Flag::None.key()
    }
}

/// `flagged`: every subject over a threshold, with the prescribed consequence and who acts.
pub(crate) fn flagged(hub: Hub<'_>) -> Result<Vec<SubjectRow>> {
    Ok(sessions(hub.store, hub.cache)?
        .iter()
        .flat_map(|s| {
            s.result
                .subjects
                .iter()
                .filter(|x| x.flag != Flag::None)
                .map(move |x| SubjectRow::of(s, x))
        })
        .collect())
}

/// A value per level of a procedure (`high`, `confidence`, `low` or `confidence`,
/// `no_confidence`), in the procedure's order: a JSON object whose key order is that
/// order, read back in the same order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ByLevel<T>(pub(crate) Vec<(String, T)>);

impl<T: Serialize> Serialize for ByLevel<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for ByLevel<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Levels<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Levels<T> {
            type Value = ByLevel<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object by level")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<ByLevel<T>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = a.next_entry()? {
                    out.push((k, v));
                }
                Ok(ByLevel(out))
            }
        }
        d.deserialize_map(Levels(std::marker::PhantomData))
    }
}
