//! Results delivered on paper (`ingest-qr`): taken in, and their state against the
//! documents that arrive later.

use crate::keys::{doc_key, paper_key, paper_prefix, seal_key};
use crate::registry;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use tinnhiem_core::seal::{paper, Seal};
use tinnhiem_store::{Store, Table, Write};

/// A paper record against the documents held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaperState {
    /// A later seal of the session is held (document or paper).
    Superseded,
    /// The document arrived with the same seal.
    Matched,
    /// A document arrived sealed otherwise at that seq.
    Differs,
    /// Waiting for the document.
    PaperOnly,
}

/// One paper record held.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Paper {
    pub(crate) unit: String,
    pub(crate) session: String,
    pub(crate) seq: u32,
    pub(crate) body: String,
    pub(crate) seal_id: String,
    /// Unix seconds.
    pub(crate) received_at: i64,
    pub(crate) state: PaperState,
    /// The seq of the later seal, when superseded.
    pub(crate) superseded_by: Option<u32>,
}

/// What `ingest-qr` took.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PaperTaken {
    pub(crate) unit: String,
    pub(crate) session: String,
    pub(crate) seq: u32,
    pub(crate) seal_id: String,
    /// The document arrived already with this seal.
    pub(crate) digital: bool,
    /// People on the paper.
    pub(crate) subjects: usize,
}

/// `ingest-qr`: a result from a photographed paper record. Verified like a seal (the
/// signature, the digest over the result, a key of that unit valid when it sealed) and
/// kept as paper-delivered until the document itself arrives with the same seal.
pub(crate) fn ingest_paper(store: &Store, record: &[u8], now: i64) -> Result<PaperTaken> {
    let p = paper::decode(record)?;
    p.verify()?;
    let b = &p.seal.body;
    let entry = registry::get(store, b.unit.as_str())?.ok_or_else(|| {
        anyhow::anyhow!("đơn vị «{}» không có trong sổ đăng ký của máy chủ", b.unit)
    })?;
    if !entry
        .keys()?
        .iter()
        .any(|k| k.key.0 == b.signer && k.valid_at(b.sealed_at))
    {
        anyhow::bail!(
            "biên bản giấy ký bằng khóa {} không phải khóa của «{}» lúc niêm phong",
            hex::encode(b.signer),
            b.unit
        );
    }
    if let Some((seq, at)) =
        latest_seq(store, b.unit.as_str(), b.session.as_str())?.filter(|l| l.0 > b.seq)
    {
        anyhow::bail!(
            "bản giấy phiên «{}» của «{}» là niêm phong lần {}, đã bị thay thế bởi niêm phong lần {} lúc {}: \
             không nhận làm kết quả hiện hành (cần bản giấy hoặc bản điện tử của lần {seq})",
            b.session,
            b.unit,
            b.seq,
            seq,
            tinnhiem_core::domain::when::moment_vi(at)
        );
    }
    let id = p.seal.id();
    store.batch(&[Write::Put(
        Table::Paper,
        paper_key(b.unit.as_str(), b.session.as_str(), b.seq),
        postcard::to_stdvec(&(record, now))?,
    )])?;
    let digital = store.read(Table::Receipts, &id)?.is_some();
    tracing::info!(unit = %b.unit, session = %b.session, seq = b.seq, digital, "paper record accepted");
    Ok(PaperTaken {
        unit: b.unit.to_string(),
        session: b.session.to_string(),
        seq: b.seq,
        seal_id: hex::encode(id),
        digital,
        subjects: p.result.subjects.len(),
    })
}

/// The latest seal the hub holds of a session, from a document or a paper record, with
/// its sealing time: a paper older than it is not the session's current result.
fn latest_seq(store: &Store, unit: &str, session: &str) -> Result<Option<(u32, i64)>> {
    let mut prefix = doc_key(unit, session);
    prefix.push(0);
    let mut latest: Option<(u32, i64)> = None;
    let mut see = |seq: u32, at: i64| {
        if latest.is_none_or(|l| seq > l.0) {
            latest = Some((seq, at));
        }
    };
    for (_, v) in store.scan_table(Table::Seals, &prefix)? {
        if let Ok(s) = Seal::from_bytes(&v) {
            see(s.body.seq, s.body.sealed_at);
        }
    }
    for (_, v) in store.scan_table(Table::Paper, &paper_prefix(unit, session))? {
        if let Some(p) = postcard::from_bytes::<(Vec<u8>, i64)>(&v)
            .ok()
            .and_then(|(r, _)| paper::decode(&r).ok())
        {
            see(p.seal.body.seq, p.seal.body.sealed_at);
        }
    }
    Ok(latest)
}

/// Every paper record held, with its state.
pub(crate) fn papers(store: &Store) -> Result<Vec<Paper>> {
    let mut out = Vec::new();
    for (_, v) in store.scan_table(Table::Paper, b"")? {
        let Ok((record, at)) = postcard::from_bytes::<(Vec<u8>, i64)>(&v) else {
            continue;
        };
        let Ok(p) = paper::decode(&record) else {
            continue;
        };
        let b = &p.seal.body;
        let id = p.seal.id();
        let digital = store.read(
            Table::Seals,
            &seal_key(b.unit.as_str(), b.session.as_str(), b.seq),
        )?;
        let superseded =
            latest_seq(store, b.unit.as_str(), b.session.as_str())?.filter(|l| l.0 > b.seq);
        let state = match digital.and_then(|d| Seal::from_bytes(&d).ok()) {
            _ if superseded.is_some() => PaperState::Superseded,
            Some(d) if d.id() == id => PaperState::Matched,
            Some(_) => PaperState::Differs,
            None => PaperState::PaperOnly,
        };
        out.push(Paper {
            unit: b.unit.to_string(),
            session: b.session.to_string(),
            seq: b.seq,
            body: p.result.body.clone(),
            seal_id: hex::encode(id),
            received_at: at,
            state,
            superseded_by: superseded.map(|l| l.0),
        });
    }
    Ok(out)
}
