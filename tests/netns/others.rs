//! Programs nobody here wrote, run as your own programs: iperf3 and socat
//! from the distribution's packages, and the lecture's Python UDP server.
//! For each, a clean run, an impaired run whose timeline's steps take
//! effect on time, and, for a killed badnet, nothing left behind.

use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::*;

/// iperf3's own measure: what its receiver got, in Mbit/s.
fn iperf3_received_mbps(json: &serde_json::Value) -> f64 {
    let report: serde_json::Value =
        serde_json::from_str(json["client"]["stdout"].as_str().unwrap()).unwrap();
    report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("{report}"))
        / 1e6
}

const IPERF3_SERVER: &str = "iperf3 -s -1 -p 5201";

/// Clean, iperf3 moves far more than 20 Mbit/s through the wire; limited
/// to 20 Mbit/s, with 5 Mbit/s for half a second as a timeline step, its
/// receiver (its own count, not ours) gets no more than the limit allows.
#[test]
fn iperf3_runs_clean_and_is_held_to_the_rate_limit_and_its_timeline() {
    let backend = backend();
    let client = "iperf3 -c {server} -p 5201 -t 2 -J";
    let (code, clean, stderr) = run_json(&[
        "--server",
        IPERF3_SERVER,
        "--ready-port",
        "5201",
        "--client",
        client,
        "--backend",
        backend.name(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let clean_mbps = iperf3_received_mbps(&clean);
    let (code, limited, stderr) = run_json(&[
        "--server",
        IPERF3_SERVER,
        "--ready-port",
        "5201",
        "--client",
        client,
        "--rate",
        "20mbit",
        "--at",
        "1s",
        "rate 5mbit",
        "--at",
        "1500ms",
        "rate 20mbit",
        "--backend",
        backend.name(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    steps_on_time(&limited);
    let mbps = iperf3_received_mbps(&limited);
    // 1.5 s at 20 and 0.5 s at 5 average 16.25 Mbit/s of wire; TCP's
    // payload is less. 5% for iperf3's own timing at the ends.
    assert!(
        mbps <= 16.25 * 1.05,
        "{mbps:.1} Mbit/s through a 20/5 Mbit/s link"
    );
    assert!(
        clean_mbps > 2.0 * mbps,
        "clean {clean_mbps:.1}, limited {mbps:.1} Mbit/s"
    );
}

/// socat as a UDP echo server and as the client: clean, every datagram
/// comes back; with 30% loss client to server, what came back is what the
/// link passed, and a one-way outage as timeline steps takes effect on
/// time.
#[test]
fn socat_echoes_udp_clean_and_loses_what_the_link_dropped() {
    let server = "socat UDP-RECVFROM:9000,fork PIPE";
    // One datagram per line: the pause makes each line a read of its own.
    let client = "sh -c 'for i in $(seq 1 150); do echo $i; sleep 0.002; done | socat -T1 - UDP:{server}:9000'";
    let backend = backend();
    let (code, clean, stderr) = run_json(&[
        "--server",
        server,
        "--ready-port",
        "9000",
        "--client",
        client,
        "--backend",
        backend.name(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    // The lines that came back (a datagram may carry two, when the pause
    // was not enough for a read of its own).
    let lines = |j: &serde_json::Value| {
        let mut l: Vec<u64> = j["client"]["stdout"]
            .as_str()
            .unwrap()
            .lines()
            .map(|n| n.parse().unwrap())
            .collect();
        l.sort_unstable();
        l
    };
    assert_eq!(lines(&clean), (1..=150).collect::<Vec<u64>>(), "{clean}");
    assert_eq!(count(&clean["link"]["forward"]["dropped"]), 0);
    let (code, lossy, stderr) = run_json(&[
        "--server",
        server,
        "--ready-port",
        "9000",
        "--client",
        client,
        "--loss",
        "30%",
        "--direction",
        "forward",
        "--at",
        "150ms",
        "loss 100%",
        "--at",
        "250ms",
        "loss 30%",
        "--backend",
        backend.name(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    steps_on_time(&lossy);
    let fwd = &lossy["link"]["forward"];
    assert!(count(&fwd["dropped"]) > 0, "{lossy}");
    // What the server's kernel received is what the link passed, each
    // came back once, and fewer lines came back than were sent.
    let passed = count(&fwd["passed"]);
    assert_eq!(
        count(&lossy["server_udp"]["in_datagrams"]),
        passed,
        "{lossy}"
    );
    assert_eq!(
        count(&lossy["link"]["reverse"]["passed"]),
        passed,
        "{lossy}"
    );
    let back = lines(&lossy);
    assert!(
        back.len() < 150 && back.windows(2).all(|w| w[0] < w[1]),
        "{lossy}"
    );
    let outage = &lossy["phases"][1]["link"]["forward"];
    assert_eq!(
        count(&outage["dropped"]),
        count(&outage["packets_in"]),
        "{lossy}"
    );
}

/// The lecture's Python UDP server, measured by badnet's probe: clean it
/// loses nothing; under a one-way outage of 200 ms as timeline steps, the
/// probe loses exactly what the link dropped in it.
#[test]
fn the_lectures_python_udp_server_under_a_timeline() {
    let server = format!(
        "python3 -u {}/services/tests/seed/udpserver.py",
        env!("CARGO_MANIFEST_DIR")
    );
    let client = format!(
        "{} --server {{server}} --probe --count 800 --interval 1ms --timeout 1s --json",
        bin("udp-client").display()
    );
    let backend = backend();
    let (code, clean, stderr) = run_json(&[
        "--server",
        &server,
        "--ready",
        "ready to receive",
        "--client",
        &client,
        "--backend",
        backend.name(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let report = |j: &serde_json::Value| -> serde_json::Value {
        serde_json::from_str(j["client"]["stdout"].as_str().unwrap()).unwrap()
    };
    assert_eq!(count(&report(&clean)["lost"]), 0, "{clean}");
    assert_eq!(count(&report(&clean)["not_uppercased"]), 0, "{clean}");
    let (code, cut, stderr) = run_json(&[
        "--server",
        &server,
        "--ready",
        "ready to receive",
        "--client",
        &client,
        "--direction",
        "forward",
        "--at",
        "300ms",
        "loss 100%",
        "--at",
        "500ms",
        "clear",
        "--backend",
        backend.name(),
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    steps_on_time(&cut);
    let lost = count(&report(&cut)["lost"]);
    assert_eq!(
        lost,
        count(&cut["phases"][1]["link"]["forward"]["dropped"]),
        "{cut}"
    );
    // The outage took every probe that met it and none before or after
    // (how many met it depends on the probe's pace, which a busy machine
    // bends: the link counts them).
    let forward = |phase: usize, what: &str| count(&cut["phases"][phase]["link"]["forward"][what]);
    assert!(lost > 0, "a 200 ms outage at 1 ms lost nothing: {cut}");
    assert_eq!(lost, forward(1, "packets_in"), "{cut}");
    assert_eq!(
        (forward(0, "dropped"), forward(2, "dropped")),
        (0, 0),
        "{cut}"
    );
}

/// The children of `pid`, by /proc.
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        // Not badnet's guard (`badnet guard PID`), which outlives it by
        // design to sweep what a SIGKILL left.
        .filter(|p| {
            !std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| c.split(|b| *b == 0).nth(1) == Some(b"guard"))
        })
        .collect()
}

/// badnet killed with SIGKILL while iperf3 runs: iperf3's server and
/// client die with it (they were started to), and `badnet cleanup`
/// removes the hosts; nothing of the run is left.
#[test]
fn a_sigkilled_run_of_iperf3_leaves_nothing_after_cleanup() {
    require_root();
    let mut child = badnet()
        .args([
            "run",
            "--server",
            IPERF3_SERVER,
            "--ready-port",
            "5201",
            "--client",
            "iperf3 -c {server} -p 5201 -t 30",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut programs, mut runs) = (Vec::new(), Vec::new());
    while programs.len() < 2 && Instant::now() < deadline {
        programs = children(pid);
        runs = faults::plumbing::recorded_runs()
            .into_iter()
            .filter(|id| faults::plumbing::owner_pid(id) == Some(pid))
            .collect();
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        programs.len(),
        2,
        "iperf3's server and client under badnet {pid}"
    );
    assert_eq!(runs.len(), 1, "{runs:?}");
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while programs
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(
            Instant::now() < deadline,
            "iperf3 {programs:?} outlived badnet"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = badnet().arg("cleanup").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        namespaces_of(&runs[0]).is_empty(),
        "{:?}",
        namespaces_of(&runs[0])
    );
    assert!(!faults::plumbing::recorded_runs().contains(&runs[0]));
}
