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
