//! The `badnet` command line.

use std::process::ExitCode;

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use faults::{Backend, Direction, Impairment, Lab};

use crate::runner::{self, Outcome};
use crate::scenario::{HostKind, Partition, Scenario, Transport};
use nix::sys::signal::{SigSet, Signal};

/// See, by measurement, what UDP and TCP do on a bad network.
#[derive(Debug, Parser)]
#[command(name = "badnet", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one transport over one bad network and report what it saw.
    Run(Box<RunArgs>),
    /// UDP and TCP side by side on a ladder of bad networks: table, plots, pcaps.
    Demo {
        /// Where to write report.json, report.md, the plots and the pcaps.
        #[arg(long, default_value = "badnet-report")]
        out: std::path::PathBuf,
        /// auto, netem, wire or veth (a plain pair, no impairment).
        #[arg(long, default_value = "auto")]
        backend: Backend,
        /// netns or containers.
        #[arg(long, value_enum, default_value = "netns")]
        hosts: HostKind,
        /// Fewer probes and bytes: under 30 seconds.
        #[arg(long)]
        quick: bool,
    },
    /// What this machine can do (root, netem, TUN, user namespaces, Docker), with remedies.
    Doctor {
        /// One JSON object with keys root, netem, tun, userns, docker.
        #[arg(long)]
        json: bool,
    },
    /// Remove what dead runs left behind (namespaces, links, processes).
    Cleanup,
    /// Benchmarks: the wire against veth, impairment fidelity, the servers
    /// against the lecture's, runs alone and side by side.
    Bench {
        /// Where to write <section>.json and summary.md.
        #[arg(long, default_value = "target/bench")]
        out: std::path::PathBuf,
        /// Shorter spans, fewer samples.
        #[arg(long)]
        quick: bool,
        /// Only these sections: link, fidelity, servers, suite.
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Concurrent TCP clients to hold.
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
    },
    /// Build two hosts and an impaired link, print how to use them, and keep
    /// them until Ctrl-C.
    Lab {
        /// auto, netem, wire or veth (a plain pair, no impairment).
        #[arg(long, default_value = "auto")]
        backend: Backend,
        /// netem arguments for the link, e.g. "delay 50ms 10ms loss 5%".
        #[arg(long, default_value = "")]
        impair: String,
        /// both, forward (A to B) or reverse.
        #[arg(long, default_value = "both")]
        direction: Direction,
        /// Seed of the wire's random draws.
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// `badnet run` flags: an impairment, a backend and a workload.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// udp or tcp.
    #[arg(value_enum)]
    pub transport: Transport,
    /// Loss per direction, e.g. 10%.
    #[arg(long)]
    pub loss: Option<String>,
    /// Delay per direction, e.g. 50ms.
    #[arg(long)]
    pub delay: Option<String>,
    /// Jitter around the delay, e.g. 10ms (needs --delay).
    #[arg(long)]
    pub jitter: Option<String>,
    /// Packets sent ahead of the delay, e.g. 25% (needs --delay).
    #[arg(long)]
    pub reorder: Option<String>,
    /// Packets duplicated, e.g. 5%.
    #[arg(long)]
    pub duplicate: Option<String>,
    /// Packets with one bit flipped, e.g. 2%.
    #[arg(long)]
    pub corrupt: Option<String>,
    /// Rate limit, e.g. 10mbit.
    #[arg(long)]
    pub rate: Option<String>,
    /// Any further netem arguments, e.g. "loss gemodel 1% 10%".
    #[arg(long)]
    pub netem: Option<String>,
    /// Cut the link for this long (with --partition-after).
    #[arg(long, value_parser = services::cli::parse_duration, requires = "partition_after")]
    pub partition_for: Option<Duration>,
    /// Cut the link this long after the probe starts.
    #[arg(long, value_parser = services::cli::parse_duration, requires = "partition_for")]
    pub partition_after: Option<Duration>,
    /// both, forward (client to server) or reverse.
    #[arg(long, default_value = "both")]
    pub direction: Direction,
    /// auto, netem or wire.
    #[arg(long, default_value = "auto")]
    pub backend: Backend,
    /// netns (namespaces this run creates) or containers (`make images` first).
    #[arg(long, value_enum, default_value = "netns")]
    pub hosts: HostKind,
    /// UDP probes to send.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=services::udp_probe::MAX_COUNT))]
    pub count: u64,
    /// Time between UDP probes.
    #[arg(long, default_value = "1ms", value_parser = services::cli::parse_duration)]
    pub interval: Duration,
    /// Bytes per UDP probe.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(29..=65_507))]
    pub size: u32,
    /// TCP bytes to stream.
    #[arg(long, default_value_t = 1 << 20, value_parser = clap::value_parser!(u64).range(1..=services::tcp_probe::MAX_BYTES))]
    pub bytes: u64,
    /// UDP: wait for late echoes (default 2s); TCP: give up after (default 60s).
    #[arg(long, value_parser = services::cli::parse_duration)]
    pub timeout: Option<Duration>,
    /// Seed of the wire's random draws.
    #[arg(long)]
    pub seed: Option<u64>,
    /// One JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

impl RunArgs {
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
        for (word, value) in [
            ("loss", &self.loss),
            ("reorder", &self.reorder),
            ("duplicate", &self.duplicate),
            ("corrupt", &self.corrupt),
            ("rate", &self.rate),
        ] {
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
    pub fn scenario(&self) -> Result<Scenario, faults::Error> {
        let mut s = Scenario::new(self.transport);
        s.impairment = self.netem_args().parse()?;
        s.direction = self.direction;
        s.backend = self.backend;
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
        s.seed = self.seed;
        Ok(s)
    }
}

/// Runs the command line; the exit code follows the README: 0 done, 1 a
/// failure to run, 2 bad input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    services::cli::init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("badnet: {e:#}");
            match e.downcast_ref::<faults::Error>() {
                Some(faults::Error::Invalid { .. }) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run_scenario(&args),
        Command::Doctor { json } => doctor(json),
        Command::Demo {
            out,
            backend,
            hosts,
            quick,
        } => {
            let report = crate::demo::run(&crate::demo::DemoConfig {
                out: out.clone(),
                backend,
                hosts,
                quick,
            })?;
            println!("{}", crate::demo::table(&report));
            println!("{}\n", report.summary);
            println!(
                "Wrote {}/report.md, report.json, loss.svg, goodput.svg, rtt.svg{} in {:.0} s.",
                out.display(),
                if hosts == HostKind::Netns {
                    ", tcp.pcap, udp.pcap"
                } else {
                    ""
                },
                report.duration_s
            );
            Ok(())
        }
        Command::Bench {
            out,
            quick,
            only,
            clients,
        } => {
            let summary = crate::bench::run(&crate::bench::BenchConfig {
                out: out.clone(),
                quick,
                only,
                clients,
            })?;
            println!("{summary}");
            println!("Wrote {}/*.json and summary.md.", out.display());
            Ok(())
        }
        Command::Cleanup => {
            let mut removed = faults::cleanup::sweep()?;
            removed.extend(
                crate::containers::sweep()?
                    .into_iter()
                    .map(|id| format!("container {id}")),
            );
            if removed.is_empty() {
                println!("nothing to clean up");
            }
            for name in removed {
                println!("removed {name}");
            }
            Ok(())
        }
        Command::Lab {
            backend,
            impair,
            direction,
            seed,
        } => lab(backend, &impair.parse()?, direction, seed),
    }
}

fn run_scenario(args: &RunArgs) -> anyhow::Result<()> {
    let scenario = args.scenario()?;
    let outcome = runner::run(&scenario)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string(&outcome_json(&outcome, &args.netem_args()))?
        );
    } else {
        print!("{}", summary(&outcome));
    }
    Ok(())
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
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v
}

