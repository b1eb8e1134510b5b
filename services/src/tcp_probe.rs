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
    /// The local port of the last connection made.
    port: Option<u16>,
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
        self.port = stream.local_addr().ok().map(|a| a.port());
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
    let start = Instant::now();
    let deadline = start + config.timeout;
    let mut check = EchoCheck::default();
    let ex = exchange(
        stream,
        config,
        (start, deadline),
        None,
        Resume::START,
        &mut check,
    )?;
    let duration = ex.ended - start;
    let error = ex.sent.error.or(ex.read_error).map(|e| e.to_string());
    let completed = error.is_none();
    let intact = completed
        && check.bytes == ex.sent.bytes
        && check.digest == ex.sent.digest
        && check.lines_ok;
    Ok(TcpReport {
        bytes_sent: ex.sent.bytes,
        bytes_received: check.bytes,
        intact,
        in_order: check.in_order(),
        completed,
        duration_s: duration.as_secs_f64(),
        goodput_mbps: goodput_mbps(check.bytes, duration),
        retransmits: u64::from(ex.info.total_retrans),
        srtt_ms: f64::from(ex.info.rtt_us) / 1e3,
        writes: ex.sent.writes,
        send_blocked_s: ex.sent.blocked.as_secs_f64(),
        reads: ex.reads,
        congestion: ex.congestion,
        error,
        reconnects: 0,
        resent_bytes: 0,
        connect_attempts: tried.attempts,
        syns_sent: tried.syns,
        local_port: tried.port,
    })
}

