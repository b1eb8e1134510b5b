//! UDP is unreliable: on a bad network it loses, reorders and duplicates,
//! and the probe counts each separately. Network-namespace hosts, backend
//! auto (netem where the kernel has it, the userspace wire elsewhere).
//!
//! Every proportion is checked with the exact Clopper-Pearson interval of
//! its sample at a false-failure probability of 1e-6 (`badnet::verdict`).

use std::time::Duration;

use crate::common::*;
use badnet::scenario::{Partition, Scenario, Transport};
use badnet::verdict::{self, assert_all};
use faults::Direction;
use rstest::rstest;

const COUNT: u64 = 4000;

fn udp() -> Scenario {
    let mut s = Scenario::new(Transport::Udp);
    s.backend = backend();
    s.count = COUNT;
    s.interval = Duration::from_micros(250);
    s.timeout = Duration::from_millis(500);
    s.seed = Some(seed());
    s
}

#[test]
fn udp_on_a_clean_link_loses_reorders_and_duplicates_nothing() {
    let o = run(&udp());
    assert_all(&verdict::udp_clean(
        o.report.as_udp().expect("a UDP report"),
    ));
}

/// Loss p on k directions: the round-trip loss of 4000 probes must be
/// consistent with 1-(1-p)^k (Clopper-Pearson at 1e-6; the interval is
/// about ±0.03 wide around 0.19, so a verdict that ignored the return
/// direction, 0.10, fails). Each direction is pinned on its own by what
/// host B's kernel counted (datagrams that reached the server, echoes it
/// sent), and on netem by the qdisc counters of each device: loss on the
/// wrong side fails.
#[rstest]
#[case::loss_10pct_both("loss 10%", Direction::Both, 0.10)]
#[case::loss_20pct_forward("loss 20%", Direction::Forward, 0.20)]
#[case::loss_5pct_reverse("loss 5%", Direction::Reverse, 0.05)]
#[case::loss_30pct_both("loss 30%", Direction::Both, 0.30)]
fn udp_loses_about_the_configured_fraction(
    #[case] spec: &str,
    #[case] direction: Direction,
    #[case] p: f64,
) {
    let s = udp().impaired(spec, direction);
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    let mut checks = vec![
        verdict::udp_loss(r, p, s.impaired_directions()),
        verdict::udp_uncorrupted(r),
        verdict::udp_boundaries(r),
    ];
    checks.extend(verdict::udp_loss_each_way(r, &o.server_udp, direction, p));
    if o.backend == faults::Backend::Netem {
        checks.extend(verdict::netem_drops_each_way(&o.link, direction, p));
    }
    assert_all(&checks);
    assert_eq!(r.duplicates, 0);
}

#[test]
fn udp_at_100pct_loss_receives_nothing_and_ends_by_its_timeout() {
    let s = udp().impaired("loss 100%", Direction::Both);
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert_eq!((r.sent, r.received), (COUNT, 0));
    assert!(r.rtt_ms.is_none());
    let budget = (s.interval.mul_f64(COUNT as f64) + s.timeout).as_secs_f64() + 1.0;
    assert!(
        r.duration_s < budget,
        "took {} s, budget {budget} s",
        r.duration_s
    );
}

/// A delay d on each direction makes every round trip at least 2d; the
/// median stays within 2 ms of it (forwarding and scheduling only add: a
/// clean link's median RTT is under 0.1 ms here), plus what the wire
/// counted of its own lateness at the median each way (a busy machine
/// deschedules it now and then; 0 on netem).
#[test]
fn udp_round_trip_is_twice_the_one_way_delay() {
    let o = run(&udp().impaired("delay 20ms", Direction::Both));
    let rtt = o
        .report
        .as_udp()
        .expect("a UDP report")
        .rtt_ms
        .expect("echoes");
    assert!(rtt.min >= 40.0, "min RTT {} ms below 2 x 20 ms", rtt.min);
    let late_ms = (o.link.forward.late_p50_us + o.link.reverse.late_p50_us) as f64 / 1e3;
    assert!(
        rtt.p50 < 42.0 + late_ms,
        "median RTT {} ms, the link {late_ms} ms late at the median",
        rtt.p50
    );
}

/// Jitter of ±5 ms on a 10 ms delay, probes 0.25 ms apart: netem's queue is
/// ordered by send time, so packets overtake each other.
#[test]
fn udp_jitter_wider_than_the_send_gap_reorders() {
    let o = run(&udp().impaired("delay 10ms 5ms", Direction::Both));
    let r = o.report.as_udp().expect("a UDP report");
    assert!(
        r.reordered > COUNT / 10,
        "only {} of {COUNT} reordered",
        r.reordered
    );
    assert_eq!((r.lost, r.duplicates), (0, 0));
    assert!(r.rtt_ms.expect("echoes").min >= 10.0);
    assert!(r.jitter_ms > 0.5, "jitter {} ms", r.jitter_ms);
}

