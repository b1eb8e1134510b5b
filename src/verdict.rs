//! Verdicts: what a run's measurements must show, each check with its
//! bound derived from the sample size (see [`crate::bounds`]).

use services::report::{TcpReport, UdpReport};

use crate::bounds::{clopper_pearson, ProportionCheck, FALSE_FAILURE};

/// One named check of a run, passed or failed, with what was observed and
/// what was expected.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Check {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

impl Check {
    fn new(name: impl Into<String>, pass: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            pass,
            detail: detail.into(),
        }
    }
}

/// Panics with every check's detail unless all passed.
pub fn assert_all(checks: &[Check]) {
    let failed: Vec<_> = checks.iter().filter(|c| !c.pass).collect();
    for c in checks {
        println!(
            "{} {}: {}",
            if c.pass { "pass" } else { "FAIL" },
            c.name,
            c.detail
        );
    }
    assert!(
        failed.is_empty(),
        "failed: {}",
        failed
            .iter()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; ")
    );
}

/// Round-trip loss through `directions` lossy directions of loss `p` each
/// is 1 - (1 - p)^directions.
pub fn round_trip_loss(p: f64, directions: i32) -> f64 {
    1.0 - (1.0 - p).powi(directions)
}

/// `k` of `n` is consistent with the expected proportion.
pub fn proportion(name: &str, k: u64, n: u64, expected: f64) -> Check {
    let c = ProportionCheck::new(k, n, expected);
    Check::new(name, c.pass, c.to_string())
}

/// `k` of `n` is consistent with some proportion in `lo..=hi` (for a
/// quantity the model pins down only to a range).
pub fn proportion_in(name: &str, k: u64, n: u64, lo: f64, hi: f64) -> Check {
    let (l, u) = clopper_pearson(k, n, FALSE_FAILURE);
    Check::new(
        name,
        l <= hi && u >= lo,
        format!("observed {:.4} ({k} of {n}), interval {l:.4}..{u:.4} at {FALSE_FAILURE:e}, expected {lo:.4}..{hi:.4}", k as f64 / n as f64),
    )
}

/// UDP round-trip loss matches `p` per direction over `directions`.
pub fn udp_loss(r: &UdpReport, p: f64, directions: i32) -> Check {
    proportion(
        &format!(
            "round-trip loss, {:.1}% per direction x{directions}",
            p * 100.0
        ),
        r.lost,
        r.sent,
        round_trip_loss(p, directions),
    )
}

/// The probes that skipped a one-way `delay_ms` (netem's reorder sends
/// them at once, ahead of the queue), counted from the RTT of each echo on
/// the probe's one clock: those within `delay_ms / 2` of the fastest.
/// Returns (skipped, echoes); (0, 0) without RTT samples.
pub fn udp_skipped_delay(r: &UdpReport, delay_ms: f64) -> (u64, u64) {
    let floor = r
        .rtt_samples_ms
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let skipped = r
        .rtt_samples_ms
        .iter()
        .filter(|&&rtt| rtt < floor + delay_ms / 2.0)
        .count();
    (skipped as u64, r.rtt_samples_ms.len() as u64)
}

/// The share of probes that skipped the delay matches the reorder rate
/// `p` (binomial: each probe is picked on its own, unlike RFC 4737's
/// count, where one early probe marks every elder it overtakes).
pub fn udp_reorder_fraction(r: &UdpReport, delay_ms: f64, p: f64) -> Check {
    let (k, n) = udp_skipped_delay(r, delay_ms);
    if n == 0 {
        return Check::new(
            "share of probes that skipped the delay",
            false,
            "no RTT samples (run the probe with --samples)",
        );
    }
    proportion("share of probes that skipped the delay", k, n, p)
}

/// Loss `p` on the ways `direction` names, none on the other, each way
/// judged by host B's kernel: A to B lost what was sent and never reached
/// the server (`server.in_datagrams`), B to A what the server sent back
/// (`server.out_datagrams`) and the probe never got.
pub fn udp_loss_each_way(
    r: &UdpReport,
    server: &faults::UdpCounters,
    direction: faults::Direction,
    p: f64,
) -> Vec<Check> {
    let (forward, reverse) = ways(direction, p);
    let reached = server.in_datagrams.min(r.sent);
    let echoed = server.out_datagrams.max(r.received);
    vec![
        proportion(
            "A to B: probes that never reached the server (its kernel's count)",
            r.sent - reached,
            r.sent,
            forward,
        ),
        proportion(
            "B to A: echoes the server sent that never came back",
            echoed - r.received,
            echoed.max(1),
            reverse,
        ),
    ]
}

