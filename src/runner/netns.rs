//! Hosts that are network namespaces this run creates.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use faults::Lab;
use services::child::KillOnDrop;
use services::report::Report;

use super::outcome::Outcome;
use super::play::{with_timeline, Started, Timeline};
use crate::bins;
use crate::error::BadInput;
use crate::scenario::{Scenario, PORT};

const READY_WAIT: Duration = Duration::from_secs(10);

/// Runs `scenario` between two network namespaces, recording host A's
/// side of the link to `capture` if given.
pub fn run(scenario: &Scenario, capture: Option<&Path>) -> anyhow::Result<Outcome> {
    scenario.impairment.validate()?;
    scenario
        .check_steps()
        .map_err(|e| BadInput::new("--at", e))?;
    let lab = Lab::new(scenario.backend, scenario.seed)?;
    lab.impair(scenario.direction, &scenario.impairment)?;
    let before = lab.b().udp_counters()?;
    let (report, timeline) = play_on_lab(&lab, scenario, capture)?;
    let outcome = Outcome::new(scenario, &lab, report, before, timeline)?;
    lab.remove()?;
    Ok(outcome)
}

/// Runs `scenario`'s server and probe on an existing, already impaired
/// lab (several probes can share one link), cutting the link if the
/// scenario asks. With `capture`, host A's side of the link is recorded
/// there as a pcap while the probe runs.
pub fn run_on_lab(
    lab: &Lab,
    scenario: &Scenario,
    capture: Option<&Path>,
) -> anyhow::Result<Report> {
    play_on_lab(lab, scenario, capture).map(|(report, _)| report)
}

/// [`run_on_lab`], with the timeline as played.
fn play_on_lab(
    lab: &Lab,
    scenario: &Scenario,
    capture: Option<&Path>,
) -> anyhow::Result<(Report, Timeline)> {
    scenario
        .check_steps()
        .map_err(|e| BadInput::new("--at", e))?;
    let server = start_server(lab, scenario)?;
    let capture = capture.map(|path| start_capture(lab, path)).transpose()?;
    let steps = scenario.steps();
    let report = with_timeline(lab, scenario.direction, &steps, |started| {
        run_probe(lab, scenario, started)
    });
    if let Some(mut tcpdump) = capture {
        // Give tcpdump time to read what the kernel buffered; it writes out
        // and exits on SIGINT.
        std::thread::sleep(Duration::from_millis(300));
        let _ = tcpdump.interrupt();
    }
    drop(server);
    report
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
