//! `badnet demo`: UDP and TCP side by side on a ladder of bad networks,
//! with a table, a plain-words summary, plots and packet captures.
//!
//! - `ladder`: the networks, and the results' types.
//! - `report`: the table, the summary and the files.
//! - `charts`: the charts, and their files.
//! - `table`: the side-by-side table, as rows (in Markdown or HTML).
//! - `peers`: many hosts: five peers through a partition, four clients of
//!   one server (mesh.svg).
//! - `html`: report.html.

mod charts;
mod html;
mod ladder;
mod peers;
mod report;
mod table;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Direction};
use services::report::TcpReport;

pub use charts::FILES as CHART_FILES;
pub use ladder::{DemoReport, RungResult, SweepPoint};
pub use report::MESH_FILE;
pub use table::markdown as table;

use crate::machine::Machine;
use crate::progress::Progress;
use crate::run::share::{Share, ShareReport};
use crate::run::timeliness::{Messages, TimelinessReport};
use crate::run::{self, Hosts, Network, Outcome, ProbeOutcome, Request, Workload};
use crate::scenario::{HostKind, Partition, Scenario, Transport};
use ladder::{mathis_mbps, Sharing, Timeliness, CAPTURED, LADDER, SWEEP_DELAY_MS};

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
    /// One run at a time (as the benchmarks compare), instead of at once.
    pub serial: bool,
}

/// `transport` on `rung`: its network, its partition, its reader.
fn rung_scenario(cfg: &DemoConfig, transport: Transport, rung: &ladder::Rung) -> Scenario {
    let mut s = scenario(cfg, transport, rung.spec, rung.partition);
    if rung.slow_reader {
        s.receiver_rate = Some(match transport {
            Transport::Udp => 500.0,
            Transport::Tcp => 1e6,
        });
        s.receiver_buffer = Some(16_000);
    }
    s
}

impl DemoConfig {
    /// The seed of the wire's draws: the one given, else the demo's own.
    fn seed(&self) -> u64 {
        self.seed.unwrap_or(DEFAULT_SEED)
    }
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
    s.seed = Some(cfg.seed());
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

/// The losses of the goodput sweep.
fn sweep_losses(quick: bool) -> &'static [f64] {
    if quick {
        &[0.01, 0.05]
    } else {
        &[0.005, 0.01, 0.02, 0.05, 0.10]
    }
}

/// How often the clean TCP transfer runs: the spread of these is the noise
/// band of "time vs clean".
const CLEAN_REPEATS: usize = 5;

/// The seed of the demo's draws unless one is given.
const DEFAULT_SEED: u64 = 2026;

/// The congestion control of the goodput sweep.
const SWEEP_CONGESTION: &str = "cubic";

/// A named run of the demo.
type Job<'a, T> = (String, Box<dyn FnOnce() -> anyhow::Result<T> + Send + 'a>);

