//! Packet captures of impaired runs are real pcaps that tcpdump (and so
//! Wireshark) reads, with the run's packets and TCP's retransmissions in
//! them.

use std::process::Command;

use crate::common::*;
use badnet::run::probe;
use badnet::scenario::{Scenario, Transport};
use faults::{Backend, Direction};

fn packets(path: &std::path::Path) -> Vec<String> {
    let out = Command::new("tcpdump")
        .arg("-nSr")
        .arg(path)
        .output()
        .expect("tcpdump");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Data segments from `from` (an `addr.port` as tcpdump prints it) in
/// `lines` (`tcpdump -nS`, absolute sequence numbers) whose bytes start
/// below the highest byte already sent: retransmissions.
fn retransmissions(lines: &[String], from: &str) -> usize {
    let mut highest: Option<u64> = None;
    let mut again = 0;
    for (start, end) in segments(lines, from) {
        if highest.is_some_and(|h| start < h) {
            again += 1;
        }
        highest = Some(highest.map_or(end, |h| h.max(end)));
    }
    again
}

/// The data segments from `from` in `lines` (`tcpdump -nS`, absolute
/// sequence numbers), as (start, end) offsets from the first segment's
/// start, so that a stream whose sequence numbers wrap past 2^32 counts
/// right.
fn segments(lines: &[String], from: &str) -> Vec<(u64, u64)> {
    let mut first: Option<u32> = None;
    lines
        .iter()
        .filter(|l| l.contains(&format!("{from} >")))
        .filter_map(|l| {
            let range = l.split("seq ").nth(1)?.split(',').next()?;
            let (start, end) = range.split_once(':')?;
            let (start, end): (u32, u32) = (start.parse().ok()?, end.parse().ok()?);
            let base = *first.get_or_insert(start);
            let offset = u64::from(start.wrapping_sub(base));
            Some((offset, offset + u64::from(end.wrapping_sub(start))))
        })
        .collect()
}

/// How many distinct bytes of sequence space the data segments from
/// `from` cover.
fn covered(lines: &[String], from: &str) -> u64 {
    let mut ranges = segments(lines, from);
    ranges.sort_unstable();
    let mut total = 0;
    let mut reached = 0;
    for (start, end) in ranges {
        let start = start.max(reached);
        if end > start {
            total += end - start;
            reached = end;
        }
    }
    total
}

#[test]
fn udp_and_tcp_runs_on_one_lossy_link_are_captured_to_readable_pcaps() {
    let dir = std::env::temp_dir().join(format!("badnet-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = lab(Backend::Auto);
    lab.impair(Direction::Both, &"loss 5%".parse().unwrap())
        .unwrap();
    let mut udp = Scenario::new(Transport::Udp);
    udp.count = 200;
    let mut tcp = Scenario::new(Transport::Tcp);
    tcp.bytes = 256 * 1024;
    tcp.write_size = 16 * 1024;
    probe::on_lab(&lab, &udp, Some(&dir.join("udp.pcap"))).unwrap();
    let o = probe::on_lab(&lab, &tcp, Some(&dir.join("tcp.pcap"))).unwrap();
    let retransmits = o.report.as_tcp().expect("a TCP report").retransmits;
    lab.remove().unwrap();

    let udp_packets = packets(&dir.join("udp.pcap"));
    assert!(
        udp_packets
            .iter()
            .filter(|l| l.contains("198.18.0.1") && l.contains("UDP"))
            .count()
            >= 150,
        "{} UDP lines",
        udp_packets.len()
    );
    let tcp_packets = packets(&dir.join("tcp.pcap"));
    // The capture holds the client's retransmissions, as TCP_INFO counts
    // them: 5% loss each way over 256 KiB of data and its echo retransmits
    // (the chance that not one of ~180 data segments is lost is under
    // 0.95^180 = 1e-4, and the run is seeded).
    let client = tcp_packets
        .iter()
        .find_map(|l| {
            let from = l.split_whitespace().nth(2)?;
            (from.starts_with("198.18.0.1.") && l.contains("seq ")).then(|| from.to_owned())
        })
        .expect("a data segment from the client");
    // Every byte the client sent is in the capture (the kernel may send
    // several MSS as one GSO packet, so the count of packets says little;
    // the sequence numbers they cover say it all).
    let covered = covered(&tcp_packets, &client);
    assert!(
        covered >= tcp.bytes,
        "the capture covers {covered} of the {} bytes the client sent ({} lines)",
        tcp.bytes,
        tcp_packets.len()
    );
    let seen = retransmissions(&tcp_packets, &client);
    assert!(retransmits > 0, "TCP_INFO counted no retransmission");
    // A retransmitted segment the kernel sent as one GSO packet of several
    // MSS counts once here and once per MSS in TCP_INFO: never more here.
    assert!(
        (1..=retransmits as usize).contains(&seen),
        "TCP_INFO counted {retransmits} retransmissions, the capture shows {seen}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
