//! The reports the probe clients print, one JSON object each.
//!
//! Floats are printed rounded to what they measure, never with float noise
//! (`0.12999999999999998`): times in ms to 3 decimals (a microsecond, as the
//! text prints them), times in seconds to 6 (a microsecond), Mbit/s to 3,
//! the loss rate to 6.

use serde::{Deserialize, Serialize, Serializer};

use crate::stats::Percentiles;

/// What a probe saw, tagged by transport (`"transport": "udp"` or `"tcp"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "transport", rename_all = "lowercase")]
pub enum Report {
    Udp(UdpReport),
    Tcp(TcpReport),
}

/// What the UDP probe saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UdpReport {
    /// Probes that left: the kernel took them.
    pub sent: u64,
    /// Sends the kernel refused (a full queue, an ICMP error of an earlier
    /// probe): these probes never left, and are not counted as lost.
    #[serde(default)]
    pub send_errors: u64,
    /// Distinct probes whose valid echo came back.
    pub received: u64,
    /// Of those, the probes sent after the client's address changed
    /// (`--renumber-after`): the server answered the new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_after_renumber: Option<u64>,
    /// Probes whose echo never came back: `sent - received`.
    pub lost: u64,
    /// `lost / sent`.
    #[serde(serialize_with = "ratio")]
    pub loss_rate: f64,
    /// Echoes that arrived after one with a higher number (RFC 4737).
    pub reordered: u64,
    /// Echoes that arrived again after their first copy.
    pub duplicates: u64,
    /// Datagrams with a probe's header whose bytes differ from the uppercase
    /// of the probe they name, or with no probe's header at all.
    pub corrupted: u64,
    /// Well-formed echoes naming a probe that was never sent.
    #[serde(default)]
    pub unsent: u64,
    /// Echoes of a probe that was sent, but carrying another send time.
    #[serde(default)]
    pub wrong_time: u64,
    /// Echoes with the right beginning but not the probe's length.
    #[serde(default)]
    pub wrong_size: u64,
    /// Probes that came back as sent, not uppercased.
    #[serde(default)]
    pub not_uppercased: u64,
    /// Round-trip times of the first copy of each echo, in ms.
    pub rtt_ms: Option<Percentiles>,
    /// RFC 3550 interarrival jitter, in ms.
    #[serde(serialize_with = "ms")]
    pub jitter_ms: f64,
    /// No echo came back cut or merged: `wrong_size` is 0.
    pub boundaries_preserved: bool,
    /// From the first send to the end of the wait for echoes, in seconds.
    #[serde(serialize_with = "seconds")]
    pub duration_s: f64,
    /// Round-trip time of every first echo, in ms, in order of arrival
    /// (only with `--samples`).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        serialize_with = "ms_each"
    )]
    pub rtt_samples_ms: Vec<f64>,
    /// The port the probe's socket had (`getsockname`): what tells one
    /// client from another at the server, beside its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_port: Option<u16>,
}

/// What the TCP probe saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpReport {
    /// Bytes written to the connection.
    pub bytes_sent: u64,
    /// Bytes read back before the server closed (or the timeout).
    pub bytes_received: u64,
    /// The echo equals the uppercase of what was sent, byte for byte.
    pub intact: bool,
    /// Every echoed probe line came back in the order it was sent; null
    /// when no valid line came back, so there was no order to check.
    pub in_order: Option<bool>,
    /// The exchange finished (the server closed after echoing everything)
    /// before the timeout.
    pub completed: bool,
    /// From connect to the end of the echo, in seconds.
    #[serde(serialize_with = "seconds")]
    pub duration_s: f64,
    /// Echoed bytes per second, in megabits.
    #[serde(serialize_with = "mbps")]
    pub goodput_mbps: f64,
    /// Segments the client's TCP retransmitted (`tcpi_total_retrans`).
    pub retransmits: u64,
    /// The client's smoothed RTT at the end (`tcpi_rtt`), in ms.
    #[serde(serialize_with = "ms")]
    pub srtt_ms: f64,
    /// `write` calls that sent the stream.
    pub writes: u64,
    /// Seconds the probe spent inside those calls: waiting for room, when
    /// flow control holds the sender to the reader's pace.
    #[serde(default, serialize_with = "seconds")]
    pub send_blocked_s: f64,
    /// `read` calls that returned data.
    pub reads: u64,
    /// The congestion control algorithm of the connection.
    pub congestion: String,
    /// What went wrong, if the exchange did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// With `--reconnect`: new connections opened after one failed, and
    /// the bytes sent again on them (lines whose echo had not come back
    /// whole).
    #[serde(default)]
    pub reconnects: u64,
    #[serde(default)]
    pub resent_bytes: u64,
    /// Connections the probe tried to open (`connect` calls), the one that
    /// succeeded included.
    #[serde(default)]
    pub connect_attempts: u64,
    /// SYNs those attempts sent, retransmissions included, as the kernel
    /// counted them (`TCP_INFO`): a SYN that was never answered shows here
    /// and nowhere else.
    #[serde(default)]
    pub syns_sent: u64,
    /// The local port of the last connection made (`getsockname`): what
    /// tells one client from another at the server, beside its address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_port: Option<u16>,
}

