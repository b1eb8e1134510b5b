//! The impairments against their configuration: netem's knobs one at a
//! time, each measured over one stream of numbered, timestamped datagrams
//! from A to B, with one monotonic clock for both ends, so one-way delays
//! are exact.

use std::io;
use std::net::{Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Direction, Distribution, Impairment, Lab, Loss};
use serde::Serialize;

use super::measure::{mean, std_dev};
use crate::bounds::{clopper_pearson, FALSE_FAILURE};

const PORT: u16 = 5201;

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
        let properties = properties(&spec, &seen, count, size, floor);
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

/// One datagram as B received it.
#[derive(Debug, Clone, Copy)]
struct Arrival {
    seq: u64,
    /// Send to arrival, on one clock.
    one_way_ms: f64,
    /// Since the stream's epoch.
    arrived_ms: f64,
}

/// What B received of one paced stream, in order of arrival.
struct Stream {
    arrivals: Vec<Arrival>,
}

impl Stream {
    fn unique(&self) -> u64 {
        let mut seqs: Vec<u64> = self.arrivals.iter().map(|a| a.seq).collect();
        seqs.sort_unstable();
        seqs.dedup();
        seqs.len() as u64
    }

    fn delays_ms(&self) -> Vec<f64> {
        self.arrivals.iter().map(|a| a.one_way_ms).collect()
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
            lab.b().run(|| -> io::Result<Vec<Arrival>> {
                let sock = UdpSocket::bind((lab.addr_b(), PORT))?;
                services::sys::grow_receive_buffer(&sock, 16 << 20);
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
                            arrivals.push(Arrival {
                                seq,
                                one_way_ms: now.saturating_sub(sent) as f64 / 1e6,
                                arrived_ms: now as f64 / 1e6,
                            });
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
            let _ = nix::sys::prctl::set_timerslack(1);
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

/// What `seen` shows of each property `spec` sets, against its
/// configuration: `count` datagrams of `size` bytes were sent; `floor` is
/// the clean link's mean one-way delay.
fn properties(
    spec: &Impairment,
    seen: &Stream,
    count: u64,
    size: usize,
    floor: f64,
) -> Vec<Property> {
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
        let span = seen.arrivals.last().map_or(0.0, |a| a.arrived_ms)
            - seen.arrivals.first().map_or(0.0, |a| a.arrived_ms);
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
    properties
}
