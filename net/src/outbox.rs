//! The outbox: every seal's delivery to every destination, and the loop that drives
//! [`crate::client::deliver`] until each has a verified receipt.
//!
//! A node delivers its own seals to its hub; a hub forwards every seal it accepted (its
//! districts', unchanged) to each upper destination. Both use this module: what to
//! deliver and where the store is come from an [`Outbox`].
//!
//! Pending work is derived, never enqueued: a delivery record is created the first time
//! a seal is seen without one. So a crash between "accepted" and "queued" cannot exist,
//! and a destination down for hours gets everything when it is back, once (a receipt
//! is final; the hub answers the same seal with the same receipt).

pub mod retry;

use crate::client::{deliver, DeliverError};
use crate::{self as net, Backoff, KeyVerdict, NetConfig};
use serde::{Deserialize, Serialize};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};
use tinnhiem_core::doc::{DocError, SessionDoc};
use tinnhiem_core::proto::node::{Event, Extras, Job, NodeSession};
use tinnhiem_core::proto::RejectReason;
use tinnhiem_core::seal::{Aggregate, PublicKey, Seal, UnitKey};
use tinnhiem_store::{Store, StoreError, Table, Write};

/// Why the outbox could not do its work.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored delivery record that does not decode.
    #[error("bản ghi gửi đi hỏng: {0}")]
    Record(#[from] serde_json::Error),
    /// A stored document that does not load.
    #[error(transparent)]
    Doc(#[from] DocError),
    /// The destination's address.
    #[error("địa chỉ «{0}» không phân giải được")]
    Address(String),
    /// The QUIC endpoint.
    #[error("không mở được cổng mạng: {0}")]
    Endpoint(String),
    /// What the source of seals says.
    #[error("{0}")]
    Source(String),
}

/// Where one delivery stands. Stored in JSON by these names (`pending`, `sent`,
/// `received`, `rejected`), as the string field of earlier releases held them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Not sent on any connection yet (or to be sent again).
    Pending,
    /// Sent; no answer yet.
    Sent,
    /// A verified receipt is held: final.
    Received,
    /// The destination refused it ([`Delivery::reject_reason`] says why).
    Rejected,
}

impl DeliveryState {
    /// The stored name.
    pub fn key(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sent => "sent",
            DeliveryState::Received => "received",
            DeliveryState::Rejected => "rejected",
        }
    }

    /// The state a stored name stands for.
    pub fn from_key(key: &str) -> Option<DeliveryState> {
        [
            DeliveryState::Pending,
            DeliveryState::Sent,
            DeliveryState::Received,
            DeliveryState::Rejected,
        ]
        .into_iter()
        .find(|s| s.key() == key)
    }

    /// In Vietnamese, for `status` and the pages.
    pub fn title(self) -> &'static str {
        match self {
            DeliveryState::Pending => "chờ gửi",
            DeliveryState::Sent => "đã gửi, chờ biên nhận",
            DeliveryState::Received => "đã có biên nhận",
            DeliveryState::Rejected => "bị từ chối",
        }
    }
}

impl std::fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.key())
    }
}

/// Why a destination refused a delivery: a rejection in the conversation, or our key
/// refused at the handshake (which has no [`RejectReason`]: the TLS alert says it).
/// Stored as its code, a plain string (`other_unit`, `unknown_key`), as earlier
/// releases stored it; a code this build does not know (a newer release's) is kept
/// as it is and never retried by itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Refusal {
    /// The destination's answer in the conversation.
    Hub(RejectReason),
    /// The hub refused our key at the handshake: it does not know it.
    UnknownKey,
    /// The hub refused our key at the handshake: its window there is closed.
    ClosedKey,
    /// A code this build does not know.
    Other(String),
}

impl Refusal {
    /// The stable code.
    pub fn code(&self) -> &str {
        match self {
            Refusal::Hub(r) => r.code(),
            Refusal::UnknownKey => UNKNOWN_KEY,
            Refusal::ClosedKey => CLOSED_KEY,
            Refusal::Other(code) => code,
        }
    }

    /// Whether a refusal of this kind may pass later without a change on this side
    /// (a change at the destination, such as enrolling our key, is enough).
    pub fn transient(&self) -> bool {
        match self {
            Refusal::Hub(r) => r.transient(),
            Refusal::UnknownKey | Refusal::ClosedKey => true,
            Refusal::Other(_) => false,
        }
    }

