//! The servers and probes in-process on 127.0.0.1:0: what they promise on a
//! clean loopback, and how they hold up against awkward peers.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use services::tcp_probe::{self, TcpProbeConfig};
use services::tcp_server::{self, TcpServerConfig};
use services::udp_probe::{self, UdpProbeConfig};
use tokio::sync::oneshot;

async fn udp_server() -> (SocketAddr, oneshot::Sender<()>) {
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(services::udp_server::run(socket, stopped));
    (addr, stop)
}

async fn tcp_server(
    config: TcpServerConfig,
) -> (
    SocketAddr,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = tokio::spawn(tcp_server::run(listener, config, stopped));
    (addr, stop, handle)
}

fn udp_roundtrip(server: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    socket.send_to(payload, server).unwrap();
    let mut buf = vec![0u8; 65_536];
    let (n, _) = socket.recv_from(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn udp_server_uppercases_unicode_and_passes_invalid_bytes_through() {
    let (addr, _stop) = udp_server().await;
    let payload = b"abc xyz \xc3\xa9t\xc3\xa9 \xff\xfe 09!".to_vec();
    let got = tokio::task::spawn_blocking(move || udp_roundtrip(addr, &payload))
        .await
        .unwrap();
    assert_eq!(got, b"ABC XYZ \xc3\x89T\xc3\x89 \xff\xfe 09!");
}

#[tokio::test]
async fn udp_server_returns_the_largest_datagram_whole() {
    let (addr, _stop) = udp_server().await;
    let got = tokio::task::spawn_blocking(move || udp_roundtrip(addr, &vec![b'q'; 65_507]))
        .await
        .unwrap();
    assert_eq!(got, vec![b'Q'; 65_507]);
}

#[tokio::test]
async fn udp_server_answers_an_empty_datagram_with_an_empty_one() {
    let (addr, _stop) = udp_server().await;
    let got = tokio::task::spawn_blocking(move || udp_roundtrip(addr, b""))
        .await
        .unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn udp_probe_sees_a_clean_loopback_as_clean() {
    let (addr, _stop) = udp_server().await;
    let config = UdpProbeConfig {
        renumber_after: None,
        count: 1000,
        interval: Duration::from_micros(100),
        ..Default::default()
    };
    let r = tokio::task::spawn_blocking(move || udp_probe::run(addr, &config))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            r.sent,
            r.received,
            r.lost,
            r.reordered,
            r.duplicates,
            r.corrupted
        ),
        (1000, 1000, 0, 0, 0, 0),
        "{r:?}"
    );
    assert!(r.boundaries_preserved);
    let rtt = r.rtt_ms.expect("echoes came back");
    assert!(
        rtt.min > 0.0 && rtt.min <= rtt.p50 && rtt.p50 <= rtt.p99 && rtt.p99 <= rtt.max,
        "{rtt:?}"
    );
}

#[test]
fn udp_probe_against_a_silent_peer_counts_everything_lost_and_ends_by_its_timeout() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let config = UdpProbeConfig {
        renumber_after: None,
        count: 20,
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let started = Instant::now();
    let r = udp_probe::run(silent.local_addr().unwrap(), &config).unwrap();
    assert_eq!((r.sent, r.received, r.lost), (20, 0, 20));
    assert_eq!(r.loss_rate, 1.0);
    assert!(r.rtt_ms.is_none());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn udp_probe_counts_a_garbled_echo_as_corrupted_not_received() {
    let liar = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = liar.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        for i in 0..10 {
            let Ok((n, peer)) = liar.recv_from(&mut buf) else {
                return;
            };
            buf[..n].make_ascii_uppercase();
            if i % 2 == 0 {
                buf[n - 1] = b'!';
            }
            let _ = liar.send_to(&buf[..n], peer);
        }
    });
    let config = UdpProbeConfig {
        renumber_after: None,
        count: 10,
        timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let r = udp_probe::run(addr, &config).unwrap();
    assert_eq!((r.received, r.corrupted, r.lost), (5, 5, 5), "{r:?}");
}

#[tokio::test]
async fn tcp_server_echoes_a_stream_intact_and_in_order() {
    let (addr, _stop, _h) = tcp_server(TcpServerConfig::default()).await;
    let config = TcpProbeConfig {
        reconnect: None,
        bytes: 4 << 20,
        write_size: 64 * 1024,
        ..Default::default()
    };
    let r = tokio::task::spawn_blocking(move || tcp_probe::run(addr, &config))
        .await
        .unwrap()
        .unwrap();
    assert!(r.intact && r.in_order == Some(true) && r.completed, "{r:?}");
    assert_eq!(r.bytes_received, 4 << 20);
}

#[tokio::test]
async fn tcp_keeps_no_message_boundaries() {
    // Thousands of 64-byte writes come back in far fewer reads: the reader
    // sees a byte stream, not the writer's messages.
    let (addr, _stop, _h) = tcp_server(TcpServerConfig::default()).await;
    let config = TcpProbeConfig {
        reconnect: None,
        bytes: 1 << 20,
        ..Default::default()
    };
    let r = tokio::task::spawn_blocking(move || tcp_probe::run(addr, &config))
        .await
        .unwrap()
        .unwrap();
    assert!(r.intact);
    assert_eq!(r.writes, 16_384);
    assert!(
        r.reads < r.writes,
        "{} reads for {} writes",
        r.reads,
        r.writes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_server_serves_many_clients_at_once() {
    let (addr, _stop, _h) = tcp_server(TcpServerConfig::default()).await;
    let clients: Vec<_> = (0..64)
        .map(|_| {
            tokio::task::spawn_blocking(move || {
                tcp_probe::run(
                    addr,
                    &TcpProbeConfig {
                        reconnect: None,
                        bytes: 64 * 1024,
                        write_size: 4096,
                        ..Default::default()
                    },
                )
            })
        })
        .collect();
    for c in clients {
        let r = c.await.unwrap().unwrap();
        assert!(r.intact && r.in_order == Some(true), "{r:?}");
    }
}

#[tokio::test]
async fn tcp_server_passes_invalid_utf8_through_and_keeps_serving() {
    let (addr, _stop, _h) = tcp_server(TcpServerConfig::default()).await;
    let got = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"ok \xff\xfe\xc3 done").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        out
    })
    .await
    .unwrap();
    assert_eq!(got, b"OK \xff\xfe\xc3 DONE");
    let r = tokio::task::spawn_blocking(move || tcp_probe::run(addr, &TcpProbeConfig::default()))
        .await
        .unwrap()
        .unwrap();
    assert!(r.intact);
}

