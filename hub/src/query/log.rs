//! `log show` and `log verify`: the transparency log's head, and the whole log checked
//! against every receipt the hub signed.

use super::held::accepted_seals;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use tinnhiem_core::merkle::{leaf_of, verify_inclusion};
use tinnhiem_core::seal::Receipt;
use tinnhiem_store::{Store, Table};

/// `log show`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogHead {
    pub(crate) size: u64,
    /// Hex; empty for an empty log.
    pub(crate) root: String,
}

/// `log verify`. A log that cannot be read says only that (`ok`, `size`, `problems`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogCheck {
    pub(crate) ok: bool,
    pub(crate) size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) root: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) receipts_checked: Option<u64>,
    /// In English, for the operator's log and a bug report.
    pub(crate) problems: Vec<String>,
    /// Items the store lost, waiting for their districts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lost: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) loss_events: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) recovered: Option<u64>,
}

/// `log show`.
pub(crate) fn log_show(store: &Store) -> Result<LogHead> {
    let tree = crate::commit::load_log(store).map_err(|e| anyhow::anyhow!(e))?;
    let size = tree.size();
    Ok(LogHead {
        size,
        root: tree.root(size).map(hex::encode).unwrap_or_default(),
    })
}

/// `log verify`: the whole log against every receipt this hub signed.
pub(crate) fn log_verify(store: &Store) -> Result<LogCheck> {
    let mut problems: Vec<String> = Vec::new();
    let tree = match crate::commit::load_log(store) {
        Ok(t) => t,
        Err(e) => {
            return Ok(LogCheck {
                ok: false,
                size: 0,
                root: None,
                receipts_checked: None,
                problems: vec![format!("log unreadable: {e}")],
                lost: None,
                loss_events: None,
                recovered: None,
            })
        }
    };
    let size = tree.size();
    let mut checked = 0u64;
    let mut ids = BTreeSet::new();
    for (k, v) in store.scan_table(Table::Receipts, b"")? {
        let r = match Receipt::from_bytes(&v) {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("receipt {}: {e}", hex::encode(&k)));
                continue;
            }
        };
        checked += 1;
        ids.insert(r.body.seal_id);
        let b = &r.body;
        let name = format!("{}/{} seq {}", b.unit, b.session, b.seq);
        if b.tree_size > size || b.log_index >= b.tree_size {
            problems.push(format!(
                "{name}: signed a log of {} items, the log has {size}",
                b.tree_size
            ));
            continue;
        }
        // The root the hub signed is a root of this log: nothing before it changed.
        if tree.root(b.tree_size) != Some(b.root) {
            problems.push(format!(
                "{name}: the root signed at size {} is not this log's",
                b.tree_size
            ));
        }
        let proof = tree.inclusion(b.log_index, b.tree_size).unwrap_or_default();
        if !verify_inclusion(
            &leaf_of(&b.seal_id),
            b.log_index,
            b.tree_size,
            &proof,
            &b.root,
        ) {
            problems.push(format!("{name}: not at index {} of the log", b.log_index));
        }
    }
    for (unit, session, seal) in accepted_seals(store)? {
        if !ids.contains(&seal.id()) {
            problems.push(format!(
                "{unit}/{session} seq {}: accepted without a receipt",
                seal.body.seq
            ));
        }
    }
    // Items the store lost (found on start against the log file): named as such, not
    // as a miscount, until their districts deliver them again.
    let loss = crate::leaves::LossRecord::read(store).map_err(|e| anyhow::anyhow!(e))?;
    let missing = loss.missing.len() as u64;
    if missing > 0 {
        let first: Vec<String> = loss
            .missing
            .iter()
            .take(20)
            .map(|i| format!("#{i}"))
            .collect();
        problems.push(format!(
            "{missing} items lost by the store, waiting for their districts to deliver them again: {}",
            first.join(", ")
        ));
    }
    if checked + missing != size {
        problems.push(format!("{size} leaves for {checked} receipts"));
    }
    Ok(LogCheck {
        ok: problems.is_empty(),
        size,
        root: Some(tree.root(size).map(hex::encode).unwrap_or_default()),
        receipts_checked: Some(checked),
        problems,
        lost: Some(missing),
        loss_events: Some(loss.events.len()),
        recovered: Some(loss.recovered),
    })
}
