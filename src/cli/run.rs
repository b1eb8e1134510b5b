//! `badnet run`: one transport over one bad network.

use std::time::Duration;

use clap::Args;
use faults::Direction;

use super::args::LinkArgs;
use crate::error::BadInput;
use crate::runner::programs::{Programs, Ready};
use crate::runner::Outcome;
use crate::scenario::{HostKind, Partition, Scenario, Transport};

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
    #[arg(long, requires = "server", allow_hyphen_values = true)]
    pub client: Option<String>,
    /// With --hosts containers: the local image the server runs in (the
    /// services image by default). Nothing is pulled.
    #[arg(long, requires = "server")]
    pub server_image: Option<String>,
    /// With --hosts containers: the local image the client runs in.
    #[arg(long, requires = "client")]
    pub client_image: Option<String>,
    /// The server is ready once a line of its output matches this regex.
    #[arg(long, requires = "server", conflicts_with = "ready_port", value_parser = parse_regex)]
    pub ready: Option<regex::Regex>,
    /// The server is ready once something listens on (TCP) or is bound to
    /// (UDP) this port in host B.
    #[arg(long, requires = "server", allow_hyphen_values = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub ready_port: Option<u16>,
    /// How long the server may take to be ready (--ready, --ready-port).
    #[arg(long, requires = "server", default_value = "10s", allow_hyphen_values = true, value_parser = services::cli::parse_positive_duration)]
    pub ready_timeout: Duration,
    /// Loss per direction, e.g. 10%.
    #[arg(long, allow_hyphen_values = true)]
    pub loss: Option<String>,
    /// Delay per direction, e.g. 50ms.
    #[arg(long, allow_hyphen_values = true)]
    pub delay: Option<String>,
    /// Jitter around the delay, e.g. 10ms (needs --delay).
    #[arg(long, allow_hyphen_values = true)]
    pub jitter: Option<String>,
    /// Packets sent ahead of the delay, e.g. 25% (needs --delay).
    #[arg(long, allow_hyphen_values = true)]
    pub reorder: Option<String>,
    /// Packets duplicated, e.g. 5%.
    #[arg(long, allow_hyphen_values = true)]
    pub duplicate: Option<String>,
    /// Packets with one bit flipped, e.g. 2%.
    #[arg(long, allow_hyphen_values = true)]
    pub corrupt: Option<String>,
    /// Rate limit, e.g. 10mbit.
    #[arg(long, allow_hyphen_values = true)]
    pub rate: Option<String>,
    /// Any further netem arguments, e.g. "loss gemodel 1% 10%".
    #[arg(long, allow_hyphen_values = true)]
    pub netem: Option<String>,
    /// Cut the link for this long (with --partition-after).
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_positive_duration, requires = "partition_after")]
    pub partition_for: Option<Duration>,
    /// Cut the link this long after the probe starts.
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_duration, requires = "partition_for")]
    pub partition_after: Option<Duration>,
    /// A step of the timeline: at TIME from the client's start, ACTION:
    /// netem arguments ('loss 100%'), clear, partition or heal. Repeat it,
    /// in time order: --at 1s 'loss 100%' --at 2s clear.
    #[arg(long, num_args = 2, value_names = ["TIME", "ACTION"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub at: Vec<String>,
    /// Host A's address changes this long after the client starts (to
    /// 198.18.0.3; routes follow): UDP's server answers the new address,
    /// TCP's connection cannot survive it.
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_duration)]
    pub renumber_after: Option<Duration>,
    /// TCP: when the connection fails or its echo stalls for a second,
    /// open a new one and send again what had not come back
    /// (`reconnects`, `resent_bytes`).
    #[arg(long)]
    pub reconnect: bool,
    /// Which way the impairment applies: forward is client to server.
    #[arg(long, value_enum, default_value_t = Direction::Both)]
    pub direction: Direction,
    #[command(flatten)]
    pub link: LinkArgs,
    /// netns (namespaces this run creates) or containers (`make images` first).
    #[arg(long, value_enum, default_value = "netns")]
    pub hosts: HostKind,
    /// UDP probes to send.
    #[arg(long, default_value_t = 1000, allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=services::udp_probe::MAX_COUNT))]
    pub count: u64,
    /// Time between UDP probes.
    #[arg(long, default_value = "1ms", allow_hyphen_values = true, value_parser = services::cli::parse_duration)]
    pub interval: Duration,
    /// Bytes per UDP probe.
    #[arg(long, default_value_t = 64, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(29..=65_507))]
    pub size: u32,
    /// TCP bytes to stream.
    #[arg(long, default_value_t = 1 << 20, allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=services::tcp_probe::MAX_BYTES))]
    pub bytes: u64,
    /// UDP: wait for late echoes (default 2s); TCP: give up after (default 60s).
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_positive_duration)]
    pub timeout: Option<Duration>,
    /// A slow reader: the server reads at most this much per second,
    /// datagrams for UDP (e.g. 500/s), bytes for TCP (e.g. 1MB/s).
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_rate)]
    pub receiver_rate: Option<f64>,
    /// The server socket's receive buffer, e.g. 16KB (the kernel doubles
    /// it): small, so that a slow reader's buffer fills quickly.
    #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_size)]
    pub receiver_buffer: Option<u64>,
    /// Timestamped messages at this rate from A to B instead of the probe
    /// (e.g. 100/s), each one's one-way latency measured (with --duration).
    #[arg(long, requires = "duration", conflicts_with = "server", allow_hyphen_values = true, value_parser = services::cli::parse_rate)]
    pub messages: Option<f64>,
    /// How long the messages are sent, e.g. 10s (with --messages).
    #[arg(long, requires = "messages", allow_hyphen_values = true, value_parser = services::cli::parse_positive_duration)]
    pub duration: Option<Duration>,
    /// UDP: keep every echo's RTT in the report (`rtt_samples_ms`);
    /// messages: every latency (`latencies_ms`).
    #[arg(long)]
    pub samples: bool,
    /// One JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
    /// The flags that are a netem word and its value (`--loss 5%` is
    /// `loss 5%`), by that word.
    fn netem_words(&self) -> [(&'static str, &Option<String>); 5] {
        [
            ("loss", &self.loss),
            ("reorder", &self.reorder),
            ("duplicate", &self.duplicate),
            ("corrupt", &self.corrupt),
            ("rate", &self.rate),
        ]
    }

    /// The impairment as netem arguments, from the flags.
    pub fn netem_args(&self) -> String {
        let mut words = Vec::new();
        if let Some(d) = &self.delay {
            words.push(format!("delay {d}"));
            if let Some(j) = &self.jitter {
                words.push(j.clone());
            }
        } else if let Some(j) = &self.jitter {
            words.push(format!("delay 0ms {j}"));
        }
        for (word, value) in self.netem_words() {
            if let Some(v) = value {
                words.push(format!("{word} {v}"));
            }
        }
        if let Some(n) = &self.netem {
            words.push(n.clone());
        }
        words.join(" ")
    }

    /// The scenario the flags describe; bad values name their flag.
    pub fn scenario(&self) -> Result<Scenario, BadInput> {
        let mut s = Scenario::new(self.transport.unwrap_or(Transport::Udp));
        s.impairment = self
            .netem_args()
            .parse()
            .map_err(|e| self.bad_impairment(e))?;
        s.direction = self.direction;
        s.backend = self.link.backend;
        s.hosts = self.hosts;
        s.partition = self
            .partition_after
            .zip(self.partition_for)
            .map(|(after, duration)| Partition { after, duration });
        s.count = self.count;
        s.interval = self.interval;
        s.size = self.size as usize;
        s.bytes = self.bytes;
        if let Some(t) = self.timeout {
            s.timeout = t;
        }
        s.seed = self.link.seed;
        s.samples = self.samples;
        s.receiver_rate = self.receiver_rate;
        s.receiver_buffer = self.receiver_buffer;
        s.renumber_after = self.renumber_after;
        if self.reconnect {
            if self.transport != Some(Transport::Tcp) {
                return Err(BadInput::new(
                    "--reconnect",
                    "is for tcp (a UDP probe has no connection)",
                ));
            }
            s.reconnect = Some(Duration::from_secs(1));
        }
        if let (Some(rate), Some(duration)) = (self.messages, self.duration) {
            let m = crate::scenario::Messages { rate, duration };
            if m.count() > 10_000_000 {
                return Err(BadInput::new(
                    "--messages",
                    format!(
                        "{} messages in {duration:?}: at most 10,000,000 per run",
                        m.count()
                    ),
                ));
            }
            s.messages = Some(m);
        }
        if self.server.is_none() {
            // Your own programs' timeline is bounded by the client's limit
            // (run_programs), the probe's by its own.
            s.timeline = self.steps()?;
            crate::timeline::check(&s.timeline, None).map_err(|e| BadInput::new("--at", e))?;
            s.check_steps().map_err(|e| {
                let flag = if self.renumber_after.is_some() && e.contains("renumber") {
                    "--renumber-after"
                } else {
                    "--at"
                };
                BadInput::new(flag, e)
            })?;
        }
        Ok(s)
    }

    /// The `--at` steps, as given.
    pub fn steps(&self) -> Result<Vec<crate::timeline::Step>, BadInput> {
        super::args::steps(&self.at)
    }

    /// An impairment the flags spell that netem's grammar refuses, named by
    /// the flag that gave the faulty value.
    fn bad_impairment(&self, e: faults::Error) -> BadInput {
        let mut given = vec![("delay", &self.delay), ("jitter", &self.jitter)];
        given.extend(self.netem_words());
        // The flag whose value the parser refused, else the one named like
        // the refused field; what neither finds came from --netem.
        let flag = match &e {
            faults::Error::Invalid { field, value, .. } => given
                .iter()
                .find(|(_, v)| v.as_deref() == Some(value.as_str()))
                .or_else(|| given.iter().find(|(name, v)| name == field && v.is_some()))
                .map_or("--netem".to_owned(), |(name, _)| format!("--{name}")),
            _ => "--netem".to_owned(),
        };
        BadInput::new(flag, e.to_string())
    }
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
pub struct Executed {
    pub json: serde_json::Value,
    pub text: String,
    pub client_failed: Option<String>,
}

/// Your programs as the flags give them.
fn programs(args: &RunArgs, server: &str, client: &str) -> Result<Programs, BadInput> {
    Ok(Programs {
        server: server.to_owned(),
        client: client.to_owned(),
        ready: match (&args.ready, args.ready_port) {
            (Some(re), _) => Ready::Line(re.clone()),
            (None, Some(port)) => Ready::Port(port),
            (None, None) => Ready::Now,
        },
        ready_limit: args.ready_timeout,
        client_limit: args.timeout.unwrap_or(Duration::from_secs(60)),
        steps: args.steps()?,
        images: images(args)?,
    })
}

/// The images of your programs: with --hosts containers, the ones given
/// or the services image.
fn images(args: &RunArgs) -> Result<Option<crate::runner::programs::Images>, BadInput> {
    let services = || {
        format!(
            "{}:{}",
            crate::runner::docker::IMAGE,
            crate::runner::docker::TAG
        )
    };
    match args.hosts {
        HostKind::Containers => Ok(Some(crate::runner::programs::Images {
            server: args.server_image.clone().unwrap_or_else(services),
            client: args.client_image.clone().unwrap_or_else(services),
        })),
        HostKind::Netns => match (&args.server_image, &args.client_image) {
            (Some(_), _) => Err(BadInput::new("--server-image", "needs --hosts containers")),
            (_, Some(_)) => Err(BadInput::new("--client-image", "needs --hosts containers")),
            _ => Ok(None),
        },
    }
}

/// `badnet run --server ... --client ...`: your programs on the network.
fn run_programs(args: &RunArgs, server: &str, client: &str) -> anyhow::Result<Executed> {
    let scenario = args.scenario()?;
    let programs = programs(args, server, client)?;
    let o = crate::runner::programs::run(&programs, &scenario)?;
    let mut json = serde_json::to_value(&o)?;
    json["impairment"] = serde_json::json!({
        "given": args.netem_args(),
        "tc": scenario.impairment.tc_args().join(" "),
        "direction": scenario.direction,
    });
    let mut text = format!(
        "client {:?} over {} ({:?}), backend {}: exit {}, {:.3} s\n",
        client,
        scenario.impairment,
        scenario.direction,
        o.backend,
        o.client
            .exit_code
            .map_or("killed".into(), |c| c.to_string()),
        o.client.duration_s
    );
    text.push_str(&o.client.stdout);
    if !o.client.stdout.is_empty() && !o.client.stdout.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&link_lines(&o.link));
    text.push_str(&phases(&o.timeline));
    let client_failed = match o.client.exit_code {
        Some(0) => None,
        code => Some(format!(
            "the client {}",
            code.map_or("was killed".into(), |c| format!("exited with {c}"))
        )),
    };
    Ok(Executed {
        json,
        text,
        client_failed,
    })
}

