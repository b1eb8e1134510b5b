//! `badnet mesh`: every host of an N-host lab runs the lecture's server
//! and probes every other host at once (the P2P picture: each peer is a
//! client and a server), while the network changes as a timeline says.
//!
//! What it reports per ordered pair is the probe's own report (a UDP probe
//! from `from` to `to` is a round trip: `from`'s request crosses `from->to`,
//! the echo `to->from`), and per directed pair what the switch counted,
//! for the whole run and for each phase.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use faults::{Backend, Direction, Impairment, Lab, PairCounters, Pairs, Topology};
use serde::Serialize;
use services::child::KillOnDrop;
use services::report::Report;

use crate::bins;
use crate::error::BadInput;
use crate::run::play::{with_timeline, Timeline};
use crate::scenario::{Scenario, Transport, PORT};
use crate::timeline::{Action, Step};

/// The most hosts a mesh runs: N(N-1) probes run at once.
pub const MAX_HOSTS: usize = 32;
const READY_WAIT: Duration = Duration::from_secs(10);

/// A mesh to run.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// The hosts' names (h1 ... hN by default).
    pub hosts: Vec<String>,
    pub transport: Transport,
    /// UDP: probes per pair, and the time between them.
    pub count: u64,
    pub interval: Duration,
    /// TCP: bytes per pair's stream.
    pub bytes: u64,
    /// Every pair's impairment, then the per-pair ones over it.
    pub impairment: Impairment,
    pub pairs: Vec<(Pairs, Impairment)>,
    pub steps: Vec<Step>,
    pub backend: Backend,
    pub seed: Option<u64>,
}

impl Mesh {
    /// `n` hosts named h1 ... hN, 200 UDP probes per pair 5 ms apart.
    pub fn new(n: usize) -> Self {
        Self {
            hosts: (1..=n).map(|i| format!("h{i}")).collect(),
            transport: Transport::Udp,
            count: 200,
            interval: Duration::from_millis(5),
            bytes: 256 << 10,
            impairment: Impairment::none(),
            pairs: Vec::new(),
            steps: Vec::new(),
            backend: Backend::Auto,
            seed: None,
        }
    }

    /// The topology, every step checked against it: bad input is refused
    /// here, before anything is created.
    pub fn topology(&self) -> Result<Topology, BadInput> {
        if self.hosts.len() > MAX_HOSTS {
            return Err(BadInput::new(
                "--hosts",
                format!(
                    "{} hosts: a mesh runs N(N-1) probes at once, at most {MAX_HOSTS} hosts",
                    self.hosts.len()
                ),
            ));
        }
        let bad = |flag: &'static str| move |e: faults::Error| BadInput::new(flag, e.to_string());
        let mut topology = Topology::named(self.hosts.clone())
            .map_err(bad("--hosts"))?
            .impair(Pairs::All, self.impairment.clone())
            .map_err(bad("--netem"))?;
        for (pairs, spec) in &self.pairs {
            topology = topology
                .impair(pairs.clone(), spec.clone())
                .map_err(bad("--impair"))?;
        }
        crate::timeline::check(&self.steps, None).map_err(|e| BadInput::new("--at", e))?;
        for step in &self.steps {
            let fault = match &step.action {
                Action::Fault(f) => f.clone(),
                Action::Partition => faults::Fault::Partition(Vec::new()),
                Action::Heal => faults::Fault::Heal,
                Action::Clear => faults::Fault::Clear(Pairs::All),
                Action::Impair(spec) => faults::Fault::Impair(Pairs::All, spec.clone()),
                Action::Renumber => {
                    return Err(BadInput::new(
                        "--at",
                        "renumber names its host in a mesh: renumber h2",
                    ))
                }
            };
            fault.check(&topology).map_err(|e| {
                BadInput::new("--at", format!("'{}' at {:?}: {e}", step.action, step.at))
            })?;
        }
        if self.backend == Backend::Veth
            && (!self.impairment.is_none() || !self.pairs.is_empty() || !self.steps.is_empty())
        {
            return Err(BadInput::new(
                "--backend",
                "veth carries no impairment and no fault: use netem, wire or auto",
            ));
        }
        Ok(topology)
    }

