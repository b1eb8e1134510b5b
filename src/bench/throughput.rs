//! The wire against a plain veth pair: one TCP stream, a UDP flood and a
//! ping-pong, in alternating rounds.
//!
//! Everything runs in this process: a thread in each host (sockets opened
//! there belong to that host).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Lab};
use serde::Serialize;

use super::measure::{median, percentile, Timed};

const PORT: u16 = 5201;

/// One backend's figures with no impairment.
#[derive(Debug, Clone, Serialize)]
pub struct LinkFigures {
    pub backend: Backend,
    /// One TCP stream A to B, payload megabytes (1e6) per second: the
    /// median of the rounds.
    pub tcp_mb_s: f64,
    /// Each round's figure.
    pub tcp_rounds_mb_s: Vec<f64>,
    /// 64-byte UDP payloads sent A to B as fast as one thread can (median
    /// of the rounds).
    pub udp_sent_pps: f64,
    /// Of those, received per second at B.
    pub udp_received_pps: f64,
    /// Round trips of a 64-byte UDP ping-pong, one at a time.
    pub rtt_us: Quantiles,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Quantiles {
    pub p50: f64,
    pub p99: f64,
    pub samples: usize,
}

/// The wire against veth, measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct LinkBench {
    pub veth: LinkFigures,
    pub wire: LinkFigures,
    /// wire / veth.
    pub tcp_ratio: f64,
    pub udp_pps_ratio: f64,
    /// Latency the wire adds per crossing: (RTT wire - RTT veth) / 2.
    pub added_one_way_us: Quantiles,
}

pub fn link(quick: bool) -> anyhow::Result<LinkBench> {
    let span = Duration::from_secs_f64(if quick { 0.5 } else { 1.0 });
    let rounds = if quick { 1 } else { 5 };
    let pings = if quick { 2_000 } else { 10_000 };
    // Both labs at once, measured in alternation: a machine whose speed
    // drifts (other tenants, frequency) drifts for both.
    let labs = [
        Lab::new(Backend::Veth, Some(1))?,
        Lab::new(Backend::Wire, Some(1))?,
    ];
    let mut tcp = [Vec::new(), Vec::new()];
    let mut udp = [Vec::new(), Vec::new()];
    for round in 0..rounds {
        for (i, lab) in labs.iter().enumerate() {
            let name = lab.backend();
            eprintln!(
                "  round {}/{rounds}, {name}: TCP stream, UDP flood",
                round + 1
            );
            tcp[i].push(tcp_stream(lab, span).with_context(|| format!("TCP stream over {name}"))?);
            udp[i].push(udp_flood(lab, span).with_context(|| format!("UDP flood over {name}"))?);
        }
    }
    let mut figures = Vec::new();
    for (i, lab) in labs.iter().enumerate() {
        let name = lab.backend();
        eprintln!("  {name}: UDP ping-pong");
        let mut rtts =
            udp_ping_pong(lab, pings).with_context(|| format!("ping-pong over {name}"))?;
        rtts.sort_by(f64::total_cmp);
        let mut sent: Vec<f64> = udp[i].iter().map(|u| u.0).collect();
        let mut received: Vec<f64> = udp[i].iter().map(|u| u.1).collect();
        figures.push(LinkFigures {
            backend: name,
            tcp_mb_s: median(&mut tcp[i].clone()),
            tcp_rounds_mb_s: tcp[i].clone(),
            udp_sent_pps: median(&mut sent),
            udp_received_pps: median(&mut received),
            rtt_us: Quantiles {
                p50: percentile(&rtts, 0.50),
                p99: percentile(&rtts, 0.99),
                samples: rtts.len(),
            },
        });
    }
    for lab in labs {
        lab.remove()?;
    }
    let wire = figures.pop().expect("two backends");
    let veth = figures.pop().expect("two backends");
    Ok(LinkBench {
        tcp_ratio: wire.tcp_mb_s / veth.tcp_mb_s,
        udp_pps_ratio: wire.udp_received_pps / veth.udp_received_pps,
        added_one_way_us: Quantiles {
            p50: (wire.rtt_us.p50 - veth.rtt_us.p50) / 2.0,
            p99: (wire.rtt_us.p99 - veth.rtt_us.p99) / 2.0,
            samples: wire.rtt_us.samples,
        },
        veth,
        wire,
    })
}

