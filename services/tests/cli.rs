//! The binaries as a user runs them: defaults, bad input, signals.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rstest::rstest;

#[rstest]
#[case::unknown_flag("udp-server", &["--frobnicate"])]
#[case::port_zero("udp-server", &["--port", "0"])]
#[case::port_too_big("tcp-server", &["--port", "65536"])]
#[case::count_zero("udp-client", &["--probe", "--count", "0"])]
#[case::size_too_small("udp-client", &["--probe", "--size", "10"])]
#[case::size_too_big("udp-client", &["--probe", "--size", "65508"])]
#[case::bytes_zero("tcp-client", &["--probe", "--bytes", "0"])]
#[case::bad_duration("udp-client", &["--probe", "--interval", "soon"])]
#[case::probe_flag_without_probe("udp-client", &["--count", "5"])]
fn bad_input_gets_a_clear_error_and_exit_code_2(#[case] bin: &str, #[case] args: &[&str]) {
    let out = ours(bin).args(args).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{bin} {args:?}: {:?}",
        out.status
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error:"), "{stderr}");
}

#[rstest]
#[case::udp_sigterm("udp-server", Signal::SIGTERM)]
#[case::udp_sigint("udp-server", Signal::SIGINT)]
#[case::tcp_sigterm("tcp-server", Signal::SIGTERM)]
#[case::tcp_sigint("tcp-server", Signal::SIGINT)]
fn server_exits_cleanly_on_a_signal(#[case] bin: &str, #[case] signal: Signal) {
    in_private_netns(|| {
        let mut server = start_server(ours(bin));
        let pid = Pid::from_raw(server.id() as i32);
        kill(pid, signal).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = server.try_wait().unwrap() {
                assert!(status.success(), "{bin} exited with {status:?}");
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{bin} ignored {signal}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}

#[test]
fn probe_without_json_prints_a_readable_summary() {
    in_private_netns(|| {
        let _server = start_server(ours("udp-server"));
        let out = ours("udp-client")
            .args(["--probe", "--count", "50"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let text = stdout_of(&out);
        assert!(
            text.starts_with("UDP: sent 50 received 50 lost 0"),
            "{text}"
        );
    });
}

#[test]
fn tcp_probe_json_has_every_documented_field() {
    in_private_netns(|| {
        let _server = start_server(ours("tcp-server"));
        let out = ours("tcp-client")
            .args(["--probe", "--bytes", "100000", "--json"])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
        for field in [
            "transport",
            "bytes_sent",
            "bytes_received",
            "intact",
            "in_order",
            "duration_s",
            "goodput_mbps",
            "retransmits",
            "writes",
            "reads",
        ] {
            assert!(report.get(field).is_some(), "missing {field} in {report}");
        }
        assert_eq!(report["intact"], true);
    });
}

#[test]
fn udp_probe_json_has_every_documented_field() {
    in_private_netns(|| {
        let _server = start_server(ours("udp-server"));
        let out = ours("udp-client")
            .args(["--probe", "--count", "20", "--json"])
            .output()
            .unwrap();
        let report: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
        for field in [
            "transport",
            "sent",
            "received",
            "lost",
            "loss_rate",
            "reordered",
            "duplicates",
            "corrupted",
            "rtt_ms",
            "jitter_ms",
            "boundaries_preserved",
        ] {
            assert!(report.get(field).is_some(), "missing {field} in {report}");
        }
        for p in ["min", "p50", "p99", "max"] {
            assert!(report["rtt_ms"][p].is_f64(), "rtt_ms.{p} in {report}");
        }
    });
}

/// The flags of `bin` that take a value, read from its own `--help`, so a
/// flag added later is swept without anyone listing it here.
fn value_flags(bin: &str) -> Vec<String> {
    let out = ours(bin).arg("--help").output().unwrap();
    let help = stdout_of(&out);
    let flags: Vec<String> = help
        .lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let line =
                line.split_once(", ").map_or(
                    line,
                    |(short, long)| {
                        if short.len() == 2 {
                            long
                        } else {
                            line
                        }
                    },
                );
            let mut words = line.split_whitespace();
            let flag = words.next()?.strip_prefix("--")?;
            words
                .next()
                .filter(|v| v.starts_with('<'))
                .map(|_| format!("--{flag}"))
        })
        .collect();
    assert!(flags.len() >= 3, "{bin} --help lists only {flags:?}");
    flags
}

/// `-1` to every flag that takes a value is refused by that flag's own
/// parser (exit 2, the flag named), not by clap as an unknown argument.
/// Inside a private network namespace, so `--server -1` looks up nothing
/// beyond it.
#[rstest]
#[case::udp_server("udp-server", &[])]
#[case::tcp_server("tcp-server", &[])]
#[case::udp_client("udp-client", &["--probe"])]
#[case::tcp_client("tcp-client", &["--probe"])]
fn a_negative_number_is_refused_by_the_flags_own_parser(#[case] bin: &str, #[case] mode: &[&str]) {
    in_private_netns(|| {
        let mut wrong = Vec::new();
        for flag in value_flags(bin) {
            let mut cmd = ours(bin);
            cmd.args(mode).args([flag.as_str(), "-1"]);
            let out = run_with_input(cmd, b"", Duration::from_secs(20));
            let stderr = String::from_utf8_lossy(&out.stderr);
            let by_name =
                stderr.contains(&format!("'{flag}")) && !stderr.contains("unexpected argument");
            if out.status.code() != Some(2) || !by_name {
                wrong.push(format!(
                    "{bin} {flag} -1: {:?}: {}",
                    out.status,
                    stderr.trim()
                ));
            }
        }
        assert!(
            wrong.is_empty(),
            "{} refused wrongly:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    });
}

/// A zero where zero means nothing useful (a timeout that expires at once,
/// a stall of no time that reconnects without end, an idle connection
/// closed at once) is refused at parse time, naming the flag.
#[rstest]
#[case::probe_timeout("tcp-client", &["--probe", "--timeout", "0"], "--timeout")]
#[case::line_timeout("tcp-client", &["--timeout", "0"], "--timeout")]
#[case::reconnect("tcp-client", &["--probe", "--reconnect", "0"], "--reconnect")]
#[case::reconnect_below_10ms("tcp-client", &["--probe", "--reconnect", "1us"], "--reconnect")]
#[case::idle_timeout("tcp-server", &["--idle-timeout", "0"], "--idle-timeout")]
fn a_zero_that_means_nothing_is_refused_by_name(
    #[case] bin: &str,
    #[case] args: &[&str],
    #[case] flag: &str,
) {
    in_private_netns(|| {
        let mut cmd = ours(bin);
        cmd.args(args);
        let out = run_with_input(cmd, b"", Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bin} {args:?}: {:?}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains(&format!("'{flag}")),
            "{bin} {args:?}:\n{stderr}"
        );
    });
}

/// An algorithm the kernel does not have is refused before the probe
/// connects anywhere: exit 2, `--congestion` named, and what the kernel
/// offers listed.
#[test]
fn an_unknown_congestion_control_is_refused_with_what_the_kernel_offers() {
    in_private_netns(|| {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 12000)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut cmd = ours("tcp-client");
        cmd.args([
            "--probe",
            "--server",
            "127.0.0.1",
            "--congestion",
            "nonexistent",
        ]);
        let out = run_with_input(cmd, b"", Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{:?}\n{stderr}", out.status);
        assert!(stderr.contains("'--congestion"), "{stderr}");
        let offered =
            std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control").unwrap();
        for name in offered.split_whitespace() {
            assert!(stderr.contains(name), "{name} is not listed:\n{stderr}");
        }
        assert!(
            matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "the probe connected before refusing --congestion"
        );
    });
}

/// A server name that does not resolve is bad input: exit 2, naming
/// `--server`, in the probe and in the lecture's mode alike.
#[rstest]
#[case::udp_probe("udp-client", &["--probe"])]
#[case::udp_line("udp-client", &[])]
#[case::tcp_probe("tcp-client", &["--probe"])]
#[case::tcp_line("tcp-client", &[])]
fn an_unresolvable_server_is_refused_by_name(#[case] bin: &str, #[case] mode: &[&str]) {
    in_private_netns(|| {
        let mut cmd = ours(bin);
        cmd.args(mode).args(["--server", "no-such-host.invalid"]);
        let out = run_with_input(cmd, b"", Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{bin} {mode:?}: {:?}\n{stderr}",
            out.status
        );
        assert!(
            stderr.contains("'--server") && stderr.contains("no-such-host.invalid"),
            "{stderr}"
        );
    });
}
