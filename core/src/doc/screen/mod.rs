//! A bounded look at Automerge bytes from outside, before Automerge decodes them.
//!
//! Automerge's columns are run-length encoded: a few bytes can say "this value, 2^62
//! times", and automerge 0.12 materialises such a column into a `Vec` while loading
//! (`fuzz/fuzz_targets/automerge_doc.rs` found a 79-byte document that takes the process
//! past 2 GB). A deflated column or chunk can be a decompression bomb, and a sync
//! message's Bloom filter names its own number of probes, which Automerge allocates.
//! None of that can be caught once it starts: an allocation failure aborts the process.
//!
//! So every byte string from a peer or a file walks through here first. The walk follows
//! the storage format (chunk headers, column metadata, run lengths) without decoding a
//! single operation, costs time linear in the bytes, allocates at most
//! [`Limits::max_inflated`], and refuses what would expand past [`Limits::max_rows`].
//! It does not judge validity: Automerge still does that, afterwards, on bytes that are
//! now known to be small once expanded.

use std::io::Read;

/// What a document or message may expand to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Rows of the longest column of a chunk, summed over the chunks: an upper bound on
    /// the operations (or changes) Automerge will hold in memory for these bytes.
    pub max_rows: u64,
    /// Bytes produced by inflating deflated columns and chunks, in total.
    pub max_inflated: usize,
}

impl Limits {
    /// Generous for a session: a 500-member council with 60 subjects, every ballot typed
    /// one by one and corrected twice, stays under 200 000 operations.
    pub const SESSION: Limits = Limits {
        max_rows: 1 << 20,
        max_inflated: 64 << 20,
    };
}