/// `reorder 25%` sends a quarter of the probes ahead of the 50 ms delay:
/// they overtake the probes still queued, which then arrive late (RFC 4737).
/// Judged by order, not time (a busy machine's stalls moved echoes' RTTs
/// by tens of milliseconds, and the RTT-classified share failed): a probe
/// that took the delay is overtaken by a younger one that skipped it
/// unless none of the ~200 sent within the delay after it did, so the
/// late probes are Binomial(N, 0.75) less the trailing run of delayed
/// probes at the end, which is 50 or longer with probability 0.75^50 =
/// 6e-7. On the wire the link's own count of what it sent ahead must be
/// consistent with 25% too (Clopper-Pearson at 1e-6 each).
#[test]
fn udp_reorder_sends_probes_ahead_of_their_elders() {
    let s = udp().impaired("delay 50ms reorder 25%", Direction::Forward);
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert_eq!((r.lost, r.duplicates), (0, 0));
    assert!(r.reordered > 0, "nothing reordered");
    let mut checks = vec![verdict::proportion_in(
        "probes overtaken by a younger one (RFC 4737)",
        r.reordered,
        r.sent,
        0.75 - 50.0 / r.sent as f64,
        0.75,
    )];
    if o.backend == faults::Backend::Wire {
        checks.push(verdict::proportion(
            "sent ahead by the link",
            o.link.forward.reordered,
            o.link.forward.packets_in,
            0.25,
        ));
    }
    assert_all(&checks);
}

/// `duplicate 10%` client to server: the server echoes each copy, so the
/// duplicates the probe counts are Binomial(4000, 0.10).
#[test]
fn udp_duplicates_arrive_as_extra_copies() {
    let o = run(&udp().impaired("duplicate 10%", Direction::Forward));
    let r = o.report.as_udp().expect("a UDP report");
    assert_eq!((r.lost, r.received), (0, COUNT));
    assert_all(&[verdict::proportion(
        "duplicates",
        r.duplicates,
        r.sent,
        0.10,
    )]);
}

/// `corrupt 10%`: a flipped bit breaks the IP or UDP checksum, so the
/// kernel drops the datagram: corruption shows as loss, never as a
/// corrupted echo. (On a veth, netem may flip a bit of the Ethernet source
/// address, which no one checks: up to 6 of the 106 bytes of a 64-byte
/// probe's frame, so loss lies in 0.10 x (1 - 6/106) ..= 0.10.)
#[test]
fn udp_corrupted_datagrams_never_reach_the_application() {
    let o = run(&udp().impaired("corrupt 10%", Direction::Forward));
    let r = o.report.as_udp().expect("a UDP report");
    assert_all(&[
        verdict::udp_uncorrupted(r),
        verdict::proportion_in(
            "corruption seen as loss",
            r.lost,
            r.sent,
            0.10 * (1.0 - 6.0 / 106.0),
            0.10,
        ),
    ]);
}

/// Datagrams above the lecture's 2048-byte read and above the link's MTU
/// (1500: IP fragments them, and the link impairs each fragment) arrive
/// whole or not at all: every echo that comes back is exactly one probe,
/// never cut at 2048 bytes nor at a fragment.
#[rstest]
#[case::above_the_lectures_read(3000)]
#[case::six_fragments(9000)]
fn udp_keeps_message_boundaries_with_large_datagrams(#[case] size: usize) {
    let mut s = udp().impaired("loss 1%", Direction::Both);
    s.size = size;
    s.count = 300;
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert_all(&[
        verdict::udp_boundaries(r),
        verdict::udp_uncorrupted(r),
        verdict::udp_exact(r),
    ]);
    assert!(r.received > 0, "{r:?}");
}

/// A 1 s partition in a 3 s run of probes 1 ms apart loses the probes sent
/// while the link is cut: about 1000 (5% + 20 probes of slack for timer and
/// command latency).
#[test]
fn udp_loses_what_is_sent_during_a_partition() {
    let mut s = udp();
    s.count = 3000;
    s.interval = Duration::from_millis(1);
    s.partition = Some(Partition {
        after: Duration::from_secs(1),
        duration: Duration::from_secs(1),
    });
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert!(
        (930..=1070).contains(&r.lost),
        "lost {} during a 1 s cut at 1 probe/ms",
        r.lost
    );
    assert_eq!(r.received + r.lost, 3000);
}

