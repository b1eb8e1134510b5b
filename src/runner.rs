//! Running a scenario: build the lab, start the server in host B, run the
//! probe in host A, cut the link if asked, collect what both sides saw,
//! and remove everything.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};
use faults::{Lab, LinkCounters};
use serde::Serialize;
use services::report::Report;

use crate::bins;
use crate::scenario::{HostKind, Partition, Scenario, Transport};

/// The port the server listens on (the lecture's).
pub const PORT: u16 = services::DEFAULT_PORT;
const READY_WAIT: Duration = Duration::from_secs(10);

/// What one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    /// `netem` or `wire`.
    pub backend: String,
    /// Why that backend.
    pub backend_reason: String,
    /// What kind of host ran the programs.
    pub hosts: &'static str,
    /// The run id in every resource name.
    pub run_id: String,
    /// What the probe saw.
    pub report: Report,
    /// What the link did, per direction.
    pub link: LinkCounters,
}

/// A child process killed (by its PID) when dropped.
struct Guarded(Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `scenario` on the hosts it names: network namespaces, or
/// containers.
pub fn run(scenario: &Scenario) -> anyhow::Result<Outcome> {
    match scenario.hosts {
        HostKind::Netns => run_netns(scenario),
        HostKind::Containers => crate::containers::run(scenario),
    }
}

/// Cuts the link after `p.after`, and heals it `p.duration` later. A
/// partition that could not be made (or undone) fails the run: a report
/// of a network that was never cut would be a lie.
pub fn partition_after(lab: &Lab, p: Partition) -> faults::Result<()> {
    std::thread::sleep(p.after);
    lab.partition()?;
    std::thread::sleep(p.duration);
    lab.heal()
}

/// Runs `probe` while `partition` (if any) cuts and heals `lab` on a
/// thread of its own; the partition's failure comes first.
pub fn with_partition<T>(
    lab: &Lab,
    partition: Option<Partition>,
    probe: impl FnOnce() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    std::thread::scope(|s| {
        let cut = partition.map(|p| s.spawn(move || partition_after(lab, p)));
        let result = probe();
        if let Some(cut) = cut {
            cut.join()
                .expect("the partition thread panicked")
                .context("partitioning the link")?;
        }
        result
    })
}

fn run_netns(scenario: &Scenario) -> anyhow::Result<Outcome> {
    scenario.impairment.validate()?;
    let lab = Lab::new(scenario.backend, scenario.seed)?;
    lab.impair(scenario.direction, &scenario.impairment)?;
    let report = run_on_lab(&lab, scenario, None)?;
    let outcome = Outcome {
        scenario: scenario.clone(),
        backend: lab.backend().to_owned(),
        backend_reason: lab.backend_reason().to_owned(),
        hosts: "netns",
        run_id: lab.run_id().to_owned(),
        report,
        link: lab.counters(),
    };
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
    let server = start_server(lab, scenario.transport)?;
    let capture = capture.map(|path| start_capture(lab, path)).transpose()?;
    let report = with_partition(lab, scenario.partition, || run_probe(lab, scenario));
    if let Some(mut tcpdump) = capture {
        // Give tcpdump time to read what the kernel buffered; it writes out
        // and exits on SIGINT.
        std::thread::sleep(Duration::from_millis(300));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(tcpdump.0.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let _ = tcpdump.0.wait();
    }
    drop(server);
    report
}

fn start_capture(lab: &Lab, path: &Path) -> anyhow::Result<Guarded> {
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
    let mut child = Guarded(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting tcpdump (install it: apt-get install tcpdump)")?,
    );
    // tcpdump says "listening on ..." once it captures.
    let stderr = child.0.stderr.take().context("tcpdump stderr")?;
    match first_line_within(stderr, READY_WAIT) {
        Some(line) if line.contains("listening on") => Ok(child),
        Some(line) => bail!("tcpdump: {}", line.trim()),
        None => bail!("tcpdump did not start within {READY_WAIT:?}"),
    }
}

/// The first line `reader` gives within `limit`, read on a thread of its
/// own so a silent process cannot hang the caller.
fn first_line_within(reader: impl Read + Send + 'static, limit: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(limit).ok()
}

fn start_server(lab: &Lab, transport: Transport) -> anyhow::Result<Guarded> {
    let name = match transport {
        Transport::Udp => "udp-server",
        Transport::Tcp => "tcp-server",
    };
    let mut cmd = lab
        .b()
        .command(bins::locate(name)?.to_str().context("binary path")?);
    cmd.args([
        "--bind",
        &lab.addr_b().to_string(),
        "--port",
        &PORT.to_string(),
    ]);
    let mut child = Guarded(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {name}"))?,
    );
    let stdout = child.0.stdout.take().context("server stdout")?;
    match first_line_within(stdout, READY_WAIT) {
        Some(line) if line.trim_end() == services::READY_LINE => Ok(child),
        Some(line) => bail!("{name} said {line:?} instead of its readiness line"),
        None => bail!("{name} was not ready within {READY_WAIT:?}"),
    }
}

fn micros(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

/// The probe's arguments (after the binary) for scenario `s` against
/// `server`.
pub fn probe_args(s: &Scenario, server: &str) -> Vec<String> {
    let mut args: Vec<String> = match s.transport {
        Transport::Udp => vec![
            "--count".into(),
            s.count.to_string(),
            "--interval".into(),
            micros(s.interval),
            "--size".into(),
            s.size.to_string(),
        ],
        Transport::Tcp => vec![
            "--bytes".into(),
            s.bytes.to_string(),
            "--write-size".into(),
            s.write_size.to_string(),
        ],
    };
    args.extend([
        "--server".into(),
        server.to_owned(),
        "--port".into(),
        PORT.to_string(),
    ]);
    args.extend([
        "--probe".into(),
        "--json".into(),
        "--timeout".into(),
        micros(s.timeout),
    ]);
    if s.transport == Transport::Udp && s.samples {
        args.push("--samples".into());
    }
    if let (Transport::Tcp, Some(cc)) = (s.transport, &s.congestion) {
        args.extend(["--congestion".into(), cc.clone()]);
    }
    args
}

/// How long the probe of `s` may run: its sending time and its timeout.
pub fn probe_limit(s: &Scenario) -> Duration {
    match s.transport {
        Transport::Udp => s.interval.mul_f64(s.count as f64) + s.timeout,
        Transport::Tcp => s.timeout,
    }
}

fn run_probe(lab: &Lab, s: &Scenario) -> anyhow::Result<Report> {
    let name = match s.transport {
        Transport::Udp => "udp-client",
        Transport::Tcp => "tcp-client",
    };
    let args = probe_args(s, &lab.addr_b().to_string());
    let limit = probe_limit(s);
    let mut cmd = lab
        .a()
        .command(bins::locate(name)?.to_str().context("binary path")?);
    cmd.args(&args);
    let out = output_within(cmd, limit + Duration::from_secs(10))
        .with_context(|| format!("running {name}"))?;
    Report::parse(&out).with_context(|| format!("{name} printed no report: {out:?}"))
}

/// Runs `cmd` and returns its stdout, killing it (by PID) past `limit`.
fn output_within(mut cmd: Command, limit: Duration) -> anyhow::Result<String> {
    let mut child = Guarded(cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?);
    let (mut stdout, mut stderr) = (
        child.0.stdout.take().context("stdout")?,
        child.0.stderr.take().context("stderr")?,
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut out, mut err) = (String::new(), String::new());
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send((out, err));
    });
    let (out, err) = rx
        .recv_timeout(limit)
        .map_err(|_| anyhow::anyhow!("still running after {limit:?}: killed"))?;
    let status = child.0.wait()?;
    if !status.success() {
        bail!("{status}: {}", err.trim());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_args_carry_every_setting_of_the_scenario() {
        let mut udp = Scenario::new(Transport::Udp);
        udp.samples = true;
        let args = probe_args(&udp, "198.18.0.2").join(" ");
        assert!(
            args.contains("--count 1000 --interval 1000us --size 64"),
            "{args}"
        );
        assert!(
            args.contains("--server 198.18.0.2 --port 12000 --probe --json --timeout 2000000us"),
            "{args}"
        );
        assert!(args.ends_with("--samples"), "{args}");
        let mut tcp = Scenario::new(Transport::Tcp);
        tcp.congestion = Some("cubic".into());
        let args = probe_args(&tcp, "198.18.0.2").join(" ");
        assert!(args.contains("--bytes 1048576 --write-size 64"), "{args}");
        assert!(args.ends_with("--congestion cubic"), "{args}");
    }
}