#[tokio::test]
async fn tcp_server_closes_a_connection_that_stays_silent() {
    let config = TcpServerConfig {
        idle_timeout: Duration::from_millis(200),
        ..Default::default()
    };
    let (addr, _stop, _h) = tcp_server(config).await;
    let waited = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let started = Instant::now();
        let n = s.read(&mut [0u8; 16]).unwrap();
        assert_eq!(n, 0, "expected the server to close");
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
        "{waited:?}"
    );
}

#[tokio::test]
async fn tcp_server_serves_at_most_max_connections_and_then_the_next() {
    let config = TcpServerConfig {
        max_connections: 2,
        ..Default::default()
    };
    let (addr, _stop, _h) = tcp_server(config).await;
    tokio::task::spawn_blocking(move || {
        let echo = |s: &mut TcpStream| -> Option<Vec<u8>> {
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            s.write_all(b"ping").unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).ok().map(|()| buf.to_vec())
        };
        let mut first = TcpStream::connect(addr).unwrap();
        let mut second = TcpStream::connect(addr).unwrap();
        assert_eq!(echo(&mut first).as_deref(), Some(&b"PING"[..]));
        assert_eq!(echo(&mut second).as_deref(), Some(&b"PING"[..]));
        let mut third = TcpStream::connect(addr).unwrap();
        assert_eq!(
            echo(&mut third),
            None,
            "a third connection was served beyond the bound of 2"
        );
        drop(first);
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 4];
        third.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"PING");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn tcp_server_stops_on_shutdown_within_its_grace_period() {
    let config = TcpServerConfig {
        grace: Duration::from_millis(200),
        ..Default::default()
    };
    let (addr, stop, handle) = tcp_server(config).await;
    let _idle = TcpStream::connect(addr).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(3), handle)
        .await
        .expect("server stopped")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