/// Flow control, UDP: a server that reads 500 datagrams a second from a
/// 16 KB buffer, sent 1000 a second on a clean link. The sender does not
/// slow down (every probe leaves), and what the reader cannot take the
/// receiving kernel drops: every probe lost is one host B's kernel counted
/// as a receive-buffer drop (`Udp: RcvbufErrors`), or one still queued,
/// unread, when the run ended (the few the small buffer holds), exactly.
#[test]
fn udp_does_not_slow_down_for_a_slow_reader_and_its_kernel_drops_the_rest() {
    let mut s = udp();
    s.count = 2000;
    s.interval = Duration::from_millis(1);
    s.receiver_rate = Some(500.0);
    s.receiver_buffer = Some(16_000);
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert_eq!((r.sent, r.send_errors), (2000, 0), "{r:?}");
    let drops = o.server_udp.rcvbuf_errors;
    assert!(
        drops > 0,
        "the slow reader's buffer never overflowed: {:?}",
        o.server_udp
    );
    let unread = o.unread_at_end.expect("a UDP probe's unread datagrams");
    assert_eq!(
        r.lost,
        drops + unread,
        "lost {} but the kernel dropped {drops} and left {unread} unread",
        r.lost
    );
    assert_all(&verdict::udp_only_lost(r));
}

/// A slow reader with a buffer large enough for the whole burst: 3000
/// probes 100 us apart to a server that reads 500 a second. Nothing
/// overflows; what the server had not read when the probe stopped waiting
/// was still in its queue: late, not dropped. `lost` is accounted for in
/// full by what host B's kernel and the link counted, with no tolerance:
/// every count is exact (the link's delivered packets, B's `InDatagrams`,
/// `InErrors`, `NoPorts`), and the link is clean.
#[test]
fn udp_lost_to_a_slow_reader_is_its_drops_and_what_it_had_not_read_at_the_end() {
    let v = run_ok(&[
        "udp",
        "--receiver-rate",
        "500/s",
        "--count",
        "3000",
        "--interval",
        "100us",
    ]);
    let (lost, drops, unread) = (
        count(&v["lost"]),
        count(&v["receive_buffer_drops"]),
        count(&v["unread_at_end"]),
    );
    assert!(unread > 0, "nothing was left unread: {v}");
    assert_eq!(
        lost,
        drops + unread,
        "lost {lost}, receive_buffer_drops {drops}, unread_at_end {unread}: {v}"
    );
}

/// Every run records the seed of its link's draws, given or drawn, and a
/// run given that seed again draws the same: on the wire (whose draws are
/// all seeded) the same packets are dropped. netem's kernel draws are its
/// own, so there only the seed is checked.
#[test]
fn udp_run_records_its_seed_and_the_seed_replays_it() {
    let given = run_ok(&["udp", "--seed", "42", "--count", "10"]);
    assert_eq!(given["seed"], 42, "{given}");
    let args = [
        "udp",
        "--loss",
        "30%",
        "--count",
        "300",
        "--interval",
        "100us",
    ];
    let first = run_ok(&args);
    let seed = first["seed"]
        .as_u64()
        .unwrap_or_else(|| panic!("no seed: {first}"));
    let seed_arg = seed.to_string();
    let mut again = args.to_vec();
    again.extend(["--seed", &seed_arg]);
    let second = run_ok(&again);
    assert_eq!(second["seed"], seed, "{second}");
    if first["backend"] == "wire" {
        for dir in ["forward", "reverse"] {
            assert_eq!(
                first["link"][dir]["dropped"], second["link"][dir]["dropped"],
                "{dir}: seed {seed} did not replay the same drops"
            );
        }
    }
    let out = badnet()
        .args(["run", "udp", "--count", "5", "--seed", "42"])
        .args(on_backend())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().next().is_some_and(|l| l.ends_with("seed 42")),
        "{text}"
    );
}

/// The driver's JSON holds no float noise (`0.12999999999999998`): every
/// float, the driver's own (the impairment's `delay_ms`, the timeline's
/// phases) as the probe's, has at most 12 significant digits (times in
/// ms to a microsecond, seconds to a microsecond, other values to 12).
#[test]
fn udp_run_json_floats_are_rounded() {
    let v = run_ok(&[
        "udp",
        "--delay",
        "130us",
        "--count",
        "50",
        "--samples",
        "--at",
        "10ms",
        "delay 130us",
    ]);
    let mut noisy = Vec::new();
    floats(&v, &mut noisy);
    assert!(noisy.is_empty(), "unrounded floats {noisy:?} in {v}");
}

/// The floats in `v` printed with more than 12 significant digits.
fn floats(v: &serde_json::Value, noisy: &mut Vec<String>) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            let text = n.to_string();
            let mantissa = text.split(['e', 'E']).next().unwrap_or("");
            let digits = mantissa
                .chars()
                .filter(char::is_ascii_digit)
                .skip_while(|&c| c == '0')
                .count();
            if digits > 12 {
                noisy.push(text);
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|i| floats(i, noisy)),
        serde_json::Value::Object(map) => map.values().for_each(|i| floats(i, noisy)),
        _ => {}
    }
}
