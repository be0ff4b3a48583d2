//! The admin socket: a running `serve` answers `status`, `result` and `registry`
//! commands of the same machine, since the store is locked to the server's process.
//! One JSON request per line (a [`Request`], named by its `cmd`), one JSON answer per
//! line (`{"ok": true, "data": ANSWER}` or `{"ok": false, "error": TEXT}`). The socket
//! file is mode 0600 in the hub's home: only the hub's OS user can use it.

use crate::home::Destination;
use crate::query::aggregates::{aggregate_list, aggregate_view, seal_aggregate, AggregateView};
use crate::query::deadlines::{deadlines, Deadlines};
use crate::query::log::{log_show, log_verify, LogCheck, LogHead};
use crate::query::paper::{ingest_paper, PaperTaken};
use crate::query::person::{person, PersonReport};
use crate::query::results::{flagged, results, SessionResultRow, SubjectRow};
use crate::query::status::{status, status_down, StatusReport};
use crate::query::Hub;
use crate::registry;
use crate::state::HubState;
use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tinnhiem_core::seal::UnitKey;

/// What a caller may ask. The names on the wire (`cmd` and the fields) are those the
/// CLI and scripts have always sent; a field a request needs and lacks is refused,
/// never read as empty, zero or 1970.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub(crate) enum Request {
    /// Seal this hub's aggregate of a period (a year).
    AggregateSeal {
        period: i32,
    },
    AggregateList,
    /// A paper record read from a QR code, hex.
    IngestPaper {
        record: String,
    },
    /// A consistent copy of the store into `dest`, which must not exist.
    Backup {
        dest: PathBuf,
    },
    LogVerify,
    LogShow,
    /// `status`, with delivery to the upper hubs named (the CLI reads them from
    /// hub.toml; none named, none shown).
    Status {
        #[serde(default)]
        destinations: Vec<Destination>,
    },
    Destinations {
        #[serde(default)]
        destinations: Vec<Destination>,
    },
    Result,
    Person {
        query: String,
    },
    Flagged,
    /// On `today` (ISO day), or on today's date when absent or null.
    Deadlines {
        #[serde(default)]
        today: Option<chrono::NaiveDate>,
    },
    RegistryList,
    RegistryAdd {
        entries: Vec<registry::Entry>,
        #[serde(default)]
        add_key: bool,
    },
    /// From `at`, Unix seconds.
    RegistryRotate {
        unit: String,
        key: String,
        at: i64,
    },
    RegistryRevoke {
        unit: String,
        key: String,
        at: i64,
    },
}

impl Request {
    /// Writes the registry: the serving process forgets its key index after it.
    fn changes_registry(&self) -> bool {
        matches!(
            self,
            Request::RegistryAdd { .. }
                | Request::RegistryRotate { .. }
                | Request::RegistryRevoke { .. }
        )
    }
}

/// What a request answers, as the `data` of the reply.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum Answer {
    Status(StatusReport),
    Results(Vec<SessionResultRow>),
    Person(PersonReport),
    Flagged(Vec<SubjectRow>),
    Deadlines(Deadlines),
    Aggregate(AggregateView),
    Aggregates(Vec<AggregateView>),
    Paper(PaperTaken),
    Backup(tinnhiem_store::BackupSummary),
    LogCheck(LogCheck),
    LogHead(LogHead),
    /// `forward::summary`'s answer, as it gives it.
    Destinations(Value),
    Registry(Vec<registry::Entry>),
    Added {
        added: usize,
    },
    Rotated {
        rotated: String,
    },
    Revoked {
        revoked: String,
    },
}

/// Answers one request against a hub's store.
pub(crate) fn answer(hub: Hub<'_>, key: &UnitKey, req: &Request) -> Result<Answer> {
    let store = hub.store;
    Ok(match req {
        Request::AggregateSeal { period } => {
            let agg = seal_aggregate(hub, key, *period, chrono::Utc::now().timestamp())?;
            Answer::Aggregate(aggregate_view(store, hub.unit, &agg))
        }
        Request::AggregateList => Answer::Aggregates(aggregate_list(store, hub.unit)?),
        Request::IngestPaper { record } => {
            let record = hex::decode(record).context("record")?;
            Answer::Paper(ingest_paper(
                store,
                &record,
                chrono::Utc::now().timestamp(),
            )?)
        }
        Request::Backup { dest } => Answer::Backup(store.backup_to(dest)?),
        Request::LogVerify => Answer::LogCheck(log_verify(store)?),
        Request::LogShow => Answer::LogHead(log_show(store)?),
        Request::Status { .. } if !store.health().available => {
            Answer::Status(StatusReport::Down(Box::new(status_down(hub.unit, store))))
        }
        Request::Status { destinations } => {
            let mut s = status(hub, chrono::Utc::now().date_naive())?;
            s.destinations = Some(crate::forward::summary(store, hub.unit, destinations)?);
            Answer::Status(StatusReport::Up(Box::new(s)))
        }
        Request::Destinations { destinations } => {
            Answer::Destinations(crate::forward::summary(store, hub.unit, destinations)?)
        }
        Request::Result => Answer::Results(results(hub)?),
        Request::Person { query } => Answer::Person(person(hub, query)?),
        Request::Flagged => Answer::Flagged(flagged(hub)?),
        Request::Deadlines { today } => Answer::Deadlines(deadlines(
            hub,
            today.unwrap_or_else(|| chrono::Utc::now().date_naive()),
        )?),
        Request::RegistryList => Answer::Registry(registry::list(store)?),
        Request::RegistryAdd { entries, add_key } => {
            registry::add(store, entries, *add_key)?;
            Answer::Added {
                added: entries.len(),
            }
        }
        Request::RegistryRotate { unit, key, at } => {
            registry::rotate(store, unit, key, *at)?;
            Answer::Rotated {
                rotated: unit.clone(),
            }
        }
        Request::RegistryRevoke { unit, key, at } => {
            registry::revoke(store, unit, key, *at)?;
            Answer::Revoked {
                revoked: unit.clone(),
            }
        }
    })
}

