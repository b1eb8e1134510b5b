//! The wire against a plain veth pair, and the wire's impairments against
//! their configuration.
//!
//! Everything runs in this process: a thread in each host (sockets opened
//! there belong to that host), one monotonic clock for both ends, so
//! one-way delays are exact.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::impairment::{Distribution, Loss};
use faults::{Backend, Direction, Impairment, Lab};
use serde::Serialize;

use super::{percentile, Timed};
use crate::stats::{clopper_pearson, FALSE_FAILURE};

const PORT: u16 = 5201;

/// One backend's figures with no impairment.
#[derive(Debug, Clone, Serialize)]
pub struct LinkFigures {
    pub backend: String,
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
        let name = lab.backend().to_owned();
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

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    percentile(xs, 0.5)
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
                services::sockopt::grow_receive_buffer(&sock, 16 << 20);
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

/// One setting of the fidelity grid: configured against observed.
#[derive(Debug, Clone, Serialize)]
pub struct Fidelity {
    pub spec: String,
    pub sent: u64,
    /// Each measured property: configured, observed, error.
    pub properties: Vec<Property>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Property {
    pub name: &'static str,
    pub unit: &'static str,
    pub configured: f64,
    pub observed: f64,
    /// observed - configured.
    pub error: f64,
    /// For proportions: whether the configured value lies in the
    /// Clopper-Pearson interval of the observation at 1e-6.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consistent: Option<bool>,
}

/// The grid: netem's knobs one at a time, each measured over one stream of
/// numbered, timestamped datagrams from A to B.
pub fn fidelity(backend: Backend, quick: bool) -> anyhow::Result<Vec<Fidelity>> {
    let count: u64 = if quick { 2_000 } else { 10_000 };
    let interval = Duration::from_micros(200);
    let grid = [
        "loss 1%",
        "loss 10%",
        "loss 30%",
        "duplicate 5%",
        "duplicate 20%",
        "delay 10ms reorder 25%",
        "delay 1ms",
        "delay 10ms",
        "delay 50ms",
        "delay 20ms 5ms",
        "delay 20ms 5ms distribution normal",
        "rate 10mbit",
    ];
    let lab = Lab::new(backend, Some(7))?;
    // The link's own one-way floor, to subtract from delays.
    let clean = stream(&lab, count.min(2_000), interval, 16, Duration::ZERO)?;
    let floor = mean(&clean.delays_ms());
    let mut results = Vec::new();
    for text in grid {
        let spec: Impairment = text.parse()?;
        lab.impair(Direction::Forward, &spec)?;
        let settle = spec.delay + spec.jitter * 4;
        // A rate is measured on a stream that outruns it (1000-byte
        // payloads, 2000 a second) for at most a second, so the queue
        // (netem's limit, 1000 packets) never overflows.
        let (count, interval, size, settle) = match spec.rate {
            Some(_) => (
                count.min(2_000),
                Duration::from_micros(500),
                1000,
                settle + Duration::from_secs(1),
            ),
            None => (count, interval, 16, settle),
        };
        let seen = stream(&lab, count, interval, size, settle)?;
        lab.clear(Direction::Forward)?;
        let mut properties = Vec::new();
        let proportion = |name, k: u64, configured: f64| {
            let (lo, hi) = clopper_pearson(k.min(count), count, FALSE_FAILURE);
            let observed = k as f64 / count as f64;
            Property {
                name,
                unit: "%",
                configured: configured * 100.0,
                observed: observed * 100.0,
                error: (observed - configured) * 100.0,
                consistent: Some((lo..=hi).contains(&configured)),
            }
        };
        let unique = seen.unique();
        let loss = match spec.loss {
            Loss::Random { percent, .. } => percent,
            _ => 0.0,
        };
        properties.push(proportion("loss", count - unique, loss / 100.0));
        if spec.duplicate > 0.0 {
            let dups = seen.arrivals.len() as u64 - unique;
            properties.push(proportion("duplicate", dups, spec.duplicate / 100.0));
        }
        let delays = seen.delays_ms();
        if let Some(rate) = spec.rate {
            // Each datagram is 1000 + 8 (UDP) + 20 (IP) bytes, and netem
            // counts 14 of Ethernet on a veth (the wire does the same).
            let bits = (seen.arrivals.len().saturating_sub(1) * (size + 28 + 14) * 8) as f64;
            let span = seen.arrivals.last().map_or(0.0, |a| a.2)
                - seen.arrivals.first().map_or(0.0, |a| a.2);
            let observed = bits / (span / 1e3) / 1e6;
            let configured = rate as f64 / 1e6;
            properties.push(Property {
                name: "rate",
                unit: "Mbit/s",
                configured,
                observed,
                error: observed - configured,
                consistent: None,
            });
        }
        if spec.reorder > 0.0 {
            // netem sends a reordered packet at once: it arrives with no
            // delay, ahead of the delayed ones sent before it.
            let half = spec.delay.as_secs_f64() * 1e3 / 2.0;
            let early = delays.iter().filter(|&&d| d - floor < half).count() as u64;
            properties.push(proportion("reorder", early, spec.reorder / 100.0));
        } else if !spec.delay.is_zero() {
            let configured = spec.delay.as_secs_f64() * 1e3;
            let observed = mean(&delays) - floor;
            properties.push(Property {
                name: "delay mean",
                unit: "ms",
                configured,
                observed,
                error: observed - configured,
                consistent: None,
            });
        }
        if !spec.jitter.is_zero() {
            // netem's jitter is uniform in [-j, j] (standard deviation
            // j / sqrt 3) unless a distribution table is named.
            let j = spec.jitter.as_secs_f64() * 1e3;
            let configured = match spec.distribution {
                Distribution::Uniform => j / 3f64.sqrt(),
                _ => j,
            };
            let observed = std_dev(&delays);
            properties.push(Property {
                name: "jitter (std dev)",
                unit: "ms",
                configured,
                observed,
                error: observed - configured,
                consistent: None,
            });
        }
        eprintln!(
            "  {text}: {}",
            properties
                .iter()
                .map(|p| format!(
                    "{} {:.3}{u} (configured {:.3}{u})",
                    p.name,
                    p.observed,
                    p.configured,
                    u = p.unit
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        results.push(Fidelity {
            spec: text.to_owned(),
            sent: count,
            properties,
        });
    }
    lab.remove()?;
    Ok(results)
}

/// What B received of one paced stream: (sequence number, one-way ms,
/// arrival ms).
struct Stream {
    arrivals: Vec<(u64, f64, f64)>,
}

impl Stream {
    fn unique(&self) -> u64 {
        let mut seqs: Vec<u64> = self.arrivals.iter().map(|a| a.0).collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len() as u64
    }

    fn delays_ms(&self) -> Vec<f64> {
        self.arrivals.iter().map(|a| a.1).collect()
    }
}

/// Sends `count` datagrams A to B, `interval` apart on a fixed schedule,
/// each carrying its number and send time; B keeps listening `settle`
/// (plus 300 ms) after the last.
fn stream(
    lab: &Lab,
    count: u64,
    interval: Duration,
    size: usize,
    settle: Duration,
) -> anyhow::Result<Stream> {
    let epoch = Instant::now();
    let (ready, listening) = mpsc::channel();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let receiver = s.spawn(|| {
            lab.b().run(|| -> io::Result<Vec<(u64, f64, f64)>> {
                let sock = UdpSocket::bind((lab.addr_b(), PORT))?;
                services::sockopt::grow_receive_buffer(&sock, 16 << 20);
                sock.set_read_timeout(Some(Duration::from_millis(20)))?;
                let _ = ready.send(());
                let mut buf = [0u8; 2048];
                let mut arrivals = Vec::with_capacity(count as usize * 2);
                let mut quiet_since: Option<Instant> = None;
                let hard =
                    Instant::now() + interval * count as u32 + settle + Duration::from_secs(10);
                while Instant::now() < hard {
                    match sock.recv(&mut buf) {
                        Ok(16..) => {
                            let now = epoch.elapsed().as_nanos() as u64;
                            let seq = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
                            let sent = u64::from_be_bytes(buf[8..16].try_into().expect("8 bytes"));
                            quiet_since = None;
                            arrivals.push((
                                seq,
                                now.saturating_sub(sent) as f64 / 1e6,
                                now as f64 / 1e6,
                            ));
                        }
                        Ok(_) => {}
                        Err(_) => {
                            if done.load(Ordering::Acquire) {
                                let since = *quiet_since.get_or_insert_with(Instant::now);
                                if since.elapsed() > settle + Duration::from_millis(300) {
                                    break;
                                }
                            }
                        }
                    }
                }
                Ok(arrivals)
            })
        });
        listening
            .recv_timeout(Duration::from_secs(5))
            .context("the receiver never bound")?;
        let sent = lab.a().run(|| -> io::Result<()> {
            // SAFETY: prctl on this thread with a plain integer argument.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1) };
            let sock = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            sock.connect((lab.addr_b(), PORT))?;
            let start = Instant::now();
            let mut buf = vec![0u8; size.max(16)];
            for seq in 0..count {
                let due = start + interval * seq as u32;
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
                buf[..8].copy_from_slice(&seq.to_be_bytes());
                let now = epoch.elapsed().as_nanos() as u64;
                buf[8..16].copy_from_slice(&now.to_be_bytes());
                sock.send(&buf)?;
            }
            Ok(())
        });
        done.store(true, Ordering::Release);
        sent??;
        let arrivals = receiver.join().expect("receiver thread")??;
        Ok(Stream { arrivals })
    })
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len().max(1) as f64
}

fn std_dev(xs: &[f64]) -> f64 {
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len().max(2) - 1) as f64).sqrt()
}
