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
/// The shortest stall that may call for a new connection
/// ([`TcpProbeConfig::reconnect`]): an echo paused for less is the
/// scheduler's doing, not a network that failed, and reconnecting on it
/// would open a connection every few microseconds.
pub const MIN_RECONNECT: Duration = Duration::from_millis(10);
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
    /// Reconnect when the connection fails or its echo stalls this long,
    /// and send again what had not come back ([`run_reconnecting`]).
    pub reconnect: Option<Duration>,
}

impl Default for TcpProbeConfig {
    fn default() -> Self {
        Self {
            bytes: 1 << 20,
            line: 64,
            write_size: 64,
            timeout: Duration::from_secs(60),
            congestion: None,
            reconnect: None,
        }
    }
}

impl TcpProbeConfig {
    /// Checks every field against its range.
    pub fn validate(&self) -> Result<()> {
        check("bytes", self.bytes, 1, MAX_BYTES)?;
        check("timeout_us", self.timeout.as_micros() as u64, 1, u64::MAX)?;
        if let Some(stall) = self.reconnect {
            check(
                "reconnect_us",
                stall.as_micros() as u64,
                MIN_RECONNECT.as_micros() as u64,
                u64::MAX,
            )?;
        }
        check("line", self.line as u64, MIN_SIZE as u64 + 1, 65_536)?;
        check(
            "write_size",
            self.write_size as u64,
            self.line as u64,
            16 << 20,
        )
    }
}

/// Connection attempts so far, and the SYNs they sent, as the kernel
/// counted them.
#[derive(Debug, Clone, Copy, Default)]
struct Tried {
    attempts: u64,
    syns: u64,
}

impl Tried {
    /// Tries to connect to `server` within `timeout`, and counts it.
    fn connect(&mut self, server: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        match sys::connect(server, timeout) {
            Ok(stream) => {
                self.connected(&stream);
                Ok(stream)
            }
            Err(failed) => {
                self.attempts += 1;
                self.syns += failed.syns;
                Err(failed.error)
            }
        }
    }

    /// Counts the attempt that made `stream`, before anything is sent on
    /// it: its SYNs are the first and each retransmitted segment so far.
    fn connected(&mut self, stream: &TcpStream) {
        self.attempts += 1;
        self.syns += 1 + sys::tcp_info(stream).map_or(0, |i| u64::from(i.total_retrans));
    }

    fn report(self, error: String, took: Duration) -> TcpReport {
        TcpReport::not_connected(error, took, self.attempts, self.syns)
    }
}

/// Connects to `server` and probes it. A connection that cannot be made
/// within the timeout is a measurement too: a report with `completed`
/// false, the error, how long the attempt took and the SYNs it sent.
pub fn run(server: SocketAddr, config: &TcpProbeConfig) -> Result<TcpReport> {
    config.validate()?;
    let start = Instant::now();
    let mut tried = Tried::default();
    match tried.connect(server, config.timeout) {
        Ok(stream) => probe(stream, config, tried),
        Err(e) => Ok(tried.report(format!("connect to {server}: {e}"), start.elapsed())),
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
    let mut tried = Tried::default();
    loop {
        match tried.connect(server, Duration::from_millis(500)) {
            Ok(stream) => return probe(stream, config, tried),
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => {
                return Ok(tried.report(
                    format!("no connection to {server} within {limit:?}: {e}"),
                    start.elapsed(),
                ))
            }
        }
    }
}

/// Probes over `stream`, freshly connected (nothing sent on it yet).
pub fn run_on(stream: TcpStream, config: &TcpProbeConfig) -> Result<TcpReport> {
    let mut tried = Tried::default();
    tried.connected(&stream);
    probe(stream, config, tried)
}

/// Probes over `stream`, made by the attempts `tried`.
fn probe(stream: TcpStream, config: &TcpProbeConfig, tried: Tried) -> Result<TcpReport> {
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
        let (reads, read_error) = match receive(&stream, deadline, None, &mut check) {
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
            in_order: check.in_order(),
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
            reconnects: 0,
            resent_bytes: 0,
            connect_attempts: tried.attempts,
            syns_sent: tried.syns,
        })
    })
}

