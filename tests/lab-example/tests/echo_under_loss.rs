//! A crate's own server and client on badnet's lab, in rstest tests: the
//! server in host B, the client in host A, the link between them lossy
//! from A to B. The fixture builds the lab; each case impairs it, runs
//! both programs, asserts on what the client saw with a bound derived from
//! the count, and removes the lab. Needs root (network namespaces).

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use faults::bounds::{clopper_pearson, FALSE_FAILURE};
use faults::{Backend, Direction, Lab};
use lab_example::{client, echo_server};
use rstest::{fixture, rstest};

/// Two hosts and a link; the wire where the kernel has no netem.
#[fixture]
fn lab() -> Lab {
    Lab::new(Backend::Auto, Some(2026)).expect("a lab (run as root)")
}

#[rstest]
#[case::clean("", 0.0)]
#[case::ten_percent_loss("loss 10%", 0.10)]
#[case::thirty_percent_loss("loss 30%", 0.30)]
fn my_echo_loses_what_the_link_loses(lab: Lab, #[case] spec: &str, #[case] p: f64) {
    lab.impair(Direction::Forward, &spec.parse().unwrap())
        .unwrap();
    let addr = SocketAddr::from((lab.addr_b(), 9000));
    // Sockets opened in a host stay in its namespace wherever they are used.
    let server = lab.b().run(|| UdpSocket::bind(addr)).unwrap().unwrap();
    let socket = lab
        .a()
        .run(|| UdpSocket::bind((lab.addr_a(), 0)))
        .unwrap()
        .unwrap();
    let echo = std::thread::spawn(move || echo_server(server, Duration::from_millis(500)));
    let sent = 2000;
    let back = client(
        &socket,
        addr,
        sent,
        Duration::from_micros(200),
        Duration::from_millis(200),
    )
    .unwrap();
    let echoed = echo.join().unwrap().unwrap();
    // The echo path is clean: what came back is what the server got.
    assert_eq!(u64::from(back), echoed);
    // What was lost is consistent with p (Clopper-Pearson, 1e-6).
    let lost = u64::from(sent - back);
    let (lo, hi) = clopper_pearson(lost, u64::from(sent), FALSE_FAILURE);
    assert!(
        (lo..=hi).contains(&p),
        "lost {lost} of {sent}: {lo:.4}..{hi:.4} excludes {p}"
    );
    // And the link counted each loss.
    assert_eq!(lab.counters().unwrap().forward.dropped, lost);
    lab.remove().unwrap();
}
