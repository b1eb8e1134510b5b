//! The model against netem's semantics, on synthetic time.
//!
//! Bounds on random counts use Hoeffding's inequality: for n independent
//! draws, P(|observed - p| >= t) <= 2 exp(-2 n t^2), so t = sqrt(ln(2/d) /
//! (2n)) keeps the false-failure probability below d = 1e-6. For Markov
//! loss models the draws are correlated; there n is replaced by the
//! effective sample size n (1 - l) / (1 + l), l the chain's second
//! eigenvalue.

use super::*;
use std::time::Duration;

const MS: u64 = 1_000_000;
const FALSE_FAILURE: f64 = 1e-6;

fn margin(n: u64) -> f64 {
    ((2.0 / FALSE_FAILURE).ln() / (2.0 * n as f64)).sqrt()
}

fn netem(spec: &str) -> (NetemModel, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let spec: Impairment = spec.parse().unwrap();
    (NetemModel::new(&spec, 12345, counters.clone()), counters)
}

/// Feeds `count` packets (payload = their index) `gap_ns` apart, releasing
/// each at its due time; returns (index, departure time) in departure order.
fn run(n: &mut NetemModel, count: u64, gap_ns: u64, size: usize) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for i in 0..count {
        let now = i * gap_ns;
        drain(n, now, &mut out);
        let mut p = i.to_be_bytes().to_vec();
        p.resize(size.max(8), 0);
        n.enqueue(p, now);
        drain(n, now, &mut out);
    }
    drain(n, u64::MAX, &mut out);
    out
}

fn drain(n: &mut NetemModel, upto: u64, out: &mut Vec<(u64, u64)>) {
    while let Some(t) = n.next_due().filter(|&t| t <= upto) {
        let p = n.dequeue(t).expect("due packet");
        out.push((index(&p), t));
    }
}

fn index(p: &[u8]) -> u64 {
    u64::from_be_bytes(p[..8].try_into().unwrap())
}

fn assert_near(what: &str, observed: f64, expected: f64, margin: f64) {
    assert!(
        (observed - expected).abs() <= margin,
        "{what}: observed {observed:.5}, expected {expected:.5} ± {margin:.5}"
    );
}

#[test]
fn clean_link_passes_everything_at_once_and_in_order() {
    let (mut n, c) = netem("");
    let out = run(&mut n, 1000, MS, 64);
    assert_eq!(out.len(), 1000);
    assert!(out
        .iter()
        .enumerate()
        .all(|(i, &(idx, t))| idx == i as u64 && t == idx * MS));
    assert_eq!(c.snapshot().passed, 1000);
}

#[test]
fn random_loss_drops_the_configured_fraction() {
    let count = 200_000;
    let (mut n, c) = netem("loss 20%");
    let out = run(&mut n, count, MS, 64);
    let lost = 1.0 - out.len() as f64 / count as f64;
    assert_near("loss", lost, 0.20, margin(count));
    assert_eq!(c.snapshot().dropped, count - out.len() as u64);
}

#[test]
fn duplicate_and_loss_combine_as_in_netem() {
    // netem: count = 1 + dup - loss; a duplicate goes through loss again.
    // E[copies] = (1-D)(1-L) + D L + D (1-L) (2-L). Copies per packet lie in
    // 0..=2, so Hoeffding's margin doubles.
    let (d, l) = (0.3, 0.2);
    let count = 200_000;
    let (mut n, c) = netem("loss 20% duplicate 30%");
    let out = run(&mut n, count, MS, 64);
    let expected = (1.0 - d) * (1.0 - l) + d * l + d * (1.0 - l) * (2.0 - l);
    assert_near(
        "copies per packet",
        out.len() as f64 / count as f64,
        expected,
        2.0 * margin(count),
    );
    let s = c.snapshot();
    assert_eq!(s.passed, out.len() as u64);
    assert_eq!(s.packets_in, count);
}

#[test]
fn duplicates_are_extra_copies_of_the_same_packet() {
    let count = 100_000;
    let (mut n, _) = netem("duplicate 10%");
    let out = run(&mut n, count, MS, 64);
    let extra = out.len() as u64 - count;
    assert_near(
        "duplicate",
        extra as f64 / count as f64,
        0.10,
        margin(count),
    );
    let mut seen = vec![0u8; count as usize];
    for (idx, _) in out {
        seen[idx as usize] += 1;
    }
    assert!(seen.iter().all(|&k| k == 1 || k == 2));
}

