//! The lecture's UDP client, and the UDP probe (`--probe`).

use std::time::Duration;

use clap::{CommandFactory, Parser};
use services::cli::{self, parse_duration, ClientArgs};
use services::udp_probe::{UdpProbeConfig, MAX_COUNT};
use services::{interactive, probe};

/// UDP client: sends one line and prints the answer; with --probe, measures
/// loss, reordering, duplication and delay with numbered probes.
#[derive(Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    client: ClientArgs,
    /// Measure instead of asking for a line.
    #[arg(long)]
    probe: bool,
    /// Probes to send.
    #[arg(long, default_value_t = 100, requires = "probe", allow_hyphen_values = true,
          value_parser = clap::builder::RangedI64ValueParser::<u64>::new().range(1..=MAX_COUNT as i64))]
    count: u64,
    /// Time between probes.
    #[arg(long, default_value = "1ms", requires = "probe", allow_hyphen_values = true,
          value_parser = parse_duration)]
    interval: Duration,
    /// Bytes per probe.
    #[arg(long, default_value_t = 64, requires = "probe", allow_hyphen_values = true,
          value_parser = clap::value_parser!(u32).range(probe::MIN_SIZE as i64..=probe::MAX_UDP_SIZE as i64))]
    size: u32,
    /// Probe: how long to wait for echoes after the last probe. Without
    /// --probe: how long to wait for the answer (default: forever).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Keep every RTT in the report.
    #[arg(long, requires = "probe")]
    samples: bool,
    /// Count apart the echoes of probes sent from this time on, when the
    /// client's address changes (`received_after_renumber`).
    #[arg(long, requires = "probe", allow_hyphen_values = true, value_parser = parse_duration)]
    renumber_after: Option<Duration>,
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
        let line = interactive::prompt_line(&mut std::io::stdin().lock(), &mut std::io::stdout())?;
        let reply = interactive::udp_exchange(server, line.as_bytes(), args.timeout)?;
        println!("{}", String::from_utf8_lossy(&reply));
        return Ok(());
    }
    let config = UdpProbeConfig {
        count: args.count,
        interval: args.interval,
        size: args.size as usize,
        timeout: args.timeout.unwrap_or(UdpProbeConfig::default().timeout),
        samples: args.samples,
        renumber_after: args.renumber_after,
    };
    if let Some(limit) = args.wait_for_server {
        services::udp_probe::wait_for_server(server, limit)?;
    }
    let report = services::udp_probe::run(server, &config)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&services::report::Report::Udp(report))?
        );
    } else {
        print!("{}", report.summary());
    }
    Ok(())
}
