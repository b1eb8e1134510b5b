//! What a link did, counted per direction.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

/// Live counters of one direction of a link, shared with its forwarder.
#[derive(Debug, Default)]
pub struct Counters {
    pub packets_in: AtomicU64,
    pub passed: AtomicU64,
    pub dropped: AtomicU64,
    pub duplicated: AtomicU64,
    pub corrupted: AtomicU64,
    pub delayed: AtomicU64,
    pub reordered: AtomicU64,
    pub queue_drops: AtomicU64,
    pub coalesced: AtomicU64,
    pub write_errors: AtomicU64,
    /// How late each packet left against its schedule.
    pub lateness: Lateness,
}

/// A histogram of how late packets left, in microseconds: exact below 64,
/// then 8 buckets per power of two (within 12.5%).
#[derive(Debug)]
pub struct Lateness {
    buckets: Vec<AtomicU64>,
    max: AtomicU64,
}

const EXACT: u64 = 64;
const SUB: u64 = 8;

impl Default for Lateness {
    fn default() -> Self {
        Self {
            buckets: (0..Self::bucket(u64::MAX) + 1)
                .map(|_| AtomicU64::new(0))
                .collect(),
            max: AtomicU64::new(0),
        }
    }
}

impl Lateness {
    fn bucket(us: u64) -> usize {
        if us < EXACT {
            return us as usize;
        }
        let power = 63 - u64::from(us.leading_zeros()); // >= 6
        let sub = (us >> (power - 3)) & (SUB - 1);
        (EXACT + (power - 6) * SUB + sub) as usize
    }

    /// The largest value in bucket `b`.
    fn upper(b: usize) -> u64 {
        let b = b as u64;
        if b < EXACT {
            return b;
        }
        let power = (b - EXACT) / SUB + 6;
        let sub = (b - EXACT) % SUB;
        ((SUB + sub + 1) << (power - 3)).saturating_sub(1)
    }

    /// One packet left `late_us` microseconds after its time.
    pub fn record(&self, late_us: u64) {
        self.buckets[Self::bucket(late_us)].fetch_add(1, Relaxed);
        self.max.fetch_max(late_us, Relaxed);
    }

    /// The `q` quantile (0..=1), to within a bucket, in microseconds.
    fn quantile(&self, q: f64) -> u64 {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (b, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::upper(b).min(self.max.load(Relaxed));
            }
        }
        self.max.load(Relaxed)
    }
}

/// A copy of [`Counters`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CounterSnapshot {
    /// Packets that entered the link.
    pub packets_in: u64,
    /// Packets that left it (duplicates included).
    pub passed: u64,
    /// Packets the loss model dropped.
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Packets with a bit flipped.
    pub corrupted: u64,
    /// Packets held for a non-zero delay.
    pub delayed: u64,
    /// Packets sent ahead of the queue (netem's reorder).
    pub reordered: u64,
    /// Packets dropped because the queue was at its limit.
    pub queue_drops: u64,
    /// TCP segments handed to the receiver coalesced with others (the
    /// wire's GRO; 0 on netem).
    #[serde(default)]
    pub coalesced: u64,
    /// Packets that left the model but that the receiving device refused
    /// (the wire's failed writes, counted in segments; 0 on netem).
    #[serde(default)]
    pub write_errors: u64,
    /// How late packets left against their schedule, in microseconds:
    /// median, 99th percentile and largest (the wire's own measure of
    /// whether it kept its schedule; 0 on netem).
    #[serde(default)]
    pub late_p50_us: u64,
    #[serde(default)]
    pub late_p99_us: u64,
    #[serde(default)]
    pub late_max_us: u64,
}

impl CounterSnapshot {
    /// What was counted between `earlier` and this snapshot (counts that
    /// went down, as netem's do when its qdisc is replaced by none, give
    /// 0). The lateness figures are this snapshot's: quantiles of a
    /// histogram cannot be subtracted.
    pub fn since(&self, earlier: &CounterSnapshot) -> CounterSnapshot {
        CounterSnapshot {
            packets_in: self.packets_in.saturating_sub(earlier.packets_in),
            passed: self.passed.saturating_sub(earlier.passed),
            dropped: self.dropped.saturating_sub(earlier.dropped),
            duplicated: self.duplicated.saturating_sub(earlier.duplicated),
            corrupted: self.corrupted.saturating_sub(earlier.corrupted),
            delayed: self.delayed.saturating_sub(earlier.delayed),
            reordered: self.reordered.saturating_sub(earlier.reordered),
            queue_drops: self.queue_drops.saturating_sub(earlier.queue_drops),
            coalesced: self.coalesced.saturating_sub(earlier.coalesced),
            write_errors: self.write_errors.saturating_sub(earlier.write_errors),
            ..*self
        }
    }
}

impl Counters {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// The counts now.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            packets_in: self.packets_in.load(Relaxed),
            passed: self.passed.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            duplicated: self.duplicated.load(Relaxed),
            corrupted: self.corrupted.load(Relaxed),
            delayed: self.delayed.load(Relaxed),
            reordered: self.reordered.load(Relaxed),
            queue_drops: self.queue_drops.load(Relaxed),
            coalesced: self.coalesced.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
            late_p50_us: self.lateness.quantile(0.50),
            late_p99_us: self.lateness.quantile(0.99),
            late_max_us: self.lateness.max.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_lands_in_a_bucket_whose_upper_bound_is_within_an_eighth() {
        for us in (0..5000).chain([65_535, 1 << 20, 123_456_789, u64::MAX / 2]) {
            let b = Lateness::bucket(us);
            let upper = Lateness::upper(b);
            assert!(upper >= us, "{us} in bucket {b} up to {upper}");
            assert!(upper - us <= us / 8 + 1, "{us} in bucket {b} up to {upper}");
        }
    }

    #[test]
    fn quantiles_come_from_what_was_recorded() {
        let l = Lateness::default();
        for us in 0..100 {
            l.record(us);
        }
        l.record(10_000);
        assert_eq!(l.quantile(0.5), 50);
        assert!(
            (99..=112).contains(&l.quantile(0.99)),
            "{}",
            l.quantile(0.99)
        );
        assert_eq!(l.max.load(Relaxed), 10_000);
    }
}
