//! Timeliness: timestamped messages at a steady rate from host A to host
//! B (`badnet run udp|tcp --messages 100/s --duration 10s`), each one's
//! one-way latency measured with one clock.
//!
//! badnet itself sends and receives them, from sockets it opens in the
//! hosts (a socket opened in a host stays in its namespace), so the sender
//! and the receiver are threads of one process and read one monotonic
//! clock: a message carries its sequence number and the moment it was
//! handed to the kernel; the receiver subtracts that from the moment it
//! read it. UDP sends each message as a datagram; TCP writes them as
//! 64-byte records on one connection (`TCP_NODELAY`), which the receiver
//! reads in order, so a message behind a lost segment waits for its
//! retransmission.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Lab, LinkCounters, UdpCounters};
use serde::Serialize;

use super::play::{with_timeline, Timeline};
use crate::scenario::{Scenario, Transport};

/// Bytes per message: sequence number, send time, padding.
pub const MESSAGE_BYTES: usize = 64;
/// The receiver's port in host B.
const PORT: u16 = 12_100;
/// How long the UDP receiver waits for stragglers after the last send.
pub const UDP_GRACE: Duration = Duration::from_secs(1);

/// A steady stream of timestamped messages (`--messages RATE --duration
/// D`), instead of the probe.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Messages {
    /// Messages per second.
    pub rate: f64,
    #[serde(
        rename = "duration_ms",
        serialize_with = "faults::plumbing::serialize_ms"
    )]
    pub duration: Duration,
}

impl Messages {
    /// How many messages the stream holds.
    pub fn count(&self) -> u64 {
        (self.rate * self.duration.as_secs_f64()).round().max(1.0) as u64
    }

    /// How long the stream of `s` may take: its sending time, then for UDP
    /// [`UDP_GRACE`] for stragglers, for TCP the scenario's timeout.
    pub fn limit(&self, s: &Scenario) -> Duration {
        self.duration
            + match s.transport {
                Transport::Udp => UDP_GRACE,
                Transport::Tcp => s.timeout,
            }
    }
}

/// Quantiles of the delivered messages' one-way latency, in ms.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub min: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Of `sorted` samples (nearest rank); zeros when there are none.
    pub fn of(sorted: &[f64]) -> Self {
        if sorted.is_empty() {
            return Self::default();
        }
        let rank =
            |q: f64| sorted[((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1];
        Self {
            min: sorted[0],
            p50: rank(0.50),
            p99: rank(0.99),
            max: sorted[sorted.len() - 1],
        }
    }
}

/// What the stream measured.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinessReport {
    pub transport: Transport,
    pub messages_sent: u64,
    pub messages_delivered: u64,
    /// Delivered more than once (UDP under duplication).
    pub duplicates: u64,
    /// Delivered after a later one (UDP under reordering; never TCP).
    pub out_of_order: u64,
    pub latency_ms: Latency,
    /// TCP: segments retransmitted and the smoothed RTT at the end, from
    /// the sender's `TCP_INFO`.
    pub retransmits: Option<u64>,
    pub srtt_ms: Option<f64>,
    /// From the first send to the last delivery, in seconds.
    pub duration_s: f64,
    /// Every delivered message's latency, in the order they arrived (with
    /// --samples; the demo's CDF).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latencies_ms: Vec<f64>,
}

/// A run of the stream: the report beside the link's counters.
#[derive(Debug, Clone, Serialize)]
pub struct TimelinessOutcome {
    #[serde(flatten)]
    pub report: TimelinessReport,
    pub messages: Messages,
    pub backend: Backend,
    pub backend_reason: String,
    pub run_id: String,
    pub link: LinkCounters,
    pub server_udp: UdpCounters,
    #[serde(flatten)]
    pub timeline: Timeline,
}

/// Nanoseconds of the one clock both ends read.
fn now_ns(epoch: Instant) -> u64 {
    epoch.elapsed().as_nanos() as u64
}

