//! When to ask a destination again after it refused: exponential backoff with jitter,
//! as a stored value, so that a restarted daemon (or a `sync --once` in a loop) waits
//! out the same schedule instead of starting from zero.
//!
//! A refusal is the destination's answer, not the link's: a TLS refusal of the key, a
//! rejected seal, a connection-level rejection. Lost links keep their own short
//! in-memory backoff (`Backoff`), since a link that comes back should be used at once.
//! Pure: the clock and the jitter are arguments.

use super::Refusal;
use serde::{Deserialize, Serialize};

/// The first wait after a refusal, in milliseconds: long enough that a clerk's next
/// command right after a refusal does not knock again, short enough that a province
/// enrolling a key on the telephone is heard from soon.
pub const FIRST_MS: i64 = 10_000;
/// The longest wait: a province that enrols a key or frees its disk is heard from
/// within this long.
pub const MAX_MS: i64 = 15 * 60 * 1000;

/// A destination's refusals so far and the earliest next attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Schedule {
    /// Refusals in a row (reset by a receipt).
    pub failures: u32,
    /// Unix milliseconds before which refused work is not offered again.
    pub next_at_ms: i64,
    /// The last refusal (stored as its code).
    pub reason: Refusal,
    /// Its detail.
    pub detail: String,
    /// Unix milliseconds of the first refusal in this row.
    pub first_at_ms: i64,
    /// Unix milliseconds of the last.
    pub last_at_ms: i64,
}

/// The wait before attempt `failures + 1`: `FIRST_MS · 2^(failures−1)`, capped at
/// `MAX_MS`, drawn uniformly from its upper half by `jitter`, so that the districts of
/// a province refused together do not come back together.
pub fn delay_ms(failures: u32, jitter: u64) -> i64 {
    let exp = FIRST_MS.saturating_mul(1i64 << failures.saturating_sub(1).min(20));
    let d = exp.min(MAX_MS);
    let half = d / 2;
    half + (jitter % (d - half).max(1) as u64) as i64
}

/// The schedule after one more refusal at `now_ms`.
pub fn after_refusal(
    prev: Option<&Schedule>,
    now_ms: i64,
    reason: &Refusal,
    detail: &str,
    jitter: u64,
) -> Schedule {
    let failures = prev.map_or(0, |p| p.failures).saturating_add(1);
    Schedule {
        failures,
        next_at_ms: now_ms + delay_ms(failures, jitter),
        reason: reason.clone(),
        detail: detail.to_owned(),
        first_at_ms: prev.map_or(now_ms, |p| p.first_at_ms),
        last_at_ms: now_ms,
    }
}

impl Schedule {
    /// Whether refused work waits at `now_ms`.
    pub fn holds_back(&self, now_ms: i64) -> bool {
        now_ms < self.next_at_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_from_ten_seconds_to_a_quarter_hour_and_never_shrink_on_refusal() {
        let mut s: Option<Schedule> = None;
        let mut waits = Vec::new();
        let mut now = 1_000_000;
        let unavailable = Refusal::Hub(tinnhiem_core::proto::RejectReason::Unavailable);
        for i in 0..15u64 {
            let next = after_refusal(s.as_ref(), now, &unavailable, "", i * 7919);
            waits.push(next.next_at_ms - now);
            now = next.next_at_ms;
            s = Some(next);
        }
        assert!((5_000..=10_000).contains(&waits[0]), "{waits:?}");
        assert!((10_000..=20_000).contains(&waits[1]), "{waits:?}");
        assert!((320_000..=640_000).contains(&waits[6]), "{waits:?}");
        assert!(waits.iter().all(|w| *w <= MAX_MS), "{waits:?}");
        assert!(waits[14] >= MAX_MS / 2, "{waits:?}");
        let s = s.expect("schedule");
        assert_eq!(s.failures, 15);
        assert_eq!(s.first_at_ms, 1_000_000);
        assert!(s.holds_back(s.last_at_ms));
        assert!(!s.holds_back(s.next_at_ms));
    }

    #[test]
    fn jitter_spreads_districts_refused_together() {
        let waits: std::collections::BTreeSet<i64> =
            (0..100u64).map(|j| delay_ms(5, j * 1_000_003)).collect();
        assert!(waits.len() > 50, "{}", waits.len());
        assert!(waits.iter().all(|w| (80_000..=160_000).contains(w)));
        // Absurd counts stay bounded.
        assert!(delay_ms(u32::MAX, u64::MAX) <= MAX_MS);
    }
}
