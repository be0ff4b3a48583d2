//! The admin socket: a running `serve` answers `status`, `result` and `registry`
//! commands of the same machine, since the store is locked to the server's process.
//! One JSON request per line, one JSON answer per line. The socket file is mode 0600
//! in the hub's home: only the hub's OS user can use it.

use crate::registry;
use crate::state::{self, HubState};
use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use tinnhiem_core::seal::UnitKey;
use tinnhiem_store::Store;

/// Answers one request against a store.
pub(crate) fn answer(store: &Store, hub: &str, key: &UnitKey, req: &Value) -> Result<Value> {
    match req["cmd"].as_str().unwrap_or("") {
        "aggregate_seal" => {
            let period = req["period"]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .ok_or_else(|| anyhow!("period"))?;
            let agg =
                state::seal_aggregate(store, hub, key, period, chrono::Utc::now().timestamp())?;
            let all = state::aggregates_json(store, hub)?;
            let id = hex::encode(agg.id());
            Ok(all
                .as_array()
                .and_then(|a| a.iter().find(|x| x["id"] == id.as_str()).cloned())
                .unwrap_or(Value::Null))
        }
        "aggregate_list" => state::aggregates_json(store, hub),
        "ingest_paper" => {
            let record = hex::decode(req["record"].as_str().unwrap_or(""))?;
            state::ingest_paper(store, &record, chrono::Utc::now().timestamp())
        }
        "backup" => {
            let dest = req["dest"].as_str().ok_or_else(|| anyhow!("dest"))?;
            Ok(serde_json::to_value(
                store.backup_to(std::path::Path::new(dest))?,
            )?)
        }
        "log_verify" => state::log_verify(store),
        "log_show" => state::log_show(store),
        "status" if !store.health().available => Ok(state::status_unavailable(hub, store)),
        "status" => {
            let mut v = state::status(store, hub)?;
            v["destinations"] = destinations(store, hub, req)?;
            Ok(v)
        }
        "destinations" => destinations(store, hub, req),
        "result" => state::results(store),
        "person" => state::person(store, req["query"].as_str().unwrap_or("")),
        "flagged" => state::flagged(store),
        "deadlines" => {
            let today = req["today"]
                .as_str()
                .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                .unwrap_or_else(|| chrono::Utc::now().date_naive());
            state::deadlines(store, hub, today)
        }
        "registry_list" => Ok(serde_json::to_value(registry::list(store)?)?),
        "registry_add" => {
            let entries: Vec<registry::Entry> = serde_json::from_value(req["entries"].clone())?;
            registry::add(store, &entries, req["add_key"] == true)?;
            Ok(json!({"added": entries.len()}))
        }
        "registry_rotate" => {
            let id = req["unit"].as_str().unwrap_or("");
            registry::rotate(
                store,
                id,
                req["key"].as_str().unwrap_or(""),
                req["at"].as_i64().unwrap_or(0),
            )?;
            Ok(json!({"rotated": id}))
        }
        "registry_revoke" => {
            let id = req["unit"].as_str().unwrap_or("");
            registry::revoke(
                store,
                id,
                req["key"].as_str().unwrap_or(""),
                req["at"].as_i64().unwrap_or(0),
            )?;
            Ok(json!({"revoked": id}))
        }
        other => Err(anyhow!("unknown admin command {other:?}")),
    }
}

/// Delivery to the destinations the request names (the CLI reads them from hub.toml).
fn destinations(store: &Store, hub: &str, req: &Value) -> Result<Value> {
    let dests: Vec<crate::home::Destination> =
        serde_json::from_value(req["destinations"].clone()).unwrap_or_default();
    crate::forward::summary(store, hub, &dests)
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
                let reply = match serde_json::from_str::<Value>(&line) {
                    Ok(req) => {
                        let st = state.clone();
                        let res = tokio::task::spawn_blocking(move || {
                            let changes_registry = req["cmd"]
                                .as_str()
                                .is_some_and(|c| c.starts_with("registry_"));
                            let mut r = answer(&st.store, &st.unit, &st.key, &req);
                            if let (Ok(v), Some("status")) = (&mut r, req["cmd"].as_str()) {
                                // Kept in the serving process only.
                                v["refused_keys"] = st.refused_keys();
                                v["refused_keys_more"] = json!(st.refused_keys_more());
                            }
                            if changes_registry {
                                st.registry_changed();
                            }
                            r
                        })
                        .await;
                        match res {
                            Ok(Ok(v)) => json!({"ok": true, "data": v}),
                            Ok(Err(e)) => json!({"ok": false, "error": format!("{e:#}")}),
                            Err(e) => json!({"ok": false, "error": e.to_string()}),
                        }
                    }
                    Err(e) => json!({"ok": false, "error": format!("bad request: {e}")}),
                };
                if w.write_all(format!("{reply}\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// Sends a request to a running server; `Ok(None)` when none listens.
pub(crate) fn request(path: &Path, req: &Value) -> Result<Option<Value>> {
    let Ok(mut s) = std::os::unix::net::UnixStream::connect(path) else {
        return Ok(None);
    };
    s.write_all(format!("{req}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line)?;
    let v: Value = serde_json::from_str(&line).context("admin answer")?;
    if v["ok"] == true {
        Ok(Some(v["data"].clone()))
    } else {
        Err(anyhow!("{}", v["error"].as_str().unwrap_or("admin error")))
    }
}
