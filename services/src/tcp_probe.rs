//! The TCP probe: streams numbered probe lines and reads the echo
//! concurrently, checking it byte for byte.
//!
//! A writer thread sends the lines; the calling thread reads. Each line is
//! checked as it completes (valid echo, next sequence number), and a digest
//! of the whole echo is compared with a digest of the uppercase of what was
//! sent, so the verdict covers every byte, the last partial line included.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::probe::{self, MIN_SIZE};
use crate::report::TcpReport;
use crate::udp_probe::check;
use crate::{sys, Error, Result};

/// The most bytes one run may stream (1 GiB).
pub const MAX_BYTES: u64 = 1 << 30;
const POLL: Duration = Duration::from_millis(50);

/// How to probe.
#[derive(Debug, Clone)]
pub struct TcpProbeConfig {
    /// Bytes to stream, 1..=1 GiB.
    pub bytes: u64,
    /// Bytes per probe line, newline included, 30..=65536.
    pub line: usize,
    /// Bytes handed to each `write` (whole lines), at least one line.
    pub write_size: usize,
    /// Give up if the exchange has not finished by then.
    pub timeout: Duration,
    /// Congestion control algorithm to use (`TCP_CONGESTION`), or the
    /// system's default.
    pub congestion: Option<String>,
}

impl Default for TcpProbeConfig {
    fn default() -> Self {
        Self {
            bytes: 1 << 20,
            line: 64,
            write_size: 64,
            timeout: Duration::from_secs(60),
            congestion: None,
        }
    }
}

impl TcpProbeConfig {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        check("bytes", self.bytes, 1, MAX_BYTES)?;
        check("line", self.line as u64, MIN_SIZE as u64 + 1, 65_536)?;
        check(
            "write_size",
            self.write_size as u64,
            self.line as u64,
            16 << 20,
        )
    }
}

/// Connects to `server` and probes it. A connection that cannot be made
/// within the timeout is a measurement too: a report with `completed`
/// false, the error, and how long the attempt took.
pub fn run(server: SocketAddr, config: &TcpProbeConfig) -> Result<TcpReport> {
    config.validate()?;
    let start = Instant::now();
    match TcpStream::connect_timeout(&server, config.timeout) {
        Ok(stream) => run_on(stream, config),
        Err(e) => Ok(TcpReport::not_connected(
            format!("connect to {server}: {e}"),
            start.elapsed(),
        )),
    }
}

/// Connects to `server`, retrying every 100 ms for at most `limit` (the
/// network may not be up yet), then probes it.
pub fn run_when_reachable(
    server: SocketAddr,
    config: &TcpProbeConfig,
    limit: Duration,
) -> Result<TcpReport> {
    config.validate()?;
    let start = Instant::now();
    let deadline = start + limit;
    loop {
        match TcpStream::connect_timeout(&server, Duration::from_millis(500)) {
            Ok(stream) => return run_on(stream, config),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                return Ok(TcpReport::not_connected(
                    format!("no connection to {server} within {limit:?}: {e}"),
                    start.elapsed(),
                ))
            }
        }
    }
}

/// Probes over a connected `stream`.
pub fn run_on(stream: TcpStream, config: &TcpProbeConfig) -> Result<TcpReport> {
    config.validate()?;
    if let Some(cc) = &config.congestion {
        sys::set_congestion(&stream, cc).map_err(Error::socket("set TCP_CONGESTION"))?;
    }
    let start = Instant::now();
    let deadline = start + config.timeout;
    let writer = stream.try_clone().map_err(Error::socket("clone stream"))?;
    writer
        .set_write_timeout(Some(config.timeout))
        .map_err(Error::socket("set write timeout"))?;
    std::thread::scope(|scope| {
        let send_thread = scope.spawn(move || send(writer, config, start, deadline));
        let mut check = EchoCheck::default();
        let (reads, read_error) = match receive(&stream, deadline, &mut check) {
            Ok(reads) => (reads, None),
            Err((reads, e)) => (reads, Some(e)),
        };
        let duration = start.elapsed();
        let info = sys::tcp_info(&stream).unwrap_or_default();
        let congestion = sys::congestion(&stream).unwrap_or_default();
        // The reader is done: unblock a writer stuck on a stalled network.
        let _ = stream.shutdown(Shutdown::Both);
        let sent = send_thread.join().expect("probe writer panicked");
        let error = sent.error.or(read_error).map(|e| e.to_string());
        let completed = error.is_none();
        let intact =
            completed && check.bytes == sent.bytes && check.digest == sent.digest && check.lines_ok;
        Ok(TcpReport {
            bytes_sent: sent.bytes,
            bytes_received: check.bytes,
            intact,
            in_order: check.in_order,
            completed,
            duration_s: duration.as_secs_f64(),
            goodput_mbps: check.bytes as f64 * 8.0 / duration.as_secs_f64().max(1e-9) / 1e6,
            retransmits: u64::from(info.total_retrans),
            srtt_ms: f64::from(info.rtt_us) / 1e3,
            writes: sent.writes,
            send_blocked_s: sent.blocked.as_secs_f64(),
            reads,
            congestion,
            error,
        })
    })
}

