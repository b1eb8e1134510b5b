//! Stopped by SIGINT or SIGTERM, a command removes everything it built
//! (namespaces, run records, every process in its hosts) and exits 130 or
//! 143.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rstest::rstest;

use crate::common::{badnet, namespaces_of, on_backend, require_root};

/// The runs recorded as `child`'s that have namespaces, once there are
/// some (at most 20 s).
fn runs_of(child: &mut Child) -> Vec<String> {
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let runs: Vec<String> = faults::plumbing::recorded_runs()
            .into_iter()
            .filter(|id| {
                faults::plumbing::owner_pid(id) == Some(pid) && !namespaces_of(id).is_empty()
            })
            .collect();
        if !runs.is_empty() {
            return runs;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "badnet exited before it built anything"
        );
        assert!(Instant::now() < deadline, "badnet built nothing in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// PIDs of the processes whose command line is `argv`.
fn processes(argv: &[&str]) -> Vec<i32> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == wanted))
        .collect()
}

/// Starts `badnet ARGS`, sends `signal` once it has built its hosts and
/// run `after`, and (at most 20 s) until `ready`, and checks that it exits 128 + the signal within 10 s,
/// leaving no namespace and no record of its runs.
fn stopped(args: &[&str], signal: Signal, after: Duration, ready: impl Fn() -> bool) {
    require_root();
    let mut child = badnet()
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut runs = runs_of(&mut child);
    std::thread::sleep(after);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "not ready in 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Every run it has now (the demo's come and go).
    let pid = child.id();
    for id in faults::plumbing::recorded_runs() {
        if faults::plumbing::owner_pid(&id) == Some(pid) && !runs.contains(&id) {
            runs.push(id);
        }
    }
    kill(Pid::from_raw(pid as i32), signal).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("badnet still ran 10 s after {signal}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(
        status.code(),
        Some(128 + signal as i32),
        "{signal}: {status:?}\n{stderr}"
    );
    for id in runs {
        assert_eq!(namespaces_of(&id), Vec::<String>::new(), "run {id}");
        assert!(
            !faults::plumbing::recorded_runs().contains(&id),
            "the record of run {id} is left"
        );
    }
}

#[rstest]
#[case::sigint(Signal::SIGINT)]
#[case::sigterm(Signal::SIGTERM)]
fn a_probe_run_stopped_by_a_signal_leaves_nothing(#[case] signal: Signal) {
    let mut args = vec!["run", "udp", "--count", "5000", "--interval", "1ms"];
    args.extend(on_backend());
    stopped(&args, signal, Duration::from_secs(1), || true);
}

/// The client's shell forks a `sleep` that no one waits for: it is in the
/// client's host, and goes with it.
#[rstest]
#[case::sigint(Signal::SIGINT, "37.25")]
#[case::sigterm(Signal::SIGTERM, "37.5")]
fn a_client_stopped_by_a_signal_leaves_no_process(#[case] signal: Signal, #[case] marker: &str) {
    let client = format!("sh -c 'sleep {marker} & sleep 39'");
    let mut args = vec![
        "run",
        "--server",
        "sleep 61",
        "--client",
        &client,
        "--timeout",
        "50s",
    ];
    args.extend(on_backend());
    stopped(&args, signal, Duration::ZERO, || {
        !processes(&["sleep", marker]).is_empty()
    });
    assert_eq!(
        processes(&["sleep", marker]),
        Vec::<i32>::new(),
        "sleep {marker} is left"
    );
}

/// The other commands that build: flows through a bottleneck, a mesh of
/// hosts, and the demo's many labs at once (stopped while some are still
/// being built).
#[rstest]
#[case::share(&["share", "--duration", "20s"], Signal::SIGINT)]
#[case::mesh(&["mesh", "--hosts", "4", "--count", "2000"], Signal::SIGTERM)]
#[case::demo(&["demo", "--quick"], Signal::SIGINT)]
fn other_commands_stopped_by_a_signal_leave_nothing(
    #[case] command: &[&str],
    #[case] signal: Signal,
) {
    let out = std::env::temp_dir().join(format!("badnet-signals-demo-{}", std::process::id()));
    let mut args = command.to_vec();
    if command[0] == "demo" {
        args.extend(["--out", out.to_str().unwrap()]);
    }
    args.extend(on_backend());
    stopped(&args, signal, Duration::from_millis(1500), || true);
    let _ = std::fs::remove_dir_all(out);
}

/// `badnet test` builds its runs below the command line, as `run` does.
#[test]
fn a_scenario_run_stopped_by_a_signal_leaves_nothing() {
    let dir = std::env::temp_dir().join(format!("badnet-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slow.toml");
    std::fs::write(
        &file,
        "[[scenario]]\nname = \"slow\"\nserver = \"sleep 62\"\nclient = \"sh -c 'sleep 37.75 & sleep 39'\"\ntimeout = \"50s\"\n",
    )
    .unwrap();
    stopped(
        &["test", file.to_str().unwrap()],
        Signal::SIGTERM,
        Duration::ZERO,
        || !processes(&["sleep", "37.75"]).is_empty(),
    );
    assert_eq!(processes(&["sleep", "37.75"]), Vec::<i32>::new());
    std::fs::remove_dir_all(dir).unwrap();
}

/// badnet catches SIGINT and SIGTERM; the programs it starts begin with
/// neither blocked (a server finishes and writes out on SIGINT).
#[test]
fn programs_start_with_no_signal_blocked() {
    let (code, json, stderr) = crate::common::run_json(&[
        "--server",
        "sleep 60",
        "--client",
        "grep SigBlk /proc/self/status",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let line = json["client"]["stdout"].as_str().unwrap();
    assert_eq!(line.trim(), "SigBlk:\t0000000000000000", "{json}");
}

/// `badnet lab` waits for the signals itself: the programs of its `--run`
/// begin with neither blocked either.
#[test]
fn a_labs_programs_start_with_no_signal_blocked() {
    require_root();
    let out = badnet()
        .args([
            "lab",
            "--run",
            "a=grep SigBlk /proc/self/status",
            "--duration",
            "1s",
        ])
        .args(on_backend())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[a] SigBlk:\t0000000000000000"), "{stderr}");
}
