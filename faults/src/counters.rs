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
        }
    }
}