fn encode(seq: u64, sent_ns: u64) -> [u8; MESSAGE_BYTES] {
    let mut m = [0u8; MESSAGE_BYTES];
    m[..8].copy_from_slice(&seq.to_be_bytes());
    m[8..16].copy_from_slice(&sent_ns.to_be_bytes());
    m
}

fn decode(m: &[u8]) -> Option<(u64, u64)> {
    (m.len() == MESSAGE_BYTES).then(|| {
        (
            u64::from_be_bytes(m[..8].try_into().expect("8 bytes")),
            u64::from_be_bytes(m[8..16].try_into().expect("8 bytes")),
        )
    })
}

/// What the receiver saw: (sequence number, latency in ns, arrival ns).
type Arrivals = Vec<(u64, u64, u64)>;

/// Sends the stream on `lab` (built and impaired), playing the scenario's
/// steps from the first send.
pub fn on_lab(lab: &Lab, s: &Scenario, m: Messages) -> anyhow::Result<TimelinessOutcome> {
    let before = lab.b().udp_counters()?;
    let to = SocketAddr::from((lab.addr_b(), PORT));
    let from = SocketAddr::from((lab.addr_a(), 0));
    let epoch = Instant::now();
    let limit = m.duration + s.timeout;
    let steps = s.steps();
    let (report, timeline) = match s.transport {
        Transport::Udp => {
            let rx = lab.b().run(|| UdpSocket::bind(to))??;
            services::sys::grow_receive_buffer(&rx, 4 << 20);
            let tx = lab.a().run(|| UdpSocket::bind(from))??;
            with_timeline(lab, s.direction, &steps, |started| {
                started.now();
                udp(tx, rx, to, m, epoch)
            })?
        }
        Transport::Tcp => {
            let (tx, rx) = super::hosts::connect_across(lab, to)?;
            with_timeline(lab, s.direction, &steps, |started| {
                started.now();
                tcp(tx, rx, m, epoch, limit)
            })?
        }
    };
    Ok(TimelinessOutcome {
        report: TimelinessReport {
            latencies_ms: if s.samples {
                report.latencies_ms
            } else {
                Vec::new()
            },
            ..report
        },
        messages: m,
        backend: lab.backend(),
        backend_reason: lab.backend_reason().to_owned(),
        run_id: lab.run_id().to_owned(),
        link: lab.counters()?,
        server_udp: lab.b().udp_counters()?.since(before),
        timeline,
    })
}