/// `value` to `decimals` decimals: round(value * 10^decimals) / 10^decimals
/// is the double nearest that decimal, which prints as it. A value too
/// large to scale is left as it is.
fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    let r = (value * scale).round() / scale;
    if r.is_finite() {
        r
    } else {
        value
    }
}

/// A time in ms, to a microsecond.
pub(crate) fn ms<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded(*value, 3))
}

fn ms_each<S: Serializer>(values: &[f64], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(values.iter().map(|&v| rounded(v, 3)))
}

/// A time in seconds, to a microsecond.
fn seconds<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded(*value, 6))
}

/// Megabits per second, to a kilobit.
fn mbps<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded(*value, 3))
}

/// A fraction, to a millionth.
fn ratio<S: Serializer>(value: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(rounded(*value, 6))
}

/// `n thing`, or `n things`.
fn plural(n: u64, thing: &str) -> String {
    if n == 1 {
        format!("1 {thing}")
    } else {
        format!("{n} {thing}s")
    }
}

/// How far a printed `loss_rate` may be from `lost / sent`: half of its
/// last printed decimal, and a little for the division.
const LOSS_RATE_SLACK: f64 = 0.5e-6 + 1e-12;

/// Why a probe's output is not a report the driver can judge.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// Not JSON, or not a report's fields.
    #[error("not a probe report: {0}")]
    Json(#[from] serde_json::Error),
    /// Well-formed, but its numbers contradict each other.
    #[error("inconsistent probe report: {0}")]
    Inconsistent(String),
}

impl Report {
    /// Parses one report as a probe prints it, and checks that its numbers
    /// agree with each other (received never above sent, lost = sent -
    /// received, rates and times finite and in range, percentiles in
    /// order), so a garbled or forged report is refused here rather than
    /// judged.
    pub fn parse(text: &str) -> Result<Report, ReportError> {
        let report: Report = serde_json::from_str(text.trim())?;
        let problem = match &report {
            Report::Udp(r) => r.inconsistency(),
            Report::Tcp(r) => r.inconsistency(),
        };
        match problem {
            Some(p) => Err(ReportError::Inconsistent(p)),
            None => Ok(report),
        }
    }

    /// The UDP probe's report, if this is one.
    pub fn as_udp(&self) -> Option<&UdpReport> {
        match self {
            Report::Udp(r) => Some(r),
            Report::Tcp(_) => None,
        }
    }

    /// The TCP probe's report, if this is one.
    pub fn as_tcp(&self) -> Option<&TcpReport> {
        match self {
            Report::Tcp(r) => Some(r),
            Report::Udp(_) => None,
        }
    }

    /// `udp` or `tcp`.
    pub fn transport(&self) -> &'static str {
        match self {
            Report::Udp(_) => "udp",
            Report::Tcp(_) => "tcp",
        }
    }

    /// The probe's plain-words summary.
    pub fn summary(&self) -> String {
        match self {
            Report::Udp(r) => r.summary(),
            Report::Tcp(r) => r.summary(),
        }
    }
}

fn finite_non_negative(name: &str, value: f64) -> Option<String> {
    (!(value.is_finite() && value >= 0.0)).then(|| format!("{name} = {value}"))
}

impl UdpReport {
    fn inconsistency(&self) -> Option<String> {
        if self.received > self.sent {
            return Some(format!("received {} > sent {}", self.received, self.sent));
        }
        if self.lost != self.sent - self.received {
            return Some(format!(
                "lost {} != sent {} - received {}",
                self.lost, self.sent, self.received
            ));
        }
        if self.boundaries_preserved != (self.wrong_size == 0) {
            return Some(format!(
                "boundaries_preserved {} with wrong_size {}",
                self.boundaries_preserved, self.wrong_size
            ));
        }
        if self.reordered > self.received {
            return Some(format!(
                "reordered {} > received {}",
                self.reordered, self.received
            ));
        }
        let rate = if self.sent == 0 {
            0.0
        } else {
            self.lost as f64 / self.sent as f64
        };
        let close = (self.loss_rate - rate).abs() <= LOSS_RATE_SLACK;
        if !close {
            return Some(format!(
                "loss_rate {} != lost / sent = {rate}",
                self.loss_rate
            ));
        }
        if let Some(p) = finite_non_negative("jitter_ms", self.jitter_ms)
            .or_else(|| finite_non_negative("duration_s", self.duration_s))
        {
            return Some(p);
        }
        match self.rtt_ms {
            None if self.received > 0 => {
                return Some(format!("{} echoes but no rtt_ms", self.received));
            }
            Some(r) => {
                let q = [r.min, r.p50, r.p99, r.max];
                if q.iter().any(|v| !(v.is_finite() && *v >= 0.0))
                    || q.windows(2).any(|w| w[0] > w[1])
                {
                    return Some(format!("rtt_ms out of order or range: {q:?}"));
                }
            }
            None => {}
        }
        if self.rtt_samples_ms.len() as u64 > self.received {
            return Some(format!(
                "{} rtt samples for {} echoes",
                self.rtt_samples_ms.len(),
                self.received
            ));
        }
        self.rtt_samples_ms
            .iter()
            .find_map(|&v| finite_non_negative("an rtt sample", v))
    }