    /// A pair's probe, as a scenario (its arguments and time limit).
    fn probe(&self) -> Scenario {
        let mut s = Scenario::new(self.transport);
        s.count = self.count;
        s.interval = self.interval;
        s.bytes = self.bytes;
        s
    }
}

/// One ordered pair's probe.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub report: Report,
}

/// What a mesh measured.
#[derive(Debug, Clone, Serialize)]
pub struct MeshOutcome {
    pub transport: Transport,
    pub backend: Backend,
    pub seed: u64,
    /// Each host: its name, address and namespace.
    pub hosts: Vec<HostInfo>,
    /// Every ordered pair's probe report.
    pub pairs: Vec<PairReport>,
    /// What the switch counted per directed pair over the whole run.
    pub links: PairCounters,
    #[serde(flatten)]
    pub timeline: Timeline,
}

/// A host of a lab: its name, its address and its namespace.
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    pub name: String,
    pub address: std::net::Ipv4Addr,
    pub netns: String,
}

impl HostInfo {
    /// Every host of `lab`.
    pub fn of(lab: &Lab) -> anyhow::Result<Vec<HostInfo>> {
        lab.names()
            .iter()
            .zip(lab.hosts())
            .map(|(name, host)| {
                Ok(HostInfo {
                    name: name.clone(),
                    address: lab.address(name)?,
                    netns: host.name().to_owned(),
                })
            })
            .collect()
    }
}

/// Builds the lab, starts a server in every host, probes every ordered
/// pair at once while the timeline plays, and removes the lab.
pub fn run(mesh: &Mesh) -> anyhow::Result<MeshOutcome> {
    let topology = mesh.topology()?;
    let lab = Lab::builder(topology)
        .backend(mesh.backend)
        .seed(mesh.seed)
        .build()?;
    let hosts = HostInfo::of(&lab)?;
    let servers = lab
        .names()
        .iter()
        .map(|name| start_server(&lab, name, mesh.transport))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (pairs, timeline) = with_timeline(&lab, Direction::Both, &mesh.steps, |started| {
        probe_every_pair(&lab, mesh, started)
    })?;
    drop(servers);
    let outcome = MeshOutcome {
        transport: mesh.transport,
        backend: lab.backend(),
        seed: lab.seed(),
        hosts,
        pairs,
        links: lab.pair_counters()?,
        timeline,
    };
    lab.remove()?;
    Ok(outcome)
}

fn start_server(lab: &Lab, name: &str, transport: Transport) -> anyhow::Result<KillOnDrop> {
    let program = transport.server_program();
    let mut cmd = lab
        .host(name)?
        .command(bins::locate(program)?.to_str().context("binary path")?);
    cmd.args([
        "--bind",
        &lab.address(name)?.to_string(),
        "--port",
        &PORT.to_string(),
    ]);
    let mut child = KillOnDrop::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()))
        .with_context(|| format!("starting {program} in {name}"))?;
    match child.first_stdout_line(READY_WAIT) {
        Some(line) if line.trim_end() == services::READY_LINE => Ok(child),
        Some(line) => bail!("{program} in {name} said {line:?} instead of its readiness line"),
        None => bail!("{program} in {name} was not ready within {READY_WAIT:?}"),
    }
}

/// Starts every ordered pair's probe, says the client runs, and collects
/// each report.
fn probe_every_pair(
    lab: &Lab,
    mesh: &Mesh,
    started: &crate::run::play::Started,
) -> anyhow::Result<Vec<PairReport>> {
    let scenario = mesh.probe();
    let program = mesh.transport.probe_program();
    let path = bins::locate(program)?;
    let limit = scenario.probe_limit() + Duration::from_secs(10);
    let names = lab.names();
    let mut probes = Vec::new();
    for from in names {
        for to in names.iter().filter(|to| *to != from) {
            let mut cmd = lab
                .host(from)?
                .command(path.to_str().context("binary path")?);
            cmd.args(scenario.probe_args(&lab.address(to)?.to_string()));
            let child = KillOnDrop::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
                .with_context(|| format!("starting {program} in {from}"))?;
            probes.push((from.clone(), to.clone(), child));
        }
    }
    started.now();
    std::thread::scope(|s| {
        let waiting: Vec<_> = probes
            .into_iter()
            .map(|(from, to, child)| {
                s.spawn(move || -> anyhow::Result<PairReport> {
                    let out = child.output_within(limit)?;
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    let report = Report::parse(&stdout).with_context(|| {
                        format!(
                            "{program} {from}->{to} printed no report ({}): {}",
                            out.status
                                .map_or("killed at its limit".to_owned(), |s| s.to_string()),
                            String::from_utf8_lossy(&out.stderr).trim()
                        )
                    })?;
                    Ok(PairReport { from, to, report })
                })
            })
            .collect();
        waiting
            .into_iter()
            .map(|w| w.join().expect("a probe's waiting thread panicked"))
            .collect()
    })
}

