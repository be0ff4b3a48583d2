//! The units a hub counts: those registered here by hand, and the one each unit below
//! rolls up to.

use crate::registry::Entry;
use std::collections::HashMap;

/// The registry indexed by unit, built once per query so that finding a unit's
/// reporting child costs its depth, not the registry's length.
pub(crate) struct Units<'a> {
    by_id: HashMap<&'a str, &'a Entry>,
    all: &'a [Entry],
}

impl<'a> Units<'a> {
    pub(crate) fn new(reg: &'a [Entry]) -> Units<'a> {
        Units {
            by_id: reg.iter().map(|e| (e.id.as_str(), e)).collect(),
            all: reg,
        }
    }

    /// The unit that reports here directly (registered by hand) that `unit` rolls up
    /// to: itself, or the hand-registered ancestor of a unit a child hub enrolled.
    pub(crate) fn reporting_child(&self, unit: &str) -> Option<&'a str> {
        let mut u = unit;
        for _ in 0..8 {
            let e = self.by_id.get(u)?;
            if e.enrollment.is_none() {
                return Some(&e.id);
            }
            u = &e.parent;
        }
        None
    }

    /// The units this hub expects reports from: those registered here by hand. Units
    /// that a child hub enrolled are that child's to count.
    pub(crate) fn expected(&self, hub: &'a str) -> impl Iterator<Item = &'a Entry> + 'a {
        self.all
            .iter()
            .filter(move |e| e.id != hub && e.enrollment.is_none())
    }
}