    /// In Vietnamese (for `status` and the pages).
    pub fn title(&self) -> String {
        match self {
            Refusal::Hub(r) => r.title().to_owned(),
            Refusal::UnknownKey => "máy chủ chưa đăng ký khóa của đơn vị này".into(),
            Refusal::ClosedKey => "khóa của đơn vị này đã bị thu hồi ở máy chủ".into(),
            Refusal::Other(code) => code.clone(),
        }
    }
}

impl From<String> for Refusal {
    fn from(code: String) -> Refusal {
        match code.as_str() {
            UNKNOWN_KEY => Refusal::UnknownKey,
            CLOSED_KEY => Refusal::ClosedKey,
            c => RejectReason::from_code(c).map_or(Refusal::Other(code), Refusal::Hub),
        }
    }
}

impl From<Refusal> for String {
    fn from(r: Refusal) -> String {
        r.code().to_owned()
    }
}

impl From<RejectReason> for Refusal {
    fn from(r: RejectReason) -> Refusal {
        Refusal::Hub(r)
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// One seal's delivery to one destination.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Delivery {
    /// The document's name on the wire ([`tinnhiem_core::proto::doc_name`]).
    pub session: String,
    /// The seal's sequence number.
    pub seq: u32,
    /// Hex of [`Seal::id`].
    pub seal_id: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Times the seal went out.
    pub attempts: u32,
    /// The last connection error, for the operator.
    pub last_error: Option<String>,
    /// Unix seconds of the last change.
    pub updated_at: i64,
    /// Hex of the verified receipt.
    pub receipt: Option<String>,
    /// When the destination stored it (from the receipt).
    pub received_at: Option<i64>,
    /// The destination's log index (from the receipt).
    pub log_index: Option<u64>,
    /// Why it was refused (stored as the stable code).
    pub reject_reason: Option<Refusal>,
    /// The rejection's detail.
    pub reject_detail: Option<String>,
    /// A receipt the destination can no longer prove (its store lost the item): kept
    /// as evidence while the item goes again; cleared by the new receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_receipt: Option<String>,
    /// Unix seconds when the destination said it lost the item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost_at: Option<i64>,
    /// Unix milliseconds of the next connection attempt after `last_error` (the backoff's
    /// pause), so that a clerk reads when it will be tried again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_try_ms: Option<i64>,
}

/// The code of [`Refusal::UnknownKey`].
pub const UNKNOWN_KEY: &str = "unknown_key";
/// The code of [`Refusal::ClosedKey`].
pub const CLOSED_KEY: &str = "closed_key";

impl Delivery {
    /// Whether a retry may succeed without a change here (a change at the destination,
    /// such as enrolling our key, is enough): retried on the stored schedule. Any other
    /// rejection waits for the clerk (a new seal, or `sync --once --retry-now`).
    pub fn retryable(&self) -> bool {
        self.reject_reason.as_ref().is_none_or(Refusal::transient)
    }

    /// Whether a verified receipt is held (final).
    pub fn received(&self) -> bool {
        self.state == DeliveryState::Received
    }
}

/// What to deliver and where the store is.
pub trait Outbox {
    /// Runs `f` on the store: a node opens its store for the moment (so that its other
    /// commands keep working beside `sync --daemon`); a hub lends the one it holds.
    fn with_store<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError>;
    /// Every seal there is to deliver, with its document's name on the wire.
    fn sealed(&self, store: &Store) -> Result<Vec<(String, Seal)>, OutboxError>;
    /// The saved document of a name [`Outbox::sealed`] gave.
    fn doc(&self, store: &Store, name: &str) -> Result<Option<Vec<u8>>, OutboxError>;
    /// A hub's own sealed aggregates, to deliver after the seals they name.
    fn aggregates(&self, store: &Store) -> Result<Vec<Aggregate>, OutboxError> {
        let _ = store;
        Ok(Vec::new())
    }
    /// Enrollments to send in the Hello (a hub's descendants), parents first.
    fn enrollments(&self, store: &Store) -> Result<Vec<Vec<u8>>, OutboxError> {
        let _ = store;
        Ok(Vec::new())
    }
}

/// Where to deliver: an address and the pinned key of the hub there.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `HOST:PORT` of the hub's QUIC endpoint.
    pub addr: String,
    /// The hub's public key, 64 hex characters.
    pub key: String,
}

impl Target {
    /// The pinned key.
    pub fn key(&self) -> Result<PublicKey, OutboxError> {
        PublicKey::from_hex(&self.key)
            .map_err(|e| OutboxError::Source(format!("khóa máy chủ «{}»: {e}", self.key)))
    }