    /// A few human lines.
    pub fn summary(&self) -> String {
        let rtt = self.rtt_ms.map_or("no echo".to_owned(), |r| {
            format!(
                "min {:.3} / p50 {:.3} / p99 {:.3} / max {:.3} ms",
                r.min, r.p50, r.p99, r.max
            )
        });
        let mut refused = String::new();
        for (name, n) in [
            ("send errors", self.send_errors),
            ("unsent", self.unsent),
            ("wrong time", self.wrong_time),
            ("wrong size", self.wrong_size),
            ("not uppercased", self.not_uppercased),
        ] {
            if n > 0 {
                refused.push_str(&format!(" {name} {n}"));
            }
        }
        format!(
            "UDP: sent {} received {} lost {} ({:.2}%) reordered {} duplicates {} corrupted {}{refused}\n\
             RTT {rtt}, jitter {:.3} ms, message boundaries {}\n",
            self.sent,
            self.received,
            self.lost,
            self.loss_rate * 100.0,
            self.reordered,
            self.duplicates,
            self.corrupted,
            self.jitter_ms,
            if self.boundaries_preserved {
                "preserved"
            } else {
                "NOT preserved"
            },
        )
    }
}

impl TcpReport {
    /// The report of a probe that never connected: nothing sent or
    /// received, `error` saying why, after `took` and `connect_attempts`
    /// attempts that sent `syns_sent` SYNs.
    pub fn not_connected(
        error: String,
        took: std::time::Duration,
        connect_attempts: u64,
        syns_sent: u64,
    ) -> Self {
        Self {
            bytes_sent: 0,
            bytes_received: 0,
            intact: false,
            in_order: None,
            completed: false,
            duration_s: took.as_secs_f64(),
            goodput_mbps: 0.0,
            retransmits: 0,
            srtt_ms: 0.0,
            writes: 0,
            send_blocked_s: 0.0,
            reads: 0,
            congestion: String::new(),
            error: Some(error),
            reconnects: 0,
            resent_bytes: 0,
            connect_attempts,
            syns_sent,
            local_port: None,
        }
    }

    fn inconsistency(&self) -> Option<String> {
        if self.intact && self.bytes_received != self.bytes_sent {
            return Some(format!(
                "intact, yet received {} of {} bytes",
                self.bytes_received, self.bytes_sent
            ));
        }
        if self.completed == self.error.is_some() {
            return Some("completed must mean no error, and an error not completed".to_owned());
        }
        if self.in_order.is_some() && self.bytes_received == 0 {
            return Some("in_order of an echo of 0 bytes".to_owned());
        }
        finite_non_negative("duration_s", self.duration_s)
            .or_else(|| finite_non_negative("goodput_mbps", self.goodput_mbps))
            .or_else(|| finite_non_negative("srtt_ms", self.srtt_ms))
    }

    /// A few human lines. "in order" only of an echo that came back; what
    /// was tried (connection attempts, SYNs) when no byte was exchanged.
    pub fn summary(&self) -> String {
        let order = self
            .in_order
            .map_or(String::new(), |o| format!("in order {o}, "));
        let mut s = format!(
            "TCP: sent {} B, received {} B, intact {}, {order}completed {}\n",
            self.bytes_sent, self.bytes_received, self.intact, self.completed,
        );
        if self.writes == 0 && self.reads == 0 {
            s.push_str(&format!(
                "{:.3} s, no byte exchanged: {} sent in {}\n",
                self.duration_s,
                plural(self.syns_sent, "SYN"),
                plural(self.connect_attempts, "connection attempt"),
            ));
        } else {
            s.push_str(&format!(
                "{:.3} s, {:.2} Mbit/s, {} retransmits, srtt {:.3} ms, {} writes / {} reads ({})\n",
                self.duration_s,
                self.goodput_mbps,
                self.retransmits,
                self.srtt_ms,
                self.writes,
                self.reads,
                self.congestion,
            ));
        }
        if let Some(e) = &self.error {
            s.push_str(&format!("error: {e}\n"));
        }
        if self.reconnects > 0 {
            s.push_str(&format!(
                "reconnected {} times, sent {} B again\n",
                self.reconnects, self.resent_bytes
            ));
        }
        s
    }
}
