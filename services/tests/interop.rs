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

/// Non-ASCII text, as the lecture's servers answer it with Python's
/// `str.upper()`: mappings that change length (ß to SS, ﬁ to FI, ΐ to
/// three code points) included. Characters of Unicode 14 and before, which
/// the Python of these machines and Rust map alike.
const UNICODE: &str = "straße wörld ﬁx ŉ ΐ ǆ ĳ àéîõü ﬀ ς ß\n";

/// What `server` answers to `payload`: one datagram, or the whole echo of
/// one TCP write.
fn answer(transport: &str, payload: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let addr = ("127.0.0.1", 12000);
    if transport == "udp" {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.send_to(payload, addr).unwrap();
        let mut buf = [0u8; 2048];
        let n = s.recv(&mut buf).unwrap();
        buf[..n].to_vec()
    } else {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.write_all(payload).unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    }
}

#[rstest]
#[case::udp("udp", "udpserver.py", "udp-server")]
#[case::tcp("tcp", "tcpserver.py", "tcp-server")]
fn non_ascii_text_is_uppercased_byte_for_byte_as_the_lecture_server_does(
    #[case] transport: &str,
    #[case] lecture: &str,
    #[case] ours: &str,
) {
    let theirs = in_private_netns(|| {
        let _server = start_server(python(lecture));
        answer(transport, UNICODE.as_bytes())
    });
    let mine = in_private_netns(|| {
        let _server = start_server(common::ours(ours));
        answer(transport, UNICODE.as_bytes())
    });
    assert_eq!(
        String::from_utf8_lossy(&mine),
        String::from_utf8_lossy(&theirs)
    );
    assert_eq!(mine, theirs);
    assert!(String::from_utf8_lossy(&mine).starts_with("STRASSE WÖRLD FIX ʼN"));
}

/// A character cut between two TCP reads is uppercased whole; invalid bytes
/// come back unchanged, and the server keeps serving (the lecture's would
/// crash on them).
#[test]
fn a_character_split_across_tcp_reads_and_invalid_bytes() {
    use std::io::{Read, Write};
    in_private_netns(|| {
        let _server = start_server(ours("tcp-server"));
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 12000)).unwrap();
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        // "straße" with the two bytes of ß in separate segments.
        s.write_all(b"stra\xc3").unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"\x9fe \xff\xfe ok\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"STRASSE \xff\xfe OK\n");
        assert_eq!(answer("tcp", "maße\n".as_bytes()), "MASSE\n".as_bytes());
    });
}
