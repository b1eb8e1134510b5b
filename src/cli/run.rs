//! `badnet run`: its flags, the request they describe, and what it prints.

use std::time::Duration;

use clap::Args;
use faults::Direction;

use super::args::LinkArgs;
use crate::error::BadInput;
use crate::run::play::Timeline;
use crate::run::programs::{Images, Programs, ProgramsOutcome, Ready};
use crate::run::timeliness::{Messages, TimelinessOutcome};
use crate::run::{Outcome, ProbeOutcome, Request, Workload};
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
        if self.server.is_none() {
            // Your own programs' timeline is bounded by the client's limit
            // (Programs), the probe's by its own (Request::check).
            s.timeline = self.steps()?;
            crate::timeline::check(&s.timeline, None).map_err(|e| BadInput::new("--at", e))?;
        }
        Ok(s)
    }

    /// The request the flags describe: your programs, timestamped
    /// messages, or the probes. Bad values name their flag; nothing is
    /// checked that would need the system.
    pub fn request(&self) -> Result<Request, BadInput> {
        let scenario = self.scenario()?;
        let workload = match (&self.server, &self.client, self.messages, self.duration) {
            (Some(server), Some(client), _, _) => {
                Workload::Programs(self.programs(server, client)?)
            }
            (_, _, Some(rate), Some(duration)) => {
                let m = Messages { rate, duration };
                if m.count() > 10_000_000 {
                    return Err(BadInput::new(
                        "--messages",
                        format!(
                            "{} messages in {duration:?}: at most 10,000,000 per run",
                            m.count()
                        ),
                    ));
                }
                Workload::Timeliness(m)
            }
            _ => Workload::Probe { capture: None },
        };
        let r = Request { scenario, workload };
        if !matches!(r.workload, Workload::Programs(_)) {
            r.check().map_err(|e| self.blame_renumber(e))?;
        }
        Ok(r)
    }

    /// Refuses what cannot run as given, as a run would, but creates
    /// nothing: bad values, a timeline that cannot be played, programs that
    /// cannot be found.
    pub fn check(&self) -> Result<(), BadInput> {
        match self.request()? {
            Request {
                workload: Workload::Programs(p),
                ..
            } => crate::run::programs::check(&p),
            _ => Ok(()),
        }
    }

    /// A refused timeline that the renumbering made unplayable is
    /// `--renumber-after`'s fault, not `--at`'s.
    fn blame_renumber(&self, e: BadInput) -> BadInput {
        if e.flag == "--at" && self.renumber_after.is_some() && e.message.contains("renumber") {
            BadInput::new("--renumber-after", e.message)
        } else {
            e
        }
    }

    /// The `--at` steps, as given.
    pub fn steps(&self) -> Result<Vec<crate::timeline::Step>, BadInput> {
        self.at
            .chunks(2)
            .map(|pair| match pair {
                [at, action] => crate::timeline::Step::parse(at, action),
                _ => Err("--at takes a time and an action".to_owned()),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| BadInput::new("--at", e))
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

impl RunArgs {
    /// Your programs as the flags give them.
    fn programs(&self, server: &str, client: &str) -> Result<Programs, BadInput> {
        Ok(Programs {
            server: server.to_owned(),
            client: client.to_owned(),
            ready: match (&self.ready, self.ready_port) {
                (Some(re), _) => Ready::Line(re.clone()),
                (None, Some(port)) => Ready::Port(port),
                (None, None) => Ready::Now,
            },
            ready_limit: self.ready_timeout,
            client_limit: self.timeout.unwrap_or(Duration::from_secs(60)),
            steps: self.steps()?,
            images: self.images()?,
        })
    }

    /// The images of your programs: with --hosts containers, the ones given
    /// or the services image.
    fn images(&self) -> Result<Option<Images>, BadInput> {
        let services = || format!("{}:{}", crate::run::docker::IMAGE, crate::run::docker::TAG);
        match self.hosts {
            HostKind::Containers => Ok(Some(Images {
                server: self.server_image.clone().unwrap_or_else(services),
                client: self.client_image.clone().unwrap_or_else(services),
            })),
            HostKind::Netns => match (&self.server_image, &self.client_image) {
                (Some(_), _) => Err(BadInput::new("--server-image", "needs --hosts containers")),
                (_, Some(_)) => Err(BadInput::new("--client-image", "needs --hosts containers")),
                _ => Ok(None),
            },
        }
    }
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
    let text = match &outcome {
        Outcome::Probe(o) => summary(o),
        Outcome::Programs(o) => programs_summary(o, s, args.client.as_deref().unwrap_or("")),
        Outcome::Timeliness(o) => timeliness_summary(o, s),
        Outcome::Share(_) => unreachable!("badnet run has no share workload"),
    };
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

fn summary(o: &ProbeOutcome) -> String {
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

/// `badnet run --server ... --client ...`: what your client printed and
/// how it exited.
fn programs_summary(o: &ProgramsOutcome, s: &Scenario, client: &str) -> String {
    let mut text = format!(
        "client {:?} over {} ({:?}), backend {}: exit {}, {:.3} s\n",
        client,
        s.impairment,
        s.direction,
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
    text
}

/// `badnet run udp|tcp --messages RATE --duration D`.
fn timeliness_summary(o: &TimelinessOutcome, s: &Scenario) -> String {
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
    text
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
fn phases(t: &Timeline) -> String {
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