/// Answers one line in the serving process: the request, then what only this process
/// knows (the keys refused at its door).
fn answer_line(st: &HubState, line: &str) -> Value {
    let req: Request = match serde_json::from_str(line) {
        Ok(r) => r,
        Err(e) => return json!({"ok": false, "error": format!("bad request: {e}")}),
    };
    let r = answer(st.queries(), &st.key, &req).map(|a| match a {
        Answer::Status(s) => {
            Answer::Status(s.with_refused(st.refused_keys(), st.refused_keys_more()))
        }
        other => other,
    });
    if req.changes_registry() {
        st.registry_changed();
    }
    match r.and_then(|a| Ok(serde_json::to_value(a)?)) {
        Ok(v) => json!({"ok": true, "data": v}),
        Err(e) => json!({"ok": false, "error": format!("{e:#}")}),
    }
}

/// Serves the admin socket until the task is dropped.
pub(crate) async fn serve(path: &Path, state: Arc<HubState>) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = tokio::net::UnixListener::bind(path)
        .with_context(|| format!("admin socket {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    loop {
        let (stream, _) = listener.accept().await?;
        let state = state.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
            let (r, mut w) = stream.into_split();
            let mut lines = tokio::io::BufReader::new(r).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let st = state.clone();
                let reply = tokio::task::spawn_blocking(move || answer_line(&st, &line))
                    .await
                    .unwrap_or_else(|e| json!({"ok": false, "error": e.to_string()}));
                if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends a request to a running server; `Ok(None)` when none listens.
pub(crate) fn request(path: &Path, req: &Request) -> Result<Option<Value>> {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) else {
        return Ok(None);
    };
    s.write_all(format!("{}\n", serde_json::to_string(req)?).as_bytes())?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    #[derive(Deserialize)]
    struct Reply {
        ok: bool,
        #[serde(default)]
        data: Value,
        #[serde(default)]
        error: Option<String>,
    }
    let v: Reply = serde_json::from_str(&line).context("admin answer")?;
    if v.ok {
        Ok(Some(v.data))
    } else {
        Err(anyhow!(
            "{}",
            v.error.unwrap_or_else(|| "admin error".to_string())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::Request;

    fn parse(line: &str) -> Result<Request, String> {
        serde_json::from_str(line).map_err(|e| e.to_string())
    }

    #[test]
    fn requests_keep_the_names_callers_send() {
        for line in [
            r#"{"cmd": "status", "destinations": []}"#,
            r#"{"cmd": "status"}"#,
            r#"{"cmd": "result"}"#,
            r#"{"cmd": "flagged"}"#,
            r#"{"cmd": "person", "query": "nguyen van a"}"#,
            r#"{"cmd": "deadlines", "today": null}"#,
            r#"{"cmd": "deadlines", "today": "2024-01-15"}"#,
            r#"{"cmd": "aggregate_seal", "period": 2023}"#,
            r#"{"cmd": "aggregate_list"}"#,
            r#"{"cmd": "log_show"}"#,
            r#"{"cmd": "log_verify"}"#,
            r#"{"cmd": "registry_list"}"#,
            r#"{"cmd": "registry_rotate", "unit": "u", "key": "k", "at": 1700000000}"#,
            r#"{"cmd": "ingest_paper", "record": "00"}"#,
            r#"{"cmd": "backup", "dest": "/tmp/x"}"#,
        ] {
            parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        }
        // And sends them so.
        let v = serde_json::to_value(Request::RegistryRevoke {
            unit: "u".into(),
            key: "k".into(),
            at: 5,
        })
        .expect("json");
        assert_eq!(
            v,
            serde_json::json!({"cmd": "registry_revoke", "unit": "u", "key": "k", "at": 5})
        );
    }

    #[test]
    fn a_missing_field_is_refused_not_read_as_empty_or_1970() {
        for (line, field) in [
            (
                r#"{"cmd": "registry_rotate", "unit": "u", "key": "k"}"#,
                "at",
            ),
            (r#"{"cmd": "registry_revoke", "key": "k", "at": 1}"#, "unit"),
            (r#"{"cmd": "person"}"#, "query"),
            (r#"{"cmd": "aggregate_seal"}"#, "period"),
            (r#"{"cmd": "ingest_paper"}"#, "record"),
            (r#"{"cmd": "backup"}"#, "dest"),
        ] {
            let e = parse(line).expect_err(line);
            assert!(e.contains(field), "{line}: {e}");
        }
        assert!(parse(r#"{"cmd": "deadlines", "today": "15/01/2024"}"#).is_err());
        assert!(parse(r#"{"cmd": "drop_everything"}"#).is_err());
        assert!(parse(r#"{"period": 2023}"#).is_err());
    }
}
