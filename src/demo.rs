//! `badnet demo`: UDP and TCP side by side on a ladder of bad networks,
//! with a table, a plain-words summary, plots and packet captures.

use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Direction, Lab, LinkCounters};
use serde::Serialize;
use services::report::{Report, TcpReport, UdpReport};

use crate::plot::{nice_ceiling, Chart, Mark, Point, Series};
use crate::runner;
use crate::scenario::{HostKind, Partition, Scenario, Transport};
use crate::stats::{clopper_pearson, FALSE_FAILURE};
use crate::verdict::round_trip_loss;

/// How to run the demo.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    pub out: PathBuf,
    pub backend: Backend,
    pub hosts: HostKind,
    pub quick: bool,
}

/// One network of the ladder.
struct Rung {
    name: &'static str,
    spec: &'static str,
    /// Loss per direction, for the loss plot.
    loss: Option<f64>,
    partition: Option<Partition>,
}

const LADDER: &[Rung] = &[
    Rung {
        name: "clean",
        spec: "",
        loss: Some(0.0),
        partition: None,
    },
    Rung {
        name: "loss 1%",
        spec: "loss 1%",
        loss: Some(0.01),
        partition: None,
    },
    Rung {
        name: "loss 5%",
        spec: "loss 5%",
        loss: Some(0.05),
        partition: None,
    },
    Rung {
        name: "loss 20%",
        spec: "loss 20%",
        loss: Some(0.20),
        partition: None,
    },
    Rung {
        name: "delay 50ms ± 20ms",
        spec: "delay 50ms 20ms",
        loss: None,
        partition: None,
    },
    Rung {
        name: "reorder 25%",
        spec: "delay 10ms reorder 25%",
        loss: None,
        partition: None,
    },
    Rung {
        name: "duplicate 5%",
        spec: "duplicate 5%",
        loss: None,
        partition: None,
    },
    Rung {
        name: "corrupt 2%",
        spec: "corrupt 2%",
        loss: None,
        partition: None,
    },
    Rung {
        name: "rate 10mbit",
        spec: "rate 10mbit",
        loss: None,
        partition: None,
    },
    Rung {
        name: "2 s partition",
        spec: "rate 10mbit",
        loss: None,
        partition: Some(Partition {
            after: Duration::from_millis(100),
            duration: Duration::from_secs(2),
        }),
    },
    Rung {
        name: "terrible",
        spec: "delay 40ms 20ms loss 10% duplicate 5% corrupt 2% reorder 10% rate 20mbit",
        loss: None,
        partition: None,
    },
];

/// The rung whose runs are captured to pcap files.
const CAPTURED: &str = "loss 5%";
/// The one-way delay of the goodput sweep (RTT twice that).
const SWEEP_DELAY_MS: f64 = 10.0;

/// What one network did to each transport.
#[derive(Debug, Clone, Serialize)]
pub struct RungResult {
    pub name: String,
    pub netem: String,
    pub udp: UdpReport,
    pub tcp: TcpReport,
    pub link: Vec<LinkCounters>,
}

/// One point of the goodput-versus-loss sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub loss: f64,
    pub tcp: TcpReport,
    /// Mathis et al.: MSS / (RTT sqrt(p)) sqrt(3/2), in Mbit/s.
    pub mathis_mbps: f64,
}

/// Everything the demo measured.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub backend: String,
    pub backend_reason: String,
    pub hosts: HostKind,
    pub quick: bool,
    pub machine: String,
    pub rungs: Vec<RungResult>,
    pub sweep: Vec<SweepPoint>,
    pub sweep_congestion: String,
    pub rtt_without_jitter_ms: Vec<f64>,
    pub rtt_with_jitter_ms: Vec<f64>,
    pub duration_s: f64,
    pub summary: String,
}

struct Progress {
    total: usize,
    done: usize,
    tty: bool,
}

