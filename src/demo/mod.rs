//! `badnet demo`: UDP and TCP side by side on a ladder of bad networks,
//! with a table, a plain-words summary, plots and packet captures.
//!
//! - `ladder`: the networks, and the results' types.
//! - `report`: the table, the summary and the files.
//! - `charts`: the three charts.

mod charts;
mod ladder;
mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Direction, Lab, LinkCounters};
use services::report::{TcpReport, UdpReport};

pub use ladder::{DemoReport, RungResult, SweepPoint};
pub use report::table;

use crate::machine::Machine;
use crate::progress::Progress;
use crate::runner;
use crate::scenario::{HostKind, Partition, Scenario, Transport};
use ladder::{mathis_mbps, CAPTURED, LADDER, SWEEP_DELAY_MS};

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub out: PathBuf,
    pub backend: Backend,
    /// Seed of the wire's draws (2026 by default): the same seed, the same
    /// UDP counts.
    pub seed: Option<u64>,
    pub hosts: HostKind,
    pub quick: bool,
}

fn scenario(
    cfg: &DemoConfig,
    transport: Transport,
    spec: &str,
    partition: Option<Partition>,
) -> Scenario {
    let mut s = Scenario::new(transport).impaired(spec, Direction::Both);
    s.backend = cfg.backend;
    s.hosts = cfg.hosts;
    s.partition = partition;
    s.seed = Some(cfg.seed.unwrap_or(DEFAULT_SEED));
    s.count = if cfg.quick { 500 } else { 2000 };
    s.interval = Duration::from_millis(1);
    s.timeout = Duration::from_secs(1);
    s.samples = true;
    s.bytes = if cfg.quick { 256 * 1024 } else { 1 << 20 };
    s.write_size = 16 * 1024;
    if transport == Transport::Tcp {
        s.timeout = Duration::from_secs(60);
    }
    s
}

/// What one network did to each transport, and where it ran.
struct Pair {
    udp: UdpReport,
    tcp: TcpReport,
    /// One link's counters (netns hosts), or each run's (containers).
    link: Vec<LinkCounters>,
    backend: Backend,
    backend_reason: String,
}

/// Runs `udp` and `tcp` on one link (netns hosts), or each on its own pair
/// of containers.
fn run_pair(udp: &Scenario, tcp: &Scenario, capture: Option<&Path>) -> anyhow::Result<Pair> {
    let wrong = || anyhow::anyhow!("probe reports of the wrong transport");
    if udp.hosts == HostKind::Containers {
        let (u, t) = (runner::run(udp)?, runner::run(tcp)?);
        return Ok(Pair {
            udp: u.report.as_udp().ok_or_else(wrong)?.clone(),
            tcp: t.report.as_tcp().ok_or_else(wrong)?.clone(),
            link: vec![u.link, t.link],
            backend: u.backend,
            backend_reason: u.backend_reason,
        });
    }
    let lab = Lab::new(udp.backend, udp.seed)?;
    lab.impair(udp.direction, &udp.impairment)?;
    let udp_capture = capture.map(|d| d.join("udp.pcap"));
    let tcp_capture = capture.map(|d| d.join("tcp.pcap"));
    let u = runner::run_on_lab(&lab, udp, udp_capture.as_deref())?;
    let t = runner::run_on_lab(&lab, tcp, tcp_capture.as_deref())?;
    let pair = Pair {
        udp: u.as_udp().ok_or_else(wrong)?.clone(),
        tcp: t.as_tcp().ok_or_else(wrong)?.clone(),
        link: vec![lab.counters()],
        backend: lab.backend(),
        backend_reason: lab.backend_reason().to_owned(),
    };
    lab.remove()?;
    Ok(pair)
}

/// The losses of the goodput sweep.
fn sweep_losses(quick: bool) -> &'static [f64] {
    if quick {
        &[0.01, 0.05]
    } else {
        &[0.005, 0.01, 0.02, 0.05, 0.10]
    }
}

/// The seed of the demo's draws unless one is given.
const DEFAULT_SEED: u64 = 2026;

/// The congestion control of the goodput sweep.
const SWEEP_CONGESTION: &str = "cubic";

