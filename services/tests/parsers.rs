//! The parsers of what crosses a process or a network boundary against
//! arbitrary input: the probe report (what the driver reads from a probe's
//! stdout) and the probe echo (what the probe reads off the network).
//! Property tests (proptest; failures are kept in
//! `tests/parsers.proptest-regressions`) and a hand-kept corpus of reports
//! (`tests/corpus/report/`: `ok-*` must parse, `bad-*` must be refused).

use proptest::prelude::*;
use services::probe::{self, Ledger, Refusal, MAX_SEQ, MIN_SIZE};
use services::report::{Report, TcpReport, UdpReport};
use services::stats::Percentiles;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2048,
        ..ProptestConfig::default()
    }
}

/// `units` thousandths (`decimals` 3) or millionths (6): a float as a
/// report prints it, rounded.
fn at(units: u64, decimals: i32) -> f64 {
    units as f64 / 10f64.powi(decimals)
}

/// A report whose numbers agree with each other, as a probe prints them
/// (its floats rounded as printed).
fn udp_report() -> impl Strategy<Value = Report> {
    (
        0u64..1_000_000,
        0.0f64..=1.0,
        any::<bool>(),
        prop::collection::vec((0u64..10_000_000).prop_map(|us| at(us, 3)), 4),
        (0u64..1_000_000).prop_map(|us| at(us, 3)),
        (0u64..100_000_000_000).prop_map(|us| at(us, 6)),
    )
        .prop_map(
            |(sent, share, with_samples, mut q, jitter_ms, duration_s)| {
                let received = (sent as f64 * share) as u64;
                let lost = sent - received;
                q.sort_by(f64::total_cmp);
                Report::Udp(UdpReport {
                    received_after_renumber: None,
                    sent,
                    received,
                    lost,
                    loss_rate: if sent == 0 {
                        0.0
                    } else {
                        (lost as f64 / sent as f64 * 1e6).round() / 1e6
                    },
                    reordered: received / 3,
                    duplicates: received / 7,
                    send_errors: sent / 13,
                    corrupted: sent / 11,
                    unsent: sent / 17,
                    wrong_time: sent / 19,
                    wrong_size: 0,
                    not_uppercased: sent / 23,
                    rtt_ms: (received > 0).then(|| Percentiles {
                        min: q[0],
                        p50: q[1],
                        p99: q[2],
                        max: q[3],
                    }),
                    jitter_ms,
                    boundaries_preserved: true,
                    duration_s,
                    rtt_samples_ms: if with_samples {
                        q.iter().take(received.min(4) as usize).copied().collect()
                    } else {
                        Vec::new()
                    },
                    local_port: with_samples.then_some(40_000),
                })
            },
        )
}

fn tcp_report() -> impl Strategy<Value = Report> {
    (
        0u64..u64::MAX / 2,
        any::<bool>(),
        proptest::option::of("\\PC{0,30}"),
        0u64..10_000_000_000,
    )
        .prop_map(|(bytes, intact, error, duration_us)| {
            let duration_s = at(duration_us, 6);
            Report::Tcp(TcpReport {
                reconnects: 0,
                resent_bytes: 0,
                bytes_sent: bytes,
                bytes_received: if intact { bytes } else { bytes / 2 },
                intact,
                in_order: (bytes / 2 > 0).then_some(true),
                completed: error.is_none(),
                duration_s,
                goodput_mbps: at(duration_us / 3_000, 3),
                retransmits: bytes % 1000,
                srtt_ms: at(duration_us / 10, 3),
                writes: 1,
                send_blocked_s: 0.0,
                reads: 2,
                congestion: "cubic".into(),
                error,
                connect_attempts: 1 + bytes % 3,
                syns_sent: 1 + bytes % 5,
                local_port: (bytes % 2 == 0).then_some(40_001),
            })
        })
}