/// Runs `jobs` at once, each on a thread of its own, reporting each to
/// `progress` as it ends; returns their results in order.
fn all_at_once<T: Send>(jobs: Vec<Job<'_, T>>, progress: &Progress) -> anyhow::Result<Vec<T>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs
            .into_iter()
            .map(|(name, job)| {
                s.spawn(move || {
                    let result = job().with_context(|| name.clone());
                    progress.step(&name);
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a demo run panicked"))
            .collect()
    })
}

/// Runs `jobs` one after another.
fn one_at_a_time<T: Send>(jobs: Vec<Job<'_, T>>, progress: &Progress) -> anyhow::Result<Vec<T>> {
    let mut out = Vec::new();
    for job in jobs {
        out.extend(all_at_once(vec![job], progress)?);
    }
    Ok(out)
}

/// Runs the demo and writes its files to `cfg.out`.
///
/// Every run has a lab of its own. What a busy CPU cannot distort runs all
/// at once: the UDP probes (counts of a seeded link; their RTTs are tens of
/// microseconds against milliseconds of configured delay), and the TCP
/// transfers whose time is the network's (delay, heavy loss, partitions,
/// rate). The TCP transfers that take milliseconds, whose time is the
/// CPU's, run alone: the clean one five times (the noise band), then the
/// light impairments. `--serial` runs everything one at a time, to compare.
pub fn run(cfg: &DemoConfig) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    if cfg.backend == Backend::Veth {
        return Err(crate::error::BadInput::new(
            "--backend",
            "the demo impairs its links, and veth is a plain pair that carries no impairment: use netem, wire or auto",
        )
        .into());
    }
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let losses = sweep_losses(cfg.quick);
    let progress = Progress::new(2 * LADDER.len() + CLEAN_REPEATS + losses.len() + 6);
    let (cpu_jobs, network_jobs) = tcp_jobs(cfg);
    let sweep_jobs: Vec<Job<SweepPoint>> = losses
        .iter()
        .map(|&p| -> Job<SweepPoint> {
            (
                format!("TCP goodput at {}% loss", p * 100.0),
                Box::new(move || sweep_point(cfg, p)),
            )
        })
        .collect();
    let udp = if cfg.serial {
        one_at_a_time(udp_jobs(cfg), &progress)?
    } else {
        all_at_once(udp_jobs(cfg), &progress)?
    };
    let clean = one_at_a_time(clean_jobs(cfg), &progress)?;
    let mut tcp = one_at_a_time(cpu_jobs, &progress)?;
    // The flows fill the link as fast as the CPU moves them: alone.
    let shared = one_at_a_time(sharing_jobs(cfg), &progress)?;
    let peers_job = || {
        all_at_once(
            vec![(
                "five peers through a partition".to_owned(),
                Box::new(|| peers::mesh(cfg)) as Box<dyn FnOnce() -> _ + Send>,
            )],
            &progress,
        )
    };
    let clients_job = || {
        all_at_once(
            vec![(
                "four clients of one server".to_owned(),
                Box::new(|| peers::clients(cfg)) as Box<dyn FnOnce() -> _ + Send>,
            )],
            &progress,
        )
    };
    let (sweep, timely, mut mesh, mut clients) = if cfg.serial {
        tcp.extend(one_at_a_time(network_jobs, &progress)?);
        (
            one_at_a_time(sweep_jobs, &progress)?,
            one_at_a_time(timeliness_jobs(cfg), &progress)?,
            peers_job()?,
            clients_job()?,
        )
    } else {
        let (more, sweep, timely, mesh, clients) = std::thread::scope(|s| {
            let sweep = s.spawn(|| all_at_once(sweep_jobs, &progress));
            let timely = s.spawn(|| all_at_once(timeliness_jobs(cfg), &progress));
            let mesh = s.spawn(peers_job);
            let clients = s.spawn(clients_job);
            let more = all_at_once(network_jobs, &progress);
            (
                more,
                sweep.join().expect("the sweep panicked"),
                timely.join().expect("the messages panicked"),
                mesh.join().expect("the mesh panicked"),
                clients.join().expect("the clients panicked"),
            )
        });
        tcp.extend(more?);
        (sweep?, timely?, mesh?, clients?)
    };
    tcp.sort_by_key(|(i, _)| *i);
    let tcp = std::iter::once(clean.first().context("a clean TCP run")?.clone())
        .chain(tcp.into_iter().map(|(_, o)| o))
        .collect();
    let mut report = assemble(cfg, udp, tcp, sweep)?;
    if let [udp, tcp] = &timely[..] {
        report.timeliness = Some(Timeliness {
            netem: TIMELINESS_NETEM.into(),
            rate: TIMELINESS_RATE,
            udp: udp.clone(),
            tcp: tcp.clone(),
        });
    }
    if let [alone, flooded] = &shared[..] {
        report.sharing = Some(Sharing {
            alone: alone.clone(),
            flooded: flooded.clone(),
        });
    }
    report.mesh = mesh.pop();
    report.clients = clients.pop();
    report.clean_tcp_s = clean
        .iter()
        .filter_map(|o| o.report.as_tcp().map(|r| r.duration_s))
        .collect();
    report.summary = report::summary(&report);
    report.duration_s = started.elapsed().as_secs_f64();
    report::write_files(&cfg.out, &report, cfg.hosts == HostKind::Netns)?;
    Ok(report)
}

/// Where the pcap of `rung` goes, if it is the captured one.
fn capture(cfg: &DemoConfig, rung: &str, file: &str) -> Option<PathBuf> {
    (rung == CAPTURED && cfg.hosts == HostKind::Netns).then(|| cfg.out.join(file))
}

/// UDP on every network, and 50 ms without jitter (last) for the RTT plot.
fn udp_jobs(cfg: &DemoConfig) -> Vec<Job<'static, ProbeOutcome>> {
    let mut jobs: Vec<Job<ProbeOutcome>> = Vec::new();
    for rung in LADDER {
        let s = rung_scenario(cfg, Transport::Udp, rung);
        let pcap = capture(cfg, rung.name, "udp.pcap");
        jobs.push((
            format!("UDP {}", rung.name),
            Box::new(move || run::execute_probe_captured(&s, pcap)),
        ));
    }
    let no_jitter = scenario(cfg, Transport::Udp, "delay 50ms", None);
    jobs.push((
        "UDP delay 50ms without jitter".into(),
        Box::new(move || run::execute_probe(&no_jitter)),
    ));
    jobs
}