#[test]
fn delay_holds_every_packet_exactly_that_long() {
    let (mut n, c) = netem("delay 50ms");
    for (idx, t) in run(&mut n, 1000, MS, 64) {
        assert_eq!(t, idx * MS + 50 * MS);
    }
    assert_eq!(c.snapshot().delayed, 1000);
}

#[test]
fn uniform_jitter_stays_in_range_with_the_right_mean() {
    let count = 100_000;
    let (mut n, _) = netem("delay 10ms 5ms");
    let delays: Vec<f64> = run(&mut n, count, MS, 64)
        .iter()
        .map(|&(i, t)| (t - i * MS) as f64 / MS as f64)
        .collect();
    assert!(delays.iter().all(|d| (5.0..15.0).contains(d)));
    let mean = delays.iter().sum::<f64>() / count as f64;
    // Delays lie in a 10 ms range: Hoeffding's margin scales by 10.
    assert_near("mean delay (ms)", mean, 10.0, 10.0 * margin(count));
}

#[test]
fn normal_jitter_has_the_configured_spread() {
    let count = 100_000;
    let (mut n, _) = netem("delay 50ms 10ms distribution normal");
    let delays: Vec<f64> = run(&mut n, count, MS, 64)
        .iter()
        .map(|&(i, t)| (t - i * MS) as f64 / MS as f64)
        .collect();
    let mean = delays.iter().sum::<f64>() / count as f64;
    let sd = (delays.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / count as f64).sqrt();
    // Values lie within ±4 sd (80 ms range); the standard deviation of a
    // normal sample of 100,000 has a relative error of about 0.2%.
    assert_near("mean delay (ms)", mean, 50.0, 80.0 * margin(count));
    assert_near("sd (ms)", sd, 10.0, 0.3);
}

#[test]
fn jitter_wider_than_the_packet_gap_reorders() {
    let (mut n, _) = netem("delay 10ms 5ms");
    let out = run(&mut n, 1000, MS, 64);
    let late = out.windows(2).filter(|w| w[1].0 < w[0].0).count();
    assert!(late > 100, "only {late} inversions");
}

#[test]
fn reorder_sends_the_chosen_fraction_ahead_of_the_queue() {
    let count = 100_000;
    let (mut n, c) = netem("delay 10ms reorder 25%");
    let out = run(&mut n, count, MS, 64);
    let immediate = out.iter().filter(|&&(i, t)| t == i * MS).count();
    assert_near(
        "reordered",
        immediate as f64 / count as f64,
        0.25,
        margin(count),
    );
    assert_eq!(c.snapshot().reordered, immediate as u64);
    assert!(out
        .iter()
        .all(|&(i, t)| t == i * MS || t == i * MS + 10 * MS));
}

#[test]
fn reorder_gap_picks_every_gap_th_packet() {
    let (mut n, _) = netem("delay 10ms reorder 100% gap 5");
    let out = run(&mut n, 100, MS, 64);
    let immediate: Vec<u64> = out
        .iter()
        .filter(|&&(i, t)| t == i * MS)
        .map(|&(i, _)| i)
        .collect();
    assert_eq!(
        immediate,
        (0..100).filter(|i| i % 5 == 4).collect::<Vec<_>>()
    );
}

#[test]
fn rate_spaces_packets_by_their_serialization_time() {
    // 111-byte packets + 14 bytes of Ethernet = 1000 bits = 1 ms at 1mbit.
    let (mut n, _) = netem("rate 1mbit limit 10000");
    let out = run(&mut n, 1000, 0, 111);
    for (k, &(i, t)) in out.iter().enumerate() {
        assert_eq!(i, k as u64);
        assert_eq!(t, (k as u64 + 1) * MS);
    }
}

#[test]
fn delay_and_rate_add_up_like_netem() {
    let (mut n, _) = netem("delay 5ms rate 1mbit");
    let out = run(&mut n, 3, 0, 111);
    assert_eq!(
        out.iter().map(|&(_, t)| t).collect::<Vec<_>>(),
        vec![6 * MS, 7 * MS, 8 * MS]
    );
}

#[test]
fn limit_bounds_the_queue_and_counts_what_it_drops() {
    let (mut n, c) = netem("delay 1s limit 10");
    let out = run(&mut n, 100, 0, 64);
    assert_eq!(out.len(), 10);
    assert_eq!(c.snapshot().queue_drops, 90);
}