/// Loss `p` on the ways `direction` names, none on the other, as the
/// kernel's netem qdisc on each end counted its drops.
pub fn netem_drops_each_way(
    link: &faults::LinkCounters,
    direction: faults::Direction,
    p: f64,
) -> Vec<Check> {
    let (forward, reverse) = ways(direction, p);
    vec![
        proportion(
            "A to B: dropped by host A's netem",
            link.forward.dropped,
            link.forward.packets_in.max(1),
            forward,
        ),
        proportion(
            "B to A: dropped by host B's netem",
            link.reverse.dropped,
            link.reverse.packets_in.max(1),
            reverse,
        ),
    ]
}

/// The loss each way (A to B, B to A) when `p` applies in `direction`.
fn ways(direction: faults::Direction, p: f64) -> (f64, f64) {
    match direction {
        faults::Direction::Forward => (p, 0.0),
        faults::Direction::Reverse => (0.0, p),
        faults::Direction::Both => (p, p),
    }
}

/// Whether the wire kept its schedule well enough for a verdict on timing:
/// its own count of how late packets left, at the 99th percentile, below
/// `tolerance_us`. A check that classifies packets by their timing asserts
/// this first, so that a descheduled link is reported as such ("the link
/// could not keep its schedule") instead of as a broken property. Always
/// passes on netem, whose lateness is the kernel's (counted 0).
pub fn schedule_kept(link: &faults::CounterSnapshot, tolerance_us: u64) -> Check {
    Check::new(
        "the link kept its schedule",
        link.late_p99_us < tolerance_us,
        format!(
            "the link could not keep its schedule: packets left {} us late at p99 (max {} us), tolerance {tolerance_us} us",
            link.late_p99_us, link.late_max_us
        ),
    )
}

/// Nothing lost, reordered, duplicated or corrupted; every echo one probe.
pub fn udp_clean(r: &UdpReport) -> Vec<Check> {
    let mut checks = vec![Check::new(
        "nothing lost",
        r.lost == 0,
        format!("lost {} of {}", r.lost, r.sent),
    )];
    checks.extend(udp_only_lost(r));
    checks
}

/// Whatever was lost, nothing else went wrong: nothing reordered,
/// duplicated or corrupted, every echo exact and one probe, every probe
/// sent.
pub fn udp_only_lost(r: &UdpReport) -> Vec<Check> {
    vec![
        Check::new(
            "nothing reordered",
            r.reordered == 0,
            format!("reordered {}", r.reordered),
        ),
        Check::new(
            "nothing duplicated",
            r.duplicates == 0,
            format!("duplicates {}", r.duplicates),
        ),
        udp_uncorrupted(r),
        udp_exact(r),
        udp_boundaries(r),
        Check::new(
            "every probe left",
            r.send_errors == 0,
            format!("send errors {}", r.send_errors),
        ),
    ]
}

/// Every echo was the uppercase of a probe that was sent, at the time it
/// was sent: no echo of an unsent probe, none with another send time, none
/// left lowercase.
pub fn udp_exact(r: &UdpReport) -> Check {
    Check::new(
        "every echo names a probe that was sent, as sent, uppercased",
        r.unsent + r.wrong_time + r.not_uppercased == 0,
        format!(
            "unsent {}, wrong time {}, not uppercased {}",
            r.unsent, r.wrong_time, r.not_uppercased
        ),
    )
}

/// No corrupted datagram reached the application.
pub fn udp_uncorrupted(r: &UdpReport) -> Check {
    Check::new(
        "no corrupted datagram reached the application",
        r.corrupted == 0,
        format!("corrupted {}", r.corrupted),
    )
}

/// Every echo was exactly one probe: none cut, none merged.
pub fn udp_boundaries(r: &UdpReport) -> Check {
    Check::new(
        "message boundaries preserved",
        r.boundaries_preserved && r.wrong_size == 0,
        format!(
            "boundaries_preserved = {}, wrong size {}",
            r.boundaries_preserved, r.wrong_size
        ),
    )
}