impl MeshOutcome {
    /// The probe from `from` to `to`.
    pub fn pair(&self, from: &str, to: &str) -> Option<&Report> {
        self.pairs
            .iter()
            .find(|p| p.from == from && p.to == to)
            .map(|p| &p.report)
    }

    /// The matrix of what each pair delivered (UDP: echoes received of
    /// probes sent; TCP: whether the stream came back intact and in order)
    /// and each directed pair's link counts, as text.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        let width = names.iter().map(|n| n.len()).max().unwrap_or(2).max(6) + 1;
        let mut out = format!(
            "{} mesh of {} hosts on {} (seed {}): row probes column, {}\n",
            match self.transport {
                Transport::Udp => "UDP",
                Transport::Tcp => "TCP",
            },
            names.len(),
            self.backend,
            self.seed,
            match self.transport {
                Transport::Udp => "echoes received of probes sent",
                Transport::Tcp => "the stream back intact and in order",
            }
        );
        out.push_str(&format!("{:>width$}", ""));
        for n in &names {
            out.push_str(&format!("{n:>width$}"));
        }
        out.push('\n');
        for from in &names {
            out.push_str(&format!("{from:>width$}"));
            for to in &names {
                let cell = match self.pair(from, to) {
                    None => "-".to_owned(),
                    Some(Report::Udp(r)) => {
                        format!("{:.0}%", 100.0 * r.received as f64 / r.sent.max(1) as f64)
                    }
                    Some(Report::Tcp(r)) if r.completed && r.intact && r.in_order == Some(true) => {
                        "ok".into()
                    }
                    Some(Report::Tcp(r)) if r.error.is_some() => "cut".into(),
                    Some(Report::Tcp(_)) => "broken".into(),
                };
                out.push_str(&format!("{cell:>width$}"));
            }
            out.push('\n');
        }
        out.push_str("links (whole run): from->to packets in, passed, dropped\n");
        for (from, to, c) in self.links.iter() {
            out.push_str(&format!(
                "  {from}->{to}: {} in, {} passed, {} dropped\n",
                c.packets_in, c.passed, c.dropped
            ));
        }
        for (i, phase) in self.timeline.phases.iter().enumerate() {
            out.push_str(&format!(
                "phase {i} ({}, {:.0}-{:.0} ms): ",
                phase.action, phase.from_ms, phase.to_ms
            ));
            let cut: Vec<String> = phase
                .links
                .iter()
                .flat_map(|l| l.iter())
                .filter(|(_, _, c)| c.packets_in > 0 && c.passed == 0)
                .map(|(f, t, _)| format!("{f}->{t}"))
                .collect();
            if cut.is_empty() {
                out.push_str("every pair that sent passed packets\n");
            } else {
                out.push_str(&format!("passed nothing: {}\n", cut.join(" ")));
            }
        }
        out
    }
}

/// Checks that `--impair` values are `PAIRS NETEM`.
pub fn parse_pair_impairment(text: &str) -> Result<(Pairs, Impairment), String> {
    let (pairs, spec) = text
        .trim()
        .split_once(char::is_whitespace)
        .ok_or_else(|| format!("'{text}': PAIRS NETEM, e.g. 'h1->h2 loss 20%'"))?;
    Ok((
        pairs.parse().map_err(|e: faults::Error| e.to_string())?,
        spec.parse().map_err(|e: faults::Error| e.to_string())?,
    ))
}
