//! The demo's table, its plain-words summary, and the files it writes.

use std::fmt::Write as _;
use std::path::Path;

use super::charts;
use super::ladder::{DemoReport, CAPTURED};

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
pub fn summary(report: &DemoReport) -> String {
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
    md.push_str("![UDP loss](loss.svg)\n\n![TCP goodput](goodput.svg)\n\n![RTT](rtt.svg)\n");
    if captured {
        md.push_str(&format!("\nPacket captures of the '{CAPTURED}' network: `tcp.pcap`, `udp.pcap` (open them in Wireshark).\n"));
    }
    std::fs::write(out.join("report.md"), md)?;
    std::fs::write(out.join("loss.svg"), charts::loss(report).svg())?;
    std::fs::write(out.join("goodput.svg"), charts::goodput(report).svg())?;
    std::fs::write(out.join("rtt.svg"), charts::rtt(report).svg())?;
    Ok(())
}
