//! `badnet lab`: hosts on one switch, impaired, kept until Ctrl-C (or for
//! a while).

use std::time::{Duration, Instant};

use faults::{Backend, Direction, Impairment, Lab, Pairs, Topology};
use nix::sys::signal::Signal;
use serde_json::json;

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::args::HostsArg;
use crate::error::BadInput;
use crate::run::many::HostInfo;
use crate::run::nodes::{NodeSpec, Nodes, Output};
use crate::run::process::Ready;
use crate::timeline::ProcessFault;

/// What `badnet lab` builds and how long it keeps it.
#[derive(Debug, Clone)]
pub struct LabRequest {
    pub hosts: HostsArg,
    pub backend: Backend,
    pub seed: Option<u64>,
    /// Impairments: for the pairs named, or (none named) for every pair
    /// (with two hosts, the direction's).
    pub impair: Vec<(Option<Pairs>, Impairment)>,
    pub direction: Direction,
    /// None: until SIGINT or SIGTERM.
    pub duration: Option<Duration>,
    /// A program per host: `HOST=COMMAND`.
    pub run: Vec<String>,
    pub json: bool,
}

impl LabRequest {
    /// The topology, every impairment checked: bad input is refused here,
    /// before anything is created.
    fn topology(&self) -> Result<Topology, BadInput> {
        let names = self.hosts.names();
        let two = names.len() == 2 && matches!(self.hosts, HostsArg::Count(2));
        let mut t = if two {
            Ok(Topology::two())
        } else {
            Topology::named(names)
        }
        .map_err(|e| BadInput::new("--hosts", e.to_string()))?;
        let bad = |e: faults::Error| BadInput::new("--impair", e.to_string());
        for (pairs, spec) in &self.impair {
            let pairs = match (pairs.clone(), two) {
                (Some(p), _) => vec![p],
                (None, true) => match self.direction {
                    Direction::Forward => vec![Pairs::One("a".into(), "b".into())],
                    Direction::Reverse => vec![Pairs::One("b".into(), "a".into())],
                    Direction::Both => vec![Pairs::All],
                },
                (None, false) => vec![Pairs::All],
            };
            for p in pairs {
                t = t.impair(p, spec.clone()).map_err(bad)?;
            }
        }
        for program in &self.run {
            let (host, command) = program.split_once('=').ok_or_else(|| {
                BadInput::new(
                    "--run",
                    format!("'{program}': HOST=COMMAND, e.g. 'h1=my-server --port 7000'"),
                )
            })?;
            t.index(host.trim())
                .map_err(|e| BadInput::new("--run", e.to_string()))?;
            let words = crate::run::programs::split(command, "--run")?;
            let addrs: Vec<_> = t
                .names()
                .iter()
                .map(|n| t.address_of(n).expect("a host"))
                .collect();
            crate::run::template::fill(&words, &t, &addrs, host.trim())
                .map_err(|e| BadInput::new("--run", e))?;
        }
        if self.backend == Backend::Veth && self.impair.iter().any(|(_, i)| !i.is_none()) {
            return Err(BadInput::new(
                "--backend",
                "veth carries no impairment: use netem, wire or auto with --impair",
            ));
        }
        Ok(t)
    }
}