#[test]
fn corrupt_flips_exactly_one_bit() {
    let (mut n, c) = netem("corrupt 100%");
    let original = vec![0xA5u8; 256];
    for _ in 0..1000 {
        n.enqueue(original.clone(), 0);
        let got = n.dequeue(0).unwrap();
        let flipped: u32 = got
            .iter()
            .zip(&original)
            .map(|(a, b)| (a ^ b).count_ones())
            .sum();
        assert_eq!(flipped, 1);
    }
    assert_eq!(c.snapshot().corrupted, 1000);
}

#[test]
fn gilbert_elliott_loses_its_stationary_fraction_in_bursts() {
    // p = 1%, r = 10%, loss 100% in bad, 0% in good: stationary loss
    // p / (p + r) = 9.09%, mean burst 1/r = 10. l = 1 - p - r = 0.89.
    let count = 1_000_000;
    let (mut n, _) = netem("loss gemodel 1% 10% 100% 0%");
    let out = run(&mut n, count, 1, 64);
    let lost = 1.0 - out.len() as f64 / count as f64;
    let l: f64 = 0.89;
    let n_eff = (count as f64 * (1.0 - l) / (1.0 + l)) as u64;
    assert_near("gemodel loss", lost, 0.01 / 0.11, margin(n_eff));
    let mut bursts = 0;
    let mut prev = None;
    for &(i, _) in &out {
        if prev.is_some_and(|p: u64| i > p + 1) {
            bursts += 1;
        }
        prev = Some(i);
    }
    let mean_burst = (count - out.len() as u64) as f64 / f64::from(bursts);
    assert!((8.0..12.0).contains(&mean_burst), "mean burst {mean_burst}");
}

#[test]
fn four_state_model_loses_its_stationary_fraction() {
    // p13 = 5%, p31 = 50%, others 0: loss = p13 / (p13 + p31) = 9.09%;
    // l = 1 - p13 - p31 = 0.45.
    let count = 1_000_000;
    let (mut n, _) = netem("loss state 5% 50% 0% 0% 0%");
    let out = run(&mut n, count, 1, 64);
    let lost = 1.0 - out.len() as f64 / count as f64;
    let l: f64 = 0.45;
    let n_eff = (count as f64 * (1.0 - l) / (1.0 + l)) as u64;
    assert_near("4-state loss", lost, 0.05 / 0.55, margin(n_eff));
}

#[test]
fn same_seed_repeats_the_run_exactly() {
    let spec: Impairment = "delay 10ms 5ms loss 10% duplicate 5% reorder 10% seed 99"
        .parse()
        .unwrap();
    let a = run(
        &mut NetemModel::new(&spec, 1, Arc::default()),
        10_000,
        MS,
        64,
    );
    let b = run(
        &mut NetemModel::new(&spec, 2, Arc::default()),
        10_000,
        MS,
        64,
    );
    assert_eq!(a, b);
}

#[test]
fn changing_the_spec_keeps_queued_packets() {
    let (mut n, _) = netem("delay 100ms");
    n.enqueue(vec![0; 8], 0);
    n.set(&Impairment::blackhole());
    n.enqueue(vec![1; 8], MS);
    assert_eq!(n.queued(), 1);
    assert_eq!(n.dequeue(100 * MS).map(|p| p[0]), Some(0));
    assert!(Duration::from_nanos(n.next_due().unwrap_or(0)).is_zero());
}

#[test]
fn packets_that_leave_after_their_time_raise_the_lateness_count() {
    let counters = Arc::new(Counters::default());
    let mut model = NetemModel::new(&"delay 1ms".parse().unwrap(), 1, counters.clone());
    for i in 0..100u64 {
        model.enqueue(vec![0u8; 64], i * 1_000);
    }
    // On time: each packet at its due time.
    while let Some(due) = model.next_due() {
        if due > 50_000 + 1_000_000 {
            break;
        }
        model.dequeue(due);
    }
    assert_eq!(counters.snapshot().late_max_us, 0);
    // Then a forwarder descheduled for 5 ms: the rest leave late.
    let late = model.next_due().unwrap() + 5_000_000;
    while model.dequeue(late).is_some() {}
    let c = counters.snapshot();
    assert!(c.late_max_us >= 5_000 && c.late_max_us < 5_100, "{c:?}");
    assert!(c.late_p99_us >= 4_000, "{c:?}");
    assert_eq!(c.late_p50_us, 0, "{c:?}");
}
