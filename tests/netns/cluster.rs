//! Scenario files with hosts and their programs: the example cluster runs
//! as written (its network's steps and its process faults, each with the
//! time it took effect, every pair's counts per phase, each host's
//! program's end), a node that dies on its own or is never ready fails the
//! scenario naming its host, and nothing is left after a run killed
//! mid-way.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/cluster/cluster.toml")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("badnet-cluster-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `badnet test FILE --reports DIR` with the services' programs on PATH,
/// on the suites' backend: its output, and the run's JSON.
fn test_file(file: &Path, dir: &Path) -> (Output, serde_json::Value) {
    require_root();
    let reports = dir.join("reports");
    let out = badnet_with_programs()
        .arg("test")
        .arg(file)
        .arg("--reports")
        .arg(&reports)
        .output()
        .unwrap();
    let json = std::fs::read_dir(&reports)
        .ok()
        .and_then(|mut d| d.next())
        .map(|e| serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap())
        .unwrap_or_default();
    (out, json)
}

/// A scenario of two hosts, `n1` running `node` (ready as `ready`) and
/// `cli` running `client`.
fn two_hosts(node: &str, ready: &str, client: &str) -> String {
    format!(
        "[[scenario]]\nname = \"two\"\nhosts = [\"n1\", \"cli\"]\n\n[[scenario.host]]\nname = \"n1\"\nrun = \"{node}\"\n{ready}\n\n[scenario.client]\nhost = \"cli\"\nrun = \"{client}\"\ntimeout = \"10s\"\n"
    )
}

#[test]
fn the_example_cluster_runs_as_written() {
    let dir = temp("example");
    let (out, json) = test_file(&example(), &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}\n{json:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every step took effect on time; the restart once its node was ready.
    for step in json["timeline"].as_array().unwrap() {
        let late = num(&step["applied_ms"]) - num(&step["at_ms"]);
        let slack = if step["action"] == "restart n2" {
            2000.0
        } else {
            50.0
        };
        assert!((0.0..=slack).contains(&late), "{step}");
    }
    // While the partition held (its phase and the next, n3 stopped): the
    // pairs across the cut carried nothing and dropped what was sent; the
    // majority's pairs and n1's with the client (in no group) carried.
    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases[1]["action"], "partition n1 | n2,n3");
    assert_eq!(phases[3]["action"], "heal");
    let held = |pair: &str, field: &str| -> f64 {
        phases[1..3]
            .iter()
            .map(|p| num(&p["links"][pair][field]))
            .sum()
    };
    for pair in ["n1->n2", "n2->n1", "n1->n3", "n3->n1"] {
        assert_eq!(held(pair, "passed"), 0.0, "{pair}: {json}");
        assert!(held(pair, "dropped") > 0.0, "{pair}: {json}");
    }
    for pair in ["n2->n3", "n1->cli", "n2->cli"] {
        assert!(held(pair, "passed") > 0.0, "{pair}: {json}");
    }
    let hosts = json["hosts"].as_array().unwrap();
    let names: Vec<&str> = hosts.iter().map(|h| h["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["n1", "n2", "n3", "cli"]);
    for (h, starts) in hosts[..3].iter().zip([1, 2, 1]) {
        let p = &h["program"];
        assert_eq!(p["starts"], starts, "{h}");
        assert_eq!(p["exited_early"], false, "{h}");
        assert_eq!(p["ended"], "ran until the end, stopped", "{h}");
        assert!(
            p["stdout"].as_str().unwrap().contains("ready to receive"),
            "{h}"
        );
        assert_eq!(p["command"][2], h["address"], "{{self}}: {h}");
    }
    assert!(hosts[3]["program"].is_null());
    assert_eq!(json["client"]["exit_code"], 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_node_that_dies_on_its_own_fails_the_scenario_naming_its_host() {
    let dir = temp("dies");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        two_hosts("sh -c 'echo going; sleep 0.3; exit 3'", "", "sleep 1"),
    )
    .unwrap();
    let (out, json) = test_file(&file, &dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("host n1's program exited with code 3 before the end of the run: going"),
        "{stdout}"
    );
    assert_eq!(json["hosts"][0]["program"]["exit_code"], 3);
    assert_eq!(json["client"]["exit_code"], 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_node_never_ready_fails_the_scenario_naming_its_host_at_its_limit() {
    let dir = temp("never");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        two_hosts(
            "sleep 31.4",
            "ready_port = 7000\nready_timeout = \"1s\"",
            "true",
        ),
    )
    .unwrap();
    let started = Instant::now();
    let (out, _) = test_file(&file, &dir);
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("host n1") && stdout.contains("nothing listened on port 7000 within 1s"),
        "{stdout}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(processes_named("31.4").is_empty(), "the node is left");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A run killed by SIGKILL, which it cannot catch, leaves no process of
/// its hosts and (once swept) no namespace: its programs die with it, and
/// what they forked out of their reach is swept by badnet's guard.
#[test]
fn a_cluster_run_killed_mid_way_leaves_nothing() {
    let dir = temp("sigkill");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        two_hosts("sh -c 'sleep 31.3 & exec sleep 31.2'", "", "sleep 31.1"),
    )
    .unwrap();
    require_root();
    let mut child = badnet()
        .arg("test")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while processes_named("31.1").is_empty() {
        assert!(Instant::now() < deadline, "the client never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = child.id();
    let runs: Vec<String> = faults::plumbing::recorded_runs()
        .into_iter()
        .filter(|id| faults::plumbing::owner_pid(id) == Some(pid))
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: Vec<String> = ["31.1", "31.2", "31.3"]
            .iter()
            .flat_map(|m| processes_named(m))
            .map(|p| p.to_string())
            .chain(namespaces_of(&runs[0]))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left 10 s after SIGKILL: {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

/// PIDs of the `sleep` processes whose argument is `marker`.
fn processes_named(marker: &str) -> Vec<i32> {
    let wanted = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.ends_with(wanted.as_bytes()) && c.starts_with(b"sleep\0"))
        })
        .collect()
}

/// A cluster nobody here wrote: Redis 7 with Sentinel (Debian's packages,
/// `make deps`), three nodes, under a partition of its master from the
/// majority, a heal, and a kill and restart of a node. Its own client
/// (redis-cli, in tests/scenarios/redis/check.sh) checks what Sentinel
/// promises; the file's expectations check what the switch saw.
#[test]
fn redis_sentinel_keeps_its_promises_across_a_partition_and_a_kill() {
    for program in ["redis-server", "redis-sentinel", "redis-cli"] {
        assert!(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .output()
                .unwrap()
                .status
                .success(),
            "{program} is not installed: make deps installs it"
        );
    }
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/redis/redis.toml");
    let dir = temp("redis");
    let (out, json) = test_file(&file, &dir);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        json["client"]["stdout"].as_str().unwrap_or(""),
        String::from_utf8_lossy(&out.stderr)
    );
    let said = json["client"]["stdout"].as_str().unwrap();
    for promise in [
        "refuses writes: NOREPLICAS",
        "new master",
        "converged",
        "rejoined",
        "all promises held",
    ] {
        assert!(said.contains(promise), "{promise}: {said}");
    }
    // The nodes' files (their nodes were stopped by SIGKILL, which no
    // script outlives to clean up).
    let run = json["run_id"].as_str().unwrap();
    for entry in std::fs::read_dir("/tmp").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("badnet-redis-bn{run}-")) {
            std::fs::remove_dir_all(entry.path()).unwrap();
        }
    }
    std::fs::remove_dir_all(dir).unwrap();
}
