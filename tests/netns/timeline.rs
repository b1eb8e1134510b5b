//! Timelines: the link changes during a run (`--at TIME ACTION`), each
//! step is applied on schedule and recorded with the moment the link took
//! it, and the link's counters are reported per phase.

use badnet::scenario::{Scenario, Transport};
use badnet::timeline::Step;

use crate::common::*;

/// The example of the README: 4000 probes at 1 ms, the link lost both
/// ways from 1 s to 2 s. The probe keeps its schedule, so the phase of
/// total loss, measured from the moments the link took each step, holds
/// its length in probes; what the probe lost is exactly what the link
/// dropped in that phase, and nothing was dropped outside it.
#[test]
fn a_timeline_of_total_loss_for_one_second_loses_that_seconds_probes_and_no_others() {
    let json = run_ok(&[
        "udp",
        "--count",
        "4000",
        "--interval",
        "1ms",
        "--at",
        "1s",
        "loss 100%",
        "--at",
        "2s",
        "clear",
    ]);
    steps_on_time(&json);
    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 3, "{json}");
    let actions: Vec<&str> = phases
        .iter()
        .map(|p| p["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "start");
    assert!(
        actions[1].contains("loss") && actions[1].contains("100%"),
        "{actions:?}"
    );
    assert_eq!(actions[2], "clear");
    let lossy = &phases[1];
    let width_ms = num(&lossy["to_ms"]) - num(&lossy["from_ms"]);
    let fwd = &lossy["link"]["forward"];
    assert_eq!(count(&fwd["dropped"]), count(&fwd["packets_in"]), "{lossy}");
    assert_eq!(count(&fwd["passed"]), 0, "{lossy}");
    assert!(
        (count(&fwd["packets_in"]) as f64 - width_ms).abs() <= 10.0,
        "{} probes met a phase of {width_ms:.1} ms at 1 ms each: {lossy}",
        fwd["packets_in"]
    );
    for p in [&phases[0], &phases[2]] {
        assert_eq!(count(&p["link"]["forward"]["dropped"]), 0, "{p}");
        assert_eq!(count(&p["link"]["reverse"]["dropped"]), 0, "{p}");
    }
    // Both ways were cut: an echo in flight at the first step is lost on
    // the way back.
    let rev = &lossy["link"]["reverse"];
    assert_eq!(count(&rev["dropped"]), count(&rev["packets_in"]), "{lossy}");
    assert!(
        count(&rev["dropped"]) <= 1,
        "one echo at most is in flight: {lossy}"
    );
    assert_eq!(
        count(&json["lost"]),
        count(&fwd["dropped"]) + count(&rev["dropped"]),
        "{json}"
    );
    // The phases split the run's counts, nothing more nor less (on the
    // wire: netem's counts start again when `clear` deletes its qdisc, so
    // its whole-run totals are only the last phase's).
    let wire = json["backend"] == "wire";
    for way in ["forward", "reverse"].into_iter().filter(|_| wire) {
        let sum: u64 = phases
            .iter()
            .map(|p| count(&p["link"][way]["packets_in"]))
            .sum();
        assert_eq!(
            sum,
            count(&json["link"][way]["packets_in"]),
            "{way}: {json}"
        );
    }
    assert!(phases[0]["link"]["forward"].get("late_p99_us").is_none());
}

/// A partition and its heal as steps: TCP stalls through the cut and
/// still delivers every byte in order; in the cut phase every packet that
/// entered the link was dropped, either way. (Packets queued behind the
/// rate limit before the cut still leave during it, as on netem: a phase
/// counts what happened in it.)
#[test]
fn tcp_survives_a_partition_played_as_a_timeline() {
    let json = run_ok(&[
        "tcp",
        "--bytes",
        "2000000",
        "--rate",
        "20mbit",
        "--at",
        "200ms",
        "partition",
        "--at",
        "1200ms",
        "heal",
    ]);
    assert_eq!(json["intact"], true, "{json}");
    steps_on_time(&json);
    let cut = &json["phases"][1];
    assert_eq!(cut["action"], "partition", "{json}");
    for way in ["forward", "reverse"] {
        let l = &cut["link"][way];
        assert_eq!(
            count(&l["dropped"]),
            count(&l["packets_in"]),
            "{way}: {cut}"
        );
    }
    assert!(
        count(&cut["link"]["forward"]["dropped"]) > 0,
        "TCP retried during the cut: {cut}"
    );
    assert!(num(&json["duration_s"]) >= 1.0, "{json}");
}

/// A step due after the client ended is reported, unapplied.
#[test]
fn a_step_due_after_the_client_ended_is_reported_unapplied() {
    let json = run_ok(&["tcp", "--bytes", "65536", "--at", "50s", "loss 5%"]);
    assert!(json["timeline"][0]["applied_ms"].is_null(), "{json}");
    assert_eq!(json["phases"].as_array().unwrap().len(), 1, "{json}");
}

/// Your own client under a timeline: the probe run as a program of the
/// user's, its link lost forward for half a second.
#[test]
fn your_own_client_meets_the_timeline_too() {
    let client = format!(
        "{} --server {{server}} --probe --count 1500 --interval 1ms --json",
        bin("udp-client").display()
    );
    let json = run_ok(&[
        "--server",
        &format!("{} --bind {{server}}", bin("udp-server").display()),
        "--ready-port",
        "12000",
        "--client",
        &client,
        "--direction",
        "forward",
        "--at",
        "500ms",
        "loss 100%",
        "--at",
        "1s",
        "clear",
    ]);
    steps_on_time(&json);
    let report: serde_json::Value =
        serde_json::from_str(json["client"]["stdout"].as_str().unwrap()).unwrap();
    let dropped = count(&json["phases"][1]["link"]["forward"]["dropped"]);
    assert_eq!(count(&report["lost"]), dropped, "{json}");
    assert!((450..=550).contains(&dropped), "{json}");
    assert_eq!(count(&json["phases"][1]["link"]["reverse"]["dropped"]), 0);
}

/// Timelines that cannot be played as written are refused before
/// anything is created, naming --at, with exit 2.
#[test]
fn a_timeline_that_cannot_be_played_is_refused_with_exit_2() {
    require_root();
    for (args, why) in [
        (
            &["udp", "--at", "2s", "clear", "--at", "1s", "loss 5%"][..],
            "out of order",
        ),
        (
            &["udp", "--count", "100", "--at", "10s", "clear"],
            "beyond the run",
        ),
        (&["udp", "--at", "1s", "heal"], "no partition"),
        (
            &["udp", "--at", "1s", "partition", "--at", "2s", "loss 1%"],
            "heal it first",
        ),
        (&["udp", "--at", "1s", "lose 5%"], "--at"),
        (&["udp", "--at", "-1s", "clear"], "--at"),
        (&["udp", "--at", "1s"], "--at"),
        (
            &[
                "--server",
                "true",
                "--client",
                "true",
                "--timeout",
                "5s",
                "--at",
                "6s",
                "clear",
            ],
            "beyond the run",
        ),
    ] {
        let out = badnet().arg("run").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--at") && stderr.contains(why),
            "{args:?}: {stderr}"
        );
    }
}

/// The library's scenario carries a timeline as well.
#[test]
fn a_scenarios_timeline_is_played_by_the_runner() {
    let mut s = Scenario::new(Transport::Udp);
    s.backend = backend();
    s.count = 600;
    s.timeline = vec![
        Step::parse("200ms", "loss 100%").unwrap(),
        Step::parse("400ms", "clear").unwrap(),
    ];
    let o = run(&s);
    let lost = o.report.as_udp().unwrap().lost;
    assert_eq!(o.timeline.phases.len(), 3);
    let cut = &o.timeline.phases[1].link;
    assert_eq!(lost, cut.forward.dropped + cut.reverse.dropped);
    assert!((180..=220).contains(&lost), "{lost}");
    assert!(o.timeline.lateness_ms().all(|l| (0.0..=50.0).contains(&l)));
}