/// Sends message `i` at `start + i / rate`, stamped just before the send.
fn pace(
    m: Messages,
    epoch: Instant,
    mut send: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> anyhow::Result<u64> {
    let start = Instant::now();
    let period = Duration::from_secs_f64(1.0 / m.rate);
    let count = m.count();
    for seq in 0..count {
        let due = start + period.mul_f64(seq as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        send(&encode(seq, now_ns(epoch))).with_context(|| format!("sending message {seq}"))?;
    }
    Ok(count)
}

fn udp(
    tx: UdpSocket,
    rx: UdpSocket,
    to: SocketAddr,
    m: Messages,
    epoch: Instant,
) -> anyhow::Result<TimelinessReport> {
    let first = now_ns(epoch);
    let (sent, arrivals) = std::thread::scope(|sc| {
        let receiver = sc.spawn(|| -> anyhow::Result<Arrivals> {
            faults::plumbing::realtime_thread("the messages' receiver");
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            let end = m.duration + UDP_GRACE;
            rx.set_read_timeout(Some(Duration::from_millis(50)))?;
            // Until the grace after the last send has passed.
            while Duration::from_nanos(now_ns(epoch) - first) < end {
                match rx.recv(&mut buf) {
                    Ok(n) => {
                        let at = now_ns(epoch);
                        if let Some((seq, sent)) = decode(&buf[..n]) {
                            got.push((seq, at.saturating_sub(sent), at));
                        }
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Ok(got)
        });
        let sent = pace(m, epoch, |msg| tx.send_to(msg, to).map(drop));
        (sent, receiver.join().expect("the receiving thread"))
    });
    Ok(report(Transport::Udp, sent?, arrivals?, first, None))
}

fn tcp(
    mut tx: TcpStream,
    mut rx: TcpStream,
    m: Messages,
    epoch: Instant,
    limit: Duration,
) -> anyhow::Result<TimelinessReport> {
    tx.set_nodelay(true)?;
    rx.set_read_timeout(Some(limit))?;
    let first = now_ns(epoch);
    let (sent, arrivals) = std::thread::scope(|sc| {
        let receiver = sc.spawn(move || -> anyhow::Result<Arrivals> {
            faults::plumbing::realtime_thread("the messages' receiver");
            let mut got = Vec::new();
            let mut msg = [0u8; MESSAGE_BYTES];
            loop {
                match rx.read_exact(&mut msg) {
                    Ok(()) => {
                        let at = now_ns(epoch);
                        let (seq, sent) = decode(&msg).expect("a whole record");
                        got.push((seq, at.saturating_sub(sent), at));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(got),
                    Err(e) => {
                        return Err(
                            anyhow::Error::from(e).context(format!("after {} messages", got.len()))
                        )
                    }
                }
            }
        });
        let sent = pace(m, epoch, |msg| tx.write_all(msg));
        let info = services::sys::tcp_info(&tx).ok();
        let _ = tx.shutdown(std::net::Shutdown::Write);
        (
            sent.map(|n| (n, info)),
            receiver.join().expect("the receiving thread"),
        )
    });
    let (sent, info) = sent?;
    let arrivals = arrivals.context("receiving the messages in host B")?;
    // The retransmissions after the last write too: read when all arrived.
    let info = services::sys::tcp_info(&tx).ok().or(info);
    Ok(report(Transport::Tcp, sent, arrivals, first, info))
}

fn report(
    transport: Transport,
    sent: u64,
    arrivals: Arrivals,
    first: u64,
    info: Option<services::sys::TcpInfo>,
) -> TimelinessReport {
    let mut seen = vec![false; sent as usize];
    let (mut duplicates, mut out_of_order, mut highest) = (0, 0, None::<u64>);
    let mut latencies = Vec::with_capacity(arrivals.len());
    let mut last = first;
    for &(seq, latency, at) in &arrivals {
        let Some(slot) = seen.get_mut(seq as usize) else {
            continue;
        };
        if *slot {
            duplicates += 1;
            continue;
        }
        *slot = true;
        if highest.is_some_and(|h| seq < h) {
            out_of_order += 1;
        }
        highest = highest.max(Some(seq));
        latencies.push(latency as f64 / 1e6);
        last = last.max(at);
    }
    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    TimelinessReport {
        transport,
        messages_sent: sent,
        messages_delivered: latencies.len() as u64,
        duplicates,
        out_of_order,
        latency_ms: Latency::of(&sorted),
        retransmits: info.map(|i| u64::from(i.total_retrans)),
        srtt_ms: info.map(|i| f64::from(i.rtt_us) / 1e3),
        duration_s: (last - first) as f64 / 1e9,
        latencies_ms: latencies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_carries_its_number_and_send_time() {
        let m = encode(7, 123_456_789);
        assert_eq!(decode(&m), Some((7, 123_456_789)));
        assert_eq!(decode(&m[..10]), None);
    }

    #[test]
    fn latency_quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let l = Latency::of(&v);
        assert_eq!((l.min, l.p50, l.p99, l.max), (1.0, 50.0, 99.0, 100.0));
        assert_eq!(Latency::of(&[]).max, 0.0);
    }

    #[test]
    fn the_report_counts_each_message_once_and_sees_reordering() {
        let arrivals = vec![
            (0, 1_000_000, 10),
            (2, 1_000_000, 20),
            (1, 5_000_000, 30),
            (2, 1_000_000, 40),
        ];
        let r = report(Transport::Udp, 4, arrivals, 0, None);
        assert_eq!(r.messages_delivered, 3);
        assert_eq!(r.duplicates, 1);
        assert_eq!(r.out_of_order, 1);
        assert_eq!(r.latency_ms.max, 5.0);
    }
}