#[test]
fn tcp_probe_against_a_server_that_never_answers_ends_by_its_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let config = TcpProbeConfig {
        reconnect: None,
        bytes: 64 << 20,
        write_size: 65_536,
        timeout: Duration::from_millis(500),
        ..Default::default()
    };
    let started = Instant::now();
    let r = tcp_probe::run(addr, &config).unwrap();
    assert!(!r.completed && !r.intact, "{r:?}");
    assert!(r.error.is_some());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    drop(listener);
}

#[tokio::test]
async fn udp_probe_waits_for_a_server_that_starts_late() {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    drop(socket);
    let waiter = tokio::task::spawn_blocking(move || {
        udp_probe::wait_for_server(addr, Duration::from_secs(5))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let socket = tokio::net::UdpSocket::bind(addr).await.unwrap();
    let (_stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(services::udp_server::run(socket, stopped));
    waiter.await.unwrap().expect("server found");
}

#[test]
fn waiting_for_a_server_that_never_comes_ends_by_its_limit() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let started = Instant::now();
    let err = udp_probe::wait_for_server(silent.local_addr().unwrap(), Duration::from_millis(300))
        .unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    // A TCP probe that never connects reports it: not completed, and why.
    let started = Instant::now();
    let r =
        tcp_probe::run_when_reachable(addr, &TcpProbeConfig::default(), Duration::from_millis(300))
            .unwrap();
    assert!(!r.completed && r.bytes_sent == 0, "{r:?}");
    assert!(
        r.error
            .as_deref()
            .unwrap_or_default()
            .contains("no connection"),
        "{r:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// A TCP listener on 127.0.0.1 whose accept queue is full: one connection
/// waits in it, never accepted, and the kernel drops every further SYN
/// (the queue of a `listen(fd, 0)` holds one).
fn full_listener() -> (std::os::fd::OwnedFd, TcpStream, SocketAddr) {
    use nix::sys::socket::{
        bind, getsockname, listen, socket, AddressFamily, Backlog, SockFlag, SockType, SockaddrIn,
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .unwrap();
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).unwrap();
    listen(&fd, Backlog::new(0).unwrap()).unwrap();
    let addr: SockaddrIn = getsockname(fd.as_raw_fd()).unwrap();
    let addr = SocketAddr::from(std::net::SocketAddrV4::from(addr));
    let waiting = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    (fd, waiting, addr)
}

/// What a probe that never connected tried, as its JSON says it.
fn tried(r: &services::report::TcpReport) -> (serde_json::Value, serde_json::Value) {
    let json = serde_json::to_value(r).unwrap();
    (json["connect_attempts"].clone(), json["syns_sent"].clone())
}

/// A probe whose SYNs go unanswered says how many it sent (`syns_sent`,
/// from TCP_INFO of the unconnected socket: the first at once, the first
/// retransmission after the initial RTO of 1 s, the next at 3 s, so a
/// 1.5 s timeout sees exactly 2), and claims no order for an echo that
/// never came (`in_order` null, and no "in order" in its text).
#[test]
fn a_tcp_probe_whose_syns_go_unanswered_says_how_many_it_sent() {
    let (_listener, _waiting, addr) = full_listener();
    let config = TcpProbeConfig {
        timeout: Duration::from_millis(1500),
        ..Default::default()
    };
    let r = tcp_probe::run(addr, &config).unwrap();
    assert!(!r.completed && r.bytes_sent == 0, "{r:?}");
    assert_eq!(tried(&r), (1.into(), 2.into()), "{r:?}");
    let json = serde_json::to_value(&r).unwrap();
    assert!(json["in_order"].is_null(), "{json}");
    let text = r.summary();
    assert!(!text.contains("in order"), "{text}");
    assert!(
        text.contains("2 SYNs sent in 1 connection attempt"),
        "{text}"
    );
}

/// A refused connect sent one SYN (and got a reset); a probe that retries
/// counts every attempt and every SYN; a probe that connects sent one.
#[test]
fn a_tcp_probe_counts_its_connection_attempts_and_their_syns() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let r = tcp_probe::run(addr, &TcpProbeConfig::default()).unwrap();
    assert_eq!(tried(&r), (1.into(), 1.into()), "{r:?}");
    let r =
        tcp_probe::run_when_reachable(addr, &TcpProbeConfig::default(), Duration::from_millis(300))
            .unwrap();
    let (attempts, syns) = tried(&r);
    assert!(attempts.as_u64().is_some_and(|n| n >= 2), "{r:?}");
    assert_eq!(attempts, syns, "{r:?}");
    let reconnecting = TcpProbeConfig {
        timeout: Duration::from_millis(300),
        reconnect: Some(Duration::from_secs(1)),
        ..Default::default()
    };
    let r = tcp_probe::run_reconnecting(addr, &reconnecting).unwrap();
    let (attempts, syns) = tried(&r);
    assert!(attempts.as_u64().is_some_and(|n| n >= 2), "{r:?}");
    assert_eq!(attempts, syns, "{r:?}");
    assert!(serde_json::to_value(&r).unwrap()["in_order"].is_null());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        loop {
            match conn.read(&mut buf).unwrap() {
                0 => break,
                n => conn.write_all(&buf[..n].to_ascii_uppercase()).unwrap(),
            }
        }
    });
    let config = TcpProbeConfig {
        bytes: 64 * 100,
        ..Default::default()
    };
    let r = tcp_probe::run(addr, &config).unwrap();
    server.join().unwrap();
    assert!(r.completed && r.intact, "{r:?}");
    assert_eq!(tried(&r), (1.into(), 1.into()), "{r:?}");
    assert_eq!(serde_json::to_value(&r).unwrap()["in_order"], true);
}

/// An echo server on 127.0.0.1:0 whose first connection misbehaves after
/// echoing `cut` bytes: `stall` true stops echoing (reads on, answers
/// nothing, and holds the connection 5 s after the client's end); false
/// closes it. Later connections, each on a thread of its own, are echoed
/// whole. Serves `connections` connections.
fn cutting_server(cut: usize, stall: bool, connections: usize) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for i in 0..connections {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            std::thread::spawn(move || {
                let mut echoed = 0;
                let mut buf = vec![0u8; 4096];
                loop {
                    let n = match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let n = if i == 0 { n.min(cut - echoed) } else { n };
                    if conn.write_all(&buf[..n].to_ascii_uppercase()).is_err() {
                        break;
                    }
                    echoed += n;
                    if i == 0 && echoed == cut && !stall {
                        return;
                    }
                }
                if i == 0 && stall {
                    std::thread::sleep(Duration::from_secs(5));
                }
            });
        }
    });
    addr
}