impl Progress {
    fn step(&mut self, what: &str) {
        self.done += 1;
        let mut err = std::io::stderr();
        if self.tty {
            let width = 30;
            let filled = width * self.done / self.total;
            let _ = write!(
                err,
                "\r\x1b[2K[{}{}] {}/{} {what}",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.done,
                self.total
            );
            if self.done == self.total {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "[{}/{}] {what}", self.done, self.total);
        }
        let _ = err.flush();
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
    s.seed = Some(2026);
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

/// Runs `udp` and `tcp` on one link (netns hosts), or each on its own pair
/// of containers. Returns the reports, the link counters, and the backend.
fn run_pair(
    udp: &Scenario,
    tcp: &Scenario,
    capture: Option<&Path>,
) -> anyhow::Result<(UdpReport, TcpReport, Vec<LinkCounters>, String, String)> {
    if udp.hosts == HostKind::Containers {
        let (u, t) = (runner::run(udp)?, runner::run(tcp)?);
        return match (u.report, t.report) {
            (Report::Udp(ur), Report::Tcp(tr)) => {
                Ok((ur, tr, vec![u.link, t.link], u.backend, u.backend_reason))
            }
            _ => anyhow::bail!("probe reports of the wrong transport"),
        };
    }
    let lab = Lab::new(udp.backend, udp.seed)?;
    lab.impair(udp.direction, &udp.impairment)?;
    let udp_capture = capture.map(|d| d.join("udp.pcap"));
    let tcp_capture = capture.map(|d| d.join("tcp.pcap"));
    let u = runner::run_on_lab(&lab, udp, udp_capture.as_deref())?;
    let t = runner::run_on_lab(&lab, tcp, tcp_capture.as_deref())?;
    let link = lab.counters();
    let (backend, reason) = (lab.backend().to_owned(), lab.backend_reason().to_owned());
    lab.remove()?;
    match (u, t) {
        (Report::Udp(ur), Report::Tcp(tr)) => Ok((ur, tr, vec![link], backend, reason)),
        _ => anyhow::bail!("probe reports of the wrong transport"),
    }
}

/// Runs the demo and writes its files to `cfg.out`.
pub fn run(cfg: &DemoConfig) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    std::fs::create_dir_all(&cfg.out).with_context(|| format!("creating {}", cfg.out.display()))?;
    let sweep_losses: &[f64] = if cfg.quick {
        &[0.01, 0.05]
    } else {
        &[0.005, 0.01, 0.02, 0.05, 0.10]
    };
    let mut progress = Progress {
        total: LADDER.len() + sweep_losses.len() + 1,
        done: 0,
        tty: std::io::stderr().is_terminal(),
    };
    let mut rungs = Vec::new();
    let (mut backend, mut backend_reason) = (String::new(), String::new());
    for rung in LADDER {
        let udp = scenario(cfg, Transport::Udp, rung.spec, rung.partition);
        let tcp = scenario(cfg, Transport::Tcp, rung.spec, rung.partition);
        let capture =
            (rung.name == CAPTURED && cfg.hosts == HostKind::Netns).then_some(cfg.out.as_path());
        let (u, t, link, b, reason) =
            run_pair(&udp, &tcp, capture).with_context(|| format!("network '{}'", rung.name))?;
        (backend, backend_reason) = (b, reason);
        rungs.push(RungResult {
            name: rung.name.into(),
            netem: udp.impairment.to_string(),
            udp: u,
            tcp: t,
            link,
        });
        progress.step(rung.name);
    }
    let mut no_jitter = scenario(cfg, Transport::Udp, "delay 50ms", None);
    no_jitter.samples = true;
    let rtt_without_jitter_ms = match runner::run(&no_jitter)?.report {
        Report::Udp(r) => r.rtt_samples_ms,
        Report::Tcp(_) => Vec::new(),
    };
    progress.step("delay 50ms without jitter");
    let rtt_with_jitter_ms = rungs
        .iter()
        .find(|r| r.netem.starts_with("delay 50ms 20ms"))
        .map(|r| r.udp.rtt_samples_ms.clone())
        .unwrap_or_default();
    let congestion = "cubic";
    let mut sweep = Vec::new();
    for &p in sweep_losses {
        let mut s = scenario(
            cfg,
            Transport::Tcp,
            &format!("delay {SWEEP_DELAY_MS}ms"),
            None,
        );
        s.congestion = Some(congestion.into());
        s.bytes = if cfg.quick { 512 * 1024 } else { 2 << 20 };
        let o = (|| -> anyhow::Result<TcpReport> {
            let lab = Lab::new(s.backend, s.seed)?;
            lab.impair(Direction::Both, &s.impairment)?;
            lab.impair(
                Direction::Forward,
                &format!("delay {SWEEP_DELAY_MS}ms loss {}%", p * 100.0).parse()?,
            )?;
            let r = runner::run_on_lab(&lab, &s, None)?;
            lab.remove()?;
            match r {
                Report::Tcp(t) => Ok(t),
                Report::Udp(_) => anyhow::bail!("a UDP report from the TCP probe"),
            }
        })()
        .with_context(|| format!("goodput sweep at {}% loss", p * 100.0))?;
        let rtt = 2.0 * SWEEP_DELAY_MS / 1e3;
        let mathis_mbps = mathis_mbps(p, rtt);
        sweep.push(SweepPoint {
            loss: p,
            tcp: o,
            mathis_mbps,
        });
        progress.step(&format!("TCP goodput at {}% loss", p * 100.0));
    }
    let mut report = DemoReport {
        backend,
        backend_reason,
        hosts: cfg.hosts,
        quick: cfg.quick,
        machine: machine(),
        rungs,
        sweep,
        sweep_congestion: congestion.into(),
        rtt_without_jitter_ms,
        rtt_with_jitter_ms,
        duration_s: 0.0,
        summary: String::new(),
    };
    report.summary = summary(&report);
    report.duration_s = started.elapsed().as_secs_f64();
    write_files(cfg, &report)?;
    Ok(report)
}

/// Mathis et al.'s bound on TCP goodput, MSS / (RTT sqrt(p)) sqrt(3/2),
/// in Mbit/s, for a 1448-byte MSS, loss `p` and `rtt_s` seconds.
fn mathis_mbps(p: f64, rtt_s: f64) -> f64 {
    1448.0 * 8.0 / (rtt_s * p.sqrt()) * 1.5f64.sqrt() / 1e6
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, Linux {}", kernel.trim())
}

/// The side-by-side table, in Markdown.
pub fn table(report: &DemoReport) -> String {
    let clean_time = report
        .rungs
        .first()
        .map_or(1.0, |r| r.tcp.duration_s)
        .max(1e-9);
    let mut t = String::from(
        "| network | UDP sent | received | lost | reordered | duplicates | RTT p50 ms | RTT p99 ms | TCP intact | in order | retransmits | time s | goodput Mbit/s | time vs clean |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|:---:|:---:|---:|---:|---:|---:|\n",
    );
    for r in &report.rungs {
        let (p50, p99) = r.udp.rtt_ms.map_or(("-".into(), "-".into()), |p| {
            (format!("{:.2}", p.p50), format!("{:.2}", p.p99))
        });
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.1}% | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1}x |",
            r.name,
            r.udp.sent,
            r.udp.received,
            r.udp.loss_rate * 100.0,
            r.udp.reordered,
            r.udp.duplicates,
            p50,
            p99,
            yes(r.tcp.intact),
            yes(r.tcp.in_order),
            r.tcp.retransmits,
            r.tcp.duration_s,
            r.tcp.goodput_mbps,
            r.tcp.duration_s / clean_time,
        );
    }
    t
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

