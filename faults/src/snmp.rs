//! What a host's kernel counted of its UDP traffic (`/proc/net/snmp`, per
//! network namespace): evidence that does not come from the link.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The `Udp:` counters of one network namespace, or the change of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpCounters {
    /// Datagrams delivered to a socket.
    pub in_datagrams: u64,
    /// Datagrams for a port with no socket.
    pub no_ports: u64,
    /// Datagrams dropped on the way in (checksum, buffer) in all.
    pub in_errors: u64,
    /// Datagrams sent.
    pub out_datagrams: u64,
    /// Datagrams dropped because the receiving socket's buffer was full.
    pub rcvbuf_errors: u64,
}

impl UdpCounters {
    /// Parses the `Udp:` header and value lines of `/proc/net/snmp`.
    pub fn parse(snmp: &str) -> Result<Self> {
        let mut lines = snmp.lines().filter(|l| l.starts_with("Udp:"));
        let bad = || Error::Sys {
            op: "reading the Udp lines of /proc/net/snmp".into(),
            source: std::io::Error::other("no Udp header and value lines"),
        };
        let (names, values) = (lines.next().ok_or_else(bad)?, lines.next().ok_or_else(bad)?);
        let field = |name: &str| -> Result<u64> {
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.parse().ok())
                .ok_or_else(bad)
        };
        Ok(Self {
            in_datagrams: field("InDatagrams")?,
            no_ports: field("NoPorts")?,
            in_errors: field("InErrors")?,
            out_datagrams: field("OutDatagrams")?,
            rcvbuf_errors: field("RcvbufErrors")?,
        })
    }

    /// What was counted since `before`.
    pub fn since(self, before: Self) -> Self {
        Self {
            in_datagrams: self.in_datagrams.saturating_sub(before.in_datagrams),
            no_ports: self.no_ports.saturating_sub(before.no_ports),
            in_errors: self.in_errors.saturating_sub(before.in_errors),
            out_datagrams: self.out_datagrams.saturating_sub(before.out_datagrams),
            rcvbuf_errors: self.rcvbuf_errors.saturating_sub(before.rcvbuf_errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_udp_lines_parse_by_name() {
        let snmp = "Ip: Forwarding\nIp: 1\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\nUdp: 39778 30 2 40039 5 0\n";
        let c = UdpCounters::parse(snmp).unwrap();
        assert_eq!(
            (
                c.in_datagrams,
                c.no_ports,
                c.in_errors,
                c.out_datagrams,
                c.rcvbuf_errors
            ),
            (39778, 30, 2, 40039, 5)
        );
        assert!(UdpCounters::parse("Ip: x\n").is_err());
    }
}