    /// The address, resolved now (DNS may change between rounds).
    pub fn resolve(&self) -> Result<SocketAddr, OutboxError> {
        self.addr
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| OutboxError::Address(self.addr.clone()))
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn outbox_key(dest: &PublicKey, name: &str, seq: u32) -> Vec<u8> {
    let mut k = sync_key(dest, name);
    k.push(0);
    k.extend(seq.to_be_bytes());
    k
}

/// Where `dest`'s delivery records start in the outbox table.
fn dest_prefix(dest: &PublicKey) -> Vec<u8> {
    let mut k = dest.to_hex().into_bytes();
    k.push(0);
    k
}

fn sync_key(dest: &PublicKey, name: &str) -> Vec<u8> {
    let mut k = dest.to_hex().into_bytes();
    k.push(0);
    k.extend(name.as_bytes());
    k
}

/// Every seal with its delivery to `dest` (made `pending`, durably, when missing).
pub fn deliveries(
    outbox: &impl Outbox,
    store: &Store,
    dest: &PublicKey,
) -> Result<Vec<(Seal, Delivery)>, OutboxError> {
    with_deliveries(store, dest, seal_items(outbox, store)?, Missing::Create)
}

/// [`deliveries`] for a reader (`status`, the pages, `/metrics`): a seal without a
/// record reads as a fresh pending one, and nothing is written. A scrape every few
/// seconds made records durably, one fsync each, on the hub's disk.
pub fn deliveries_read(
    outbox: &impl Outbox,
    store: &Store,
    dest: &PublicKey,
) -> Result<Vec<(Seal, Delivery)>, OutboxError> {
    with_deliveries(store, dest, seal_items(outbox, store)?, Missing::Show)
}

/// Something to deliver: its name on the wire, seq, id, and itself.
type Item<T> = (String, u32, [u8; 32], T);

fn seal_items(outbox: &impl Outbox, store: &Store) -> Result<Vec<Item<Seal>>, OutboxError> {
    Ok(outbox
        .sealed(store)?
        .into_iter()
        .map(|(name, seal)| (name, seal.body.seq, seal.id(), seal))
        .collect())
}

fn aggregate_items(
    outbox: &impl Outbox,
    store: &Store,
) -> Result<Vec<Item<Aggregate>>, OutboxError> {
    Ok(outbox
        .aggregates(store)?
        .into_iter()
        .map(|a| (a.name(), a.body.seq, a.id(), a))
        .collect())
}

/// Every aggregate of the outbox with its delivery to `dest`.
pub fn aggregate_deliveries(
    outbox: &impl Outbox,
    store: &Store,
    dest: &PublicKey,
) -> Result<Vec<(Aggregate, Delivery)>, OutboxError> {
    with_deliveries(
        store,
        dest,
        aggregate_items(outbox, store)?,
        Missing::Create,
    )
}

/// [`aggregate_deliveries`] for a reader: nothing is written.
pub fn aggregate_deliveries_read(
    outbox: &impl Outbox,
    store: &Store,
    dest: &PublicKey,
) -> Result<Vec<(Aggregate, Delivery)>, OutboxError> {
    with_deliveries(store, dest, aggregate_items(outbox, store)?, Missing::Show)
}

/// What to do with an item that has no delivery record yet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Missing {
    /// Write a pending record durably (the delivery loop).
    Create,
    /// Show a pending record, write nothing (readers).
    Show,
}

/// Pairs each item (name, seq, id, item) with its delivery record.
fn with_deliveries<T>(
    store: &Store,
    dest: &PublicKey,
    items: Vec<Item<T>>,
    missing_records: Missing,
) -> Result<Vec<(T, Delivery)>, OutboxError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for (name, seq, id, item) in items {
        let k = outbox_key(dest, &name, seq);
        let d = match store.read(Table::Outbox, &k)? {
            Some(v) => serde_json::from_slice(&v)?,
            None => {
                let d = Delivery {
                    session: name,
                    seq,
                    seal_id: hex::encode(id),
                    state: DeliveryState::Pending,
                    attempts: 0,
                    last_error: None,
                    updated_at: now(),
                    receipt: None,
                    received_at: None,
                    log_index: None,
                    reject_reason: None,
                    reject_detail: None,
                    lost_receipt: None,
                    lost_at: None,
                    next_try_ms: None,
                };
                if missing_records == Missing::Create {
                    missing.push(Write::Put(Table::Outbox, k, serde_json::to_vec(&d)?));
                }
                d
            }
        };
        out.push((item, d));
    }
    if !missing.is_empty() {
        store.batch(&missing)?;
    }
    Ok(out)
}

