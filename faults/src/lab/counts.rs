//! What a lab's links counted, per directed pair of hosts.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::netem::counters::CounterSnapshot;

/// Each directed pair's counts (the fields of [`CounterSnapshot`]), by
/// host name: `"h1->h2"` in JSON. A pair nothing was counted on is absent,
/// and [`PairCounters::get`] gives it as zeros.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PairCounters {
    names: Arc<[String]>,
    counts: BTreeMap<(usize, usize), CounterSnapshot>,
}

impl PairCounters {
    pub(crate) fn new(
        names: Arc<[String]>,
        counts: BTreeMap<(usize, usize), CounterSnapshot>,
    ) -> Self {
        Self { names, counts }
    }

    /// What `from` sent to `to` went through (zeros for a pair nothing
    /// was counted on, or for names that are not the lab's).
    pub fn get(&self, from: &str, to: &str) -> CounterSnapshot {
        let index = |n: &str| self.names.iter().position(|m| m == n);
        match (index(from), index(to)) {
            (Some(s), Some(d)) => self.pair(s, d),
            _ => CounterSnapshot::default(),
        }
    }

    /// The pair by host index.
    pub fn pair(&self, from: usize, to: usize) -> CounterSnapshot {
        self.counts.get(&(from, to)).copied().unwrap_or_default()
    }

    /// Every counted pair: `(from, to, counts)`, in host order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &CounterSnapshot)> {
        self.counts
            .iter()
            .map(|(&(s, d), c)| (self.names[s].as_str(), self.names[d].as_str(), c))
    }

    /// These counts with every directed pair of the lab present, zeros
    /// for a pair nothing was counted on: for a report that says of each
    /// pair what it carried, nothing included.
    pub fn every_pair(&self) -> PairCounters {
        let n = self.names.len();
        let mut counts = self.counts.clone();
        for s in 0..n {
            for d in (0..n).filter(|&d| d != s) {
                counts.entry((s, d)).or_default();
            }
        }
        PairCounters {
            names: self.names.clone(),
            counts,
        }
    }

    /// What each pair counted between `earlier` and these
    /// ([`CounterSnapshot::since`]).
    pub fn since(&self, earlier: &PairCounters) -> PairCounters {
        PairCounters {
            names: self.names.clone(),
            counts: self
                .counts
                .iter()
                .map(|(k, c)| {
                    (
                        *k,
                        c.since(&earlier.counts.get(k).copied().unwrap_or_default()),
                    )
                })
                .collect(),
        }
    }

    /// Every pair's counts added up (the lateness figures are the largest
    /// of any pair's).
    pub fn total(&self) -> CounterSnapshot {
        self.counts
            .values()
            .fold(CounterSnapshot::default(), |t, c| CounterSnapshot {
                packets_in: t.packets_in + c.packets_in,
                passed: t.passed + c.passed,
                dropped: t.dropped + c.dropped,
                duplicated: t.duplicated + c.duplicated,
                corrupted: t.corrupted + c.corrupted,
                delayed: t.delayed + c.delayed,
                reordered: t.reordered + c.reordered,
                queue_drops: t.queue_drops + c.queue_drops,
                coalesced: t.coalesced + c.coalesced,
                write_errors: t.write_errors + c.write_errors,
                late_p50_us: t.late_p50_us.max(c.late_p50_us),
                late_p99_us: t.late_p99_us.max(c.late_p99_us),
                late_max_us: t.late_max_us.max(c.late_max_us),
            })
    }
}

impl Serialize for PairCounters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.counts.len()))?;
        for (from, to, c) in self.iter() {
            map.serialize_entry(&format!("{from}->{to}"), c)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_keyed_by_name_and_subtract() {
        let names: Arc<[String]> = ["h1", "h2"].map(String::from).into();
        let at = |n| {
            PairCounters::new(
                names.clone(),
                [(
                    (0, 1),
                    CounterSnapshot {
                        packets_in: n,
                        passed: n,
                        ..Default::default()
                    },
                )]
                .into(),
            )
        };
        let later = at(10).since(&at(4));
        assert_eq!(later.get("h1", "h2").passed, 6);
        assert_eq!(later.get("h2", "h1"), CounterSnapshot::default());
        assert_eq!(later.get("h1", "nope"), CounterSnapshot::default());
        let json = serde_json::to_value(&later).unwrap();
        assert_eq!(json["h1->h2"]["passed"], 6);
        assert_eq!(later.total().packets_in, 6);
    }
}