/// What the table shows, in plain words, from the numbers themselves.
fn summary(report: &DemoReport) -> String {
    let rungs = &report.rungs;
    let find = |name: &str| rungs.iter().find(|r| r.name == name);
    let all_intact = rungs
        .iter()
        .all(|r| r.tcp.intact && r.tcp.in_order && r.tcp.completed);
    let worst = rungs
        .iter()
        .max_by(|a, b| a.tcp.duration_s.total_cmp(&b.tcp.duration_s));
    let clean = rungs.first().map_or(1.0, |r| r.tcp.duration_s).max(1e-9);
    let retrans: u64 = rungs.iter().map(|r| r.tcp.retransmits).sum();
    let mut s = String::new();
    if let Some(r) = find("loss 20%") {
        let _ = write!(
            s,
            "UDP delivers what the network delivers and nothing more: with 20% loss each way it lost {:.1}% of its round trips (1-(1-0.2)^2 = 36% expected), ",
            r.udp.loss_rate * 100.0
        );
    }
    let reordered: u64 = rungs.iter().map(|r| r.udp.reordered).sum();
    let duplicated: u64 = rungs.iter().map(|r| r.udp.duplicates).sum();
    let corrupted: u64 = rungs.iter().map(|r| r.udp.corrupted).sum();
    let _ = write!(
        s,
        "its datagrams came back reordered {reordered} times and duplicated {duplicated} times across the ladder, and {corrupted} corrupted datagrams reached it (the checksum turns corruption into loss). "
    );
    if all_intact {
        let _ = write!(s, "TCP, on the very same links, delivered every byte intact and in order on every network, ");
    } else {
        let _ = write!(
            s,
            "TCP did NOT deliver every byte intact on every network (see the table), "
        );
    }
    if let Some(w) = worst {
        let _ = write!(
            s,
            "and paid for it: {retrans} retransmissions in all, and up to {:.1}x the clean link's time ({}, {:.2} s against {:.2} s).",
            w.tcp.duration_s / clean,
            w.name,
            w.tcp.duration_s,
            clean
        );
    }
    s
}

