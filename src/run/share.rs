//! Congestion: several flows through one bottleneck (`badnet share`).
//!
//! N TCP flows, and optionally one UDP flood, go from host A to host B at
//! once through a link limited to a rate with a queue limit (netem's `rate
//! R limit L` on A to B). badnet sends and receives them itself, from
//! sockets it opens in the hosts, and counts the bytes each receiver read
//! in every 100 ms: each flow's goodput and its series over time, Jain's
//! fairness index over the TCP flows, and the flood's offered, sent and
//! delivered rates.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faults::{Backend, Lab, LinkCounters};
use serde::Serialize;

use super::hosts::connect_across;
use crate::error::BadInput;
use crate::scenario::Transport;

/// The width of one sample of a flow's series.
pub const BUCKET: Duration = Duration::from_millis(100);
/// Bytes per datagram of the flood.
const DATAGRAM: usize = 1200;
/// The first port of the flows in host B.
const PORT: u16 = 13_000;

/// What `badnet share` runs: the flows, and the bottleneck they share.
#[derive(Debug, Clone)]
pub struct Share {
    /// The bottleneck, in netem's words (`20mbit`).
    pub rate: String,
    /// Packets the bottleneck's queue holds.
    pub limit: u32,
    pub tcp: u32,
    /// The flood's offered rate in bits per second.
    pub udp_bps: Option<f64>,
    pub duration: Duration,
}

impl Share {
    /// The bottleneck on A to B: netem's `rate R limit L`.
    pub fn bottleneck(&self) -> Result<faults::Impairment, BadInput> {
        format!("rate {} limit {}", self.rate, self.limit)
            .parse()
            .map_err(|e: faults::Error| BadInput::new("--rate", e.to_string()))
    }
}

/// One flow's result.
#[derive(Debug, Clone, Serialize)]
pub struct Flow {
    pub transport: Transport,
    /// Bytes its receiver read over the run, per second, in Mbit/s.
    pub goodput_mbps: f64,
    /// The same in each 100 ms, in Mbit/s.
    pub series_mbps: Vec<f64>,
}

/// The flood's rates, in Mbit/s: asked for, taken by A's kernel, read by
/// B's receiver.
#[derive(Debug, Clone, Serialize)]
pub struct Flood {
    pub offered_mbps: f64,
    pub sent_mbps: f64,
    pub delivered_mbps: f64,
}

/// What `badnet share` measured.
#[derive(Debug, Clone, Serialize)]
pub struct ShareReport {
    pub rate: String,
    pub limit: u32,
    pub duration_s: f64,
    pub flows: Vec<Flow>,
    /// Jain's fairness index over the TCP flows' goodputs (1 is equal
    /// shares; null with fewer than one TCP flow).
    pub jain: Option<f64>,
    pub udp: Option<Flood>,
    pub backend: Backend,
    pub run_id: String,
    pub link: LinkCounters,
}

/// Jain's index (Σx)² / (n Σx²) of `x`.
pub fn jain(x: &[f64]) -> Option<f64> {
    let sum: f64 = x.iter().sum();
    let squares: f64 = x.iter().map(|v| v * v).sum();
    (!x.is_empty() && squares > 0.0).then(|| sum * sum / (x.len() as f64 * squares))
}

/// Bytes read per bucket since `start`, until `end`.
struct Buckets {
    start: Instant,
    counts: Vec<u64>,
}

impl Buckets {
    fn new(start: Instant, duration: Duration) -> Self {
        let n = (duration.as_secs_f64() / BUCKET.as_secs_f64()).ceil() as usize;
        Self {
            start,
            counts: vec![0; n.max(1)],
        }
    }

    /// Counts `bytes` now; false once the run's time is over.
    fn add(&mut self, bytes: usize) -> bool {
        let i = (self.start.elapsed().as_secs_f64() / BUCKET.as_secs_f64()) as usize;
        match self.counts.get_mut(i) {
            Some(c) => {
                *c += bytes as u64;
                true
            }
            None => false,
        }
    }

    fn flow(&self, transport: Transport) -> Flow {
        let mbps = |bytes: u64, secs: f64| bytes as f64 * 8.0 / secs / 1e6;
        let total: u64 = self.counts.iter().sum();
        Flow {
            transport,
            goodput_mbps: mbps(total, self.counts.len() as f64 * BUCKET.as_secs_f64()),
            series_mbps: self
                .counts
                .iter()
                .map(|&c| mbps(c, BUCKET.as_secs_f64()))
                .collect(),
        }
    }
}