fn update(
    store: &Store,
    dest: &PublicKey,
    name: &str,
    seq: u32,
    f: impl FnOnce(&mut Delivery),
) -> Result<(), OutboxError> {
    let k = outbox_key(dest, name, seq);
    let Some(v) = store.read(Table::Outbox, &k)? else {
        return Ok(());
    };
    let mut d: Delivery = serde_json::from_slice(&v)?;
    if d.received() {
        return Ok(()); // a receipt is final
    }
    f(&mut d);
    d.updated_at = now();
    let w = [Write::Put(Table::Outbox, k, serde_json::to_vec(&d)?)];
    // "sent" may be lost in a crash at no cost (the seal goes again); an answer may not.
    if d.state == DeliveryState::Sent {
        store.batch_lazy(&w)?;
    } else {
        store.batch(&w)?;
    }
    Ok(())
}

fn schedule_key(dest: &PublicKey) -> Vec<u8> {
    format!("retry/{}", dest.to_hex()).into_bytes()
}

/// When refused work goes to `dest` again, if it refused anything since its last
/// receipt.
pub fn schedule(store: &Store, dest: &PublicKey) -> Result<Option<retry::Schedule>, OutboxError> {
    match store.read(Table::Meta, &schedule_key(dest))? {
        // Empty: cleared by a receipt (the store has no deletes).
        Some(v) if !v.is_empty() => Ok(Some(serde_json::from_slice(&v)?)),
        _ => Ok(None),
    }
}

/// A receipt came: the next refusal starts the schedule from the beginning.
fn clear_schedule(store: &Store, dest: &PublicKey) -> Result<(), OutboxError> {
    if schedule(store, dest)?.is_some() {
        store.batch(&[Write::Put(Table::Meta, schedule_key(dest), Vec::new())])?;
    }
    Ok(())
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One more refusal from `dest`: the next attempt moves out, durably.
fn refused_again(
    store: &Store,
    dest: &PublicKey,
    code: &Refusal,
    detail: &str,
) -> Result<retry::Schedule, OutboxError> {
    let prev = schedule(store, dest)?;
    let mut j = [0u8; 8];
    let _ = getrandom::getrandom(&mut j);
    let next = retry::after_refusal(prev.as_ref(), now_ms(), code, detail, u64::from_le_bytes(j));
    store.batch(&[Write::Put(
        Table::Meta,
        schedule_key(dest),
        serde_json::to_vec(&next)?,
    )])?;
    Ok(next)
}

fn log_head_key(dest: &PublicKey) -> Vec<u8> {
    format!("log_head/{}", dest.to_hex()).into_bytes()
}

fn log_alarm_key(dest: &PublicKey) -> Vec<u8> {
    format!("log_alarm/{}", dest.to_hex()).into_bytes()
}

/// The latest head (size, root) of `dest`'s log verified here.
pub fn known_log(store: &Store, dest: &PublicKey) -> Result<Option<(u64, [u8; 32])>, OutboxError> {
    Ok(store.read(Table::Meta, &log_head_key(dest))?.and_then(|v| {
        let size = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
        let root: [u8; 32] = v.get(8..40)?.try_into().ok()?;
        Some((size, root))
    }))
}

/// A hub caught signing two log states that cannot both be true.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LogAlarm {
    /// Unix seconds when caught.
    pub at: i64,
    /// What did not match.
    pub detail: String,
}

/// The alarm raised against `dest`'s log, if any: it stays until an operator looks.
pub fn log_alarm(store: &Store, dest: &PublicKey) -> Result<Option<LogAlarm>, OutboxError> {
    match store.read(Table::Meta, &log_alarm_key(dest))? {
        Some(v) => Ok(Some(serde_json::from_slice(&v)?)),
        None => Ok(None),
    }
}