/// A connection cut (or stalled) in the middle of a line: the probe opens
/// another and sends again from the first line whose echo had not come
/// back whole, and the echo, checked across both as one stream, is intact
/// and in order.
#[rstest::rstest]
#[case::closed(false)]
#[case::stalled(true)]
fn a_reconnecting_probe_resumes_a_cut_stream_intact(#[case] stall: bool) {
    let addr = cutting_server(1000, stall, 2);
    let config = TcpProbeConfig {
        bytes: 64 * 1000 + 10,
        timeout: Duration::from_secs(20),
        reconnect: Some(Duration::from_millis(200)),
        ..Default::default()
    };
    let r = tcp_probe::run_reconnecting(addr, &config).unwrap();
    assert!(r.completed && r.intact, "{r:?}");
    assert_eq!(r.in_order, Some(true), "{r:?}");
    assert_eq!(r.bytes_received, config.bytes, "{r:?}");
    assert_eq!(r.reconnects, 1, "{r:?}");
    // The first connection's echo ended 40 bytes into line 15 (1000 =
    // 15 * 64 + 40): lines 0..15 came back whole, the rest is sent again.
    assert!(r.resent_bytes > 0, "{r:?}");
    assert_eq!(r.bytes_sent, config.bytes, "{r:?}");
}
