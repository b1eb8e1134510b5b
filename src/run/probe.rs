//! The lecture's probes: the transport's server in host B, its probe in
//! host A, and what the probe reported beside what the link counted.
//! Container hosts run them as their containers' own commands
//! ([`super::probe_in_containers`]).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use faults::{Backend, Lab, LinkCounters, UdpCounters};
use serde::Serialize;
use services::child::KillOnDrop;
use services::report::Report;

use super::play::{with_timeline, Started, Timeline};
use crate::bins;
use crate::scenario::{HostKind, Scenario, PORT};

const READY_WAIT: Duration = Duration::from_secs(10);

/// What one probe run measured: the probe's report and the link's
/// counters, with what ran where.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeOutcome {
    pub scenario: Scenario,
    /// The backend the link ran on (never auto).
    pub backend: Backend,
    /// Why that backend.
    pub backend_reason: String,
    /// What kind of host ran the programs.
    pub hosts: HostKind,
    /// The run id in every resource name.
    pub run_id: String,
    /// What the probe saw.
    pub report: Report,
    /// What the link did, per direction.
    pub link: LinkCounters,
    /// What host B's kernel counted of UDP during the run (evidence from
    /// outside the link: e.g. datagrams that reached the server).
    pub server_udp: UdpCounters,
    /// The timeline as played: when each step took effect, and what the
    /// link counted in each phase.
    #[serde(flatten)]
    pub timeline: Timeline,
}

impl ProbeOutcome {
    /// The outcome of `scenario` on `lab` (read before the lab is removed),
    /// with the probe's `report`; `server_before` is what host B's kernel
    /// had counted of UDP before the run.
    pub fn new(
        scenario: &Scenario,
        lab: &Lab,
        report: Report,
        server_before: UdpCounters,
        timeline: Timeline,
    ) -> faults::Result<Self> {
        Ok(Self {
            scenario: scenario.clone(),
            backend: lab.backend(),
            backend_reason: lab.backend_reason().to_owned(),
            hosts: scenario.hosts,
            run_id: lab.run_id().to_owned(),
            report,
            link: lab.counters()?,
            server_udp: lab.b().udp_counters()?.since(server_before),
            timeline,
        })
    }
}

/// Runs `scenario`'s server and probe on `lab` (built and impaired; several
/// probes can share one link), playing the scenario's steps. With
/// `capture`, host A's side of the link is recorded there as a pcap while
/// the probe runs.
pub fn on_lab(
    lab: &Lab,
    scenario: &Scenario,
    capture: Option<&Path>,
) -> anyhow::Result<ProbeOutcome> {
    let before = lab.b().udp_counters()?;
    let server = start_server(lab, scenario)?;
    let capture = capture.map(|path| start_capture(lab, path)).transpose()?;
    let steps = scenario.steps();
    let played = with_timeline(lab, scenario.direction, &steps, |started| {
        run_probe(lab, scenario, started)
    });
    if let Some(mut tcpdump) = capture {
        // Give tcpdump time to read what the kernel buffered; it writes out
        // and exits on SIGINT.
        std::thread::sleep(Duration::from_millis(300));
        let _ = tcpdump.interrupt();
    }
    drop(server);
    let (report, timeline) = played?;
    Ok(ProbeOutcome::new(scenario, lab, report, before, timeline)?)
}

fn start_capture(lab: &Lab, path: &Path) -> anyhow::Result<KillOnDrop> {
    let dev = lab.device_a();
    let mut cmd = lab.a().command("tcpdump");
    cmd.args([
        "-i",
        &dev,
        "--immediate-mode",
        "-U",
        "-Z",
        "root",
        "-s",
        "256",
        "-w",
    ])
    .arg(path);
    let mut child = KillOnDrop::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::piped()))
        .context("starting tcpdump (install it: apt-get install tcpdump)")?;
    // tcpdump says "listening on ..." once it captures.
    match child.first_stderr_line(READY_WAIT) {
        Some(line) if line.contains("listening on") => Ok(child),
        Some(line) => bail!("tcpdump: {}", line.trim()),
        None => bail!("tcpdump did not start within {READY_WAIT:?}"),
    }
}

fn start_server(lab: &Lab, s: &Scenario) -> anyhow::Result<KillOnDrop> {
    let name = s.transport.server_program();
    let mut cmd = lab
        .b()
        .command(bins::locate(name)?.to_str().context("binary path")?);
    cmd.args([
        "--bind",
        &lab.addr_b().to_string(),
        "--port",
        &PORT.to_string(),
    ]);
    cmd.args(s.server_args());
    let mut child = KillOnDrop::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()))
        .with_context(|| format!("starting {name}"))?;
    match child.first_stdout_line(READY_WAIT) {
        Some(line) if line.trim_end() == services::READY_LINE => Ok(child),
        Some(line) => bail!("{name} said {line:?} instead of its readiness line"),
        None => bail!("{name} was not ready within {READY_WAIT:?}"),
    }
}

fn run_probe(lab: &Lab, s: &Scenario, started: &Started) -> anyhow::Result<Report> {
    let name = s.transport.probe_program();
    let args = s.probe_args(&lab.addr_b().to_string());
    let limit = s.probe_limit();
    let mut cmd = lab
        .a()
        .command(bins::locate(name)?.to_str().context("binary path")?);
    cmd.args(&args);
    let out = output_within(cmd, limit + Duration::from_secs(10), started)
        .with_context(|| format!("running {name}"))?;
    Report::parse(&out).with_context(|| format!("{name} printed no report: {out:?}"))
}

/// Runs `cmd` and returns its stdout, killing it (by PID) past `limit`.
fn output_within(mut cmd: Command, limit: Duration, started: &Started) -> anyhow::Result<String> {
    let child = KillOnDrop::spawn(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()))?;
    started.now();
    let run = child.output_within(limit)?;
    match run.status {
        None => bail!("still running after {limit:?}: killed"),
        Some(status) if !status.success() => {
            bail!("{status}: {}", String::from_utf8_lossy(&run.stderr).trim())
        }
        Some(_) => Ok(String::from_utf8_lossy(&run.stdout).into_owned()),
    }
}