/// Records one protocol event durably.
/// Records one event of a connection to `dest` in the outbox: durably, but sync
/// progress (lazily). `run_until` calls it for every event; so does a driver that is
/// not tokio and quinn (the whole-system simulator, `tinnhiem-sim`).
pub fn record(store: &Store, dest: &PublicKey, ev: &Event) -> Result<(), OutboxError> {
    match ev {
        Event::SealSent { session, seq } => update(store, dest, session, *seq, |d| {
            d.state = DeliveryState::Sent;
            d.attempts += 1;
        }),
        Event::Receipt {
            session,
            seq,
            receipt,
        } => update(store, dest, session, *seq, |d| {
            d.state = DeliveryState::Received;
            d.receipt = Some(hex::encode(receipt.to_bytes()));
            d.received_at = Some(receipt.body.received_at);
            d.log_index = Some(receipt.body.log_index);
            d.last_error = None;
            d.next_try_ms = None;
            if d.lost_receipt.is_some() {
                tracing::info!(session = %d.session, seq = d.seq, index = receipt.body.log_index,
                    "the destination holds the item again");
            }
        }),
        Event::Rejected {
            session,
            seq,
            reason,
            detail,
        } => update(store, dest, session, *seq, |d| {
            d.state = DeliveryState::Rejected;
            d.reject_reason = Some(Refusal::Hub(*reason));
            d.reject_detail = Some(detail.clone());
        }),
        Event::SyncState { session, state } => {
            // Sync progress: losing it costs a longer sync, never a wrong result.
            store.batch_lazy(&[Write::Put(
                Table::SyncState,
                sync_key(dest, session),
                state.clone(),
            )])?;
            Ok(())
        }
        Event::LogHead { size, root } => {
            let mut v = size.to_be_bytes().to_vec();
            v.extend(root);
            store.batch(&[Write::Put(Table::Meta, log_head_key(dest), v)])?;
            Ok(())
        }
        Event::LogInconsistent { detail } => {
            let alarm = LogAlarm {
                at: now(),
                detail: detail.clone(),
            };
            store.batch(&[Write::Put(
                Table::Meta,
                log_alarm_key(dest),
                serde_json::to_vec(&alarm)?,
            )])?;
            tracing::error!(dest = %dest.to_hex(), "{detail}");
            Ok(())
        }
        Event::Lost { items, from_index } => reopen_lost(store, dest, items, *from_index),
        Event::ProtocolError(_) | Event::DocFinished { .. } | Event::Done => Ok(()),
    }
}

/// The destination can no longer prove some receipts: each delivery received there
/// whose receipt names a lost item (its index and leaf), or an index at or past
/// `from_index`, goes again. The old receipt stays, as evidence, in `lost_receipt`.
fn reopen_lost(
    store: &Store,
    dest: &PublicKey,
    items: &[tinnhiem_core::proto::LostItem],
    from_index: Option<u64>,
) -> Result<(), OutboxError> {
    use tinnhiem_core::merkle::leaf_of;
    let lost: std::collections::BTreeMap<u64, [u8; 32]> =
        items.iter().map(|i| (i.index, i.leaf)).collect();
    let mut writes = Vec::new();
    let prefix = dest_prefix(dest);
    for (k, v) in store.scan_table(Table::Outbox, &prefix)? {
        let mut d: Delivery = serde_json::from_slice(&v)?;
        let (Some(index), Some(receipt)) = (d.log_index, d.receipt.clone()) else {
            continue;
        };
        if !d.received() {
            continue;
        }
        let id: Option<[u8; 32]> = hex::decode(&d.seal_id).ok().and_then(|b| b.try_into().ok());
        let named = id.is_some_and(|id| lost.get(&index) == Some(&leaf_of(&id)));
        let past = from_index.is_some_and(|f| index >= f);
        if !(named || past) {
            continue;
        }
        tracing::warn!(dest = %dest.to_hex(), session = %d.session, seq = d.seq, index,
            "the destination lost an item it had receipted; delivering it again");
        d.state = DeliveryState::Pending;
        d.lost_receipt = Some(receipt);
        d.lost_at = Some(now());
        d.receipt = None;
        d.received_at = None;
        d.updated_at = now();
        writes.push(Write::Put(Table::Outbox, k, serde_json::to_vec(&d)?));
    }
    if !writes.is_empty() {
        store.batch(&writes)?;
    }
    Ok(())
}

