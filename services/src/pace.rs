//! A slow reader: a server that reads at most so much per second, so that
//! what the sender sends beyond that waits in (and, for UDP, overflows) its
//! socket's receive buffer.

use std::time::Duration;

use tokio::time::Instant;

/// Paces reads at `rate` units (datagrams, or bytes) per second.
#[derive(Debug)]
pub struct Pace {
    rate: f64,
    start: Option<Instant>,
    taken: f64,
}

impl Pace {
    /// `rate` units per second (above 0).
    pub fn new(rate: f64) -> Self {
        Self {
            rate,
            start: None,
            taken: 0.0,
        }
    }

    /// The most units one read may take: 20 ms worth, at least one.
    pub fn chunk(&self) -> usize {
        ((self.rate / 50.0) as usize).max(1)
    }

    /// `units` were read: waits until the schedule allows what was read so
    /// far (the first read starts the clock).
    pub async fn took(&mut self, units: usize) {
        let start = *self.start.get_or_insert_with(Instant::now);
        self.taken += units as f64;
        tokio::time::sleep_until(start + Duration::from_secs_f64(self.taken / self.rate)).await;
    }
}
