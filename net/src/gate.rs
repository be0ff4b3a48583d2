//! The hub's door: which incoming handshakes it takes on, which it asks to prove their
//! address first (a QUIC Retry), and which it drops. Pure bookkeeping, no IO and no
//! clock, so that the policy is tested deterministically; `server::serve` asks it for
//! every `quinn::Incoming` and tells it when a handshake ends.
//!
//! Why: a handshake the hub answers costs it a connection's state until the handshake
//! finishes or times out, and the answer is up to three times the client's bytes. A
//! burst of replayed client Initials (1,100 of them from one socket, in the field) used
//! to hold every connection slot for the 30 s idle timeout, and honest districts were
//! refused. Now:
//!
//! - one source address (IP and port) has at most [`GateLimits::per_address`]
//!   handshakes in progress; a real client races at most three. The excess is dropped
//!   without an answer when the address is unproved (an answer to a forged source is a
//!   reflection), refused when proved.
//! - while [`GateLimits::retry_above`] unproved handshakes are in progress, a new one
//!   gets a Retry: a packet smaller than the Initial, no state kept. A real client
//!   comes back with the token at the cost of one round trip; a replay never does.
//! - proved handshakes have their own budget ([`GateLimits::max_validated`]), which no
//!   amount of unproved traffic can take.
//! - no per-IP bound: a province's district offices may share one address behind the
//!   government network's NAT, and they come online together.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// The door's bounds.
#[derive(Debug, Clone, Copy)]
pub struct GateLimits {
    /// Handshakes in progress from one source address (IP and port).
    pub per_address: u32,
    /// Unproved handshakes in progress above which new ones get a Retry.
    pub retry_above: u32,
    /// Proved handshakes in progress; beyond, refused.
    pub max_validated: u32,
    /// A handshake not finished in this long is dropped (quinn would wait for the idle
    /// timeout, 30 s). A client on a bad link races a fresh handshake after 3 s anyway.
    pub handshake_timeout: Duration,
}

impl Default for GateLimits {
    fn default() -> Self {
        GateLimits {
            per_address: 4,
            retry_above: 64,
            max_validated: 1024,
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// What to do with an incoming handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Take it on; call [`Gate::finished`] with the ticket when it ends.
    Accept(Ticket),
    /// Ask the client to prove its address (QUIC Retry).
    Retry,
    /// Answer with a refusal (the address is proved: the answer reaches the asker).
    Refuse,
    /// Drop it without a word.
    Ignore,
}

/// A handshake in progress, as the gate counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket {
    from: SocketAddr,
    validated: bool,
}

/// Counts of what the gate decided, since the start (for `/metrics` and the bench).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GateCounts {
    /// Handshakes taken on.
    pub accepted: u64,
    /// Retries sent.
    pub retried: u64,
    /// Refused or dropped over a bound.
    pub shed: u64,
}

/// Handshakes in progress, by source address and proof.
#[derive(Debug, Default)]
pub struct Gate {
    limits: GateLimits,
    by_address: HashMap<SocketAddr, u32>,
    unvalidated: u32,
    validated: u32,
    counts: GateCounts,
}

impl Gate {
    /// A gate with these bounds.
    pub fn new(limits: GateLimits) -> Gate {
        Gate {
            limits,
            ..Gate::default()
        }
    }

    /// The decision for a handshake from `from`; `validated`: the client proved the
    /// address (a Retry token); `may_retry`: a Retry is still allowed (not after one).
    pub fn admit(&mut self, from: SocketAddr, validated: bool, may_retry: bool) -> Admit {
        let l = self.limits;
        let here = self.by_address.get(&from).copied().unwrap_or(0);
        let decision = if here >= l.per_address {
            if validated {
                Admit::Refuse
            } else {
                Admit::Ignore
            }
        } else if validated {
            if self.validated >= l.max_validated {
                Admit::Refuse
            } else {
                self.validated += 1;
                Admit::Accept(Ticket {
                    from,
                    validated: true,
                })
            }
        } else if self.unvalidated >= l.retry_above {
            if may_retry {
                Admit::Retry
            } else {
                Admit::Ignore
            }
        } else {
            self.unvalidated += 1;
            Admit::Accept(Ticket {
                from,
                validated: false,
            })
        };
        match decision {
            Admit::Accept(_) => {
                *self.by_address.entry(from).or_insert(0) += 1;
                self.counts.accepted += 1;
            }
            Admit::Retry => self.counts.retried += 1,
            Admit::Refuse | Admit::Ignore => self.counts.shed += 1,
        }
        decision
    }