/// The jobs still to deliver: seals not received (and not refused for good, unless
/// `retry_rejected`; only those never offered, while `fresh_only`: the destination's
/// schedule holds the rest back), with the enrollments to send.
fn load_jobs(
    outbox: &impl Outbox,
    dest: &PublicKey,
    device: &[u8],
    retry_rejected: bool,
    fresh_only: bool,
) -> Result<Pending, OutboxError> {
    on_store(outbox, |store| {
        let wanted = |d: &Delivery| match d.state {
            DeliveryState::Received => false,
            DeliveryState::Pending => true,
            _ if fresh_only => false,
            DeliveryState::Rejected => retry_rejected || d.retryable(),
            DeliveryState::Sent => true,
        };
        let aggregates: Vec<Aggregate> = aggregate_deliveries(outbox, store, dest)?
            .into_iter()
            .filter(|(_, d)| wanted(d))
            .map(|(a, _)| a)
            .collect();
        let all = deliveries(outbox, store, dest)?;
        let mut by_name: std::collections::BTreeMap<String, Vec<Seal>> = Default::default();
        for (seal, d) in all {
            if wanted(&d) {
                by_name.entry(d.session).or_default().push(seal);
            }
        }
        let mut jobs = Vec::new();
        for (name, seals) in by_name {
            let Some(bytes) = outbox.doc(store, &name)? else {
                continue;
            };
            let doc = SessionDoc::load(&bytes, device)?;
            let sync_state = store.read(Table::SyncState, &sync_key(dest, &name))?;
            jobs.push(Job {
                doc,
                sync_state,
                seals,
            });
        }
        let enrollments = if jobs.is_empty() && aggregates.is_empty() {
            Vec::new()
        } else {
            outbox.enrollments(store)?
        };
        Ok(Pending {
            jobs,
            enrollments,
            aggregates,
            known_log: known_log(store, dest)?,
        })
    })
}

/// What one connection will deliver.
pub struct Pending {
    /// Documents with their seals not yet received.
    pub jobs: Vec<Job>,
    /// Enrollments for the Hello.
    pub enrollments: Vec<Vec<u8>>,
    /// Aggregates not yet received.
    pub aggregates: Vec<Aggregate>,
    /// The destination's latest log head verified before.
    pub known_log: Option<(u64, [u8; 32])>,
}

/// What the next connection to `dest` delivers, as `run_until` loads it (no refused
/// work held back): for a driver that is not tokio and quinn (`tinnhiem-sim`).
pub fn pending(
    outbox: &impl Outbox,
    dest: &PublicKey,
    device: &[u8],
) -> Result<Pending, OutboxError> {
    load_jobs(outbox, dest, device, false, false)
}

/// The destination refused our key: every delivery not received says so (none stays
/// "sent, waiting for a receipt"), except those already refused for good.
fn mark_refused(
    outbox: &impl Outbox,
    dest: &PublicKey,
    code: &Refusal,
    detail: &str,
) -> Result<(), OutboxError> {
    on_store(outbox, |store| {
        for (_, d) in deliveries(outbox, store, dest)? {
            if !d.received() && d.retryable() {
                update(store, dest, &d.session, d.seq, |x| {
                    x.state = DeliveryState::Rejected;
                    x.reject_reason = Some(code.clone());
                    x.reject_detail = Some(detail.to_owned());
                    x.last_error = None;
                    x.next_try_ms = None;
                })?;
            }
        }
        Ok(())
    })
}

/// Records a failed (or still unanswered) connection on every delivery not received,
/// with when the next attempt is (`None`: this one is still going on). One batch, one
/// fsync, however many deliveries wait: a district with a hundred seals and a dead
/// link paid a hundred fsyncs per attempt.
fn mark_error(
    outbox: &impl Outbox,
    dest: &PublicKey,
    msg: &str,
    next_try_ms: Option<i64>,
) -> Result<(), OutboxError> {
    on_store(outbox, |store| {
        let at = now();
        let mut writes = Vec::new();
        let mut answered = false;
        for (_, mut d) in deliveries(outbox, store, dest)? {
            if d.received() {
                continue;
            }
            answered |= d.state != DeliveryState::Sent;
            d.last_error = Some(msg.to_owned());
            d.next_try_ms = next_try_ms;
            d.updated_at = at;
            let k = outbox_key(dest, &d.session, d.seq);
            writes.push(Write::Put(Table::Outbox, k, serde_json::to_vec(&d)?));
        }
        // As in `update`: "sent" records may be lost at no cost, the others are answers.
        if answered {
            store.batch(&writes)?;
        } else if !writes.is_empty() {
            store.batch_lazy(&writes)?;
        }
        Ok(())
    })
}