fn summary(o: &Outcome) -> String {
    use services::report::Report;
    let mut s = format!(
        "{} over {} ({:?}), backend {} ({}), hosts {}\n",
        match o.report {
            Report::Udp(_) => "UDP",
            Report::Tcp(_) => "TCP",
        },
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
    s.push_str(&match &o.report {
        Report::Udp(r) => r.summary(),
        Report::Tcp(r) => r.summary(),
    });
    for (dir, c) in [("A->B", o.link.forward), ("B->A", o.link.reverse)] {
        s.push_str(&format!(
            "link {dir}: in {} passed {} dropped {} duplicated {} corrupted {} reordered {} queue drops {} coalesced {}\n",
            c.packets_in, c.passed, c.dropped, c.duplicated, c.corrupted, c.reordered, c.queue_drops, c.coalesced
        ));
    }
    s
}

fn doctor(json: bool) -> anyhow::Result<()> {
    let report = faults::doctor::check();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for c in &report.checks {
        println!(
            "{:<7} {:<3} {}",
            c.name,
            if c.ok { "yes" } else { "no" },
            c.detail
        );
        if let Some(r) = &c.remedy {
            println!("{:<11} remedy: {r}", "");
        }
    }
    Ok(())
}

fn lab(
    backend: Backend,
    impair: &Impairment,
    direction: Direction,
    seed: Option<u64>,
) -> anyhow::Result<()> {
    // Block the signals before any thread starts, so every thread inherits
    // the mask and this one receives them in sigwait.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    let lab = Lab::new(backend, seed)?;
    lab.impair(direction, impair)?;
    let (a, b) = (lab.a().name().to_owned(), lab.b().name().to_owned());
    println!("lab {} ready: {}", lab.run_id(), lab.backend_reason());
    println!("host a: {a} {}", lab.addr_a());
    println!("host b: {b} {}", lab.addr_b());
    println!("link: {direction:?} {impair}");
    println!("try: ip netns exec {a} ping {}", lab.addr_b());
    println!("Ctrl-C removes it");
    let signal = signals.wait()?;
    tracing::info!("{signal}: removing the lab");
    let counters = lab.counters();
    lab.remove()?;
    println!("forward: {}", serde_json::to_string(&counters.forward)?);
    println!("reverse: {}", serde_json::to_string(&counters.reverse)?);
    println!("removed");
    Ok(())
}