fn goodput_mbps(bytes: u64, took: Duration) -> f64 {
    bytes as f64 * 8.0 / took.as_secs_f64().max(1e-9) / 1e6
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
    let mut carried = Carried::default();
    let mut tried = Tried::default();
    while !carried.whole(config) {
        if Instant::now() >= deadline {
            carried.error.get_or_insert_with(|| "timed out".into());
            break;
        }
        let stream = match tried.connect(server, Duration::from_millis(500)) {
            Ok(s) => s,
            Err(e) => {
                carried.error = Some(format!("connect to {server}: {e}"));
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        let from = carried.resume(config);
        if from.first_line > 0 || carried.writes > 0 {
            carried.reconnects += 1;
        }
        let ex = exchange(
            stream,
            config,
            (start, deadline),
            Some(stall),
            from,
            &mut carried.check,
        )?;
        if carried.add(config, from, ex) {
            break;
        }
    }
    Ok(carried.report(config, start.elapsed(), tried))
}

/// The one stream of [`run_reconnecting`], carried over its connections.
struct Carried {
    check: EchoCheck,
    /// The digest of what was sent, up to the last line echoed whole.
    sent_digest: u64,
    /// The end of the furthest any connection sent.
    sent_max: u64,
    /// Bytes sent again: lines a connection sent that an earlier one had.
    resent: u64,
    reconnects: u64,
    writes: u64,
    reads: u64,
    blocked: Duration,
    /// What `TCP_INFO` said of the last connection, and its algorithm.
    info: sys::TcpInfo,
    congestion: String,
    error: Option<String>,
}

impl Default for Carried {
    fn default() -> Self {
        Self {
            check: EchoCheck::default(),
            sent_digest: FNV_OFFSET,
            sent_max: 0,
            resent: 0,
            reconnects: 0,
            writes: 0,
            reads: 0,
            blocked: Duration::ZERO,
            info: sys::TcpInfo::default(),
            congestion: String::new(),
            error: None,
        }
    }
}

impl Carried {
    /// Every line's echo came back whole.
    fn whole(&self, config: &TcpProbeConfig) -> bool {
        let total_lines = config.bytes.div_ceil(config.line as u64);
        self.check.bytes / config.line as u64 >= total_lines && self.check.bytes >= config.bytes
    }

    /// Where the next connection starts: at the first line whose echo has
    /// not come back whole.
    fn resume(&self, config: &TcpProbeConfig) -> Resume {
        Resume {
            first_line: self.check.bytes / config.line as u64,
            digest: self.sent_digest,
            by_line: true,
        }
    }

    /// Adds what the connection that started at `from` carried; true when
    /// it brought the whole stream back, with no error.
    fn add(&mut self, config: &TcpProbeConfig, from: Resume, ex: Exchange) -> bool {
        let offset = from.first_line * config.line as u64;
        self.reads += ex.reads;
        self.writes += ex.sent.writes;
        self.blocked += ex.sent.blocked;
        self.info = ex.info;
        self.congestion = ex.congestion;
        self.resent += self.sent_max.saturating_sub(offset).min(ex.sent.bytes);
        self.sent_max = self.sent_max.max(offset + ex.sent.bytes);
        let read_error = ex.read_error.map(|e| e.to_string());
        if self.check.bytes >= config.bytes && read_error.is_none() {
            // The whole stream came back: its digest is all that was sent.
            self.sent_digest = ex.sent.digest;
            self.error = None;
            return true;
        }
        self.check.drop_partial();
        // The lines of this connection echoed whole: the sent digest goes
        // on by exactly those.
        if let Some(&(_, digest)) = ex
            .sent
            .line_digests
            .iter()
            .find(|(end, _)| *end == self.check.bytes)
        {
            self.sent_digest = digest;
        }
        let send_error = ex.sent.error.map(|e| e.to_string());
        self.error = read_error.or(send_error).or(self.error.take());
        false
    }

    fn report(self, config: &TcpProbeConfig, duration: Duration, tried: Tried) -> TcpReport {
        let check = self.check;
        let completed = check.bytes >= config.bytes && self.error.is_none();
        TcpReport {
            bytes_sent: self.sent_max.min(config.bytes),
            bytes_received: check.bytes,
            intact: completed && check.digest == self.sent_digest && check.lines_ok,
            in_order: check.in_order(),
            completed,
            duration_s: duration.as_secs_f64(),
            goodput_mbps: goodput_mbps(check.bytes, duration),
            retransmits: u64::from(self.info.total_retrans),
            srtt_ms: f64::from(self.info.rtt_us) / 1e3,
            writes: self.writes,
            send_blocked_s: self.blocked.as_secs_f64(),
            reads: self.reads,
            congestion: self.congestion,
            error: self.error,
            reconnects: self.reconnects,
            resent_bytes: self.resent,
            connect_attempts: tried.attempts,
            syns_sent: tried.syns,
            local_port: tried.port,
        }
    }
}

/// Where a connection's stream starts: at line `first_line`, after
/// `digest`, that of the uppercase of every byte before it.
#[derive(Debug, Clone, Copy)]
struct Resume {
    first_line: u64,
    digest: u64,
    /// Keep the digest at the end of each line sent, so that a later
    /// connection can start again after any of them.
    by_line: bool,
}

impl Resume {
    /// The whole stream, on one connection.
    const START: Resume = Resume {
        first_line: 0,
        digest: FNV_OFFSET,
        by_line: false,
    };
}

/// What one connection carried.
struct Exchange {
    sent: Sent,
    /// `read` calls that returned data, and why reading stopped early.
    reads: u64,
    read_error: Option<io::Error>,
    /// When reading ended.
    ended: Instant,
    info: sys::TcpInfo,
    congestion: String,
}

/// Streams probe lines from `from` over `stream` on a thread of its own
/// while this one reads the echo into `check`, until the echo ends, fails,
/// passes the deadline of `clock` (start, deadline) or, with `stall`, makes
/// no progress that long.
fn exchange(
    stream: TcpStream,
    config: &TcpProbeConfig,
    (start, deadline): (Instant, Instant),
    stall: Option<Duration>,
    from: Resume,
    check: &mut EchoCheck,
) -> Result<Exchange> {
    if let Some(cc) = &config.congestion {
        sys::set_congestion(&stream, cc).map_err(Error::socket("set TCP_CONGESTION"))?;
    }
    let writer = stream.try_clone().map_err(Error::socket("clone stream"))?;
    writer
        .set_write_timeout(Some(stall.unwrap_or(config.timeout)))
        .map_err(Error::socket("set write timeout"))?;
    Ok(std::thread::scope(|scope| {
        let sender = scope.spawn(move || send(writer, config, start, deadline, from));
        let (reads, read_error) = match receive(&stream, deadline, stall, check) {
            Ok(reads) => (reads, None),
            Err((reads, e)) => (reads, Some(e)),
        };
        let ended = Instant::now();
        let info = sys::tcp_info(&stream).unwrap_or_default();
        let congestion = sys::congestion(&stream).unwrap_or_default();
        // The reader is done: unblock a writer stuck on a stalled network.
        let _ = stream.shutdown(Shutdown::Both);
        let sent = sender.join().expect("probe writer panicked");
        Exchange {
            sent,
            reads,
            read_error,
            ended,
            info,
            congestion,
        }
    }))
}

/// What one connection's sender sent.
struct Sent {
    bytes: u64,
    writes: u64,
    /// Time spent inside write calls: waiting, when flow control holds
    /// the sender.
    blocked: Duration,
    /// The digest of the uppercase of the stream up to the end of what was
    /// sent, continuing the one it started from.
    digest: u64,
    /// With [`Resume::by_line`]: after each line, (its end, the digest up
    /// to it), the first entry the state before any line.
    line_digests: Vec<(u64, u64)>,
    error: Option<io::Error>,
}

/// Sends the probe lines from `from.first_line` to the end of the stream,
/// whole lines per write (the last one cut at the stream's end), then
/// closes the sending half.
fn send(
    mut stream: TcpStream,
    config: &TcpProbeConfig,
    start: Instant,
    deadline: Instant,
    from: Resume,
) -> Sent {
    let line = config.line as u64;
    let lines_per_write = (config.write_size / config.line).max(1);
    let mut offset = from.first_line * line;
    let mut sent = Sent {
        bytes: 0,
        writes: 0,
        blocked: Duration::ZERO,
        digest: from.digest,
        line_digests: if from.by_line {
            vec![(offset, from.digest)]
        } else {
            Vec::new()
        },
        error: None,
    };
    let mut seq = from.first_line;
    let mut buf = Vec::with_capacity(lines_per_write * config.line);
    let mut ends = Vec::with_capacity(lines_per_write);
    while offset < config.bytes {
        if Instant::now() > deadline {
            sent.error = Some(io::Error::new(
                io::ErrorKind::TimedOut,
                "timed out while sending",
            ));
            return sent;
        }
        buf.clear();
        ends.clear();
        for _ in 0..lines_per_write {
            let begin = buf.len();
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
            ends.push((begin, buf.len()));
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
        for &(begin, end) in &ends {
            sent.digest = fnv1a(
                sent.digest,
                buf[begin..end].iter().map(u8::to_ascii_uppercase),
            );
            offset += (end - begin) as u64;
            if from.by_line {
                sent.line_digests.push((offset, sent.digest));
            }
        }
        sent.bytes += buf.len() as u64;
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