/// Why bytes were refused before decoding.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScreenError {
    /// The bytes end inside a structure.
    #[error("dữ liệu automerge bị cắt ngang ({0})")]
    Truncated(&'static str),
    /// Not an Automerge chunk.
    #[error("dữ liệu automerge hỏng ({0})")]
    Malformed(&'static str),
    /// A chunk type this version does not know.
    #[error("loại khối automerge không biết: {0}")]
    UnknownChunk(u8),
    /// Would expand past [`Limits::max_rows`].
    #[error("dữ liệu automerge nở ra quá lớn: hơn {limit} dòng cột")]
    TooManyRows {
        /// The bound.
        limit: u64,
    },
    /// Deflated data inflates past [`Limits::max_inflated`].
    #[error("dữ liệu nén automerge giải nén ra quá lớn: hơn {limit} byte")]
    Inflated {
        /// The bound.
        limit: usize,
    },
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// Automerge writes 7 probes and 10 bits per entry; a peer that asks for more is
/// asking the receiver to allocate for it.
const MAX_BLOOM_PROBES: u64 = 64;
const MAX_BLOOM_BITS_PER_ENTRY: u64 = 64;

/// Checks a saved document or a concatenation of chunks (what `Automerge::load` reads).
/// Returns the bound on rows it found.
pub fn chunks(bytes: &[u8], limits: Limits) -> Result<u64, ScreenError> {
    let mut budget = Budget::new(limits);
    walk_chunks(bytes, &mut budget)?;
    Ok(budget.rows)
}

/// Checks an Automerge sync message (what `sync::Message::decode` reads): its Bloom
/// filters and every chunk it carries. Returns the bound on rows it found.
pub fn sync_message(bytes: &[u8], limits: Limits) -> Result<u64, ScreenError> {
    let mut budget = Budget::new(limits);
    let mut r = Reader::new(bytes);
    // Message type (0x42 or 0x43); Automerge itself refuses any other.
    r.take(1, "message type")?;
    skip_hashes(&mut r, "heads")?;
    skip_hashes(&mut r, "need")?;
    let haves = r.uleb("have")?;
    for _ in 0..haves {
        skip_hashes(&mut r, "have.last_sync")?;
        let len = r.len("have.bloom")?;
        bloom(r.take(len, "have.bloom")?)?;
    }
    let changes = r.uleb("changes")?;
    for _ in 0..changes {
        let len = r.len("change")?;
        walk_chunks(r.take(len, "change")?, &mut budget)?;
    }
    Ok(budget.rows)
}

struct Budget {
    limits: Limits,
    rows: u64,
    inflated: usize,
}

impl Budget {
    fn new(limits: Limits) -> Budget {
        Budget {
            limits,
            rows: 0,
            inflated: 0,
        }
    }

    fn add_rows(&mut self, rows: u64) -> Result<(), ScreenError> {
        self.rows = self.rows.saturating_add(rows);
        if self.rows > self.limits.max_rows {
            return Err(ScreenError::TooManyRows {
                limit: self.limits.max_rows,
            });
        }
        Ok(())
    }

    /// Inflates at most what is left of the budget, plus one byte to notice overflow.
    fn inflate(&mut self, deflated: &[u8]) -> Result<Vec<u8>, ScreenError> {
        let left = self.limits.max_inflated.saturating_sub(self.inflated);
        let mut out = Vec::new();
        flate2::bufread::DeflateDecoder::new(deflated)
            .take(left as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| ScreenError::Malformed("deflate"))?;
        if out.len() > left {
            return Err(ScreenError::Inflated {
                limit: self.limits.max_inflated,
            });
        }
        self.inflated += out.len();
        Ok(out)
    }
}

fn walk_chunks(bytes: &[u8], budget: &mut Budget) -> Result<(), ScreenError> {
    let mut r = Reader::new(bytes);
    if r.is_empty() {
        return Err(ScreenError::Truncated("chunk header"));
    }
    while !r.is_empty() {
        if r.take(4, "magic")? != MAGIC {
            return Err(ScreenError::Malformed("magic bytes"));
        }
        r.take(4, "checksum")?;
        let kind = r.take(1, "chunk type")?[0];
        let len = r.len("chunk length")?;
        let body = r.take(len, "chunk body")?;
        match kind {
            0 => document(body, budget)?,
            1 => change(body, budget)?,
            2 => {
                let inflated = budget.inflate(body)?;
                change(&inflated, budget)?
            }
            3 => bundle(body, budget)?,
            other => return Err(ScreenError::UnknownChunk(other)),
        }
    }
    Ok(())
}

/// actors, heads, change columns, op columns, change data, op data, head indices.
fn document(body: &[u8], budget: &mut Budget) -> Result<(), ScreenError> {
    let mut r = Reader::new(body);
    skip_actors(&mut r)?;
    skip_hashes(&mut r, "heads")?;
    let change_cols = columns_meta(&mut r)?;
    let op_cols = columns_meta(&mut r)?;
    let changes = columns_data(&mut r, &change_cols, budget)?;
    let ops = columns_data(&mut r, &op_cols, budget)?;
    budget.add_rows(changes.max(ops))
}

/// deps, actor, seq, start op, time, message, other actors, op columns, data, extra.
fn change(body: &[u8], budget: &mut Budget) -> Result<(), ScreenError> {
    let mut r = Reader::new(body);
    skip_hashes(&mut r, "deps")?;
    let actor = r.len("actor")?;
    r.take(actor, "actor")?;
    r.uleb("seq")?;
    r.uleb("start_op")?;
    r.uleb("time")?;
    let message = r.len("message")?;
    r.take(message, "message")?;
    skip_actors(&mut r)?;
    let cols = columns_meta(&mut r)?;
    let rows = columns_data(&mut r, &cols, budget)?;
    budget.add_rows(rows)
}

/// deps, actors, change columns and data, op columns and data.
fn bundle(body: &[u8], budget: &mut Budget) -> Result<(), ScreenError> {
    let mut r = Reader::new(body);
    skip_hashes(&mut r, "deps")?;
    skip_actors(&mut r)?;
    let change_cols = columns_meta(&mut r)?;
    let changes = columns_data(&mut r, &change_cols, budget)?;
    let op_cols = columns_meta(&mut r)?;
    let ops = columns_data(&mut r, &op_cols, budget)?;
    budget.add_rows(changes.max(ops))
}

fn bloom(bytes: &[u8]) -> Result<(), ScreenError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut r = Reader::new(bytes);
    r.uleb("bloom entries")?;
    let bits = r.uleb("bloom bits")?;
    let probes = r.uleb("bloom probes")?;
    if bits > MAX_BLOOM_BITS_PER_ENTRY || probes > MAX_BLOOM_PROBES {
        return Err(ScreenError::Malformed("bloom filter parameters"));
    }
    Ok(())
}

fn skip_hashes(r: &mut Reader<'_>, what: &'static str) -> Result<(), ScreenError> {
    let n = r.uleb(what)?;
    for _ in 0..n {
        r.take(32, what)?;
    }
    Ok(())
}

fn skip_actors(r: &mut Reader<'_>) -> Result<(), ScreenError> {
    let n = r.uleb("actors")?;
    for _ in 0..n {
        let len = r.len("actor")?;
        r.take(len, "actor")?;
    }
    Ok(())
}

/// (column spec, data length) pairs.
fn columns_meta(r: &mut Reader<'_>) -> Result<Vec<(u64, usize)>, ScreenError> {
    let n = r.uleb("columns")?;
    let mut cols = Vec::new();
    for _ in 0..n {
        let spec = r.uleb("column spec")?;
        let len = r.len("column length")?;
        cols.push((spec, len));
    }
    Ok(cols)
}

/// Walks each column's data; returns the row count of the longest column.
fn columns_data(
    r: &mut Reader<'_>,
    cols: &[(u64, usize)],
    budget: &mut Budget,
) -> Result<u64, ScreenError> {
    let mut longest = 0;
    for &(spec, len) in cols {
        let data = r.take(len, "column data")?;
        let kind = spec & 0b111;
        let rows = if spec & 0b1000 != 0 {
            let inflated = budget.inflate(data)?;
            column_rows(kind, &inflated, budget.limits.max_rows)?
        } else {
            column_rows(kind, data, budget.limits.max_rows)?
        };
        longest = longest.max(rows);
    }
    Ok(longest)
}

/// Rows of one column, by its type: 4 is a boolean column (alternating run lengths),
/// 7 raw value bytes (its rows are counted by its metadata column), every other type
/// run-length encoded values (a signed count: n > 0 one value n times, n < 0 that many
/// literal values, 0 a count of nulls).
fn column_rows(kind: u64, data: &[u8], limit: u64) -> Result<u64, ScreenError> {
    let mut r = Reader::new(data);
    let mut rows: u64 = 0;
    let too_many = ScreenError::TooManyRows { limit };
    match kind {
        7 => return Ok(0),
        4 => {
            while !r.is_empty() {
                rows = rows.saturating_add(r.uleb("boolean run")?);
                if rows > limit {
                    return Err(too_many);
                }
            }
        }
        _ => {
            while !r.is_empty() {
                let n = r.sleb("run length")?;
                if n > 0 {
                    skip_value(kind, &mut r)?;
                    rows = rows.saturating_add(n as u64);
                } else if n < 0 {
                    // Each literal takes at least one byte, so this loop is bounded by
                    // the data, whatever the count says.
                    for _ in 0..n.unsigned_abs() {
                        skip_value(kind, &mut r)?;
                    }
                    rows = rows.saturating_add(n.unsigned_abs());
                } else {
                    rows = rows.saturating_add(r.uleb("null run")?);
                }
                if rows > limit {
                    return Err(too_many);
                }
            }
        }
    }
    Ok(rows)
}

fn skip_value(kind: u64, r: &mut Reader<'_>) -> Result<(), ScreenError> {
    match kind {
        // delta integer: signed
        3 => r.sleb("column value").map(drop),
        // string: length-prefixed UTF-8
        5 => {
            let len = r.len("string value")?;
            r.take(len, "string value").map(drop)
        }
        // group, actor, integer, value metadata: unsigned
        _ => r.uleb("column value").map(drop),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes }
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ScreenError> {
        if n > self.bytes.len() {
            return Err(ScreenError::Truncated(what));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    /// A length that must fit in what is left: larger is truncation, not a reason to
    /// allocate.
    fn len(&mut self, what: &'static str) -> Result<usize, ScreenError> {
        let n = self.uleb(what)?;
        if n > self.bytes.len() as u64 {
            return Err(ScreenError::Truncated(what));
        }
        Ok(n as usize)
    }

    fn uleb(&mut self, what: &'static str) -> Result<u64, ScreenError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let byte = *self.bytes.get(i).ok_or(ScreenError::Truncated(what))?;
            let bits = u64::from(byte & 0x7f);
            if i == 9 && bits > 1 {
                return Err(ScreenError::Malformed("LEB128 overflow"));
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(ScreenError::Malformed("LEB128 overflow"))
    }

    fn sleb(&mut self, what: &'static str) -> Result<i64, ScreenError> {
        let mut value: i64 = 0;
        let mut shift = 0;
        for i in 0..10 {
            let byte = *self.bytes.get(i).ok_or(ScreenError::Truncated(what))?;
            value |= i64::from(byte & 0x7f).wrapping_shl(shift);
            shift += 7;
            if byte & 0x80 == 0 {
                if shift < 64 && byte & 0x40 != 0 {
                    value |= -1i64 << shift;
                }
                self.bytes = &self.bytes[i + 1..];
                return Ok(value);
            }
        }
        Err(ScreenError::Malformed("LEB128 overflow"))
    }
}

#[cfg(test)]
mod tests;
