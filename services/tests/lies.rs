//! The UDP probe against servers that lie, one way each: every lie lands in
//! the counter that names it, and nowhere else; nothing a liar sends is
//! counted as received. An honest server is the control.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rstest::rstest;
use services::probe::{self, HEADER_LEN};
use services::report::UdpReport;
use services::udp_probe::{self, UdpProbeConfig};

const COUNT: u64 = 200;
const SIZE: usize = 64;

/// How a server answers a probe: the datagrams it sends back.
type Answer = fn(&[u8]) -> Vec<Vec<u8>>;

fn honest(p: &[u8]) -> Vec<Vec<u8>> {
    vec![p.to_ascii_uppercase()]
}

fn truncates(p: &[u8]) -> Vec<Vec<u8>> {
    vec![p.to_ascii_uppercase()[..p.len() - 5].to_vec()]
}

fn alters_a_time_digit(p: &[u8]) -> Vec<Vec<u8>> {
    let mut e = p.to_ascii_uppercase();
    // The last digit of the send time.
    let i = HEADER_LEN - 2;
    e[i] = b'0' + (e[i] - b'0' + 1) % 10;
    vec![e]
}

fn answers_for_another_probe(p: &[u8]) -> Vec<Vec<u8>> {
    // A well-formed echo, tail and all, of a sequence number never sent.
    let text = std::str::from_utf8(&p[..HEADER_LEN]).unwrap();
    let seq: u64 = text[..10].parse().unwrap();
    let send_us: u64 = text[11..27].parse().unwrap();
    let mut other = Vec::new();
    probe::encode(&mut other, seq + 1_000_000, send_us, p.len());
    vec![other.to_ascii_uppercase()]
}

fn does_not_uppercase(p: &[u8]) -> Vec<Vec<u8>> {
    vec![p.to_vec()]
}

fn answers_twice(p: &[u8]) -> Vec<Vec<u8>> {
    vec![p.to_ascii_uppercase(), p.to_ascii_uppercase()]
}

/// A UDP server on 127.0.0.1:0 that answers every datagram with `answer`,
/// until dropped.
struct Liar {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Liar {
    fn start(answer: Answer) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    for reply in answer(&buf[..n]) {
                        let _ = socket.send_to(&reply, from);
                    }
                }
            }
        });
        Self {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Liar {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The counters a datagram can land in, besides `received`.
fn refusals(r: &UdpReport) -> [(&'static str, u64); 6] {
    [
        ("duplicates", r.duplicates),
        ("corrupted", r.corrupted),
        ("unsent", r.unsent),
        ("wrong_time", r.wrong_time),
        ("wrong_size", r.wrong_size),
        ("not_uppercased", r.not_uppercased),
    ]
}

#[rstest]
#[case::honest(honest, None, COUNT)]
#[case::truncates(truncates, Some("wrong_size"), 0)]
#[case::alters_a_time_digit(alters_a_time_digit, Some("wrong_time"), 0)]
#[case::answers_for_another_probe(answers_for_another_probe, Some("unsent"), 0)]
#[case::does_not_uppercase(does_not_uppercase, Some("not_uppercased"), 0)]
#[case::answers_twice(answers_twice, Some("duplicates"), COUNT)]
fn each_lie_lands_in_its_own_counter_and_nowhere_else(
    #[case] answer: Answer,
    #[case] lie: Option<&str>,
    #[case] received: u64,
) {
    let liar = Liar::start(answer);
    let config = UdpProbeConfig {
        renumber_after: None,
        count: COUNT,
        interval: Duration::from_micros(200),
        size: SIZE,
        timeout: Duration::from_millis(500),
        samples: false,
    };
    let r = udp_probe::run(liar.addr, &config).unwrap();
    assert_eq!(r.sent, COUNT, "{r:?}");
    assert_eq!(r.send_errors, 0, "{r:?}");
    assert_eq!(r.received, received, "received: {r:?}");
    for (name, n) in refusals(&r) {
        let want = if Some(name) == lie { COUNT } else { 0 };
        assert_eq!(n, want, "{name}: {r:?}");
    }
    assert_eq!(r.boundaries_preserved, lie != Some("wrong_size"), "{r:?}");
}
