//! A client whose address changes mid-run (`--renumber-after`): host A
//! moves to 198.18.0.3 and routes follow. The uppercase service keeps no
//! state, so UDP's server answers the new address; TCP's connection is
//! bound to the old one and cannot survive.

use crate::common::*;

/// 2000 probes 1 ms apart, renumbered after 1 s: the server answers every
/// probe sent after the change at the new address. The change takes a few
/// milliseconds of `ip` commands (the step records when it was done);
/// probes in flight across it may be lost (their echoes go to an address
/// that is gone) or refused by a kernel without a route for a moment
/// (`send_errors`): at most the probes of the change's own time plus a
/// round trip: 20, and one more per millisecond of the longest round trip
/// observed (a loaded machine's server lags: 41 lost with a 25 ms RTT).
#[test]
fn udp_answers_the_new_address_after_a_renumbering() {
    let j = run_ok(&[
        "udp",
        "--count",
        "2000",
        "--interval",
        "1ms",
        "--renumber-after",
        "1s",
    ]);
    assert_eq!(j["renumbered"], "198.18.0.3", "{j}");
    let step = &j["timeline"][0];
    assert_eq!(step["action"], "renumber", "{j}");
    let change_ms = step["applied_ms"].as_f64().unwrap() - step["at_ms"].as_f64().unwrap();
    assert!((0.0..50.0).contains(&change_ms), "{j}");
    let after = count(&j["received_after_renumber"]);
    assert!(
        after >= 1000 - 20,
        "{after} of the last 1000 probes answered: {j}"
    );
    let in_flight = 20 + num(&j["rtt_ms"]["max"]).ceil() as u64;
    assert!(
        count(&j["lost"]) + count(&j["send_errors"]) <= in_flight,
        "more than {in_flight} lost across the change: {j}"
    );
    // The echoes after the change crossed the link, to the new address.
    let back = count(&j["phases"][1]["link"]["reverse"]["passed"]);
    assert!(back >= 1000 - 20, "{back} echoes after the change: {j}");
}

/// TCP cannot follow: the connection is bound to the old address. It ends
/// without completing, says how, and the time it took shows it ended by
/// the probe's limit or a reset, not by finishing.
#[test]
fn tcp_does_not_survive_a_renumbering() {
    let j = run_ok(&[
        "tcp",
        "--bytes",
        "4000000",
        "--rate",
        "20mbit",
        "--renumber-after",
        "500ms",
        "--timeout",
        "3s",
    ]);
    assert_eq!(j["completed"], false, "{j}");
    assert!(j["error"].as_str().is_some_and(|e| !e.is_empty()), "{j}");
    assert!(count(&j["bytes_received"]) < 4_000_000, "{j}");
    assert_eq!(j["timeline"][0]["action"], "renumber", "{j}");
}

#[test]
fn a_second_renumbering_is_refused() {
    require_root();
    let out = badnet()
        .args([
            "run",
            "udp",
            "--renumber-after",
            "100ms",
            "--at",
            "200ms",
            "renumber",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("renumbered once"), "{stderr}");
}

/// With `--reconnect`, the TCP client opens a new connection from its new
/// address when the old one fails, sends again what had not come back,
/// and the stream completes intact: the echo is checked across both
/// connections as one stream.
#[test]
fn tcp_with_reconnect_finishes_intact_after_a_renumbering() {
    let j = run_ok(&[
        "tcp",
        "--bytes",
        "2000000",
        "--rate",
        "20mbit",
        "--renumber-after",
        "300ms",
        "--reconnect",
        "--timeout",
        "20s",
    ]);
    assert_eq!(j["completed"], true, "{j}");
    assert_eq!(j["intact"], true, "{j}");
    assert_eq!(j["in_order"], true, "{j}");
    assert!(count(&j["reconnects"]) >= 1, "{j}");
    assert!(count(&j["resent_bytes"]) > 0, "{j}");
    assert_eq!(count(&j["bytes_received"]), 2_000_000, "{j}");
}

#[test]
fn reconnect_is_for_tcp() {
    require_root();
    let out = badnet()
        .args(["run", "udp", "--reconnect"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--reconnect"), "{stderr}");
}
