//! netem in userspace: the same enqueue decisions as the kernel's
//! `sch_netem`, in the same order, over a queue ordered by send time.
//!
//! For each packet: draw duplication, then loss (a lost packet that was
//! also duplicated still sends one copy); flip a bit if corrupt; drop it if
//! the queue is at `limit`; then either delay it (`delay ± jitter` from the
//! distribution, plus serialization time at `rate` after the last queued
//! packet) or, when reorder picks it (at most once per `gap` packets), send
//! it at once ahead of the queue. A duplicate goes through all of this again,
//! with duplication off. Jitter larger than the gap between packets
//! reorders them, as in netem, because the queue is ordered by send time.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::netem::counters::Counters;
use crate::netem::impairment::{Distribution, Impairment, Loss};
use crate::netem::rng::{scale, Correlated, Rng};

/// Bytes of Ethernet header netem counts on a veth, added to each L3 packet
/// for the `rate` serialization time, so both backends pace alike.
pub const L2_OVERHEAD: u64 = 14;

/// One direction's netem, with its queue.
#[derive(Debug)]
pub struct NetemModel {
    latency: i64,
    jitter: i64,
    distribution: Distribution,
    delay_cor: Correlated,
    loss: LossModel,
    loss_cor: Correlated,
    duplicate: u32,
    dup_cor: Correlated,
    corrupt: u32,
    corrupt_cor: Correlated,
    reorder: u32,
    reorder_cor: Correlated,
    gap: u32,
    counter: u32,
    rate: Option<u64>,
    limit: usize,
    rng: Rng,
    queue: BinaryHeap<Reverse<Queued>>,
    last_time: Option<u64>,
    order: i64,
    counters: Arc<Counters>,
}

#[derive(Debug)]
struct Queued {
    time: u64,
    order: i64,
    packet: Vec<u8>,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.time, self.order) == (other.time, other.order)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.time, self.order).cmp(&(other.time, other.order))
    }
}

#[derive(Debug, Clone)]
enum LossModel {
    None,
    Random(u32),
    Gemodel {
        bad: bool,
        p: u32,
        r: u32,
        h: u32,
        k1: u32,
    },
    State {
        state: u8,
        p13: u64,
        p31: u64,
        p32: u64,
        p23: u64,
        p14: u64,
    },
}

impl NetemModel {
    /// A netem for `spec`, drawing from `seed` (or `spec.seed` if set).
    pub fn new(spec: &Impairment, seed: u64, counters: Arc<Counters>) -> Self {
        let mut n = Self {
            latency: 0,
            jitter: 0,
            distribution: Distribution::Uniform,
            delay_cor: Correlated::default(),
            loss: LossModel::None,
            loss_cor: Correlated::default(),
            duplicate: 0,
            dup_cor: Correlated::default(),
            corrupt: 0,
            corrupt_cor: Correlated::default(),
            reorder: 0,
            reorder_cor: Correlated::default(),
            gap: 0,
            counter: 0,
            rate: None,
            limit: 0,
            rng: Rng::seeded(spec.seed.unwrap_or(seed)),
            queue: BinaryHeap::new(),
            last_time: None,
            order: 0,
            counters,
        };
        n.set(spec);
        n
    }

    /// Changes the impairment; packets already queued keep their send time.
    pub fn set(&mut self, spec: &Impairment) {
        self.latency = spec.delay.as_nanos() as i64;
        self.jitter = spec.jitter.as_nanos() as i64;
        self.distribution = spec.distribution;
        self.delay_cor = Correlated::new(spec.delay_correlation);
        (self.loss, self.loss_cor) = match spec.loss {
            Loss::None => (LossModel::None, Correlated::default()),
            Loss::Random {
                percent,
                correlation,
            } => (
                LossModel::Random(scale(percent)),
                Correlated::new(correlation),
            ),
            Loss::Gemodel {
                p,
                r,
                one_minus_h,
                one_minus_k,
            } => (
                LossModel::Gemodel {
                    bad: false,
                    p: scale(p),
                    r: scale(r),
                    h: u32::MAX - scale(one_minus_h),
                    k1: scale(one_minus_k),
                },
                Correlated::default(),
            ),
            Loss::State {
                p13,
                p31,
                p32,
                p23,
                p14,
            } => {
                let s = |p| u64::from(scale(p));
                (
                    LossModel::State {
                        state: 1,
                        p13: s(p13),
                        p31: s(p31),
                        p32: s(p32),
                        p23: s(p23),
                        p14: s(p14),
                    },
                    Correlated::default(),
                )
            }
        };
        self.duplicate = scale(spec.duplicate);
        self.dup_cor = Correlated::new(spec.duplicate_correlation);
        self.corrupt = scale(spec.corrupt);
        self.corrupt_cor = Correlated::new(spec.corrupt_correlation);
        self.reorder = scale(spec.reorder);
        self.reorder_cor = Correlated::new(spec.reorder_correlation);
        // tc turns `reorder P` without a gap into gap 1.
        self.gap = if spec.reorder > 0.0 {
            spec.gap.max(1)
        } else {
            0
        };
        self.counter = 0;
        self.rate = spec.rate;
        self.limit = spec.limit as usize;
    }

    /// Takes in a packet at time `now` (ns on the forwarder's clock).
    pub fn enqueue(&mut self, packet: Vec<u8>, now: u64) {
        Counters::bump(&self.counters.packets_in);
        self.enqueue_copy(packet, now, true);
    }

