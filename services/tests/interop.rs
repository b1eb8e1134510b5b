//! Our programs and the lecture's Python programs talk to each other in both
//! directions, with no flags at all (port 12000, server `localhost`), and
//! our clients print exactly what the lecture's clients print.
//!
//! Each test runs in a private network namespace of its own, so each has its
//! own port 12000.

mod common;

use std::time::Duration;

use common::*;
use rstest::rstest;

const LIMIT: Duration = Duration::from_secs(20);
const INPUT: &[u8] = b"hello, world 42!\n";

#[rstest]
#[case::udp_ours_to_lecture("udpserver.py", "udp-client")]
#[case::tcp_ours_to_lecture("tcpserver.py", "tcp-client")]
fn our_client_prints_what_the_lecture_client_prints_against_the_lecture_server(
    #[case] server: &str,
    #[case] client: &str,
) {
    let python_client = server.replace("server", "client");
    in_private_netns(|| {
        let _server = start_server(python(server));
        let theirs = stdout_of(&run_with_input(python(&python_client), INPUT, LIMIT));
        let ours = stdout_of(&run_with_input(common::ours(client), INPUT, LIMIT));
        assert_eq!(ours, theirs);
        assert!(ours.contains("HELLO, WORLD 42!"), "{ours}");
    });
}

#[rstest]
#[case::udp(
    "udp-server",
    "udpclient.py",
    "Input lowercase sentence:HELLO, WORLD 42!\n"
)]
#[case::tcp(
    "tcp-server",
    "tcpclient.py",
    "Input lowercase sentence:From Server: HELLO, WORLD 42!\n"
)]
fn lecture_client_gets_its_answer_from_our_server(
    #[case] server: &str,
    #[case] client: &str,
    #[case] expected: &str,
) {
    in_private_netns(|| {
        let _server = start_server(ours(server));
        let got = stdout_of(&run_with_input(python(client), INPUT, LIMIT));
        assert_eq!(got, expected);
    });
}

#[rstest]
#[case::udp("udp-server", "udp-client")]
#[case::tcp("tcp-server", "tcp-client")]
fn our_client_and_server_behave_like_the_lecture_pair(#[case] server: &str, #[case] client: &str) {
    let python_client = client.replace('-', "") + ".py";
    in_private_netns(|| {
        let _server = start_server(ours(server));
        let theirs = stdout_of(&run_with_input(python(&python_client), INPUT, LIMIT));
        let ours = stdout_of(&run_with_input(common::ours(client), INPUT, LIMIT));
        assert_eq!(ours, theirs);
    });
}

#[test]
fn udp_probe_measures_the_lecture_server() {
    in_private_netns(|| {
        let _server = start_server(python("udpserver.py"));
        let mut probe = ours("udp-client");
        probe.args(["--probe", "--count", "200", "--interval", "1ms", "--json"]);
        let out = stdout_of(&run_with_input(probe, b"", LIMIT));
        let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
        assert_eq!(report["transport"], "udp");
        assert_eq!(report["sent"], 200);
        assert_eq!(report["received"], 200, "{report}");
        assert_eq!(report["corrupted"], 0);
    });
}
