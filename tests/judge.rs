//! `badnet test --judge REPORT.json FILE.toml`: a scenario's expectations
//! applied to a report obtained elsewhere, with the lines and JUnit of a
//! local run.
//!
//! The reports are real: the probe run as `badnet export`'s Job runs it
//! (its server and `--probe --json`, here on loopback: no root needed),
//! and a `badnet run --json` (network namespaces: root). Each judge is
//! also seen to fail against the same report doctored.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn bin(name: &str) -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_badnet")).with_file_name(name)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("badnet-judge-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn judge(report: &Path, scenario: &str, file: &Path, junit: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_badnet"))
        .arg("test")
        .arg("--judge")
        .arg(report)
        .args(["--scenario", scenario])
        .arg(file)
        .arg("--junit")
        .arg(junit)
        .output()
        .unwrap()
}

/// The probe's report as the cluster's Job gives it: `udp-client --probe
/// --json` against `udp-server`, in a log whose last line is the report.
fn probe_log(dir: &Path) -> PathBuf {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port().to_string();
    drop(socket);
    let mut server = Command::new(bin("udp-server"))
        .args(["--bind", "127.0.0.1", "--port", &port])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = Command::new(bin("udp-client"))
        .args(["--server", "127.0.0.1", "--port", &port, "--count", "200"])
        .args(["--interval", "1ms", "--probe", "--json", "--timeout", "1s"])
        .args(["--wait-for-server", "5s"])
        .output()
        .unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = dir.join("probe.log");
    let mut text = b"The server is ready to receive\n".to_vec();
    text.extend(out.stdout);
    std::fs::write(&log, text).unwrap();
    log
}

const SCENARIO: &str = r#"
[[scenario]]
name = "UDP on a clean link delivers every datagram once"
transport = "udp"
count = 200
[scenario.expect]
max_duration = "20s"
[scenario.expect.fields]
lost = 0
duplicates = 0
received = { equals_field = "sent" }
boundaries_preserved = true

[[scenario]]
name = "another scenario of the file"
transport = "tcp"
"#;

#[test]
fn a_probe_report_from_elsewhere_is_judged_with_the_lines_and_junit_of_a_local_run() {
    let dir = temp("probe");
    let file = dir.join("clean.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let log = probe_log(&dir);
    let junit = dir.join("junit.xml");
    let name = "UDP on a clean link delivers every datagram once";
    let out = judge(&log, name, &file, &junit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with(&format!("pass {}:2 {name} (", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("1 of 1 scenarios passed"), "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"1\" failures=\"0\""), "{xml}");

    // The same report, doctored: the probe "lost" what it received.
    let text = std::fs::read_to_string(&log).unwrap();
    let last = text.lines().last().unwrap();
    let mut report: serde_json::Value = serde_json::from_str(last).unwrap();
    let sent = report["sent"].as_u64().unwrap();
    report["lost"] = serde_json::json!(7);
    report["received"] = serde_json::json!(sent - 7);
    let doctored = dir.join("doctored.json");
    std::fs::write(&doctored, report.to_string()).unwrap();
    let out = judge(&doctored, name, &file, &junit);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.starts_with(&format!("FAIL {}:2 {name}", file.display())),
        "{stdout}"
    );
    assert!(stdout.contains("lost = 7, expected 0"), "{stdout}");
    assert!(
        stdout.contains(&format!("received = {}, expected sent = {sent}", sent - 7)),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("failures=\"1\"") && xml.contains("lost = 7, expected 0"),
        "{xml}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_judge_needs_one_scenario_and_a_report() {
    let dir = temp("bad");
    let file = dir.join("two.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let junk = dir.join("junk.log");
    std::fs::write(&junk, "no report here\n").unwrap();
    for (args, says) in [
        (
            vec!["--judge", junk.to_str().unwrap()],
            "--judge: a report is one run",
        ),
        (
            vec![
                "--judge",
                junk.to_str().unwrap(),
                "--scenario",
                "another scenario of the file",
            ],
            "holds no JSON object",
        ),
        (vec!["--scenario", "nope"], "no scenario is named \"nope\""),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_badnet"))
            .arg("test")
            .args(&args)
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A real local run's report (`badnet run --json`, on network-namespace
/// hosts: root) judged by the scenario it ran, then doctored so that the
/// link's count no longer matches what the probe lost.
#[test]
fn a_saved_local_run_is_judged_as_the_run_itself_would_be() {
    badnet::testing::require_root();
    let dir = temp("run");
    let scenarios = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/udp.toml");
    let name = "UDP loses datagrams and never resends them";
    let out = Command::new(env!("CARGO_BIN_EXE_badnet"))
        .args(["run", "udp", "--loss", "10%", "--direction", "forward"])
        .args([
            "--count",
            "3000",
            "--interval",
            "200us",
            "--timeout",
            "1s",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = dir.join("run.json");
    std::fs::write(&report, &out.stdout).unwrap();
    let junit = dir.join("junit.xml");
    let judged = judge(&report, name, &scenarios, &junit);
    let stdout = String::from_utf8_lossy(&judged.stdout);
    assert_eq!(judged.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with(&format!("pass {}:21 {name}", scenarios.display())),
        "{stdout}"
    );

    let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["link"]["forward"]["dropped"] = serde_json::json!(json["lost"].as_u64().unwrap() + 1);
    std::fs::write(&report, json.to_string()).unwrap();
    let judged = judge(&report, name, &scenarios, &junit);
    let stdout = String::from_utf8_lossy(&judged.stdout);
    assert_eq!(judged.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("link.forward.dropped = ") && stdout.contains("expected lost = "),
        "{stdout}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