    fn enqueue_copy(&mut self, mut packet: Vec<u8>, now: u64, may_duplicate: bool) {
        let mut count = 1;
        if may_duplicate && self.duplicate > 0 && self.duplicate >= self.dup_cor.next(&mut self.rng)
        {
            count += 1;
        }
        if self.loss_event() {
            count -= 1;
        }
        if count == 0 {
            Counters::bump(&self.counters.dropped);
            return;
        }
        let copy = (count > 1).then(|| packet.clone());
        if self.corrupt > 0
            && self.corrupt >= self.corrupt_cor.next(&mut self.rng)
            && !packet.is_empty()
        {
            let at = self.rng.below(packet.len() as u64) as usize;
            packet[at] ^= 1 << self.rng.below(8);
            Counters::bump(&self.counters.corrupted);
        }
        if self.queue.len() >= self.limit {
            Counters::bump(&self.counters.queue_drops);
            if copy.is_some() {
                // The copy was made, and dropped with the original.
                Counters::bump(&self.counters.duplicated);
                Counters::bump(&self.counters.queue_drops);
            }
            return;
        }
        if self.gap == 0
            || self.counter < self.gap - 1
            || self.reorder < self.reorder_cor.next(&mut self.rng)
        {
            let mut delay = self.tabledist();
            let mut reference = now as i64;
            if let Some(rate) = self.rate {
                if let Some(last) = self.last_time {
                    delay = (delay - (last as i64 - reference)).max(0);
                    reference = last as i64;
                }
                delay += ((packet.len() as u64 + L2_OVERHEAD) as u128 * 8 * 1_000_000_000
                    / u128::from(rate)) as i64;
            }
            let time = (reference + delay).max(now as i64) as u64;
            self.counter += 1;
            if time > now {
                Counters::bump(&self.counters.delayed);
            }
            self.order += 1;
            self.push(time, self.order, packet);
        } else {
            self.counter = 0;
            Counters::bump(&self.counters.reordered);
            self.order += 1;
            self.push(now, -self.order, packet);
        }
        if let Some(copy) = copy {
            Counters::bump(&self.counters.duplicated);
            self.enqueue_copy(copy, now, false);
        }
    }

    fn push(&mut self, time: u64, order: i64, packet: Vec<u8>) {
        self.last_time = Some(self.last_time.map_or(time, |t| t.max(time)));
        self.queue.push(Reverse(Queued {
            time,
            order,
            packet,
        }));
    }

    /// When the head of the queue is due, if anything is queued.
    pub fn next_due(&self) -> Option<u64> {
        self.queue.peek().map(|q| q.0.time)
    }

    /// The next packet due at `now`, if any.
    pub fn dequeue(&mut self, now: u64) -> Option<Vec<u8>> {
        if self.next_due()? > now {
            return None;
        }
        let Reverse(q) = self.queue.pop()?;
        if self.queue.is_empty() {
            self.last_time = None;
        }
        Counters::bump(&self.counters.passed);
        self.counters
            .lateness
            .record(now.saturating_sub(q.time) / 1_000);
        Some(q.packet)
    }

    /// Packets waiting.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    fn loss_event(&mut self) -> bool {
        match &mut self.loss {
            LossModel::None => false,
            LossModel::Random(p) => {
                let p = *p;
                p >= self.loss_cor.next(&mut self.rng)
            }
            LossModel::Gemodel { bad, p, r, h, k1 } => {
                if *bad {
                    if self.rng.next_u32() < *r {
                        *bad = false;
                    }
                    self.rng.next_u32() > *h
                } else {
                    if self.rng.next_u32() < *p {
                        *bad = true;
                    }
                    self.rng.next_u32() < *k1
                }
            }
            LossModel::State {
                state,
                p13,
                p31,
                p32,
                p23,
                p14,
            } => {
                // States: 1 sent in a gap, 2 sent in a burst, 3 lost in a
                // burst, 4 isolated loss. A packet is lost when the chain
                // enters 3 or 4.
                let rnd = u64::from(self.rng.next_u32());
                *state = match *state {
                    1 if rnd < *p14 => 4,
                    1 if rnd < *p14 + *p13 => 3,
                    2 if rnd < *p23 => 3,
                    3 if rnd < *p32 => 2,
                    3 if rnd < *p32 + *p31 => 1,
                    4 => 1,
                    s => s,
                };
                matches!(*state, 3 | 4)
            }
        }
    }

    /// netem's `tabledist`: `delay` varied by `jitter` per the distribution.
    fn tabledist(&mut self) -> i64 {
        if self.jitter == 0 {
            return self.latency;
        }
        let rnd = self.delay_cor.next(&mut self.rng);
        let u = (f64::from(rnd) + 0.5) / 4_294_967_296.0;
        let q = match self.distribution {
            Distribution::Uniform => {
                return self.latency - self.jitter
                    + ((u128::from(rnd) * 2 * self.jitter as u128) >> 32) as i64;
            }
            Distribution::Normal => normal_quantile(u),
            Distribution::Pareto => pareto_quantile(u),
            Distribution::Paretonormal => {
                0.25 * pareto_quantile(u) + 0.75 * normal_quantile(self.rng.unit())
            }
        };
        self.latency + (q * self.jitter as f64) as i64
    }
}

/// Quantile of the standard normal, cut at ±4 as iproute2's table is
/// (Acklam's rational approximation, relative error below 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    x.clamp(-4.0, 4.0)
}

/// iproute2's Pareto table: shape 3, shifted to mean 0 and scaled by 4/3,
/// cut at 4.
fn pareto_quantile(u: f64) -> f64 {
    ((u.powf(-1.0 / 3.0) - 1.5) * 4.0 / 3.0).min(4.0)
}

#[cfg(test)]
mod tests;
