//! Your own programs on the bad network: any server and client, run as
//! argv in the two hosts, the client's exit code and output captured.

use crate::common::*;

/// The lecture's Python programs.
fn seed(file: &str) -> String {
    format!("{}/services/tests/seed/{file}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_lectures_python_server_and_our_client_run_over_a_lossy_link() {
    let client = format!(
        "sh -c 'echo hello, world | {} --server {{server}} --timeout 5s'",
        bin("tcp-client").display()
    );
    let (code, json, stderr) = run_json(&[
        "--server",
        &format!("python3 -u {}", seed("tcpserver.py")),
        "--ready",
        "ready to receive",
        "--client",
        &client,
        "--loss",
        "10%",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["client"]["exit_code"], 0, "{json}");
    let out = json["client"]["stdout"].as_str().unwrap();
    assert!(out.contains("From Server: HELLO, WORLD"), "{json}");
    assert!(
        json["link"]["forward"]["packets_in"].as_u64().unwrap() > 0,
        "{json}"
    );
    assert!(json["client"]["duration_s"].as_f64().unwrap() > 0.0);
}

/// A probe run as a program of the user's: its report is its output, and
/// the link's counters show the loss it met.
#[test]
fn a_client_of_the_users_runs_under_loss_and_its_output_is_kept() {
    let (code, json, stderr) = run_json(&[
        "--server",
        &format!("{} --port 12000", bin("udp-server").display()),
        "--ready-port",
        "12000",
        "--client",
        &format!(
            "{} --server {{server}} --probe --count 500 --interval 1ms --json",
            bin("udp-client").display()
        ),
        "--loss",
        "20%",
        "--direction",
        "forward",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    let report: serde_json::Value =
        serde_json::from_str(json["client"]["stdout"].as_str().unwrap()).unwrap();
    assert!(report["lost"].as_u64().unwrap() > 0, "{report}");
    let dropped = json["link"]["forward"]["dropped"].as_u64().unwrap();
    assert_eq!(report["lost"].as_u64().unwrap(), dropped, "{json}");
}

#[test]
fn a_failing_client_makes_the_run_fail_and_says_so() {
    let (code, json, stderr) = run_json(&[
        "--server",
        "sleep 30",
        "--client",
        "sh -c 'echo trying; exit 3'",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(json["client"]["exit_code"], 3, "{json}");
    assert_eq!(json["client"]["stdout"], "trying\n", "{json}");
    assert!(stderr.contains("exited with 3"), "{stderr}");
}

#[test]
fn a_program_that_does_not_exist_is_bad_input_and_a_server_never_ready_fails() {
    let (code, _, stderr) = run_json(&["--server", "no-such-program-here", "--client", "true"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--server") && stderr.contains("no-such-program-here"),
        "{stderr}"
    );
    let (code, _, stderr) = run_json(&[
        "--server",
        "sleep 30",
        "--ready-port",
        "4242",
        "--ready-timeout",
        "1s",
        "--client",
        "true",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("--ready-port") && stderr.contains("4242"),
        "{stderr}"
    );
    let (code, _, stderr) = run_json(&["--server", "sleep 30", "--client", "a 'b"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--client") && stderr.contains("quote"),
        "{stderr}"
    );
}

/// `--timeout` bounds the whole client: one that detaches (`setsid` forks
/// and exits at once, its child keeping the output open) is killed at its
/// limit with every process in its host, and said to have been.
#[test]
fn a_client_that_detaches_is_killed_at_its_limit_with_everything_it_left() {
    let started = std::time::Instant::now();
    let (code, json, stderr) = run_json(&[
        "--server",
        "sleep 60",
        "--client",
        "setsid sleep 20.25",
        "--timeout",
        "2s",
    ]);
    let took = started.elapsed().as_secs_f64();
    assert!(took < 8.0, "took {took:.1} s\n{stderr}");
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        json["client"]["exit_code"],
        serde_json::Value::Null,
        "{json}"
    );
    assert_eq!(json["client"]["killed_at_limit"], true, "{json}");
    let duration = num(&json["client"]["duration_s"]);
    assert!((2.0..3.0).contains(&duration), "{json}");
    assert!(stderr.contains("killed at its limit"), "{stderr}");
    let left = std::process::Command::new("pgrep")
        .args(["-f", "^sleep 20.25$"])
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "left: {:?}", left.stdout);
}

/// A client that floods its output keeps only a head and a tail of it
/// (64 KiB each), and says how much it left out.
#[test]
fn a_client_that_floods_its_output_is_kept_bounded() {
    let (code, json, stderr) = run_json(&[
        "--server",
        "sleep 60",
        "--client",
        "yes badnet-flood",
        "--timeout",
        "2s",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    let stdout = json["client"]["stdout"].as_str().unwrap();
    let left_out = count(&json["client"]["stdout_left_out"]);
    assert!(left_out > 1_000_000, "{left_out}");
    assert!(stdout.len() < 2 * 64 * 1024 + 200, "{}", stdout.len());
    assert!(stdout.starts_with("badnet-flood\n"));
    assert!(
        stdout.contains(&format!("[badnet: {left_out} bytes left out")),
        "{}",
        &stdout[64 * 1024 - 100..64 * 1024 + 200]
    );
    assert_eq!(json["client"]["stderr_left_out"], 0, "{json}");
}

/// `--ready` reads standard error too.
#[test]
fn a_server_ready_on_its_standard_error_is_ready() {
    let (code, json, stderr) = run_json(&[
        "--server",
        "sh -c 'echo starting; echo ready >&2; sleep 30'",
        "--ready",
        "^ready$",
        "--ready-timeout",
        "5s",
        "--client",
        "true",
    ]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(json["client"]["exit_code"], 0, "{json}");
}

/// A server that exits before it is ready is said to have exited, with
/// its code and its last lines, at once: not "never printed" at the limit.
#[test]
fn a_server_that_exits_before_it_is_ready_is_said_to_have_exited() {
    let started = std::time::Instant::now();
    let (code, _, stderr) = run_json(&[
        "--server",
        "sh -c 'echo cannot bind >&2; exit 3'",
        "--ready",
        "ready",
        "--ready-timeout",
        "20s",
        "--client",
        "true",
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(started.elapsed().as_secs_f64() < 10.0, "{stderr}");
    assert!(
        stderr.contains("exited with code 3") && stderr.contains("cannot bind"),
        "{stderr}"
    );
    assert!(!stderr.contains("never printed"), "{stderr}");
}