/// The clean TCP transfer, [`CLEAN_REPEATS`] times: its noise band.
fn clean_jobs(cfg: &DemoConfig) -> Vec<Job<'static, ProbeOutcome>> {
    let clean = scenario(cfg, Transport::Tcp, "", None);
    (1..=CLEAN_REPEATS)
        .map(|i| -> Job<ProbeOutcome> {
            let s = clean.clone();
            (
                format!("TCP clean ({i} of {CLEAN_REPEATS})"),
                Box::new(move || run::execute_probe(&s)),
            )
        })
        .collect()
}

/// A run that knows its network's place in the ladder.
type Placed = Job<'static, (usize, ProbeOutcome)>;

/// TCP on every network but the clean one (the ladder's first), each with
/// its place: those the CPU times, and those the network times.
fn tcp_jobs(cfg: &DemoConfig) -> (Vec<Placed>, Vec<Placed>) {
    let (mut cpu, mut network) = (Vec::new(), Vec::new());
    for (i, rung) in LADDER.iter().enumerate().skip(1) {
        let s = rung_scenario(cfg, Transport::Tcp, rung);
        let pcap = capture(cfg, rung.name, "tcp.pcap");
        let job: Placed = (
            format!("TCP {}", rung.name),
            Box::new(move || Ok((i, run::execute_probe_captured(&s, pcap)?))),
        );
        if rung.cpu_bound {
            cpu.push(job);
        } else {
            network.push(job);
        }
    }
    (cpu, network)
}

/// The bottleneck of the sharing runs, and the flood's rate (twice it).
const SHARING_RATE: &str = "20mbit";
const SHARING_FLOOD_BPS: f64 = 40e6;

/// Two TCP flows through one bottleneck, alone and beside a UDP flood.
fn sharing_jobs(cfg: &DemoConfig) -> Vec<Job<'static, ShareReport>> {
    [None, Some(SHARING_FLOOD_BPS)]
        .into_iter()
        .map(|udp_bps| -> Job<ShareReport> {
            let share = Share {
                rate: SHARING_RATE.into(),
                limit: 100,
                tcp: 2,
                udp_bps,
                duration: Duration::from_secs(if cfg.quick { 2 } else { 3 }),
            };
            let s = scenario(cfg, Transport::Tcp, "", None);
            (
                match udp_bps {
                    None => format!("2 TCP flows through {SHARING_RATE}"),
                    Some(_) => format!("2 TCP flows and a UDP flood through {SHARING_RATE}"),
                },
                Box::new(move || match run::execute(&Request::share(s, share)?)? {
                    Outcome::Share(r) => Ok(r),
                    _ => unreachable!("a share request has a share outcome"),
                }),
            )
        })
        .collect()
}

