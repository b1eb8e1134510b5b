//! Small statistics of the benchmarks: quantiles, means, rates.

use std::time::Instant;

/// The `q` quantile of sorted `xs` (nearest rank), NaN when empty.
pub fn percentile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

/// A count timed from its first to its last increment.
#[derive(Debug, Default)]
pub struct Timed {
    total: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Timed {
    pub fn add(&mut self, n: u64) {
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.total += n;
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Per second between the first and the last increment.
    pub fn per_second(&self) -> f64 {
        match (self.first, self.last) {
            (Some(a), Some(b)) if b > a => self.total as f64 / (b - a).as_secs_f64(),
            _ => 0.0,
        }
    }
}

/// The median of `xs` (sorting it).
pub fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    percentile(xs, 0.5)
}

/// The mean of `xs`, 0 when empty.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

/// The sample standard deviation of `xs`.
pub fn std_dev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len().max(2) - 1) as f64).sqrt()
}
