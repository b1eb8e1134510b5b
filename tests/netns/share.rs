//! Congestion: flows through one bottleneck (`badnet share`). TCP flows
//! share it; a UDP flood does not back off and takes it.

use crate::common::*;

fn share(args: &[&str]) -> serde_json::Value {
    let mut all = vec!["--rate", "20mbit"];
    all.extend(args);
    json_ok("share", &all)
}

/// Jain's index over seconds 1 to 4 of each flow's series (the first
/// second is the flows' start-up, when whichever started first leads).
fn jain_after_startup(j: &serde_json::Value) -> f64 {
    let shares: Vec<f64> = j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|fl| fl["transport"] == "tcp")
        .map(|fl| {
            fl["series_mbps"].as_array().unwrap()[10..]
                .iter()
                .map(num)
                .sum::<f64>()
        })
        .collect();
    badnet::run::share::jain(&shares).unwrap()
}

/// Two TCP flows through 20 Mbit/s for 4 s: together they use the
/// bottleneck (at least 70% of it, and no more than it) and share it
/// fairly: Jain's index over seconds 1-4 at least 0.9.
#[test]
fn two_tcp_flows_share_a_bottleneck_fairly() {
    let j = share(&["--tcp", "2", "--duration", "4s"]);
    let total: f64 = j["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|fl| num(&fl["goodput_mbps"]))
        .sum();
    assert!(
        (14.0..=20.4).contains(&total),
        "{total} Mbit/s through 20: {j}"
    );
    let index = jain_after_startup(&j);
    assert!(index >= 0.9, "Jain {index:.3}: {j}");
}

/// A UDP flood at twice the bottleneck beside one TCP flow: the flood
/// keeps sending at its rate (no congestion control), loses about half at
/// the queue, and TCP, which backs off, is left a small share. Alone, the
/// same TCP flow takes most of the link; beside the flood it gets at most
/// a quarter of that.
#[test]
fn a_udp_flood_keeps_its_rate_and_tcp_backs_off() {
    let alone = share(&["--tcp", "1", "--duration", "3s"]);
    let tcp_alone = num(&alone["flows"][0]["goodput_mbps"]);
    assert!(tcp_alone >= 14.0, "{alone}");
    let j = share(&["--tcp", "1", "--udp", "40mbit", "--duration", "3s"]);
    let udp = &j["udp"];
    let (offered, sent, delivered) = (
        num(&udp["offered_mbps"]),
        num(&udp["sent_mbps"]),
        num(&udp["delivered_mbps"]),
    );
    assert!(sent >= 0.95 * offered, "the flood slowed down: {j}");
    assert!(delivered <= 20.4, "{j}");
    let lost = 1.0 - delivered / sent;
    assert!((0.4..=0.6).contains(&lost), "the flood lost {lost:.2}: {j}");
    let tcp = num(&j["flows"][0]["goodput_mbps"]);
    assert!(
        tcp <= 0.25 * tcp_alone,
        "TCP kept {tcp:.2} of {tcp_alone:.2} Mbit/s: {j}"
    );
    assert!(num(&j["link"]["forward"]["queue_drops"]) > 0.0, "{j}");
}