/// Every byte arrived, intact, in order, exactly once.
pub fn tcp_reliable(r: &TcpReport) -> Vec<Check> {
    vec![
        Check::new(
            "completed",
            r.completed,
            format!(
                "completed = {} ({}){}",
                r.completed,
                r.error.as_deref().unwrap_or("no error"),
                if r.bytes_received == 0 {
                    format!(
                        "; {} SYNs sent in {} connection attempts",
                        r.syns_sent, r.connect_attempts
                    )
                } else {
                    String::new()
                }
            ),
        ),
        Check::new(
            "every byte exactly once",
            r.bytes_received == r.bytes_sent,
            format!("{} of {} bytes", r.bytes_received, r.bytes_sent),
        ),
        Check::new("intact", r.intact, format!("intact = {}", r.intact)),
        Check::new(
            "in order",
            r.in_order == Some(true),
            r.in_order.map_or("no line came back to order".into(), |o| {
                format!("in_order = {o}")
            }),
        ),
    ]
}

/// The client's TCP retransmitted: proof that the network really dropped.
pub fn tcp_retransmitted(r: &TcpReport) -> Check {
    Check::new(
        "TCP retransmitted",
        r.retransmits > 0,
        format!("{} retransmits", r.retransmits),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(sent: u64, received: u64) -> UdpReport {
        UdpReport {
            received_after_renumber: None,
            sent,
            received,
            lost: sent - received,
            loss_rate: (sent - received) as f64 / sent as f64,
            reordered: 0,
            duplicates: 0,
            send_errors: 0,
            corrupted: 0,
            unsent: 0,
            wrong_time: 0,
            wrong_size: 0,
            not_uppercased: 0,
            rtt_ms: None,
            jitter_ms: 0.0,
            boundaries_preserved: true,
            duration_s: 1.0,
            rtt_samples_ms: Vec::new(),
            local_port: None,
        }
    }

    fn tcp(received: u64, intact: bool) -> TcpReport {
        TcpReport {
            reconnects: 0,
            resent_bytes: 0,
            bytes_sent: 1000,
            bytes_received: received,
            intact,
            in_order: (received > 0).then_some(intact),
            connect_attempts: 1,
            syns_sent: 1,
            local_port: None,
            completed: true,
            duration_s: 1.0,
            goodput_mbps: 0.008,
            retransmits: 3,
            srtt_ms: 1.0,
            writes: 10,
            send_blocked_s: 0.0,
            reads: 5,
            congestion: "cubic".into(),
            error: None,
        }
    }

    #[test]
    fn loss_through_two_directions_passes_the_round_trip_expectation() {
        // 20% per direction, 10000 probes: 1-(0.8)^2 = 36% round trip.
        assert!(udp_loss(&udp(10_000, 6_400), 0.20, 2).pass);
    }

    #[test]
    fn a_verdict_that_forgets_the_return_direction_fails() {
        // The same measurement against the wrong model (one direction) fails:
        // the suite's loss checks can tell 20% from 36%.
        let check = udp_loss(&udp(10_000, 6_400), 0.20, 1);
        assert!(!check.pass, "{}", check.detail);
    }

    #[test]
    fn a_udp_that_lost_nothing_fails_a_loss_check() {
        assert!(!udp_loss(&udp(4_000, 4_000), 0.10, 2).pass);
    }

    #[test]
    fn clean_checks_catch_each_kind_of_damage() {
        let mut r = udp(100, 100);
        assert!(udp_clean(&r).iter().all(|c| c.pass));
        r.duplicates = 1;
        r.corrupted = 1;
        r.boundaries_preserved = false;
        let failed: Vec<_> = udp_clean(&r)
            .into_iter()
            .filter(|c| !c.pass)
            .map(|c| c.name)
            .collect();
        assert_eq!(
            failed,
            [
                "nothing duplicated",
                "no corrupted datagram reached the application",
                "message boundaries preserved"
            ]
        );
    }

    #[test]
    fn a_tcp_that_lost_or_garbled_bytes_fails_reliability() {
        assert!(tcp_reliable(&tcp(1000, true)).iter().all(|c| c.pass));
        assert!(tcp_reliable(&tcp(999, false)).iter().any(|c| !c.pass));
        assert!(tcp_reliable(&tcp(1000, false)).iter().any(|c| !c.pass));
    }

    #[test]
    fn range_check_passes_inside_and_fails_outside() {
        assert!(proportion_in("x", 950, 10_000, 0.09, 0.10).pass);
        assert!(!proportion_in("x", 500, 10_000, 0.09, 0.10).pass);
    }

    #[test]
    #[should_panic(expected = "failed: nothing lost")]
    fn assert_all_names_what_failed() {
        assert_all(&udp_clean(&udp(10, 9)));
    }
}
