//! Packet captures of impaired runs are real pcaps that tcpdump (and so
//! Wireshark) reads, with the run's packets and TCP's retransmissions in
//! them.

use std::process::Command;

use crate::common::*;
use badnet::runner;
use badnet::scenario::{Scenario, Transport};
use faults::{Backend, Direction};

fn packets(path: &std::path::Path) -> Vec<String> {
    let out = Command::new("tcpdump")
        .arg("-nr")
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
    runner::run_on_lab(&lab, &udp, Some(&dir.join("udp.pcap"))).unwrap();
    runner::run_on_lab(&lab, &tcp, Some(&dir.join("tcp.pcap"))).unwrap();
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
    assert!(
        tcp_packets.iter().filter(|l| l.contains(".12000")).count() > 100,
        "{} TCP lines",
        tcp_packets.len()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
