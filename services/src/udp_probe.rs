//! The UDP probe: sends numbered probes at a fixed interval and accounts
//! for every echo.
//!
//! A sender thread paces the probes (`std::thread::sleep`, which is far
//! finer than a 1 ms async timer); the calling thread receives, so a probe's
//! send time and its echo's arrival come from one monotonic clock.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::probe::{self, Ledger, Refusal, MAX_SEQ, MAX_UDP_SIZE, MIN_SIZE};
use crate::report::UdpReport;
use crate::stats::{Arrival, Jitter, Percentiles, SeqStats};
use crate::{sys, Error, Result};

/// The most probes one run may send.
pub const MAX_COUNT: u64 = 10_000_000;
const POLL: Duration = Duration::from_millis(20);
const LINGER: Duration = Duration::from_millis(50);

/// How to probe.
#[derive(Debug, Clone)]
pub struct UdpProbeConfig {
    /// Probes to send, 1..=10,000,000.
    pub count: u64,
    /// Time between the starts of two probes (0: as fast as possible).
    pub interval: Duration,
    /// Bytes per probe, 29..=65507.
    pub size: usize,
    /// How long to wait for echoes after the last probe.
    pub timeout: Duration,
    /// Keep every RTT in the report.
    pub samples: bool,
    /// Count apart the echoes of probes sent from this time on (the
    /// driver renumbers the client then): `received_after_renumber`.
    pub renumber_after: Option<Duration>,
}

impl Default for UdpProbeConfig {
    fn default() -> Self {
        Self {
            count: 100,
            interval: Duration::from_millis(1),
            size: 64,
            timeout: Duration::from_secs(2),
            samples: false,
            renumber_after: None,
        }
    }
}

impl UdpProbeConfig {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        check("count", self.count, 1, MAX_COUNT.min(MAX_SEQ + 1))?;
        check(
            "size",
            self.size as u64,
            MIN_SIZE as u64,
            MAX_UDP_SIZE as u64,
        )?;
        check(
            "interval_us",
            self.interval.as_micros() as u64,
            0,
            60_000_000,
        )
    }
}

pub(crate) fn check(field: &'static str, value: u64, min: u64, max: u64) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::OutOfRange {
            field,
            value,
            min,
            max,
        })
    }
}

/// Waits until `server` answers a datagram, for at most `limit`, from a
/// socket of its own (so the hello's echo never mixes with the probes').
/// Sends a hello every 100 ms; network errors (no route yet) are retried.
pub fn wait_for_server(server: SocketAddr, limit: Duration) -> Result<()> {
    let socket = UdpSocket::bind(unspecified(server)).map_err(Error::socket("bind"))?;
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .map_err(Error::socket("set timeout"))?;
    let deadline = Instant::now() + limit;
    let mut buf = [0u8; 64];
    while Instant::now() < deadline {
        match socket.send_to(b"hello?", server) {
            Ok(_) => {
                if matches!(socket.recv_from(&mut buf), Ok((_, from)) if from == server) {
                    return Ok(());
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Err(Error::NoServer {
        server,
        waited: limit,
    })
}

pub(crate) fn unspecified(server: SocketAddr) -> SocketAddr {
    if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    }
}

/// Probes `server` from a fresh socket.
pub fn run(server: SocketAddr, config: &UdpProbeConfig) -> Result<UdpReport> {
    let socket = UdpSocket::bind(unspecified(server)).map_err(Error::socket("bind"))?;
    run_on(socket, server, config)
}

/// Probes `server` from `socket`, which may have been opened elsewhere (in
/// another network namespace, say).
pub fn run_on(socket: UdpSocket, server: SocketAddr, config: &UdpProbeConfig) -> Result<UdpReport> {
    config.validate()?;
    sys::grow_receive_buffer(&socket, 8 << 20);
    let sender = socket.try_clone().map_err(Error::socket("clone socket"))?;
    let local_port = socket.local_addr().ok().map(|a| a.port());
    let start = Instant::now();
    let ledger = Ledger::new(config.count, config.size);
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let ledger = &ledger;
        let send_thread = scope.spawn(move || {
            let result = send_all(&sender, server, config, start, ledger);
            let _ = done_tx.send(Instant::now());
            result
        });
        let report = receive(&socket, server, config, start, &done_rx, ledger);
        let sending = send_thread.join().expect("probe sender panicked")?;
        let mut report = report.map_err(Error::socket("recv"))?;
        report.sent = sending.sent;
        report.send_errors = sending.errors;
        report.lost = report.sent.saturating_sub(report.received);
        report.loss_rate = report.lost as f64 / report.sent.max(1) as f64;
        report.local_port = local_port;
        Ok(report)
    })
}

/// What the sender did: probes that left, and sends the kernel refused.
struct Sending {
    sent: u64,
    errors: u64,
}

fn send_all(
    socket: &UdpSocket,
    server: SocketAddr,
    config: &UdpProbeConfig,
    start: Instant,
    ledger: &Ledger,
) -> Result<Sending> {
    let mut sending = Sending { sent: 0, errors: 0 };
    let mut buf = Vec::with_capacity(config.size);
    // The schedule starts when this thread does, so a late thread start
    // never sends the first probes in a burst; send times still use the
    // shared clock `start`, which the receiver measures RTTs against.
    let first = Instant::now();
    for seq in 0..config.count {
        let due = first + config.interval.mul_f64(seq as f64);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        buf.clear();
        let send_us = start.elapsed().as_micros() as u64;
        probe::encode(&mut buf, seq, send_us, config.size);
        ledger.record(seq, send_us);
        match socket.send_to(&buf, server) {
            Ok(_) => sending.sent += 1,
            // A full local queue or an ICMP error from an earlier probe: this
            // probe never left, which is a send error, not network loss.
            Err(e) if transient(&e) => {
                ledger.forget(seq);
                sending.errors += 1;
                tracing::debug!(seq, "send: {e}");
            }
            Err(e) => {
                return Err(Error::Socket {
                    op: "send",
                    source: e,
                })
            }
        }
    }
    Ok(sending)
}

/// A send the kernel refused this once: a full queue, an ICMP error of an
/// earlier probe, or no route for a moment (the client's address is
/// changing).
fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
    ) || matches!(
        e.raw_os_error(),
        Some(libc::ENOBUFS | libc::ENETUNREACH | libc::EHOSTUNREACH | libc::EADDRNOTAVAIL)
    )
}

