//! The driver under stress: killed at random points of a run, many runs at
//! once, a run whose network never carries a packet.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use badnet::verdict::{self, assert_all};
use nix::sys::signal::{kill, Signal};
use services::report::Report;

use crate::common::*;
use nix::unistd::Pid;

fn badnet_with(args: &[&str]) -> Command {
    let mut cmd = badnet();
    cmd.args(args);
    cmd
}

/// Waits for `child` at most `limit`, killing it (by PID) past that.
fn wait_within(mut child: Child, limit: Duration) -> std::process::Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            panic!("badnet did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The runs recorded for process `pid`.
fn runs_of(pid: u32) -> Vec<String> {
    faults::plumbing::recorded_runs()
        .into_iter()
        .filter(|id| faults::plumbing::owner_pid(id) == Some(pid))
        .collect()
}

/// A small xorshift, so the kill points differ from run to run and the
/// seed in a failure message replays them.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `badnet run` killed with SIGKILL at 10 points spread over its life (lab
/// setup, server start, probing, teardown): whatever each left, the next
/// run sweeps, and after it nothing of any killed run remains: no
/// namespace, no record, no process.
#[test]
fn sigkill_at_random_points_leaves_nothing_the_next_run_does_not_sweep() {
    require_root();
    let mut seed = std::env::var("BADNET_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let start_seed = seed;
    let mut killed = Vec::new();
    for slot in 0..10u64 {
        // A run lasts about 0.9 s here: 300 probes 2 ms apart, then 0.3 s
        // of waiting for echoes; the points cover 0..1.2 s.
        let at = Duration::from_millis(slot * 120 + next(&mut seed) % 120);
        let child = badnet_with(&[
            "run",
            "udp",
            "--loss",
            "10%",
            "--count",
            "300",
            "--interval",
            "2ms",
            "--timeout",
            "300ms",
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        let pid = child.id();
        let deadline = Instant::now() + at;
        let mut ids = Vec::new();
        while Instant::now() < deadline {
            for id in runs_of(pid) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
        let out = wait_within(child, Duration::from_secs(10));
        for id in runs_of(pid) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        killed.push((at, out.status, ids));
    }
    // The next run sweeps what the killed ones left, and passes.
    let next_run = badnet_with(&[
        "run",
        "udp",
        "--count",
        "100",
        "--interval",
        "1ms",
        "--json",
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let out = wait_within(next_run, Duration::from_secs(60));
    assert!(
        out.status.success(),
        "the run after the kills failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let recorded = faults::plumbing::recorded_runs();
    for (at, status, ids) in &killed {
        for id in ids {
            assert!(
                namespaces_of(id).is_empty(),
                "killed at {at:?} ({status}), seed {start_seed}: left {:?}",
                namespaces_of(id)
            );
            assert!(
                !recorded.contains(id),
                "killed at {at:?}, seed {start_seed}: the record of {id} is left"
            );
        }
    }
    // No server or probe outlived its run.
    let strays = Command::new("pgrep")
        .args(["-f", &format!("{} --port", bin("udp-server").display())])
        .output()
        .unwrap();
    let strays = String::from_utf8_lossy(&strays.stdout).trim().to_owned();
    let orphans: Vec<&str> = strays
        .lines()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit(')')
                        .next()?
                        .split_whitespace()
                        .nth(1)
                        .map(|p| p == "1")
                })
                .unwrap_or(false)
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "seed {start_seed}: orphaned servers {orphans:?}"
    );
    assert!(
        killed.iter().any(|(_, _, ids)| !ids.is_empty()),
        "no kill landed after a run had started: the test proves nothing"
    );
}

/// Eight runs at once, UDP and TCP, each on its own lab: every one passes
/// its verdict, with its own run id, and leaves nothing.
#[test]
fn eight_runs_in_parallel_never_collide() {
    require_root();
    let children: Vec<(&str, Child)> = (0..8)
        .map(|i| {
            let args: &[&str] = if i % 2 == 0 {
                &[
                    "run",
                    "udp",
                    "--loss",
                    "10%",
                    "--count",
                    "1000",
                    "--interval",
                    "1ms",
                    "--json",
                ]
            } else {
                &[
                    "run", "tcp", "--loss", "5%", "--delay", "2ms", "--bytes", "262144", "--json",
                ]
            };
            let child = badnet_with(args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (args[1], child)
        })
        .collect();
    let mut ids = Vec::new();
    for (transport, child) in children {
        let out = wait_within(child, Duration::from_secs(120));
        assert!(
            out.status.success(),
            "a {transport} run failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["transport"], transport);
        // Each run passes its verdict, not only its exit code: UDP loses
        // its share (Clopper-Pearson at 1e-6) and nothing else goes wrong;
        // TCP delivers every byte, in order.
        let probe = Report::parse(&String::from_utf8_lossy(&out.stdout)).unwrap();
        match &probe {
            Report::Udp(r) => {
                let mut checks = vec![verdict::udp_loss(r, 0.10, 2)];
                checks.extend(verdict::udp_only_lost(r));
                assert_all(&checks);
            }
            Report::Tcp(r) => assert_all(&verdict::tcp_reliable(r)),
        }
        let id = report["run_id"].as_str().unwrap().to_owned();
        assert!(
            namespaces_of(&id).is_empty(),
            "run {id} left {:?}",
            namespaces_of(&id)
        );
        ids.push(id);
    }
    let mut distinct = ids.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 8, "run ids collided: {ids:?}");
}

/// A TCP run across a link that carries nothing either way: it ends by its
/// timeout, says the exchange did not complete, and fails (exit 1).
#[test]
fn a_fully_partitioned_tcp_run_ends_by_its_timeout() {
    require_root();
    let started = Instant::now();
    let child = badnet_with(&["run", "tcp", "--loss", "100%", "--timeout", "3s", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_within(child, Duration::from_secs(30));
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A connection that never came is a measurement: exit 0, and a report.
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr: {stderr}"));
    assert_eq!(report["completed"], false, "{report}");
    assert_eq!(report["bytes_received"], 0, "{report}");
    let error = report["error"].as_str().unwrap_or_default();
    assert!(error.contains("connect"), "{report}");
    // It waited its whole timeout, and not much more: the probe's own clock
    // and the wall clock around the run.
    let waited = report["duration_s"].as_f64().unwrap();
    assert!(
        (2.95..4.0).contains(&waited),
        "the probe waited {waited} s for a 3 s timeout"
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(15),
        "took {took:?} for a 3 s timeout"
    );
}