impl RunArgs {
    /// Refuses what cannot run as given, as a run would, but creates
    /// nothing: bad values, a timeline that cannot be played, programs that
    /// cannot be found.
    pub fn check(&self) -> Result<(), BadInput> {
        self.scenario()?;
        if let (Some(server), Some(client)) = (&self.server, &self.client) {
            crate::runner::programs::check(&programs(self, server, client)?)?;
        }
        Ok(())
    }
}

/// Runs what `args` describe and returns what it measured, printing
/// nothing but progress (on a terminal).
pub fn execute(args: &RunArgs) -> anyhow::Result<Executed> {
    if let (Some(server), Some(client)) = (&args.server, &args.client) {
        return run_programs(args, server, client);
    }
    let scenario = args.scenario()?;
    if let Some(m) = scenario.messages {
        return run_messages(args, &scenario, m);
    }
    let spinner = crate::progress::Spinner::start(
        &format!(
            "{} over '{}'",
            scenario.transport.probe_program(),
            scenario.impairment
        ),
        estimate(&scenario),
    );
    let outcome = crate::runner::run(&scenario)?;
    drop(spinner);
    Ok(Executed {
        json: outcome_json(&outcome, &args.netem_args()),
        text: summary(&outcome),
        client_failed: None,
    })
}

