//! What the workloads of many hosts share (`mesh`, `clients`): a topology
//! of named hosts from a scenario, checked before anything is created; the
//! lecture's server started in a host; probes between pairs of hosts at
//! once, each report kept with its pair.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use faults::{Backend, Fault, Impairment, Lab, Pairs, Topology};
use serde::Serialize;
use services::child::KillOnDrop;
use services::report::Report;

use super::play::Started;
use crate::bins;
use crate::error::BadInput;
use crate::scenario::{Scenario, Transport, PORT};
use crate::timeline::Action;

const READY_WAIT: Duration = Duration::from_secs(10);

/// The topology of hosts `names`: every pair impaired as `s` is, then the
/// per-pair impairments over it, and `s`'s timeline checked against it
/// (a process fault only for a host of `with_programs`).
/// Bad input is refused here, before anything is created, naming `hosts`
/// (the flag of the names) or the flag at fault.
pub fn topology(
    names: &[String],
    hosts: &'static str,
    s: &Scenario,
    pairs: &[(Pairs, Impairment)],
    with_programs: &[&str],
) -> Result<Topology, BadInput> {
    let bad = |flag: &'static str| move |e: faults::Error| BadInput::new(flag, e.to_string());
    let mut topology = Topology::named(names.to_vec())
        .map_err(bad(hosts))?
        .impair(Pairs::All, s.impairment.clone())
        .map_err(bad("--netem"))?;
    for (p, spec) in pairs {
        topology = topology
            .impair(p.clone(), spec.clone())
            .map_err(bad("--impair"))?;
    }
    crate::timeline::check(&s.timeline, None).map_err(|e| BadInput::new("--at", e))?;
    for step in &s.timeline {
        let fault = match &step.action {
            Action::Fault(f) => f.clone(),
            Action::Partition => Fault::Partition(Vec::new()),
            Action::Heal => Fault::Heal,
            Action::Clear => Fault::Clear(Pairs::All),
            Action::Impair(spec) => Fault::Impair(Pairs::All, spec.clone()),
            Action::Renumber => {
                return Err(BadInput::new(
                    "--at",
                    "renumber names its host here: renumber h2",
                ))
            }
            Action::Process(p) => {
                if !with_programs.contains(&p.host.as_str()) {
                    return Err(BadInput::new(
                        "--at",
                        format!(
                            "'{p}' at {:?}: no program runs in host '{}'{}",
                            step.at,
                            p.host,
                            if with_programs.is_empty() {
                                " (process faults are for the programs of [[scenario.host]])"
                                    .to_owned()
                            } else {
                                format!(" (the hosts with one: {})", with_programs.join(", "))
                            }
                        ),
                    ));
                }
                continue;
            }
        };
        fault.check(&topology).map_err(|e| {
            BadInput::new("--at", format!("'{}' at {:?}: {e}", step.action, step.at))
        })?;
    }
    let impaired = !s.impairment.is_none() || !pairs.is_empty() || !s.timeline.is_empty();
    if s.backend == Backend::Veth && impaired {
        return Err(BadInput::new(
            "--backend",
            "veth carries no impairment and no fault: use netem, wire or auto",
        ));
    }
    Ok(topology)
}

/// A lab of `topology` on `s`'s backend and seed.
pub fn build(topology: Topology, s: &Scenario) -> anyhow::Result<Lab> {
    Ok(Lab::builder(topology)
        .backend(s.backend)
        .seed(s.seed)
        .build()?)
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

/// The lecture's server of `transport`, started in host `name` on its
/// address, once it says it is ready.
pub fn start_server(lab: &Lab, name: &str, transport: Transport) -> anyhow::Result<KillOnDrop> {
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

/// One probe from a host to another.
#[derive(Debug, Clone, Serialize)]
pub struct PairReport {
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub report: Report,
}

/// Says the clients run, starts a probe of `s`'s settings for each `(from,
/// to)` of `pairs`, and collects each report. The timeline's zero is when
/// the first probe starts: on a busy machine starting them all takes a
/// while, and a zero after the last one would find the first ones done.
pub fn probe(
    lab: &Lab,
    s: &Scenario,
    pairs: &[(String, String)],
    started: &Started,
) -> anyhow::Result<Vec<PairReport>> {
    let program = s.transport.probe_program();
    let path = bins::locate(program)?;
    let limit = s.probe_limit() + Duration::from_secs(10);
    let mut probes = Vec::new();
    started.now();
    for (from, to) in pairs {
        let mut cmd = lab
            .host(from)?
            .command(path.to_str().context("binary path")?);
        cmd.args(s.probe_args(&lab.address(to)?.to_string()));
        let child = KillOnDrop::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))
            .with_context(|| format!("starting {program} in {from}"))?;
        probes.push((from.clone(), to.clone(), child));
    }
    std::thread::scope(|scope| {
        let waiting: Vec<_> = probes
            .into_iter()
            .map(|(from, to, child)| {
                scope.spawn(move || -> anyhow::Result<PairReport> {
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

/// `--impair`: PAIRS NETEM.
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
