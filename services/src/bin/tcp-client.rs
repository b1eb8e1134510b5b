//! The lecture's TCP client, and the TCP probe (`--probe`).

use std::time::Duration;

use clap::{CommandFactory, Parser};
use services::cli::{self, parse_duration, parse_positive_duration, ClientArgs};
use services::interactive;
use services::tcp_probe::{TcpProbeConfig, MAX_BYTES, MIN_RECONNECT};

/// TCP client: sends one line and prints the answer; with --probe, streams
/// numbered lines and checks that the echo is intact and in order.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
    /// Measure instead of asking for a line.
    #[arg(long)]
    probe: bool,
    /// Bytes to stream.
    #[arg(long, default_value_t = 1 << 20, requires = "probe", allow_hyphen_values = true,
          value_parser = clap::builder::RangedI64ValueParser::<u64>::new().range(1..=MAX_BYTES as i64))]
    bytes: u64,
    /// Bytes per write call (whole 64-byte probe lines).
    #[arg(long, default_value_t = 64, requires = "probe", allow_hyphen_values = true,
          value_parser = clap::value_parser!(u32).range(64..=16 << 20))]
    write_size: u32,
    /// Congestion control (TCP_CONGESTION), e.g. cubic or bbr: one the
    /// kernel offers (tcp_available_congestion_control).
    #[arg(long, requires = "probe", allow_hyphen_values = true,
          value_parser = cli::parse_congestion)]
    congestion: Option<String>,
    /// Reconnect when the connection fails or its echo stalls this long
    /// (at least 10ms), and send again what had not come back (a client
    /// whose address changes).
    #[arg(long, requires = "probe", allow_hyphen_values = true,
          value_parser = |text: &str| cli::parse_duration_at_least(text, MIN_RECONNECT))]
    reconnect: Option<Duration>,
    /// Probe: give up after this long (default 60s). Without --probe: how
    /// long to wait for the answer (default: forever). Above zero.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_positive_duration)]
    timeout: Option<Duration>,
    /// Before probing, wait up to this long for the server to answer (for a
    /// client that starts before its network is up).
    #[arg(long, requires = "probe", allow_hyphen_values = true, value_parser = parse_duration)]
    wait_for_server: Option<Duration>,
    /// Print the report as one JSON object.
    #[arg(long, requires = "probe")]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    cli::init_tracing();
    let server = args
        .client
        .resolve_as_flag(&mut Args::command().bin_name(env!("CARGO_BIN_NAME")))
        .unwrap_or_else(|e| e.exit());
    if !args.probe {
        let stream = interactive::tcp_connect(server, args.timeout)?;
        let line = interactive::prompt_line(&mut std::io::stdin().lock(), &mut std::io::stdout())?;
        let reply = interactive::tcp_exchange(stream, line.as_bytes())?;
        println!("From Server: {}", String::from_utf8_lossy(&reply));
        return Ok(());
    }
    let config = TcpProbeConfig {
        bytes: args.bytes,
        write_size: args.write_size as usize,
        timeout: args.timeout.unwrap_or(TcpProbeConfig::default().timeout),
        congestion: args.congestion,
        reconnect: args.reconnect,
        ..TcpProbeConfig::default()
    };
    let report = match args.wait_for_server {
        // Reconnecting, it keeps trying to connect until its timeout anyway.
        _ if config.reconnect.is_some() => services::tcp_probe::run_reconnecting(server, &config)?,
        Some(limit) => services::tcp_probe::run_when_reachable(server, &config, limit)?,
        None => services::tcp_probe::run(server, &config)?,
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&services::report::Report::Tcp(report))?
        );
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}
