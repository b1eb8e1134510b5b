//! The lecture's probes: the transport's server in host B, its probe in
//! host A, and what the probe reported beside what the link counted. On
//! container hosts they run in containers of the services image that join
//! the holders.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use faults::{Backend, Lab, LinkCounters, UdpCounters};
use serde::Serialize;
use services::child::KillOnDrop;
use services::report::Report;

use super::docker::{Running, IMAGE, TAG};
use super::hosts::Hosts;
use super::play::{with_timeline, Started, Timeline};
use super::process::{run_client_container, wait_ready_container, Ready};
use crate::bins;
use crate::scenario::{HostKind, Scenario, Transport, PORT};

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
    /// UDP: datagrams the link delivered to host B that its kernel neither
    /// counted as read by the server nor as dropped: still in the server's
    /// receive queue when the run ended (a slow reader's, late rather than
    /// dropped). With the receive-buffer drops (`server_udp`), what a slow
    /// reader costs the probe in full. None for TCP, and for probes larger
    /// than one packet (the link counts packets, the kernel datagrams).
    pub unread_at_end: Option<u64>,
    /// The seed of the link's draws (given, or drawn): `--seed` replays it.
    pub seed: u64,
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
        let link = lab.counters()?;
        let server_udp = lab.b().udp_counters()?.since(server_before);
        Ok(Self {
            scenario: scenario.clone(),
            backend: lab.backend(),
            backend_reason: lab.backend_reason().to_owned(),
            hosts: scenario.hosts,
            run_id: lab.run_id().to_owned(),
            report,
            unread_at_end: (scenario.transport == Transport::Udp && scenario.size <= ONE_PACKET)
                .then(|| unread(&link, &server_udp)),
            link,
            server_udp,
            timeline,
            seed: lab.seed(),
        })
    }
}

/// The largest UDP payload that crosses the link in one packet (a
/// 1500-byte MTU, less the IP and UDP headers).
const ONE_PACKET: usize = 1472;

/// What the link delivered to host B (what left it, less what B's device
/// refused), less what B's kernel counted as read (`InDatagrams` counts at
/// `recvmsg`), as dropped (`InErrors`: a full buffer, a bad checksum) or as
/// sent to no socket (`NoPorts`): what was still queued at the end.
fn unread(link: &LinkCounters, b: &UdpCounters) -> u64 {
    let delivered = link
        .forward
        .passed
        .saturating_sub(link.forward.write_errors);
    delivered.saturating_sub(b.in_datagrams + b.in_errors + b.no_ports)
}

/// Runs `scenario`'s server and probe on `hosts` (built and impaired):
/// processes in network namespaces ([`on_lab`]), or containers that join
/// the holders. Container hosts ignore `capture`.
pub fn on_hosts(
    hosts: &Hosts,
    scenario: &Scenario,
    capture: Option<&Path>,
) -> anyhow::Result<ProbeOutcome> {
    match hosts.holders() {
        None => on_lab(&hosts.lab, scenario, capture),
        Some(holders) => in_containers(&hosts.lab, holders, scenario),
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

/// The server in a container joined to B's holder, ready once it prints
/// its readiness line; then the probe in one joined to A's, killed past
/// its limit.
fn in_containers(lab: &Lab, [a, b]: &[Running; 2], s: &Scenario) -> anyhow::Result<ProbeOutcome> {
    let image = format!("{IMAGE}:{TAG}");
    let before = lab.b().udp_counters()?;
    let mut server = vec![
        format!("/bin/{}", s.transport.server_program()),
        "--bind".into(),
        lab.addr_b().to_string(),
        "--port".into(),
        PORT.to_string(),
    ];
    server.extend(s.server_args());
    let server_c = Running::start(
        lab.run_id(),
        &image,
        &format!("container:{}", b.id),
        &server,
    )?;
    let ready = Ready::Line(regex::Regex::new(&format!(
        "^{}$",
        regex::escape(services::READY_LINE)
    ))?);
    wait_ready_container(&server_c, lab.b(), &ready, READY_WAIT)
        .with_context(|| format!("starting {}", s.transport.server_program()))?;
    let mut probe = vec![format!("/bin/{}", s.transport.probe_program())];
    probe.extend(s.probe_args(&lab.addr_b().to_string()));
    let limit = s.probe_limit() + Duration::from_secs(10);
    let (client, timeline) = with_timeline(lab, s.direction, &s.steps(), |started| {
        run_client_container(lab.run_id(), &image, &a.id, &probe, limit, started)
    })?;
    drop(server_c);
    match client.exit_code {
        Some(0) => {}
        None => bail!("the probe container still ran after {limit:?}: killed"),
        Some(code) => bail!(
            "the probe container exited with {code}: {}",
            client.stderr.trim()
        ),
    }
    let report = Report::parse(&client.stdout)
        .with_context(|| format!("the probe printed no report: {:?}", client.stdout))?;
    Ok(ProbeOutcome::new(s, lab, report, before, timeline)?)
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