struct Sent {
    bytes: u64,
    writes: u64,
    digest: u64,
    /// Time spent inside write calls: waiting, when flow control holds
    /// the sender.
    blocked: Duration,
    error: Option<io::Error>,
}

fn send(mut stream: TcpStream, config: &TcpProbeConfig, start: Instant, deadline: Instant) -> Sent {
    let lines_per_write = config.write_size / config.line;
    let mut sent = Sent {
        bytes: 0,
        writes: 0,
        digest: FNV_OFFSET,
        blocked: Duration::ZERO,
        error: None,
    };
    let mut buf = Vec::with_capacity(lines_per_write * config.line);
    let mut seq = 0u64;
    while sent.bytes < config.bytes {
        if Instant::now() > deadline {
            sent.error = Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out while sending",
            ));
            return sent;
        }
        buf.clear();
        for _ in 0..lines_per_write {
            probe::encode(
                &mut buf,
                seq % (probe::MAX_SEQ + 1),
                start.elapsed().as_micros() as u64,
                config.line - 1,
            );
            buf.push(b'\n');
            seq += 1;
        }
        buf.truncate((config.bytes - sent.bytes).min(buf.len() as u64) as usize);
        let writing = Instant::now();
        let written = stream.write_all(&buf);
        sent.blocked += writing.elapsed();
        if let Err(e) = written {
            sent.error = Some(e);
            return sent;
        }
        sent.writes += 1;
        sent.bytes += buf.len() as u64;
        sent.digest = fnv1a(sent.digest, buf.iter().map(u8::to_ascii_uppercase));
    }
    if let Err(e) = stream.shutdown(Shutdown::Write) {
        sent.error = Some(e);
    }
    sent
}

fn receive(
    stream: &TcpStream,
    deadline: Instant,
    check: &mut EchoCheck,
) -> std::result::Result<u64, (u64, io::Error)> {
    let mut reader = stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut reads = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err((
                reads,
                io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the echo"),
            ));
        }
        reader
            .set_read_timeout(Some((deadline - now).min(POLL)))
            .map_err(|e| (reads, e))?;
        match reader.read(&mut buf) {
            Ok(0) => return Ok(reads),
            Ok(n) => {
                reads += 1;
                check.feed(&buf[..n]);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err((reads, e)),
        }
    }
}

/// Checks the echo as it arrives.
struct EchoCheck {
    bytes: u64,
    digest: u64,
    partial: Vec<u8>,
    next_seq: u64,
    lines_ok: bool,
    in_order: bool,
}

impl Default for EchoCheck {
    fn default() -> Self {
        Self {
            bytes: 0,
            digest: FNV_OFFSET,
            partial: Vec::new(),
            next_seq: 0,
            lines_ok: true,
            in_order: true,
        }
    }
}

impl EchoCheck {
    fn feed(&mut self, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.digest = fnv1a(self.digest, data.iter().copied());
        for &b in data {
            if b != b'\n' {
                self.partial.push(b);
                continue;
            }
            match probe::decode_echo(&self.partial) {
                Some(echo) => {
                    self.in_order &= echo.seq == self.next_seq % (probe::MAX_SEQ + 1);
                    self.next_seq += 1;
                }
                None => self.lines_ok = false,
            }
            self.partial.clear();
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: impl Iterator<Item = u8>) -> u64 {
    for b in bytes {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(seqs: &[u64]) -> Vec<u8> {
        let mut out = Vec::new();
        for &s in seqs {
            probe::encode(&mut out, s, 1, 63);
            out.push(b'\n');
        }
        out.to_ascii_uppercase()
    }

    #[test]
    fn echo_split_anywhere_checks_the_same() {
        let echo = lines(&[0, 1, 2, 3]);
        for cut in 0..echo.len() {
            let mut check = EchoCheck::default();
            check.feed(&echo[..cut]);
            check.feed(&echo[cut..]);
            assert!(check.lines_ok && check.in_order, "cut at {cut}");
            assert_eq!(check.next_seq, 4);
        }
    }

    #[test]
    fn swapped_lines_are_out_of_order() {
        let mut check = EchoCheck::default();
        check.feed(&lines(&[0, 2, 1]));
        assert!(check.lines_ok);
        assert!(!check.in_order);
    }

    #[test]
    fn a_flipped_byte_spoils_the_line() {
        let mut echo = lines(&[0, 1]);
        echo[70] ^= 0x01;
        let mut check = EchoCheck::default();
        check.feed(&echo);
        assert!(!check.lines_ok);
    }

    #[test]
    fn bad_config_is_refused_with_its_field() {
        let bad = TcpProbeConfig {
            bytes: 0,
            ..Default::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("bytes"), "{err}");
    }
}
