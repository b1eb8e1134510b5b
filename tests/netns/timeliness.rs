//! Timeliness: timestamped messages at a steady rate, one-way latency per
//! message. On a lossy link UDP's delivered messages keep the base latency
//! and the lost are gone; TCP delivers every one, but those behind a lost
//! segment wait for its retransmission: at least one round trip more.

use badnet::bounds::{incomplete_beta, FALSE_FAILURE};

use crate::common::*;

/// 200 messages a second for 3 s, 5% loss each way, delayed 20 ms (UDP) or
/// 10 ms (TCP: at 20 ms, with a message every 5 ms, the messages behind
/// each loss were more than half of all, and the median was late too).
const RATE: &str = "200/s";
const N: u64 = 600;
const LOSS: f64 = 0.05;

fn messages(transport: &str, delay: &str) -> serde_json::Value {
    let seed = seed().to_string();
    run_ok(&[
        transport,
        "--messages",
        RATE,
        "--duration",
        "3s",
        "--delay",
        delay,
        "--netem",
        "loss 5%",
        "--seed",
        &seed,
    ])
}

/// UDP: what was delivered is what the link passed A to B, and no
/// delivered message waited for a retransmission, which would cost at
/// least a round trip (two base latencies) more: every latency is under
/// three base latencies. (A busy machine adds scheduling: up to 18 ms was
/// seen with six suites at once on two cores, which the 40 ms between the
/// base and the bound leaves room for.)
#[test]
fn udp_delivers_on_time_or_not_at_all() {
    let j = messages("udp", "20ms");
    assert_eq!(count(&j["messages_sent"]), N, "{j}");
    let delivered = count(&j["messages_delivered"]);
    assert_eq!(
        delivered,
        N - count(&j["link"]["forward"]["dropped"]),
        "{j}"
    );
    assert!(delivered < N, "5% loss lost nothing: {j}");
    let base = num(&j["latency_ms"]["min"]);
    let max = num(&j["latency_ms"]["max"]);
    assert!(
        max < base * 3.0,
        "a UDP message waited: max {max} ms, base {base} ms: {j}"
    );
}

/// TCP: every message, in order; the ones behind a lost segment arrive at
/// least a round trip late. The loss of a message's first transmission is
/// learned no sooner than the next segment reaches B and B's duplicate
/// ACK comes back, and the retransmission then crosses again: its latency
/// is at least base + RTT, and RTT is at least twice the base here (10 ms
/// each way). The first transmissions lost are Binomial(600, 5%); more
/// than 1% of them (7) fail with probability below 1e-6 (checked below),
/// so the 99th percentile is one of the late ones.
#[test]
fn tcp_delivers_every_message_but_those_behind_a_loss_wait_a_round_trip() {
    // P(X <= 6) for X ~ Binomial(600, 0.05) = I_{0.95}(594, 7).
    let need = (N as f64 * 0.01).floor() as u64 + 1;
    let tail = incomplete_beta(1.0 - LOSS, (N - need + 1) as f64, need as f64);
    assert!(
        tail < FALSE_FAILURE,
        "P(fewer than {need} losses) = {tail:e}"
    );
    let j = messages("tcp", "10ms");
    assert_eq!(count(&j["messages_sent"]), N, "{j}");
    assert_eq!(count(&j["messages_delivered"]), N, "{j}");
    assert_eq!(count(&j["out_of_order"]), 0, "{j}");
    assert_eq!(count(&j["duplicates"]), 0, "{j}");
    assert!(count(&j["retransmits"]) > 0, "{j}");
    let base = num(&j["latency_ms"]["min"]);
    let p99 = num(&j["latency_ms"]["p99"]);
    assert!(
        p99 >= base * 3.0,
        "p99 {p99} ms is not a round trip (2 x {base}) above the base: {j}"
    );
    let p50 = num(&j["latency_ms"]["p50"]);
    assert!(
        p50 < base * 1.5,
        "most messages keep the base: p50 {p50}: {j}"
    );
}

#[test]
fn bad_message_flags_are_refused() {
    require_root();
    for args in [
        &["udp", "--messages", "0/s", "--duration", "1s"][..],
        &["udp", "--messages", "10/s", "--duration", "0s"],
        &["udp", "--messages", "10/s"],
        &["tcp", "--duration", "1s"],
        &["udp", "--messages", "1000000/s", "--duration", "1h"],
    ] {
        let out = badnet().arg("run").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--messages") || stderr.contains("--duration"),
            "{args:?}: {stderr}"
        );
    }
}