/// Accepts one connection within `limit` (a failed client never leaves the
/// server waiting for ever).
fn accept_within(listener: &TcpListener, limit: Duration) -> io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// MB/s of one TCP stream from A to B for `span`, timed at the receiver.
fn tcp_stream(lab: &Lab, span: Duration) -> anyhow::Result<f64> {
    let (ready, listening) = mpsc::channel();
    std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            lab.b().run(|| -> io::Result<Timed> {
                let listener = TcpListener::bind((lab.addr_b(), PORT))?;
                let _ = ready.send(());
                let mut conn = accept_within(&listener, Duration::from_secs(5))?;
                conn.set_read_timeout(Some(Duration::from_secs(5)))?;
                let mut buf = vec![0u8; 256 * 1024];
                let mut timed = Timed::default();
                loop {
                    let n = conn.read(&mut buf)?;
                    if n == 0 {
                        return Ok(timed);
                    }
                    timed.add(n as u64);
                }
            })
        });
        listening
            .recv_timeout(Duration::from_secs(5))
            .context("the receiver never listened")?;
        lab.a().run(|| -> io::Result<()> {
            let addr = SocketAddr::from((lab.addr_b(), PORT));
            let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
            conn.set_write_timeout(Some(Duration::from_secs(5)))?;
            let chunk = vec![b'a'; 128 * 1024];
            let end = Instant::now() + span;
            while Instant::now() < end {
                conn.write_all(&chunk)?;
            }
            conn.shutdown(std::net::Shutdown::Write)
        })??;
        let timed = receiver.join().expect("receiver thread")??;
        Ok(timed.per_second() / 1e6)
    })
}

/// Datagrams per second sent by one thread in A, and received in B.
fn udp_flood(lab: &Lab, span: Duration) -> anyhow::Result<(f64, f64)> {
    let (ready, listening) = mpsc::channel();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            lab.b().run(|| -> io::Result<Timed> {
                let sock = UdpSocket::bind((lab.addr_b(), PORT))?;
                services::sys::grow_receive_buffer(&sock, 16 << 20);
                sock.set_read_timeout(Some(Duration::from_millis(200)))?;
                let _ = ready.send(());
                let mut buf = [0u8; 2048];
                let mut timed = Timed::default();
                let deadline = Instant::now() + span + Duration::from_secs(5);
                while Instant::now() < deadline {
                    match sock.recv(&mut buf) {
                        Ok(_) => timed.add(1),
                        Err(_) if done.load(Ordering::Acquire) => break,
                        Err(_) => {}
                    }
                }
                Ok(timed)
            })
        });
        listening
            .recv_timeout(Duration::from_secs(5))
            .context("the receiver never bound")?;
        let sent = lab.a().run(|| -> io::Result<Timed> {
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            sock.connect((lab.addr_b(), PORT))?;
            let payload = [b'a'; 64];
            let mut timed = Timed::default();
            let end = Instant::now() + span;
            // Bounded in count as well as in time.
            for i in 0..20_000_000u64 {
                if i % 256 == 0 && Instant::now() >= end {
                    break;
                }
                if sock.send(&payload).is_ok() {
                    timed.add(1);
                }
            }
            Ok(timed)
        });
        done.store(true, Ordering::Release);
        let sent = sent??;
        let received = receiver.join().expect("receiver thread")??;
        Ok((sent.per_second(), received.per_second()))
    })
}

/// `count` round trips of a 64-byte datagram, one at a time, in
/// microseconds (after 200 unrecorded ones).
fn udp_ping_pong(lab: &Lab, count: usize) -> anyhow::Result<Vec<f64>> {
    let (ready, listening) = mpsc::channel();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let echo = s.spawn(|| {
            lab.b().run(|| -> io::Result<()> {
                let sock = UdpSocket::bind((lab.addr_b(), PORT))?;
                sock.set_read_timeout(Some(Duration::from_millis(100)))?;
                let _ = ready.send(());
                let mut buf = [0u8; 2048];
                while !done.load(Ordering::Acquire) {
                    if let Ok((n, peer)) = sock.recv_from(&mut buf) {
                        sock.send_to(&buf[..n], peer)?;
                    }
                }
                Ok(())
            })
        });
        listening
            .recv_timeout(Duration::from_secs(5))
            .context("the echo never bound")?;
        let rtts = lab.a().run(|| -> io::Result<Vec<f64>> {
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            sock.connect((lab.addr_b(), PORT))?;
            sock.set_read_timeout(Some(Duration::from_millis(200)))?;
            let mut buf = [0u8; 64];
            let mut rtts = Vec::with_capacity(count);
            for i in 0..count + 200 {
                buf[..8].copy_from_slice(&(i as u64).to_be_bytes());
                let start = Instant::now();
                sock.send(&buf)?;
                // A lost or late datagram is skipped, never counted.
                loop {
                    let mut back = [0u8; 64];
                    match sock.recv(&mut back) {
                        Ok(_) if back[..8] == buf[..8] => {
                            if i >= 200 {
                                rtts.push(start.elapsed().as_secs_f64() * 1e6);
                            }
                            break;
                        }
                        Ok(_) => continue,
                        Err(_) => break,
                    }
                }
            }
            Ok(rtts)
        });
        done.store(true, Ordering::Release);
        let rtts = rtts??;
        echo.join().expect("echo thread")??;
        anyhow::ensure!(
            rtts.len() * 10 >= count * 9,
            "too many ping-pongs lost on a clean link"
        );
        Ok(rtts)
    })
}