/// How often a daemon with nothing to deliver still asks its destination for its log
/// head and what it lost: 60 s, or `TINNHIEM_CHECK_INTERVAL_SECS` (1 to 86,400).
/// A handshake and two small messages; a hundred districts cost the hub nothing.
pub fn check_interval() -> Duration {
    std::env::var("TINNHIEM_CHECK_INTERVAL_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|s| (1..=86_400).contains(s))
        .map_or(Duration::from_secs(60), Duration::from_secs)
}

/// [`Outbox::with_store`] from the delivery loop, which runs on a tokio worker: the
/// store's writes wait for fsync, and a worker blocked on the disk stalled every other
/// task of the runtime (the node's pages beside `serve --sync`, the hub's connections
/// beside its forwarders). On a multi-thread runtime the worker first hands its other
/// tasks to another thread (`block_in_place`: the closure borrows the outbox, which
/// `spawn_blocking` could not take); elsewhere (a current-thread runtime, or none, as
/// in the simulator) the work runs in place.
fn on_store<T>(
    outbox: &impl Outbox,
    f: impl FnOnce(&Store) -> Result<T, OutboxError>,
) -> Result<T, OutboxError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| outbox.with_store(f))
        }
        _ => outbox.with_store(f),
    }
}

/// Totals of a delivery run.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    /// Connections made.
    pub connections: u32,
    /// UDP bytes both ways.
    pub wire_bytes: u64,
    /// Protocol payload bytes both ways.
    pub payload_bytes: u64,
    /// The destination refused something: the run stopped there, and this is when it
    /// will be asked again.
    pub refused: Option<retry::Schedule>,
    /// The hub refused our key at the handshake: its unit, if its certificate named one.
    pub key_refused_by: Option<Option<String>>,
    /// Refused work that waited for its schedule and was not offered.
    pub held_back: usize,
}

/// Who delivers: the unit and its key, and a device id that seeds the backoff jitter.
pub struct Sender<'a> {
    /// The speaking unit.
    pub unit: &'a str,
    /// Its key (the client certificate).
    pub key: &'a UnitKey,
    /// This installation's id.
    pub device: &'a [u8],
}

