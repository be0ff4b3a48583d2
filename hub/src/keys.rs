//! The hub's keys in its store: one place for the layout of every table it writes.

/// `unit/session`: the hub's key of a document (ids never contain `/`).
pub(crate) fn doc_key(unit: &str, session: &str) -> Vec<u8> {
    format!("{unit}/{session}").into_bytes()
}

/// A seal: the document's key, a zero byte, the seq big-endian (scans go by seq).
pub(crate) fn seal_key(unit: &str, session: &str, seq: u32) -> Vec<u8> {
    let mut k = doc_key(unit, session);
    k.push(0);
    k.extend(seq.to_be_bytes());
    k
}

/// The (unit, session) of a seal's key, `None` for a key not made by [`seal_key`].
pub(crate) fn seal_key_names(k: &[u8]) -> Option<(String, String)> {
    let name = k.split(|b| *b == 0).next()?;
    let name = String::from_utf8_lossy(name);
    let (unit, session) = name.split_once('/')?;
    Some((unit.to_owned(), session.to_owned()))
}

/// The key of a (unit, reason) rejection record. Records from before the counting
/// (one per rejection, keyed by time) are read as counts of one.
pub(crate) fn reject_key(unit: &str, reason: &str) -> Vec<u8> {
    format!("by/{unit}\0{reason}").into_bytes()
}

/// An aggregate, in order of owner, period and seq.
pub(crate) fn aggregate_key(owner: &str, period: i32, seq: u32) -> Vec<u8> {
    format!("aggregate/{owner}/{period:04}/{seq:08}").into_bytes()
}

/// A paper record of one seal.
pub(crate) fn paper_key(unit: &str, session: &str, seq: u32) -> Vec<u8> {
    format!("{unit}/{session}/{seq:08}").into_bytes()
}

/// The prefix of every paper record of one session.
pub(crate) fn paper_prefix(unit: &str, session: &str) -> Vec<u8> {
    format!("{unit}/{session}/").into_bytes()
}
