//! The demo's table, its plain-words summary, and the files it writes.

use std::fmt::Write as _;
use std::path::Path;

use super::ladder::{DemoReport, CAPTURED};
use super::{charts, html};

/// The clean transfer's times as a noise band: (median, highest).
fn clean_band(report: &DemoReport) -> (f64, f64) {
    let mut times = report.clean_tcp_s.clone();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    (median, times.last().copied().unwrap_or(f64::NAN))
}

/// A time with the precision it has: milliseconds below a second.
pub fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.1} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

/// `seconds` against the clean transfer: "within noise" up to the slowest
/// clean run, else the ratio to their median.
fn against_clean(seconds: f64, (median, highest): (f64, f64)) -> String {
    if seconds <= highest || median.is_nan() || median <= 0.0 {
        "within noise".into()
    } else {
        format!("{:.1}x", seconds / median)
    }
}

/// The side-by-side table, in Markdown.
pub fn table(report: &DemoReport) -> String {
    let band = clean_band(report);
    let mut t = String::from(
        "| network | UDP sent | received | lost | reordered | duplicates | RTT p50 ms | RTT p99 ms | TCP intact | in order | retransmits | time | goodput Mbit/s | time vs clean |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|:---:|:---:|---:|---:|---:|---:|\n",
    );
    for r in &report.rungs {
        let (p50, p99) = r.udp.rtt_ms.map_or(("-".into(), "-".into()), |p| {
            (format!("{:.2}", p.p50), format!("{:.2}", p.p99))
        });
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.1}% | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |",
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
            duration(r.tcp.duration_s),
            r.tcp.goodput_mbps,
            against_clean(r.tcp.duration_s, band),
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
pub fn summary(report: &DemoReport) -> String {
    let rungs = &report.rungs;
    let find = |name: &str| rungs.iter().find(|r| r.name == name);
    let all_intact = rungs
        .iter()
        .all(|r| r.tcp.intact && r.tcp.in_order && r.tcp.completed);
    let worst = rungs
        .iter()
        .max_by(|a, b| a.tcp.duration_s.total_cmp(&b.tcp.duration_s));
    let (clean, _) = clean_band(report);
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
            "and paid for it: {retrans} retransmissions in all, and up to {:.0}x the clean link's time ({}, {} against a median of {} over {} clean runs).",
            w.tcp.duration_s / clean,
            w.name,
            duration(w.tcp.duration_s),
            duration(clean),
            report.clean_tcp_s.len()
        );
    }
    if let Some(r) = find("slow reader") {
        let _ = write!(
            s,
            " To a slow reader (half the probes' rate), UDP kept sending and lost {:.1}% of its probes in the reader's full buffer, while TCP slowed to the reader's pace ({:.2} MB/s echoed, {}) and lost nothing.",
            r.udp.loss_rate * 100.0,
            r.tcp.bytes_received as f64 / r.tcp.duration_s.max(1e-9) / 1e6,
            duration(r.tcp.duration_s)
        );
    }
    if let Some(t) = &report.timeliness {
        let _ = write!(
            s,
            " The same {}/s messages over '{}': UDP delivered {} of {}, the slowest {:.1} ms after sending (p99 {:.1} ms); TCP delivered all {}, but those behind a lost segment waited for its retransmission: p99 {:.1} ms, the slowest {:.1} ms.",
            t.rate,
            t.netem,
            t.udp.messages_delivered,
            t.udp.messages_sent,
            t.udp.latency_ms.max,
            t.udp.latency_ms.p99,
            t.tcp.messages_delivered,
            t.tcp.latency_ms.p99,
            t.tcp.latency_ms.max
        );
    }
    if let Some(sh) = &report.sharing {
        let tcp = |r: &crate::run::share::ShareReport| {
            r.flows
                .iter()
                .filter(|f| f.transport == crate::scenario::Transport::Tcp)
                .map(|f| format!("{:.1}", f.goodput_mbps))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        let _ = write!(
            s,
            " Two TCP flows through one {} bottleneck shared it ({} Mbit/s, Jain's index {:.2}); beside a UDP flood at twice its rate, the flood kept sending ({:.1} Mbit/s sent, {:.1} delivered) and the TCP flows backed off to {} Mbit/s.",
            sh.alone.rate,
            tcp(&sh.alone),
            sh.alone.jain.unwrap_or(f64::NAN),
            sh.flooded.udp.as_ref().map_or(f64::NAN, |u| u.sent_mbps),
            sh.flooded.udp.as_ref().map_or(f64::NAN, |u| u.delivered_mbps),
            tcp(&sh.flooded)
        );
    }
    let (above, below): (Vec<_>, Vec<_>) = report
        .sweep
        .iter()
        .partition(|p| p.tcp.goodput_mbps >= p.mathis_mbps);
    if !report.sweep.is_empty() {
        let pct = |ps: &[&super::ladder::SweepPoint]| {
            ps.iter()
                .map(|p| format!("{}%", p.loss * 100.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            s,
            " Against loss, TCP's goodput sat above the Mathis et al. model (a model of steady congestion avoidance, not a bound) at {} and below it at {}.",
            if above.is_empty() { "no loss rate".into() } else { pct(&above) },
            if below.is_empty() { "none".into() } else { pct(&below) },
        );
    }
    s
}

/// Writes report.json, report.md and the charts to `out`; `captured` says
/// whether the pcaps are there too.
pub fn write_files(out: &Path, report: &DemoReport, captured: bool) -> anyhow::Result<()> {
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
    md.push_str("![UDP loss](loss.svg)\n\n![TCP goodput](goodput.svg)\n\n![RTT](rtt.svg)\n\n![One-way latency](latency.svg)\n\n![Flows through one bottleneck](flows.svg)\n");
    if captured {
        md.push_str(&format!("\nPacket captures of the '{CAPTURED}' network: `tcp.pcap`, `udp.pcap` (open them in Wireshark).\n"));
    }
    std::fs::write(out.join("report.md"), md)?;
    let charts = [
        ("UDP loss", charts::loss(report).svg()),
        ("TCP goodput", charts::goodput(report).svg()),
        ("RTT", charts::rtt(report).svg()),
        ("One-way latency of messages", charts::latency(report).svg()),
        ("Flows through one bottleneck", charts::flows(report).svg()),
    ];
    for (file, (_, svg)) in [
        "loss.svg",
        "goodput.svg",
        "rtt.svg",
        "latency.svg",
        "flows.svg",
    ]
    .iter()
    .zip(&charts)
    {
        std::fs::write(out.join(file), svg)?;
    }
    std::fs::write(
        out.join("report.html"),
        html::page(report, &charts, captured, &reproduce(report)),
    )?;
    Ok(())
}

/// The commands that reproduce `report`: the same backend, hosts, seed
/// and size.
fn reproduce(report: &DemoReport) -> Vec<String> {
    vec![
        "make install PREFIX=/usr/local".into(),
        format!(
            "sudo badnet demo --backend {} --hosts {} --seed {}{}",
            report.backend,
            report.hosts,
            report.seed,
            if report.quick { " --quick" } else { "" }
        ),
    ]
}
