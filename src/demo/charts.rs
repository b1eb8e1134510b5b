//! The demo's charts: UDP loss against the configuration, TCP goodput
//! against loss, RTT distributions with and without jitter, the messages'
//! one-way latency, and flows through one bottleneck; each with its file.

use super::ladder::{mathis_mbps, DemoReport, LADDER, SWEEP_DELAY_MS};
use crate::bounds::{clopper_pearson, FALSE_FAILURE};
use crate::plot::{nice_ceiling, Chart, Mark, Point, Series};
use crate::verdict::round_trip_loss;

/// One of the demo's charts: its file, its caption in report.html, its
/// alt text in report.md, and how it is drawn.
pub struct ChartFile {
    pub file: &'static str,
    pub caption: &'static str,
    pub alt: &'static str,
    pub draw: fn(&DemoReport) -> Chart,
}

/// The demo's charts, in the order the reports show them.
pub const FILES: [ChartFile; 5] = [
    ChartFile {
        file: "loss.svg",
        caption: "UDP loss",
        alt: "UDP loss",
        draw: loss,
    },
    ChartFile {
        file: "goodput.svg",
        caption: "TCP goodput",
        alt: "TCP goodput",
        draw: goodput,
    },
    ChartFile {
        file: "rtt.svg",
        caption: "RTT",
        alt: "RTT",
        draw: rtt,
    },
    ChartFile {
        file: "latency.svg",
        caption: "One-way latency of messages",
        alt: "One-way latency",
        draw: latency,
    },
    ChartFile {
        file: "flows.svg",
        caption: "Flows through one bottleneck",
        alt: "Flows through one bottleneck",
        draw: flows,
    },
];

/// UDP round-trip loss, observed with its interval, against 1-(1-p)^2.
fn loss(report: &DemoReport) -> Chart {
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

/// TCP goodput against loss, beside the Mathis et al. model.
fn goodput(report: &DemoReport) -> Chart {
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
                name: "Mathis et al. model (not a bound): MSS/(RTT sqrt(p)) sqrt(3/2)".into(),
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

/// The RTT distributions of 50 ms each way, with and without jitter.
fn rtt(report: &DemoReport) -> Chart {
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

/// Timeliness: the one-way latency of each delivered message, UDP against
/// TCP on the same lossy link. Empty when the demo ran no messages.
fn latency(report: &DemoReport) -> Chart {
    let (udp, tcp, title) = match &report.timeliness {
        Some(t) => (
            sorted(&t.udp.latencies_ms),
            sorted(&t.tcp.latencies_ms),
            format!("One-way latency, {}/s over '{}' (CDF)", t.rate, t.netem),
        ),
        None => (
            Vec::new(),
            Vec::new(),
            "One-way latency (no messages ran)".into(),
        ),
    };
    let lo = udp.first().or(tcp.first()).copied().unwrap_or(0.0).floor();
    let hi = crate::plot::nice_ceiling(
        udp.last()
            .copied()
            .unwrap_or(1.0)
            .max(tcp.last().copied().unwrap_or(1.0)),
    );
    Chart {
        title,
        x_label: "one-way latency (ms)".into(),
        y_label: "messages delivered sooner (%)".into(),
        x: (lo, hi.max(lo + 1.0)),
        y: (0.0, 100.0),
        series: vec![
            Series {
                name: "UDP (the lost ones are gone)".into(),
                color: "#1f77b4",
                mark: Mark::Line(cdf(&udp, lo, hi), false),
            },
            Series {
                name: "TCP (every one, some a round trip late)".into(),
                color: "#d62728",
                mark: Mark::Line(cdf(&tcp, lo, hi), false),
            },
        ],
    }
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// Congestion: each flow's goodput over time through one bottleneck, two
/// TCP flows alone (solid) and beside a UDP flood (dashed).
fn flows(report: &DemoReport) -> Chart {
    let mut series = Vec::new();
    let mut top: f64 = 1.0;
    let mut end: f64 = 1.0;
    if let Some(sh) = &report.sharing {
        let colors = ["#1f77b4", "#2ca02c", "#d62728"];
        for (run, dashed, what) in [
            (&sh.alone, false, "alone"),
            (&sh.flooded, true, "beside the flood"),
        ] {
            let mut tcp = 0;
            for flow in &run.flows {
                let (name, color) = match flow.transport {
                    crate::scenario::Transport::Tcp => {
                        tcp += 1;
                        (format!("TCP {tcp}, {what}"), colors[(tcp - 1) % 2])
                    }
                    crate::scenario::Transport::Udp => ("UDP flood".to_owned(), colors[2]),
                };
                let step = crate::run::share::BUCKET.as_secs_f64();
                let points: Vec<(f64, f64)> = flow
                    .series_mbps
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i as f64 + 0.5) * step, v))
                    .collect();
                top = top.max(flow.series_mbps.iter().copied().fold(0.0, f64::max));
                end = end.max(flow.series_mbps.len() as f64 * step);
                series.push(Series {
                    name,
                    color,
                    mark: Mark::Line(points, dashed),
                });
            }
        }
    }
    Chart {
        title: match &report.sharing {
            Some(sh) => format!("Flows through one {} bottleneck, per 100 ms", sh.alone.rate),
            None => "Flows through one bottleneck (none ran)".into(),
        },
        x_label: "time (s)".into(),
        y_label: "goodput (Mbit/s)".into(),
        x: (0.0, end),
        y: (0.0, crate::plot::nice_ceiling(top)),
        series,
    }
}