/// Datagrams refused, by reason.
#[derive(Default)]
struct Refused {
    corrupted: u64,
    unsent: u64,
    wrong_time: u64,
    wrong_size: u64,
    not_uppercased: u64,
}

impl Refused {
    fn count(&mut self, why: Refusal) {
        *match why {
            Refusal::Corrupted => &mut self.corrupted,
            Refusal::Unsent => &mut self.unsent,
            Refusal::WrongTime => &mut self.wrong_time,
            Refusal::WrongSize => &mut self.wrong_size,
            Refusal::NotUppercased => &mut self.not_uppercased,
        } += 1;
    }
}

fn receive(
    socket: &UdpSocket,
    server: SocketAddr,
    config: &UdpProbeConfig,
    start: Instant,
    done: &mpsc::Receiver<Instant>,
    ledger: &Ledger,
) -> io::Result<UdpReport> {
    let mut stats = SeqStats::new(config.count);
    let mut jitter = Jitter::default();
    let mut rtts = Vec::new();
    let mut after_renumber = 0u64;
    let renumber_us = config.renumber_after.map(|d| d.as_micros() as u64);
    let mut refused = Refused::default();
    let mut buf = vec![0u8; 65_536];
    let mut deadline: Option<Instant> = None;
    loop {
        if deadline.is_none() {
            deadline = match done.try_recv() {
                Ok(t) => Some(t + config.timeout),
                Err(mpsc::TryRecvError::Disconnected) => Some(Instant::now()),
                Err(mpsc::TryRecvError::Empty) => None,
            };
        }
        if stats.complete() {
            // Everything arrived: wait a moment for late duplicates.
            let linger = Instant::now() + LINGER;
            deadline = Some(deadline.map_or(linger, |d| d.min(linger)));
        }
        let now = Instant::now();
        let wait = match deadline {
            Some(d) if d <= now => break,
            Some(d) => (d - now).min(POLL),
            None => POLL,
        };
        socket.set_read_timeout(Some(wait.max(Duration::from_micros(100))))?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if transient(&e) => continue,
            Err(e) => return Err(e),
        };
        let arrived_us = start.elapsed().as_micros() as u64;
        if from != server {
            continue;
        }
        let echo = match ledger.judge(&buf[..n]) {
            Ok(echo) => echo,
            Err(why) => {
                refused.count(why);
                continue;
            }
        };
        match stats.record(echo.seq) {
            Arrival::InOrder | Arrival::Reordered => {
                if renumber_us.is_some_and(|r| echo.send_us >= r) {
                    after_renumber += 1;
                }
                let rtt = Duration::from_micros(arrived_us.saturating_sub(echo.send_us));
                jitter.add(rtt.as_secs_f64() * 1e3);
                rtts.push(rtt);
            }
            Arrival::Duplicate => {}
            Arrival::Foreign => refused.count(Refusal::Unsent),
        }
    }
    Ok(UdpReport {
        received_after_renumber: renumber_us.map(|_| after_renumber),
        sent: 0,
        received: stats.received(),
        lost: 0,
        loss_rate: 0.0,
        reordered: stats.reordered(),
        duplicates: stats.duplicates(),
        send_errors: 0,
        corrupted: refused.corrupted,
        unsent: refused.unsent,
        wrong_time: refused.wrong_time,
        wrong_size: refused.wrong_size,
        not_uppercased: refused.not_uppercased,
        rtt_ms: Percentiles::of(&rtts),
        jitter_ms: jitter.estimate(),
        boundaries_preserved: refused.wrong_size == 0,
        duration_s: start.elapsed().as_secs_f64(),
        rtt_samples_ms: if config.samples {
            rtts.iter().map(|d| d.as_secs_f64() * 1e3).collect()
        } else {
            Vec::new()
        },
        local_port: None,
    })
}