/// `text` with a few bytes replaced, deleted or inserted.
fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &(at, op, b) in edits {
        let at = at % (bytes.len() + 1);
        match op % 3 {
            0 if at < bytes.len() => bytes[at] = b,
            1 if at < bytes.len() => {
                bytes.remove(at);
            }
            _ => bytes.insert(at, b),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_a_report_or_refused_never_a_panic(text in "\\PC{0,200}") {
        let _ = Report::parse(&text);
    }

    #[test]
    fn a_consistent_report_survives_printing_and_parsing(report in prop_oneof![udp_report(), tcp_report()]) {
        let text = serde_json::to_string(&report).unwrap();
        let parsed = Report::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(parsed, report);
    }

    /// A report garbled on its way (bytes replaced, lost or added) is
    /// refused or still consistent: never a panic, never a report whose
    /// numbers contradict each other.
    #[test]
    fn a_garbled_report_is_refused_or_consistent(
        report in prop_oneof![udp_report(), tcp_report()],
        edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..6),
    ) {
        let text = mutate(&serde_json::to_string(&report).unwrap(), &edits);
        if let Ok(Report::Udp(r)) = Report::parse(&text) {
            prop_assert!(r.received <= r.sent && r.lost == r.sent - r.received);
        }
    }

    #[test]
    fn any_bytes_are_an_echo_or_refused_never_a_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = probe::decode_echo(&bytes);
    }

    #[test]
    fn every_probe_echo_decodes_to_its_own_number(seq in 0..=MAX_SEQ, send_us in any::<u64>(), size in MIN_SIZE..2000usize) {
        let mut p = Vec::new();
        probe::encode(&mut p, seq, send_us, size);
        let echo = probe::decode_echo(&p.to_ascii_uppercase()).expect("a valid echo");
        prop_assert_eq!(echo.seq, seq);
        prop_assert_eq!(echo.send_us, send_us % 10u64.pow(16));
        // The lowercase probe itself is not an echo.
        prop_assert!(probe::decode_echo(&p).is_none());
    }

    /// Any change to any byte (header or tail) or to the length (a cut or
    /// padded datagram) is refused by the probe's ledger.
    #[test]
    fn a_damaged_echo_is_refused(seq in 0..1000u64, send_us in 0..10_000_000_000_000_000u64, size in MIN_SIZE..600usize, at in any::<usize>(), flip in 1u8..=255, cut in 1usize..10) {
        let ledger = Ledger::new(1000, size);
        ledger.record(seq, send_us);
        let mut p = Vec::new();
        probe::encode(&mut p, seq, send_us, size);
        let echo = p.to_ascii_uppercase();
        prop_assert!(ledger.judge(&echo).is_ok());
        let mut damaged = echo.clone();
        damaged[at % size] ^= flip;
        prop_assert!(ledger.judge(&damaged).is_err(), "a damaged echo was accepted");
        let mut padded = echo.clone();
        padded.push(b'A');
        prop_assert_eq!(ledger.judge(&padded), Err(Refusal::WrongSize));
        let short = &echo[..echo.len() - cut];
        prop_assert!(ledger.judge(short).is_err(), "a cut echo was accepted");
    }
}

#[test]
fn the_report_corpus_parses_as_recorded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/report");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        match Report::parse(&text) {
            Ok(_) => assert!(name.starts_with("ok-"), "{name} was accepted"),
            Err(e) => assert!(name.starts_with("bad-"), "{name} was refused: {e}"),
        }
        checked += 1;
    }
    assert!(checked >= 15, "the corpus has only {checked} reports");
}

/// Every decimal number in `json` with more than `most` digits after the
/// point (float noise such as `0.12999999999999998`).
fn long_decimals(json: &str, most: usize) -> Vec<String> {
    json.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-'))
        .filter(|n| n.split_once('.').is_some_and(|(_, f)| f.len() > most))
        .map(str::to_owned)
        .collect()
}

/// The JSON carries no float noise: times in ms to 3 decimals (a
/// microsecond, as the text prints them), in seconds to 6 (a
/// microsecond), Mbit/s to 3, the loss rate to 6.
#[test]
fn report_floats_are_printed_rounded_not_with_float_noise() {
    let noisy = std::hint::black_box(0.3) - 0.17; // 0.12999999999999998
    assert_ne!(noisy.to_string(), "0.13");
    let udp = Report::Udp(UdpReport {
        received_after_renumber: None,
        sent: 3,
        received: 2,
        lost: 1,
        loss_rate: 1.0 / 3.0,
        reordered: 0,
        duplicates: 0,
        send_errors: 0,
        corrupted: 0,
        unsent: 0,
        wrong_time: 0,
        wrong_size: 0,
        not_uppercased: 0,
        rtt_ms: Some(Percentiles {
            min: noisy,
            p50: noisy,
            p99: noisy,
            max: noisy,
        }),
        jitter_ms: noisy,
        boundaries_preserved: true,
        duration_s: noisy,
        rtt_samples_ms: vec![noisy, noisy],
        local_port: None,
    });
    let tcp = Report::Tcp(TcpReport {
        bytes_sent: 10,
        bytes_received: 10,
        intact: true,
        in_order: Some(true),
        completed: true,
        duration_s: noisy,
        goodput_mbps: noisy,
        retransmits: 0,
        srtt_ms: noisy,
        writes: 1,
        send_blocked_s: noisy,
        reads: 1,
        congestion: "cubic".into(),
        error: None,
        reconnects: 0,
        resent_bytes: 0,
        connect_attempts: 1,
        syns_sent: 1,
        local_port: None,
    });
    for report in [udp, tcp] {
        let json = serde_json::to_string(&report).unwrap();
        let long = long_decimals(&json, 6);
        assert!(long.is_empty(), "float noise {long:?} in {json}");
        assert!(json.contains("0.13"), "{json}");
        Report::parse(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
    }
}