    /// A handshake ended (done, failed or timed out).
    pub fn finished(&mut self, t: Ticket) {
        if t.validated {
            self.validated = self.validated.saturating_sub(1);
        } else {
            self.unvalidated = self.unvalidated.saturating_sub(1);
        }
        if let Some(n) = self.by_address.get_mut(&t.from) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.by_address.remove(&t.from);
            }
        }
    }

    /// Handshakes in progress.
    pub fn in_progress(&self) -> u32 {
        self.validated + self.unvalidated
    }

    /// What the gate decided so far.
    pub fn counts(&self) -> GateCounts {
        self.counts
    }

    /// The bounds.
    pub fn limits(&self) -> GateLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(ip: u8, port: u16) -> SocketAddr {
        SocketAddr::from(([10, 0, 0, ip], port))
    }

    fn small() -> GateLimits {
        GateLimits {
            per_address: 2,
            retry_above: 3,
            max_validated: 2,
            handshake_timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn a_replay_from_one_socket_takes_only_its_share() {
        let mut g = Gate::new(small());
        let flood = addr(9, 999);
        let d: Vec<Admit> = (0..1100).map(|_| g.admit(flood, false, true)).collect();
        assert_eq!(
            d.iter().filter(|a| matches!(a, Admit::Accept(_))).count(),
            2
        );
        assert!(
            d[2..].iter().all(|a| *a == Admit::Ignore),
            "no answer to the rest"
        );
        // An honest district elsewhere still gets in without a round trip more.
        assert!(matches!(g.admit(addr(1, 1), false, true), Admit::Accept(_)));
        assert_eq!(g.counts().shed, 1098);
    }

    #[test]
    fn unproved_handshakes_piling_up_get_a_retry_and_proved_ones_their_own_budget() {
        let mut g = Gate::new(small());
        for port in 0..3 {
            assert!(matches!(
                g.admit(addr(9, port), false, true),
                Admit::Accept(_)
            ));
        }
        assert_eq!(g.admit(addr(1, 1), false, true), Admit::Retry);
        // After a Retry a client may not be retried again: dropped, not answered.
        assert_eq!(g.admit(addr(1, 1), false, false), Admit::Ignore);
        // The honest client came back with its token: in, past the unproved pile.
        let t = match g.admit(addr(1, 1), true, false) {
            Admit::Accept(t) => t,
            other => panic!("{other:?}"),
        };
        assert!(matches!(g.admit(addr(2, 1), true, false), Admit::Accept(_)));
        assert_eq!(g.admit(addr(3, 1), true, false), Admit::Refuse);
        g.finished(t);
        assert!(matches!(g.admit(addr(3, 1), true, false), Admit::Accept(_)));
        assert_eq!(g.in_progress(), 5);
        assert_eq!(g.counts().retried, 1);
    }

    #[test]
    fn finished_handshakes_free_their_address_and_budget() {
        let mut g = Gate::new(small());
        let a = addr(5, 5);
        let t1 = match g.admit(a, false, true) {
            Admit::Accept(t) => t,
            other => panic!("{other:?}"),
        };
        let t2 = match g.admit(a, false, true) {
            Admit::Accept(t) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            g.admit(a, true, false),
            Admit::Refuse,
            "over the address's share"
        );
        g.finished(t1);
        g.finished(t2);
        assert_eq!(g.in_progress(), 0);
        assert!(g.by_address.is_empty(), "no memory of finished addresses");
        // Finishing twice never underflows.
        g.finished(t2);
        assert_eq!(g.in_progress(), 0);
    }
}