fn write_files(cfg: &DemoConfig, report: &DemoReport) -> anyhow::Result<()> {
    let out = &cfg.out;
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(report)?,
    )?;
    let mut md = format!(
        "# badnet demo\n\nBackend {} ({}), hosts {:?}, {}; {:.0} s.\n\n{}\n{}\n\n",
        report.backend,
        report.backend_reason,
        report.hosts,
        report.machine,
        report.duration_s,
        table(report),
        report.summary
    );
    md.push_str("![UDP loss](loss.svg)\n\n![TCP goodput](goodput.svg)\n\n![RTT](rtt.svg)\n");
    if cfg.hosts == HostKind::Netns {
        md.push_str(&format!("\nPacket captures of the '{CAPTURED}' network: `tcp.pcap`, `udp.pcap` (open them in Wireshark).\n"));
    }
    std::fs::write(out.join("report.md"), md)?;
    std::fs::write(out.join("loss.svg"), loss_chart(report).svg())?;
    std::fs::write(out.join("goodput.svg"), goodput_chart(report).svg())?;
    std::fs::write(out.join("rtt.svg"), rtt_chart(report).svg())?;
    Ok(())
}

fn loss_chart(report: &DemoReport) -> Chart {
    let points = LADDER
        .iter()
        .zip(&report.rungs)
        .filter_map(|(rung, r)| {
            let p = rung.loss?;
            let (lo, hi) = clopper_pearson(r.udp.lost, r.udp.sent.max(1), FALSE_FAILURE);
            Some((
                p * 100.0,
                r.udp.loss_rate * 100.0,
                Some((lo * 100.0, hi * 100.0)),
            ))
        })
        .collect();
    let curve = (0..=50)
        .map(|i| f64::from(i) * 0.5)
        .map(|p| (p, round_trip_loss(p / 100.0, 2) * 100.0))
        .collect();
    Chart {
        title: "UDP round-trip loss: observed vs configured".into(),
        x_label: "configured loss per direction (%)".into(),
        y_label: "observed round-trip loss (%)".into(),
        x: (0.0, 25.0),
        y: (0.0, 50.0),
        series: vec![
            Series {
                name: "expected 1-(1-p)^2".into(),
                color: "#888888",
                mark: Mark::Line(curve, true),
            },
            Series {
                name: "observed, Clopper-Pearson interval at 1e-6".into(),
                color: "#d62728",
                mark: Mark::Points(points),
            },
        ],
    }
}

fn goodput_chart(report: &DemoReport) -> Chart {
    let measured: Vec<Point> = report
        .sweep
        .iter()
        .map(|p| (p.loss * 100.0, p.tcp.goodput_mbps, None))
        .collect();
    let mathis: Vec<(f64, f64)> = (1..=100)
        .map(|i| f64::from(i) * 0.1)
        .map(|p| (p, mathis_mbps(p / 100.0, 2.0 * SWEEP_DELAY_MS / 1e3)))
        .collect();
    let top = nice_ceiling(
        report
            .sweep
            .iter()
            .map(|p| p.tcp.goodput_mbps)
            .fold(10.0f64, f64::max)
            * 1.1,
    );
    Chart {
        title: format!(
            "TCP ({}) goodput vs loss, RTT {} ms",
            report.sweep_congestion,
            2.0 * SWEEP_DELAY_MS
        ),
        x_label: "loss on the data direction (%)".into(),
        y_label: "goodput (Mbit/s)".into(),
        x: (0.0, 10.0),
        y: (0.0, top),
        series: vec![
            Series {
                name: "Mathis et al.: MSS/(RTT sqrt(p)) sqrt(3/2)".into(),
                color: "#888888",
                mark: Mark::Line(mathis, true),
            },
            Series {
                name: "measured".into(),
                color: "#1f77b4",
                mark: Mark::Points(measured),
            },
        ],
    }
}

/// The empirical CDF of `samples` as a step line from `lo` to `hi`, in %.
fn cdf(samples: &[f64], lo: f64, hi: f64) -> Vec<(f64, f64)> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len().max(1) as f64;
    let mut line = vec![(lo, 0.0)];
    for (i, &x) in sorted.iter().enumerate() {
        line.push((x, i as f64 / n * 100.0));
        line.push((x, (i + 1) as f64 / n * 100.0));
    }
    line.push((hi, if sorted.is_empty() { 0.0 } else { 100.0 }));
    line
}

fn rtt_chart(report: &DemoReport) -> Chart {
    Chart {
        title: "UDP round-trip time, 50 ms each way: cumulative distribution".into(),
        x_label: "RTT (ms)".into(),
        y_label: "probes with a shorter RTT (%)".into(),
        x: (50.0, 150.0),
        y: (0.0, 100.0),
        series: vec![
            Series {
                name: "delay 50ms".into(),
                color: "#2ca02c",
                mark: Mark::Line(cdf(&report.rtt_without_jitter_ms, 50.0, 150.0), false),
            },
            Series {
                name: "delay 50ms, jitter 20ms (uniform)".into(),
                color: "#ff7f0e",
                mark: Mark::Line(cdf(&report.rtt_with_jitter_ms, 50.0, 150.0), false),
            },
        ],
    }
}
