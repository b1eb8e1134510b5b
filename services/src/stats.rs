//! Counting what a transport did to a numbered sequence of messages.
//!
//! Loss, reordering and duplication are counted separately with a sequence
//! bitmap, so one is never miscounted as another:
//! * a message is **received** the first time its sequence number arrives;
//! * it is **reordered** (RFC 4737, section 3.3) when its number is below
//!   the highest number received before it;
//! * a **duplicate** is any later arrival of a number already received;
//! * **lost** is what was sent and never received.

use std::time::Duration;

/// What one arrival turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// First arrival of this number, in order.
    InOrder,
    /// First arrival of this number, after a higher one.
    Reordered,
    /// This number had already arrived.
    Duplicate,
    /// The number is outside what was sent.
    Foreign,
}

/// Sequence accounting over the numbers `0..count`.
#[derive(Debug, Clone)]
pub struct SeqStats {
    seen: Vec<u64>,
    count: u64,
    highest: Option<u64>,
    received: u64,
    reordered: u64,
    duplicates: u64,
}

impl SeqStats {
    /// Accounting for `count` messages numbered from 0.
    pub fn new(count: u64) -> Self {
        Self {
            seen: vec![0; count.div_ceil(64) as usize],
            count,
            highest: None,
            received: 0,
            reordered: 0,
            duplicates: 0,
        }
    }

    /// Records the arrival of `seq` and says what it was.
    pub fn record(&mut self, seq: u64) -> Arrival {
        if seq >= self.count {
            return Arrival::Foreign;
        }
        let (word, bit) = ((seq / 64) as usize, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return Arrival::Duplicate;
        }
        self.seen[word] |= bit;
        self.received += 1;
        match self.highest {
            Some(h) if seq < h => {
                self.reordered += 1;
                Arrival::Reordered
            }
            _ => {
                self.highest = Some(seq);
                Arrival::InOrder
            }
        }
    }

    /// Whether every number has arrived.
    pub fn complete(&self) -> bool {
        self.received == self.count
    }

    /// Distinct numbers received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// Numbers never received.
    pub fn lost(&self) -> u64 {
        self.count - self.received
    }

    /// Received numbers that came after a higher one.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }

    /// Arrivals of numbers already received.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
}

/// Interarrival jitter as RFC 3550 (section 6.4.1) defines it: a running
/// estimate `J += (|D| - J) / 16` of the difference `D` in transit time of
/// consecutive arrivals.
#[derive(Debug, Clone, Default)]
pub struct Jitter {
    last_transit: Option<f64>,
    estimate: f64,
}

impl Jitter {
    /// Adds the transit time (in any unit) of the next arrival.
    pub fn add(&mut self, transit: f64) {
        if let Some(last) = self.last_transit {
            self.estimate += ((transit - last).abs() - self.estimate) / 16.0;
        }
        self.last_transit = Some(transit);
    }

    /// The current estimate, in the unit of the transit times.
    pub fn estimate(&self) -> f64 {
        self.estimate
    }
}

/// Minimum, median, 99th percentile and maximum of a sample, in ms (printed
/// to a microsecond).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Percentiles {
    #[serde(serialize_with = "crate::report::ms")]
    pub min: f64,
    #[serde(serialize_with = "crate::report::ms")]
    pub p50: f64,
    #[serde(serialize_with = "crate::report::ms")]
    pub p99: f64,
    #[serde(serialize_with = "crate::report::ms")]
    pub max: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles of `samples`; `None` for an empty sample.
    pub fn of(samples: &[Duration]) -> Option<Self> {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |q: f64| ms[((q * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        (!ms.is_empty()).then(|| Self {
            min: ms[0],
            p50: rank(0.50),
            p99: rank(0.99),
            max: ms[ms.len() - 1],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(count: u64, arrivals: &[u64]) -> SeqStats {
        let mut s = SeqStats::new(count);
        for &seq in arrivals {
            s.record(seq);
        }
        s
    }

    #[test]
    fn clean_sequence_counts_nothing_wrong() {
        let s = run(5, &[0, 1, 2, 3, 4]);
        assert_eq!(
            (s.received(), s.lost(), s.reordered(), s.duplicates()),
            (5, 0, 0, 0)
        );
        assert!(s.complete());
    }

    #[test]
    fn gaps_count_as_loss_only() {
        let s = run(6, &[0, 2, 5]);
        assert_eq!(
            (s.received(), s.lost(), s.reordered(), s.duplicates()),
            (3, 3, 0, 0)
        );
    }

    #[test]
    fn late_arrival_is_reordered_not_lost() {
        // RFC 4737: 1 arrives after 2, so it is reordered; nothing is lost.
        let s = run(4, &[0, 2, 1, 3]);
        assert_eq!(
            (s.received(), s.lost(), s.reordered(), s.duplicates()),
            (4, 0, 1, 0)
        );
    }

    #[test]
    fn rfc4737_counts_each_packet_below_the_highest() {
        // 4 arrives first; 1, 2 and 3 are all below it, so all are reordered.
        let s = run(5, &[0, 4, 1, 2, 3]);
        assert_eq!(s.reordered(), 3);
    }

    #[test]
    fn duplicate_is_counted_once_and_not_received_twice() {
        let s = run(3, &[0, 1, 1, 1, 2]);
        assert_eq!(
            (s.received(), s.lost(), s.reordered(), s.duplicates()),
            (3, 0, 0, 2)
        );
    }

    #[test]
    fn late_duplicate_is_not_reordering() {
        let s = run(3, &[0, 1, 2, 0]);
        assert_eq!((s.reordered(), s.duplicates()), (0, 1));
    }

    #[test]
    fn loss_reorder_and_duplicates_together_stay_apart() {
        // sent 0..10; lost 3 and 7; 5 before 4; 8 twice; 2 again at the end.
        let s = run(10, &[0, 1, 2, 5, 4, 6, 8, 8, 9, 2]);
        assert_eq!(s.received(), 8);
        assert_eq!(s.lost(), 2);
        assert_eq!(s.reordered(), 1);
        assert_eq!(s.duplicates(), 2);
    }

    #[test]
    fn numbers_outside_the_run_are_foreign() {
        let mut s = SeqStats::new(2);
        assert_eq!(s.record(2), Arrival::Foreign);
        assert_eq!(s.received(), 0);
    }

    #[test]
    fn jitter_of_constant_transit_is_zero_and_grows_with_variation() {
        let mut j = Jitter::default();
        for _ in 0..10 {
            j.add(5.0);
        }
        assert_eq!(j.estimate(), 0.0);
        j.add(21.0);
        assert_eq!(j.estimate(), 1.0);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples).unwrap();
        assert_eq!((p.min, p.p50, p.p99, p.max), (1.0, 50.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&[]), None);
    }
}