/// The link of the timeliness runs, and their messages per second.
const TIMELINESS_NETEM: &str = "delay 10ms loss 5%";
const TIMELINESS_RATE: f64 = 200.0;

/// The same stream of messages by UDP and by TCP, each on a lab of its
/// own with the same link.
fn timeliness_jobs(cfg: &DemoConfig) -> Vec<Job<'static, TimelinessReport>> {
    [Transport::Udp, Transport::Tcp]
        .into_iter()
        .map(|t| -> Job<TimelinessReport> {
            let mut s = scenario(cfg, t, TIMELINESS_NETEM, None);
            s.timeout = Duration::from_secs(30);
            let m = Messages {
                rate: TIMELINESS_RATE,
                duration: Duration::from_secs(if cfg.quick { 2 } else { 3 }),
            };
            (
                format!(
                    "{} messages, {TIMELINESS_NETEM}",
                    if t == Transport::Udp { "UDP" } else { "TCP" }
                ),
                Box::new(move || {
                    let r = Request {
                        scenario: s,
                        workload: Workload::Timeliness(m),
                    };
                    match run::execute(&r)? {
                        Outcome::Timeliness(o) => Ok(o.report),
                        _ => unreachable!("a timeliness request has a timeliness outcome"),
                    }
                }),
            )
        })
        .collect()
}

/// The report of the runs' outcomes: `udp` has one per network and the
/// no-jitter run last, `tcp` one per network.
fn assemble(
    cfg: &DemoConfig,
    mut udp: Vec<ProbeOutcome>,
    tcp: Vec<ProbeOutcome>,
    sweep: Vec<SweepPoint>,
) -> anyhow::Result<DemoReport> {
    let wrong = || anyhow::anyhow!("probe reports of the wrong transport");
    let no_jitter = udp.pop().context("the no-jitter run")?;
    let first = udp.first().context("the ladder's first run")?;
    let mut report = DemoReport {
        backend: first.backend,
        seed: cfg.seed(),
        backend_reason: first.backend_reason.clone(),
        hosts: cfg.hosts,
        quick: cfg.quick,
        machine: Machine::here().to_string(),
        rungs: Vec::new(),
        sweep,
        sweep_congestion: SWEEP_CONGESTION.into(),
        rtt_without_jitter_ms: no_jitter
            .report
            .as_udp()
            .ok_or_else(wrong)?
            .rtt_samples_ms
            .clone(),
        rtt_with_jitter_ms: Vec::new(),
        clean_tcp_s: Vec::new(),
        timeliness: None,
        sharing: None,
        mesh: None,
        clients: None,
        duration_s: 0.0,
        summary: String::new(),
    };
    for ((rung, u), t) in LADDER.iter().zip(udp).zip(tcp) {
        report.rungs.push(RungResult {
            name: rung.name.into(),
            netem: u.scenario.impairment.to_string(),
            udp: u.report.as_udp().ok_or_else(wrong)?.clone(),
            tcp: t.report.as_tcp().ok_or_else(wrong)?.clone(),
            link: vec![u.link, t.link],
        });
    }
    report.rtt_with_jitter_ms = report
        .rungs
        .iter()
        .find(|r| r.netem.starts_with("delay 50ms 20ms"))
        .map(|r| r.udp.rtt_samples_ms.clone())
        .unwrap_or_default();
    Ok(report)
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
        // The delay both ways, then the loss on A to B too.
        let hosts = Hosts::build(Network {
            hosts: HostKind::Netns,
            backend: s.backend,
            seed: s.seed,
            impairment: &s.impairment,
            direction: Direction::Both,
        })?;
        let o = (|| {
            hosts.lab.impair(
                Direction::Forward,
                &format!("delay {SWEEP_DELAY_MS}ms loss {}%", p * 100.0).parse()?,
            )?;
            run::probe::on_lab(&hosts.lab, &s, None)
        })();
        hosts.remove()?;
        o?.report
            .as_tcp()
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