/// `badnet run udp|tcp --messages RATE --duration D`.
fn run_messages(
    args: &RunArgs,
    s: &Scenario,
    m: crate::scenario::Messages,
) -> anyhow::Result<Executed> {
    let spinner = crate::progress::Spinner::start(
        &format!("{} messages over '{}'", m.count(), s.impairment),
        s.probe_limit(),
    );
    let o = crate::runner::messages::run(s, m)?;
    drop(spinner);
    let mut json = serde_json::to_value(&o)?;
    json["impairment"] = serde_json::json!({
        "given": args.netem_args(),
        "tc": s.impairment.tc_args().join(" "),
        "direction": s.direction,
    });
    let r = &o.report;
    let mut text = format!(
        "{} messages over {} ({:?}), backend {}: sent {} delivered {} ({} duplicates, {} out of order)\n",
        s.transport.probe_program().trim_end_matches("-client").to_uppercase(),
        s.impairment,
        s.direction,
        o.backend,
        r.messages_sent,
        r.messages_delivered,
        r.duplicates,
        r.out_of_order
    );
    text.push_str(&format!(
        "one-way latency min {:.3} / p50 {:.3} / p99 {:.3} / max {:.3} ms{}\n",
        r.latency_ms.min,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.max,
        match (r.retransmits, r.srtt_ms) {
            (Some(n), Some(rtt)) => format!(", {n} retransmits, srtt {rtt:.3} ms"),
            _ => String::new(),
        }
    ));
    text.push_str(&link_lines(&o.link));
    text.push_str(&phases(&o.timeline));
    Ok(Executed {
        json,
        text,
        client_failed: None,
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

/// The probe's fields, plus backend, hosts, impairment and link counters.
pub fn outcome_json(o: &Outcome, given: &str) -> serde_json::Value {
    let mut v = serde_json::to_value(&o.report).expect("reports serialize");
    let extra = serde_json::json!({
        "backend": o.backend,
        "backend_reason": o.backend_reason,
        "hosts": o.hosts,
        "run_id": o.run_id,
        "impairment": {
            "given": given,
            "tc": o.scenario.impairment.tc_args().join(" "),
            "direction": o.scenario.direction,
            "spec": o.scenario.impairment,
        },
        "partition": o.scenario.partition,
        "link": o.link,
        "server_udp": o.server_udp,
        "receive_buffer_drops": o.server_udp.rcvbuf_errors,
        "renumbered": o.scenario.renumber_after.map(|_| faults::ADDR_A_RENUMBERED.to_string()),
        "timeline": o.timeline.timeline,
        "phases": o.timeline.phases,
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v
}

fn summary(o: &Outcome) -> String {
    let mut s = format!(
        "{} over {} ({:?}), backend {} ({}), hosts {}\n",
        o.report.transport().to_uppercase(),
        o.scenario.impairment,
        o.scenario.direction,
        o.backend,
        o.backend_reason,
        o.hosts,
    );
    if let Some(p) = o.scenario.partition {
        s.push_str(&format!(
            "partition: {:?} after {:?}\n",
            p.duration, p.after
        ));
    }
    s.push_str(&o.report.summary());
    for (dir, c) in [("A->B", o.link.forward), ("B->A", o.link.reverse)] {
        s.push_str(&format!(
            "link {dir}: in {} passed {} dropped {} duplicated {} corrupted {} reordered {} queue drops {} coalesced {} write errors {}, late p50/p99/max {}/{}/{} us\n",
            c.packets_in, c.passed, c.dropped, c.duplicated, c.corrupted, c.reordered, c.queue_drops, c.coalesced, c.write_errors, c.late_p50_us, c.late_p99_us, c.late_max_us
        ));
    }
    s.push_str(&phases(&o.timeline));
    s
}

/// What the link did, a line per direction (the counts a reader of your
/// programs' or the messages' runs needs; the probes' summary has more).
fn link_lines(link: &faults::LinkCounters) -> String {
    let mut s = String::new();
    for (dir, c) in [("A->B", link.forward), ("B->A", link.reverse)] {
        s.push_str(&format!(
            "link {dir}: in {} passed {} dropped {} duplicated {} corrupted {}\n",
            c.packets_in, c.passed, c.dropped, c.duplicated, c.corrupted
        ));
    }
    s
}

/// One line per step of the timeline (due, applied) and per phase (what
/// the link counted).
fn phases(t: &crate::runner::play::Timeline) -> String {
    let mut s = String::new();
    for p in &t.timeline {
        match p.applied_ms {
            Some(at) => s.push_str(&format!(
                "step '{}' due at {:.0} ms, applied at {:.1} ms\n",
                p.step.action,
                p.step.at.as_secs_f64() * 1e3,
                at
            )),
            None => s.push_str(&format!(
                "step '{}' due at {:.0} ms: not applied, the client had ended\n",
                p.step.action,
                p.step.at.as_secs_f64() * 1e3
            )),
        }
    }
    for p in &t.phases {
        let (f, r) = (&p.link.forward, &p.link.reverse);
        s.push_str(&format!(
            "phase {:>8.1}..{:<8.1} ms {:<20} A->B in {} passed {} dropped {}; B->A in {} passed {} dropped {}\n",
            p.from_ms, p.to_ms, format!("'{}'", p.action), f.packets_in, f.passed, f.dropped, r.packets_in, r.passed, r.dropped
        ));
    }
    s
}