/// Probes `server` over as many connections as it takes: when one fails,
/// or its echo makes no progress for `config.reconnect`, a new one is
/// opened (from whatever address the host has now) and the stream goes on
/// from the first line whose echo had not come back whole; those lines are
/// sent again. The echo is checked across connections as one stream, so
/// `intact` still covers every byte.
pub fn run_reconnecting(server: SocketAddr, config: &TcpProbeConfig) -> Result<TcpReport> {
    config.validate()?;
    let stall = config.reconnect.unwrap_or(Duration::from_secs(1));
    let start = Instant::now();
    let deadline = start + config.timeout;
    let total_lines = config.bytes.div_ceil(config.line as u64);
    let mut check = EchoCheck::default();
    // The digest of what was sent, up to the last line echoed whole.
    let mut sent_digest = FNV_OFFSET;
    let (mut reconnects, mut resent, mut writes, mut reads) = (0u64, 0u64, 0u64, 0u64);
    let (mut blocked, mut sent_max) = (Duration::ZERO, 0u64);
    let mut last_error: Option<String> = None;
    let mut info = sys::TcpInfo::default();
    let mut congestion = String::new();
    let mut tried = Tried::default();
    loop {
        let first_line = check.bytes / config.line as u64;
        if first_line >= total_lines && check.bytes >= config.bytes {
            break;
        }
        if Instant::now() >= deadline {
            last_error.get_or_insert_with(|| "timed out".into());
            break;
        }
        let stream = match tried.connect(server, Duration::from_millis(500)) {
            Ok(s) => s,
            Err(e) => {
                last_error = Some(format!("connect to {server}: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        if first_line > 0 || writes > 0 {
            reconnects += 1;
        }
        if let Some(cc) = &config.congestion {
            sys::set_congestion(&stream, cc).map_err(Error::socket("set TCP_CONGESTION"))?;
        }
        let writer = stream.try_clone().map_err(Error::socket("clone stream"))?;
        let _ = writer.set_write_timeout(Some(stall));
        let offset = first_line * config.line as u64;
        let attempt = std::thread::scope(|scope| {
            let sender =
                scope.spawn(|| send_from(writer, config, start, deadline, first_line, sent_digest));
            let (got, error) = match receive(&stream, deadline, Some(stall), &mut check) {
                Ok(reads) => (reads, None),
                Err((reads, e)) => (reads, Some(e.to_string())),
            };
            info = sys::tcp_info(&stream).unwrap_or_default();
            congestion = sys::congestion(&stream).unwrap_or_default();
            let _ = stream.shutdown(Shutdown::Both);
            let sent = sender.join().expect("probe writer panicked");
            (got, error, sent)
        });
        let (got, error, sent) = attempt;
        reads += got;
        writes += sent.writes;
        blocked += sent.blocked;
        // Lines this connection sent that had been sent before.
        resent += sent_max.saturating_sub(offset).min(sent.bytes);
        sent_max = sent_max.max(offset + sent.bytes);
        if check.bytes >= config.bytes && error.is_none() {
            // The whole stream came back: its digest is the last line's.
            if let Some(&(_, digest)) = sent.line_digests.last() {
                sent_digest = digest;
            }
            last_error = None;
            break;
        }
        check.drop_partial();
        // The lines of this connection echoed whole: the sent digest goes
        // on by exactly those.
        if let Some(&(_, digest)) = sent
            .line_digests
            .iter()
            .find(|(end, _)| *end == check.bytes)
        {
            sent_digest = digest;
        }
        last_error = error.or(sent.error.map(|e| e.to_string())).or(last_error);
    }
    let duration = start.elapsed();
    let completed = check.bytes >= config.bytes && last_error.is_none();
    Ok(TcpReport {
        bytes_sent: sent_max.min(config.bytes),
        bytes_received: check.bytes,
        intact: completed && check.digest == sent_digest && check.lines_ok,
        in_order: check.in_order(),
        completed,
        duration_s: duration.as_secs_f64(),
        goodput_mbps: check.bytes as f64 * 8.0 / duration.as_secs_f64().max(1e-9) / 1e6,
        retransmits: u64::from(info.total_retrans),
        srtt_ms: f64::from(info.rtt_us) / 1e3,
        writes,
        send_blocked_s: blocked.as_secs_f64(),
        reads,
        congestion,
        error: last_error,
        reconnects,
        resent_bytes: resent,
        connect_attempts: tried.attempts,
        syns_sent: tried.syns,
    })
}

/// What one connection of [`run_reconnecting`] sent.
struct SentFrom {
    bytes: u64,
    writes: u64,
    blocked: Duration,
    /// After each line: (its end, the digest of the uppercase of the
    /// stream up to it), the first entry the state before any line. The
    /// digest continues the stream's from earlier connections.
    line_digests: Vec<(u64, u64)>,
    error: Option<io::Error>,
}

fn send_from(
    mut stream: TcpStream,
    config: &TcpProbeConfig,
    start: Instant,
    deadline: Instant,
    first_line: u64,
    prefix_digest: u64,
) -> SentFrom {
    let line = config.line as u64;
    let lines_per_write = (config.write_size / config.line).max(1) as u64;
    let mut offset = first_line * line;
    let mut digest = prefix_digest;
    let mut sent = SentFrom {
        bytes: 0,
        writes: 0,
        blocked: Duration::ZERO,
        line_digests: vec![(offset, digest)],
        error: None,
    };
    let mut seq = first_line;
    let mut buf = Vec::with_capacity((lines_per_write * line) as usize);
    while offset < config.bytes {
        if Instant::now() > deadline {
            sent.error = Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out while sending",
            ));
            return sent;
        }
        buf.clear();
        let mut ends = Vec::new();
        for _ in 0..lines_per_write {
            let from = buf.len();
            probe::encode(
                &mut buf,
                seq % (probe::MAX_SEQ + 1),
                start.elapsed().as_micros() as u64,
                config.line - 1,
            );
            buf.push(b'\n');
            seq += 1;
            let room = (config.bytes - offset) as usize;
            buf.truncate(room.min(buf.len()));
            ends.push((from, buf.len()));
            if buf.len() == room {
                break;
            }
        }
        let writing = Instant::now();
        let written = stream.write_all(&buf);
        sent.blocked += writing.elapsed();
        if let Err(e) = written {
            sent.error = Some(e);
            return sent;
        }
        sent.writes += 1;
        for (from, to) in ends {
            digest = fnv1a(digest, buf[from..to].iter().map(u8::to_ascii_uppercase));
            offset += (to - from) as u64;
            sent.line_digests.push((offset, digest));
        }
        sent.bytes += buf.len() as u64;
    }
    if let Err(e) = stream.shutdown(Shutdown::Write) {
        sent.error = Some(e);
    }
    sent
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

/// Reads the echo until it ends (the reads), fails, passes `deadline`, or
/// (with `stall`) makes no progress that long (the reads, and why).
fn receive(
    stream: &TcpStream,
    deadline: Instant,
    stall: Option<Duration>,
    check: &mut EchoCheck,
) -> std::result::Result<u64, (u64, io::Error)> {
    let mut reader = stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut reads = 0;
    let mut progress = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err((
                reads,
                io::Error::new(io::ErrorKind::TimedOut, "timed out waiting for the echo"),
            ));
        }
        if let Some(stall) = stall.filter(|s| now.duration_since(progress) >= *s) {
            return Err((
                reads,
                io::Error::new(io::ErrorKind::TimedOut, format!("no echo for {stall:?}")),
            ));
        }
        reader
            .set_read_timeout(Some((deadline - now).min(POLL)))
            .map_err(|e| (reads, e))?;
        match reader.read(&mut buf) {
            Ok(0) => return Ok(reads),
            Ok(n) => {
                reads += 1;
                progress = Instant::now();
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
    /// `bytes` and `digest` at the end of the last whole line.
    whole: (u64, u64),
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
            whole: (0, FNV_OFFSET),
            partial: Vec::new(),
            next_seq: 0,
            lines_ok: true,
            in_order: true,
        }
    }
}

impl EchoCheck {
    fn feed(&mut self, data: &[u8]) {
        for &b in data {
            self.bytes += 1;
            self.digest = fnv1a(self.digest, std::iter::once(b));
            if b != b'\n' {
                self.partial.push(b);
                continue;
            }
            self.whole = (self.bytes, self.digest);
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

    /// Whether the lines came back in order; None if no valid line came
    /// back.
    fn in_order(&self) -> Option<bool> {
        (self.next_seq > 0).then_some(self.in_order)
    }

    /// Forgets a line whose echo was cut off with its connection.
    fn drop_partial(&mut self) {
        (self.bytes, self.digest) = self.whole;
        self.partial.clear();
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
            reconnect: None,
            bytes: 0,
            ..Default::default()
        };
        let err = bad.validate().unwrap_err().to_string();
        assert!(err.contains("bytes"), "{err}");
    }
}