/// `--impair`: `NETEM`, or `PAIRS NETEM` when the first word names pairs.
pub fn parse_impair(text: &str) -> Result<(Option<Pairs>, Impairment), String> {
    let text = text.trim();
    let (first, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let parsed = if first == "*" || first.contains("->") {
        first.parse().and_then(|p| Ok((Some(p), rest.parse()?)))
    } else {
        text.parse().map(|spec| (None, spec))
    };
    parsed.map_err(|e: faults::Error| e.to_string())
}

/// `badnet lab`: builds the lab, prints its hosts, keeps it for the
/// duration or until SIGINT or SIGTERM, removes it.
pub fn run(req: &LabRequest) -> anyhow::Result<()> {
    let topology = req.topology()?;
    // Caught before anything is built: one that comes meanwhile is kept
    // for the wait.
    let mut signals = Caught::new()?;
    let started = Instant::now();
    let lab = Lab::builder(topology)
        .backend(req.backend)
        .seed(req.seed)
        .build()?;
    let build_s = started.elapsed().as_secs_f64();
    let hosts = HostInfo::of(&lab)?;
    if req.json {
        println!(
            "{}",
            json!({"run_id": lab.run_id(), "backend": lab.backend(), "seed": lab.seed(), "hosts": hosts, "build_s": round3(build_s)})
        );
    } else {
        println!(
            "lab {} ready in {build_s:.2} s: {} (seed {})",
            lab.run_id(),
            lab.backend_reason(),
            lab.seed()
        );
        for h in hosts.iter().take(20) {
            println!("host {}: {} {}", h.name, h.netns, h.address);
        }
        if hosts.len() > 20 {
            println!("... {} hosts in all", hosts.len());
        }
        for (pairs, spec) in &req.impair {
            match pairs {
                Some(p) => println!("impaired: {p} {spec}"),
                None => println!("impaired: {spec}"),
            }
        }
        println!(
            "try: ip netns exec {} ping {}",
            hosts[0].netns, hosts[1].address
        );
        match req.duration {
            Some(d) => println!("kept for {d:?}; Ctrl-C removes it sooner"),
            None => println!("Ctrl-C removes it"),
        }
    }
    let ready = Instant::now();
    let specs: Vec<NodeSpec> = req
        .run
        .iter()
        .map(|p| {
            let (host, command) = p.split_once('=').expect("checked");
            NodeSpec {
                host: host.trim().to_owned(),
                run: command.to_owned(),
                ready: Ready::Now,
                ready_limit: Duration::ZERO,
                image: None,
            }
        })
        .collect();
    let programs = Nodes::start(&lab, None, &specs, Output::Echo)?;
    let stop = AtomicBool::new(false);
    let process = |step: &str| {
        ProcessFault::parse(step)
            .map(|fault| fault.and_then(|f| programs.apply(&f).map_err(|e| format!("{e:#}"))))
    };
    let signal = std::thread::scope(|s| {
        let control = s.spawn(|| super::fault::serve(&lab, ready, &stop, req.json, &process));
        let signal = match req.duration {
            Some(d) if d.is_zero() => Ok(None),
            limit => Ok(signals.wait(limit)),
        };
        stop.store(true, Ordering::Relaxed);
        match control.join().expect("the control thread panicked") {
            Ok(()) => signal,
            Err(e) => Err(e.context("listening for changes (badnet fault)")),
        }
    })?;
    if let Some(signal) = signal {
        tracing::info!("{signal}: removing the lab");
    }
    let ended: Vec<Value> = programs
        .stop()
        .into_iter()
        .map(|p| json!({"host": p.host, "ended": p.ended, "starts": p.starts}))
        .collect();
    if !req.json {
        for p in &ended {
            println!(
                "{}: {}",
                p["host"].as_str().unwrap_or(""),
                p["ended"].as_str().unwrap_or("")
            );
        }
    }
    let counters = lab.pair_counters()?;
    let removing = Instant::now();
    lab.remove()?;
    let remove_s = removing.elapsed().as_secs_f64();
    if req.json {
        println!(
            "{}",
            json!({"links": counters, "programs": ended, "remove_s": round3(remove_s)})
        );
    } else {
        for (from, to, c) in counters.iter().filter(|(_, _, c)| c.packets_in > 0) {
            println!("{from}->{to}: {}", serde_json::to_string(c)?);
        }
        println!("removed in {remove_s:.2} s");
    }
    Ok(())
}

/// SIGINT and SIGTERM, caught (by tokio's handler) from the moment this
/// is made, not blocked: the programs of `--run` begin with neither blocked
/// nor caught (exec resets a caught signal), as they would in a shell.
struct Caught {
    runtime: tokio::runtime::Runtime,
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Caught {
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (interrupt, terminate) = {
            let _entered = runtime.enter();
            (
                signal(SignalKind::interrupt())?,
                signal(SignalKind::terminate())?,
            )
        };
        Ok(Self {
            runtime,
            interrupt,
            terminate,
        })
    }

    /// Waits for SIGINT or SIGTERM, at most `limit`; the one that came, if
    /// any.
    fn wait(&mut self, limit: Option<Duration>) -> Option<Signal> {
        let Self {
            runtime,
            interrupt,
            terminate,
        } = self;
        runtime.block_on(async {
            let signal = async {
                tokio::select! {
                    _ = interrupt.recv() => Signal::SIGINT,
                    _ = terminate.recv() => Signal::SIGTERM,
                }
            };
            match limit {
                None => Some(signal.await),
                Some(limit) => tokio::time::timeout(limit, signal).await.ok(),
            }
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
