//! What the four binaries share: flags, address resolution, logging and the
//! shutdown signal.
//!
//! Every flag that takes a value takes one starting with a hyphen too
//! (`allow_hyphen_values`), so that `--port -1` is refused by the flag's own
//! parser, naming the flag, rather than by clap as an unknown argument.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::{sys, Error, Result, DEFAULT_PORT};

/// Flags of a server: where to bind.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerArgs {
    /// Address to bind (the lecture binds every interface).
    #[arg(long, default_value = "0.0.0.0", allow_hyphen_values = true)]
    pub bind: IpAddr,
    /// Port to listen on, 1..=65535.
    #[arg(long, default_value_t = DEFAULT_PORT, allow_hyphen_values = true,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
    /// A slow reader: read at most this much per second, datagrams for UDP
    /// (e.g. 500/s), bytes for TCP (e.g. 1MB/s).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_per_second)]
    pub receiver_rate: Option<f64>,
    /// The socket's receive buffer, e.g. 16KB (the kernel doubles it):
    /// small, so that a slow reader's buffer fills quickly.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_size)]
    pub receiver_buffer: Option<u64>,
}

impl ServerArgs {
    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// `--receiver-buffer` for a socket option (at most 1 GiB).
    pub fn receive_buffer(&self) -> Option<u32> {
        self.receiver_buffer.map(|b| b.min(1 << 30) as u32)
    }
}

/// Flags of a client: which server to talk to.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// Server name or address.
    #[arg(long, default_value = "localhost", allow_hyphen_values = true)]
    pub server: String,
    /// Server port, 1..=65535.
    #[arg(long, default_value_t = DEFAULT_PORT, allow_hyphen_values = true,
          value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}

impl ClientArgs {
    /// Resolves the server, preferring IPv4 as the lecture's `AF_INET` does.
    pub fn resolve(&self) -> Result<SocketAddr> {
        resolve(&self.server, self.port)
    }

    /// [`resolve`](Self::resolve) for a binary: a name that does not
    /// resolve is bad input, refused as `command`'s parser refuses a value
    /// (`.exit()` prints it and exits with code 2), naming `--server`.
    pub fn resolve_as_flag(
        &self,
        command: &mut clap::Command,
    ) -> std::result::Result<SocketAddr, clap::Error> {
        self.resolve().map_err(|e| {
            let cause = std::error::Error::source(&e).map_or(String::new(), |s| format!(": {s}"));
            refuse(
                command,
                "--server <SERVER>",
                &self.server,
                format!("{e}{cause}"),
            )
        })
    }
}

/// The error `command`'s parser gives a bad value, for a value found bad
/// only after parsing: `invalid value 'VALUE' for 'FLAG': WHY`, exit code 2.
fn refuse(
    command: &mut clap::Command,
    flag: &str,
    value: &str,
    why: impl std::fmt::Display,
) -> clap::Error {
    command.error(
        clap::error::ErrorKind::ValueValidation,
        format!("invalid value '{value}' for '{flag}': {why}"),
    )
}

/// Resolves `host:port`, preferring an IPv4 address.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|source| Error::Resolve {
            host: host.to_owned(),
            port,
            source,
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| Error::NoAddress {
            host: host.to_owned(),
        })
}

/// Splits `text` into its leading decimal number and the unit after it;
/// `what` names what it should have been, for the error.
fn number_and_unit<'a>(text: &'a str, what: &str) -> std::result::Result<(f64, &'a str), String> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value = number
        .parse()
        .map_err(|_| format!("'{text}' is not {what}"))?;
    Ok((value, unit))
}

/// Parses a size in bytes: `4096`, `64KB` (1000s), `16KiB` (1024s), `1MB`,
/// `1MiB`.
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text, "a size (examples: 4096, 64KB, 16KiB, 1MB)")?;
    let scale = match unit {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{text}' (use B, KB, KiB, MB, MiB or GB)"
            ))
        }
    };
    let bytes = value * scale;
    if !(1.0..=1e12).contains(&bytes) {
        return Err(format!("'{text}' is out of range 1B..=1TB"));
    }
    Ok(bytes as u64)
}

/// Parses how many things per second: `500/s` (datagrams) or `1MB/s`
/// (bytes, with a size's units); a bare number is per second too. (The
/// faults crate's `parse_bit_rate` is a link's rate in bits per second.)
pub fn parse_per_second(text: &str) -> std::result::Result<f64, String> {
    let body = text.trim().strip_suffix("/s").unwrap_or(text.trim());
    let rate = parse_size(body).map_err(|e| format!("'{text}' is not a rate per second ({e})"))?;
    Ok(rate as f64)
}

/// Parses a duration such as `500us`, `1ms`, `1.5s` or `2m`.
///
/// A bare number is seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let (value, unit) = number_and_unit(text, "a duration (examples: 500us, 1ms, 1.5s)")?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" => 1e-6,
        "ms" => 1e-3,
        "" | "s" => 1.0,
        "m" => 60.0,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{text}' (use ns, us, ms, s or m)"
            ))
        }
    };
    let secs = value * scale;
    if !secs.is_finite() || secs > 86_400.0 {
        return Err(format!("'{text}' is out of range 0..=24h"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// [`parse_duration`], refusing zero: for timeouts and spans that must
/// last.
pub fn parse_positive_duration(text: &str) -> std::result::Result<Duration, String> {
    let d = parse_duration(text)?;
    if d.is_zero() {
        return Err(format!("'{}' must be above zero", text.trim()));
    }
    Ok(d)
}

/// [`parse_duration`], refusing anything below `min`.
pub fn parse_duration_at_least(text: &str, min: Duration) -> std::result::Result<Duration, String> {
    let d = parse_duration(text)?;
    if d < min {
        return Err(format!(
            "'{}' is below the least allowed, {min:?}",
            text.trim()
        ));
    }
    Ok(d)
}

/// Parses a congestion control algorithm (`TCP_CONGESTION`) by setting it
/// on a fresh, unconnected TCP socket: a name the kernel has (or loads on
/// demand) and lets this process use passes; any other is refused, listing
/// what the kernel offers (`/proc/sys/net/ipv4/tcp_available_congestion_control`).
pub fn parse_congestion(text: &str) -> std::result::Result<String, String> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    let socket = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| format!("no TCP socket to try '{text}' on: {e}"))?;
    sys::set_congestion(&socket, text).map_err(|e| {
        const OFFERED: &str = "/proc/sys/net/ipv4/tcp_available_congestion_control";
        let offered = std::fs::read_to_string(OFFERED).map_or_else(
            |_| format!("see {OFFERED}"),
            |list| {
                format!(
                    "this kernel offers {}",
                    list.split_whitespace().collect::<Vec<_>>().join(", ")
                )
            },
        );
        format!("'{text}' cannot be used: {e}; {offered}")
    })?;
    Ok(text.to_owned())
}

/// Logs to standard error, filtered by `RUST_LOG` (default `warn`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Installs handlers for SIGINT and SIGTERM now, and returns a future that
/// resolves when either arrives. Call it before announcing readiness, so a
/// signal sent right after the announcement is never missed.
///
/// # Panics
/// Outside a tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!(parse_duration("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse_duration("1ms"), Ok(Duration::from_millis(1)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    }

    #[test]
    fn bad_durations_are_refused() {
        for bad in ["", "fast", "1h", "-1s", "1e9s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn localhost_resolves_to_ipv4_first() {
        let addr = resolve("localhost", 12000).unwrap();
        assert!(addr.is_ipv4(), "{addr}");
    }
}