/// Connects and delivers until every seal is answered, the destination refuses
/// something, or `deadline` passes. Each event is recorded durably as it happens, then
/// handed to `on_event` (for printing).
///
/// A refusal (a rejected seal, or our key refused at the handshake) ends the run and
/// moves the destination's stored schedule out ([`retry`]): refused work is offered
/// again only after it, seals never offered go at once. `retry_now` is the clerk's
/// act: ignore the schedule and offer again what was refused for good. `check`: connect
/// once even with nothing to deliver, to verify the destination's log head and learn
/// what it lost (a destination whose store went back in time has no other way to ask
/// for its items again).
pub async fn run_until(
    outbox: &impl Outbox,
    from: &Sender<'_>,
    target: &Target,
    deadline: Instant,
    retry_now: bool,
    check: bool,
    mut on_event: impl FnMut(&Event),
) -> Result<RunStats, OutboxError> {
    let mut check = check;
    let dest = target.key()?;
    let cfg = NetConfig::default();
    let any = SocketAddr::from(([0, 0, 0, 0], 0));
    let ep = net::client_endpoint_as(from.key, from.unit, dest, &cfg, any)
        .map_err(OutboxError::Endpoint)?;
    let seed = u64::from_le_bytes(
        from.device
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([7; 8]),
    );
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(20), seed);
    let mut stats = RunStats::default();
    let mut retry_rejected = retry_now;
    loop {
        let held = !retry_now
            && on_store(outbox, |store| schedule(store, &dest))?
                .is_some_and(|s| s.holds_back(now_ms()));
        if held {
            // The destination refused us lately: a check-in would only be refused again.
            check = false;
        }
        let p = load_jobs(outbox, &dest, from.device, retry_rejected, held)?;
        if held {
            stats.held_back = on_store(outbox, |store| {
                Ok(deliveries(outbox, store, &dest)?
                    .iter()
                    .filter(|(_, d)| !d.received() && d.state != DeliveryState::Pending)
                    .filter(|(_, d)| d.state != DeliveryState::Rejected || d.retryable())
                    .count())
            })?;
        }
        retry_rejected = false;
        if (p.jobs.is_empty() && p.aggregates.is_empty() && !check) || Instant::now() >= deadline {
            break;
        }
        let addr = match target.resolve() {
            Ok(a) => a,
            Err(e) => {
                // A name that does not resolve now (no network, DNS down) is a failed
                // attempt like any other: recorded, retried with backoff.
                let left = deadline.saturating_duration_since(Instant::now());
                let wait = backoff.next_delay().min(left);
                mark_error(
                    outbox,
                    &dest,
                    &e.to_string(),
                    Some(next_try(wait, wait >= left)),
                )?;
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let machine = NodeSession::forwarding(
            from.unit,
            dest,
            p.jobs,
            Extras {
                enrollments: p.enrollments,
                aggregates: p.aggregates,
                known_log: p.known_log,
            },
            0,
            2_000,
        );
        stats.connections += 1;
        let mut failure = None;
        let (mut receipts, mut rejection) = (0u32, None::<(Refusal, String)>);
        let slow = || {
            let msg = format!(
                "không kết nối được máy chủ {}: chưa có trả lời sau {} giây (máy chủ tắt, sai địa chỉ hoặc mất mạng); đang thử tiếp",
                target.addr,
                net::client::SLOW_HANDSHAKE.as_secs()
            );
            if let Err(e) = mark_error(outbox, &dest, &msg, None) {
                tracing::warn!("could not record a slow handshake: {e}");
            }
        };
        let res = deliver(
            &ep,
            addr,
            machine,
            &cfg,
            deadline,
            |ev| {
                match &ev {
                    Event::Receipt { .. } => receipts += 1,
                    Event::Rejected { reason, detail, .. } => {
                        rejection = Some((Refusal::Hub(*reason), detail.clone()))
                    }
                    _ => {}
                }
                if failure.is_none() {
                    if let Err(e) = on_store(outbox, |store| record(store, &dest, &ev)) {
                        failure = Some(e);
                    }
                }
                on_event(&ev);
            },
            slow,
        )
        .await;
        if let Some(e) = failure {
            return Err(e);
        }
        match res {
            Ok(s) => {
                stats.wire_bytes += s.wire_bytes;
                stats.payload_bytes += s.payload_bytes;
                backoff.reset();
                check = false;
                if let Some((code, detail)) = rejection {
                    // Asking again at once would only be refused again, and each
                    // refusal costs the destination a connection and a record.
                    let next = on_store(outbox, |st| refused_again(st, &dest, &code, &detail))?;
                    tracing::info!(dest = %target.addr, reason = %code, failures = next.failures,
                        "refused; next attempt in {} s", (next.next_at_ms - now_ms()) / 1000);
                    stats.refused = Some(next);
                    break;
                }
                if receipts > 0 {
                    on_store(outbox, |store| clear_schedule(store, &dest))?;
                }
            }
            Err(DeliverError::Refused { verdict, hub_unit }) => {
                let code = if verdict == KeyVerdict::Revoked {
                    Refusal::ClosedKey
                } else {
                    Refusal::UnknownKey
                };
                let detail = format!(
                    "máy chủ {} {}: khóa {} của đơn vị {}",
                    target.addr,
                    code.title(),
                    from.key.public().fingerprint(),
                    from.unit
                );
                mark_refused(outbox, &dest, &code, &detail)?;
                let next = on_store(outbox, |st| refused_again(st, &dest, &code, &detail))?;
                tracing::warn!(dest = %target.addr, "{detail}");
                stats.refused = Some(next);
                stats.key_refused_by = Some(hub_unit);
                break;
            }
            Err(e) => {
                let msg = describe(&e);
                tracing::debug!(dest = %target.addr, "delivery attempt failed: {msg}");
                let left = deadline.saturating_duration_since(Instant::now());
                let wait = backoff.next_delay().min(left);
                mark_error(outbox, &dest, &msg, Some(next_try(wait, wait >= left)))?;
                tokio::time::sleep(wait).await;
            }
        }
    }
    ep.close(0u32.into(), b"bye");
    ep.wait_idle().await;
    Ok(stats)
}

/// When the attempt after a pause of `wait` starts; a run whose deadline cut the pause
/// short is followed by the daemon's next round a few seconds later.
fn next_try(wait: Duration, cut_short: bool) -> i64 {
    let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 4);
    now_ms() + wait + if cut_short { 3_000 } else { 0 }
}

fn describe(e: &DeliverError) -> String {
    let s = e.to_string();
    if s.contains("ApplicationVerificationFailure") || s.contains("certificate") {
        format!("{s} (khóa máy chủ không khớp, hoặc máy chủ chưa đăng ký khóa của đơn vị này)")
    } else {
        s
    }
}

#[cfg(test)]
mod tests;

/// A stored state's name (`pending`, `sent`…) in Vietnamese, for printers that read
/// the JSON.
pub fn state_vi(s: &str) -> &'static str {
    DeliveryState::from_key(s).map_or("?", DeliveryState::title)
}
