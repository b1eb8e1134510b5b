//! `badnet run`: its flags; the request they describe (`request`); what it
//! prints (`print`).

use std::time::Duration;

use clap::Args;
use faults::Direction;

use super::args::{ImpairmentArgs, LinkArgs};
use crate::run::Workload;
use crate::scenario::{HostKind, Scenario, Transport};

mod print;
mod request;
pub(crate) mod values;

/// `badnet run` flags: an impairment, a backend and a workload.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// udp or tcp (the probes); omit with --server and --client.
    #[arg(value_enum, required_unless_present = "client")]
    pub transport: Option<Transport>,
    /// Your own server, run in host B: a program and its arguments, split
    /// as a shell would (never run through one); {server} and {client}
    /// become the hosts' addresses.
    #[arg(
        long,
        requires = "client",
        conflicts_with = "transport",
        allow_hyphen_values = true
    )]
    pub server: Option<String>,
    /// Your own client, run in host A once the server is ready; badnet
    /// exits 0 when it exits 0, and 1 otherwise.
    #[arg(
        long,
        requires = "server",
        conflicts_with = "transport",
        allow_hyphen_values = true
    )]
    pub client: Option<String>,
    /// With --hosts containers: the local image the server runs in (the
    /// services image by default). Nothing is pulled.
    #[arg(
        long,
        allow_hyphen_values = true,
        requires = "server",
        conflicts_with = "transport"
    )]
    pub server_image: Option<String>,
    /// With --hosts containers: the local image the client runs in.
    #[arg(
        long,
        allow_hyphen_values = true,
        requires = "client",
        conflicts_with = "transport"
    )]
    pub client_image: Option<String>,
    /// The server is ready once a line of its output matches this regex.
    #[arg(long, allow_hyphen_values = true, requires = "server", conflicts_with_all = ["ready_port", "transport"], value_parser = parse_regex)]
    pub ready: Option<regex::Regex>,
    /// The server is ready once something listens on (TCP) or is bound to
    /// (UDP) this port in host B.
    #[arg(long, requires = "server", conflicts_with = "transport", allow_hyphen_values = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub ready_port: Option<u16>,
    /// How long the server may take to be ready (--ready, --ready-port).
    #[arg(long, requires = "server", conflicts_with = "transport", default_value = "10s", allow_hyphen_values = true, value_parser = crate::duration::parse_positive)]
    pub ready_timeout: Duration,
    #[command(flatten)]
    pub impairment: ImpairmentArgs,
    /// Cut the link for this long (with --partition-after).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::duration::parse_positive, requires = "partition_after")]
    pub partition_for: Option<Duration>,
    /// Cut the link this long after the probe starts.
    #[arg(long, allow_hyphen_values = true, value_parser = crate::duration::parse, requires = "partition_for")]
    pub partition_after: Option<Duration>,
    /// A step of the timeline: at TIME from the client's start, ACTION:
    /// netem arguments ('loss 100%'), clear, partition or heal. Repeat it,
    /// in time order: --at 1s 'loss 100%' --at 2s clear.
    #[arg(long, num_args = 2, value_names = ["TIME", "ACTION"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub at: Vec<String>,
    /// Host A's address changes this long after the client starts (to
    /// 198.18.0.3; routes follow): UDP's server answers the new address,
    /// TCP's connection cannot survive it.
    #[arg(long, allow_hyphen_values = true, value_parser = crate::duration::parse)]
    pub renumber_after: Option<Duration>,
    /// TCP: when the connection fails or its echo stalls for a second,
    /// open a new one and send again what had not come back
    /// (`reconnects`, `resent_bytes`).
    #[arg(long)]
    pub reconnect: bool,
    /// Which way the impairment applies: forward is client to server.
    #[arg(long, allow_hyphen_values = true, value_enum, default_value_t = Direction::Both)]
    pub direction: Direction,
    #[command(flatten)]
    pub link: LinkArgs,
    /// netns (namespaces this run creates) or containers (`make images` first).
    #[arg(long, allow_hyphen_values = true, value_enum, default_value = "netns")]
    pub hosts: HostKind,
    /// UDP probes to send.
    #[arg(long, default_value_t = 1000, allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=services::udp_probe::MAX_COUNT))]
    pub count: u64,
    /// Time between UDP probes.
    #[arg(long, default_value = "1ms", allow_hyphen_values = true, value_parser = crate::duration::parse)]
    pub interval: Duration,
    /// Bytes per UDP probe.
    #[arg(long, default_value_t = 64, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(29..=65_507))]
    pub size: u32,
    /// TCP bytes to stream.
    #[arg(long, default_value_t = 1 << 20, allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=services::tcp_probe::MAX_BYTES))]
    pub bytes: u64,
    /// UDP: wait for late echoes (default 2s); TCP: give up after (default 60s).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::duration::parse_positive)]
    pub timeout: Option<Duration>,
    /// A slow reader: the server reads at most this much per second,
    /// datagrams for UDP (e.g. 500/s), bytes for TCP (e.g. 1MB/s).
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_per_second)]
    pub receiver_rate: Option<f64>,
    /// The server socket's receive buffer, e.g. 16KB (the kernel doubles
    /// it): small, so that a slow reader's buffer fills quickly.
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_size)]
    pub receiver_buffer: Option<u64>,
    /// Timestamped messages at this rate from A to B instead of the probe
    /// (e.g. 100/s), each one's one-way latency measured (with --duration).
    #[arg(long, requires = "duration", conflicts_with = "server", allow_hyphen_values = true, value_parser = services::cli::parse_per_second)]
    pub messages: Option<f64>,
    /// How long the messages are sent, e.g. 10s (with --messages).
    #[arg(long, requires = "messages", allow_hyphen_values = true, value_parser = crate::duration::parse_positive)]
    pub duration: Option<Duration>,
    /// UDP: keep every echo's RTT in the report (`rtt_samples_ms`);
    /// messages: every latency (`latencies_ms`).
    #[arg(long)]
    pub samples: bool,
    /// N client hosts (c1 ... cN) probe one server host (server) at
    /// once: each client's host, address, source port and report.
    #[arg(long, conflicts_with_all = ["server", "messages", "renumber_after", "partition_after", "hosts"], allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=crate::run::clients::MAX_CLIENTS as u64))]
    pub clients: Option<u64>,
    /// With --clients, an impairment on some pairs: PAIRS NETEM, e.g.
    /// 'c3->server loss 30%' (the impairment flags are every pair's).
    #[arg(long, requires = "clients", allow_hyphen_values = true, value_parser = crate::run::many::parse_pair_impairment)]
    pub impair: Vec<(faults::Pairs, faults::Impairment)>,
    /// One JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// A `--ready` pattern.