/// Runs the demo and writes its files to `cfg.out`.
pub fn run(cfg: &DemoConfig) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let mut progress = Progress::new(LADDER.len() + sweep_losses(cfg.quick).len() + 1);
    let mut report = DemoReport {
        backend: cfg.backend,
        backend_reason: String::new(),
        hosts: cfg.hosts,
        quick: cfg.quick,
        machine: Machine::here().to_string(),
        rungs: Vec::new(),
        sweep: Vec::new(),
        sweep_congestion: SWEEP_CONGESTION.into(),
        rtt_without_jitter_ms: Vec::new(),
        rtt_with_jitter_ms: Vec::new(),
        duration_s: 0.0,
        summary: String::new(),
    };
    run_ladder(cfg, &mut report, &mut progress)?;
    report.rtt_without_jitter_ms = rtt_without_jitter(cfg)?;
    progress.step("delay 50ms without jitter");
    report.rtt_with_jitter_ms = report
        .rungs
        .iter()
        .find(|r| r.netem.starts_with("delay 50ms 20ms"))
        .map(|r| r.udp.rtt_samples_ms.clone())
        .unwrap_or_default();
    for &p in sweep_losses(cfg.quick) {
        report.sweep.push(sweep_point(cfg, p)?);
        progress.step(&format!("TCP goodput at {}% loss", p * 100.0));
    }
    report.summary = report::summary(&report);
    report.duration_s = started.elapsed().as_secs_f64();
    report::write_files(&cfg.out, &report, cfg.hosts == HostKind::Netns)?;
    Ok(report)
}

/// UDP and TCP on each network of the ladder.
fn run_ladder(
    cfg: &DemoConfig,
    report: &mut DemoReport,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    for rung in LADDER {
        let udp = scenario(cfg, Transport::Udp, rung.spec, rung.partition);
        let tcp = scenario(cfg, Transport::Tcp, rung.spec, rung.partition);
        let capture =
            (rung.name == CAPTURED && cfg.hosts == HostKind::Netns).then_some(cfg.out.as_path());
        let pair =
            run_pair(&udp, &tcp, capture).with_context(|| format!("network '{}'", rung.name))?;
        (report.backend, report.backend_reason) = (pair.backend, pair.backend_reason);
        report.rungs.push(RungResult {
            name: rung.name.into(),
            netem: udp.impairment.to_string(),
            udp: pair.udp,
            tcp: pair.tcp,
            link: pair.link,
        });
        progress.step(rung.name);
    }
    Ok(())
}

/// The RTT samples of 50 ms each way without jitter.
fn rtt_without_jitter(cfg: &DemoConfig) -> anyhow::Result<Vec<f64>> {
    let mut no_jitter = scenario(cfg, Transport::Udp, "delay 50ms", None);
    no_jitter.samples = true;
    let outcome = runner::run(&no_jitter)?;
    Ok(outcome
        .report
        .as_udp()
        .map(|r| r.rtt_samples_ms.clone())
        .unwrap_or_default())
}

/// TCP goodput with loss `p` on the data direction, RTT twice the sweep's
/// delay.
fn sweep_point(cfg: &DemoConfig, p: f64) -> anyhow::Result<SweepPoint> {
    let mut s = scenario(
        cfg,
        Transport::Tcp,
        &format!("delay {SWEEP_DELAY_MS}ms"),
        None,
    );
    s.congestion = Some(SWEEP_CONGESTION.into());
    s.bytes = if cfg.quick { 512 * 1024 } else { 2 << 20 };
    let tcp = (|| -> anyhow::Result<TcpReport> {
        let lab = Lab::new(s.backend, s.seed)?;
        lab.impair(Direction::Both, &s.impairment)?;
        lab.impair(
            Direction::Forward,
            &format!("delay {SWEEP_DELAY_MS}ms loss {}%", p * 100.0).parse()?,
        )?;
        let r = runner::run_on_lab(&lab, &s, None)?;
        lab.remove()?;
        r.as_tcp()
            .cloned()
            .context("a UDP report from the TCP probe")
    })()
    .with_context(|| format!("goodput sweep at {}% loss", p * 100.0))?;
    Ok(SweepPoint {
        loss: p,
        tcp,
        mathis_mbps: mathis_mbps(p, 2.0 * SWEEP_DELAY_MS / 1e3),
    })
}