/// Runs the flows on `lab`, whose link A to B is the bottleneck.
pub fn on_lab(lab: &Lab, cfg: &Share) -> anyhow::Result<ShareReport> {
    let b = lab.addr_b();
    // Connections first, so that every flow starts at once.
    let mut pairs = Vec::new();
    for i in 0..cfg.tcp {
        let to = SocketAddr::from((b, PORT + i as u16));
        pairs.push(connect_across(lab, to)?);
    }
    let flood = match cfg.udp_bps {
        Some(bps) => {
            let to = SocketAddr::from((b, PORT - 1));
            let rx = lab.b().run(|| UdpSocket::bind(to))??;
            services::sys::grow_receive_buffer(&rx, 8 << 20);
            let tx = lab.a().run(|| UdpSocket::bind((lab.addr_a(), 0)))??;
            Some((tx, rx, to, bps))
        }
        None => None,
    };
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let (flows, udp) = std::thread::scope(|s| {
        let stop = &stop;
        let readers: Vec<_> = pairs
            .into_iter()
            .map(|(tx, rx)| {
                s.spawn(move || write_until(tx, stop));
                s.spawn(move || read_flow(rx, start, cfg.duration))
            })
            .collect();
        let flood = flood.map(|(tx, rx, to, bps)| {
            let sender = s.spawn(move || send_flood(&tx, to, bps, start, cfg.duration, stop));
            let receiver = s.spawn(move || receive_flood(&rx, start, cfg.duration));
            (sender, receiver, bps)
        });
        let mut flows: Vec<Flow> = readers
            .into_iter()
            .map(|r| r.join().expect("a flow's reader"))
            .collect();
        let udp = flood.map(|(sender, receiver, bps)| {
            let sent = sender.join().expect("the flood's sender");
            let flow = receiver.join().expect("the flood's receiver");
            let secs = cfg.duration.as_secs_f64();
            let udp = Flood {
                offered_mbps: bps / 1e6,
                sent_mbps: sent as f64 * 8.0 / secs / 1e6,
                delivered_mbps: flow.goodput_mbps,
            };
            flows.push(flow);
            udp
        });
        stop.store(true, Ordering::Relaxed);
        (flows, udp)
    });
    let tcp: Vec<f64> = flows
        .iter()
        .filter(|f| f.transport == Transport::Tcp)
        .map(|f| f.goodput_mbps)
        .collect();
    Ok(ShareReport {
        rate: cfg.rate.clone(),
        limit: cfg.limit,
        duration_s: cfg.duration.as_secs_f64(),
        jain: jain(&tcp),
        flows,
        udp,
        backend: lab.backend(),
        run_id: lab.run_id().to_owned(),
        link: lab.counters()?,
    })
}

/// Whether an I/O error is a timeout of the socket's own (the caller
/// looks at the clock and tries again).
fn timed_out(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// A TCP flow's sender: writes as fast as the connection takes, until
/// `stop`.
fn write_until(mut tx: TcpStream, stop: &AtomicBool) {
    let chunk = [b'x'; 64 * 1024];
    let _ = tx.set_write_timeout(Some(Duration::from_millis(50)));
    while !stop.load(Ordering::Relaxed) {
        match tx.write(&chunk) {
            Ok(_) => {}
            Err(e) if timed_out(&e) => {}
            Err(_) => break,
        }
    }
}

/// A TCP flow's receiver: the bytes it read in each bucket until
/// `duration` after `start`.
fn read_flow(mut rx: TcpStream, start: Instant, duration: Duration) -> Flow {
    let mut buckets = Buckets::new(start, duration);
    let mut buf = vec![0u8; 64 * 1024];
    let _ = rx.set_read_timeout(Some(Duration::from_millis(50)));
    loop {
        match rx.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if !buckets.add(n) {
                    break;
                }
            }
            Err(e) if timed_out(&e) => {
                if start.elapsed() >= duration {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    buckets.flow(Transport::Tcp)
}

/// The flood's sender: a datagram every `DATAGRAM * 8 / bps` seconds
/// until `duration` after `start`; the bytes its kernel took.
fn send_flood(
    tx: &UdpSocket,
    to: SocketAddr,
    bps: f64,
    start: Instant,
    duration: Duration,
    stop: &AtomicBool,
) -> u64 {
    faults::plumbing::realtime_thread("the flood");
    let period = Duration::from_secs_f64(DATAGRAM as f64 * 8.0 / bps);
    let datagram = [0u8; DATAGRAM];
    let mut sent = 0u64;
    for i in 0u64.. {
        if stop.load(Ordering::Relaxed) || start.elapsed() >= duration {
            break;
        }
        let due = start + period.mul_f64(i as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if tx.send_to(&datagram, to).is_ok() {
            sent += DATAGRAM as u64;
        }
    }
    sent
}

/// The flood's receiver: the bytes it read in each bucket.
fn receive_flood(rx: &UdpSocket, start: Instant, duration: Duration) -> Flow {
    let mut buckets = Buckets::new(start, duration);
    let mut buf = [0u8; 2048];
    let _ = rx.set_read_timeout(Some(Duration::from_millis(50)));
    while start.elapsed() < duration {
        if let Ok(n) = rx.recv(&mut buf) {
            buckets.add(n);
        }
    }
    buckets.flow(Transport::Udp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jain_is_one_for_equal_shares_and_one_over_n_for_one_taker() {
        assert_eq!(jain(&[5.0, 5.0, 5.0]), Some(1.0));
        assert!((jain(&[10.0, 0.0]).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(jain(&[]), None);
    }

    #[test]
    fn buckets_hold_a_flows_bytes_per_100_ms() {
        let start = Instant::now() - Duration::from_millis(150);
        let mut b = Buckets::new(start, Duration::from_secs(1));
        assert!(b.add(1250));
        let f = b.flow(Transport::Tcp);
        assert_eq!(f.series_mbps.len(), 10);
        assert!((f.series_mbps[1] - 0.1).abs() < 1e-9);
        assert!((f.goodput_mbps - 0.01).abs() < 1e-9);
    }
}