fn parse_regex(text: &str) -> Result<regex::Regex, String> {
    regex::Regex::new(text).map_err(|e| e.to_string())
}

/// What one `badnet run` measured: its JSON (what `--json` prints), its
/// summary (what it prints otherwise), and, for your own programs,
/// whether the client exited 0 (always true for the probes: a probe run
/// that could not complete is an error instead).
#[derive(Debug, Clone)]
struct Executed {
    pub json: serde_json::Value,
    pub text: String,
    pub client_failed: Option<String>,
}

/// Runs what `args` describe and returns what it measured, printing
/// nothing but progress (on a terminal).
fn execute(args: &RunArgs) -> anyhow::Result<Executed> {
    let r = args.request()?;
    let s = &r.scenario;
    let spinner = match &r.workload {
        Workload::Probe { .. } => Some(crate::progress::Spinner::start(
            &format!("{} over '{}'", s.transport.probe_program(), s.impairment),
            estimate(s),
        )),
        Workload::Timeliness(m) => Some(crate::progress::Spinner::start(
            &format!("{} messages over '{}'", m.count(), s.impairment),
            m.limit(s),
        )),
        _ => None,
    };
    let outcome = crate::run::execute(&r)?;
    drop(spinner);
    let text = print::summary(&outcome, s, args.client.as_deref().unwrap_or(""));
    Ok(Executed {
        json: outcome.json(s, &args.netem_args()),
        text,
        client_failed: outcome.client_failed(),
    })
}

/// `badnet run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let done = execute(args)?;
    if args.json {
        println!("{}", serde_json::to_string(&done.json)?);
    } else {
        print!("{}", done.text);
        if let Some(stderr) = done.json["client"]["stderr"].as_str() {
            eprint!("{stderr}");
        }
    }
    match done.client_failed {
        None => Ok(()),
        Some(why) => anyhow::bail!("{why} (its output is above)"),
    }
}

/// About how long `s` runs: a UDP probe's schedule and its wait for late
/// echoes; for TCP, at least to the end of its partition (0 when unknown).
fn estimate(s: &Scenario) -> Duration {
    match s.transport {
        Transport::Udp => s.probe_limit(),
        Transport::Tcp => s.partition.map_or(Duration::ZERO, |p| p.after + p.duration),
    }
}
