//! The demo's plain-words summary, and the files it writes.

use std::fmt::Write as _;
use std::path::Path;

use super::ladder::{DemoReport, CAPTURED};
use super::table::{clean_band, duration};
use super::{charts, html, table};

/// What the table shows, in plain words, from the numbers themselves: a
/// sentence or two per part of the demo that ran.
pub fn summary(report: &DemoReport) -> String {
    let mut s = String::new();
    udp_sentences(&mut s, report);
    tcp_sentences(&mut s, report);
    if let Some(r) = report.rungs.iter().find(|r| r.name == "slow reader") {
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
    sharing_sentence(&mut s, report);
    sweep_sentence(&mut s, report);
    s
}

/// What UDP lost, reordered, duplicated and let through corrupted.
fn udp_sentences(s: &mut String, report: &DemoReport) {
    let rungs = &report.rungs;
    if let Some(r) = rungs.iter().find(|r| r.name == "loss 20%") {
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
}

/// Whether TCP delivered every byte, and what it paid in retransmissions
/// and time.
fn tcp_sentences(s: &mut String, report: &DemoReport) {
    let rungs = &report.rungs;
    let all_intact = rungs
        .iter()
        .all(|r| r.tcp.intact && r.tcp.in_order == Some(true) && r.tcp.completed);
    if all_intact {
        let _ = write!(s, "TCP, on the very same links, delivered every byte intact and in order on every network, ");
    } else {
        let _ = write!(
            s,
            "TCP did NOT deliver every byte intact on every network (see the table), "
        );
    }
    let worst = rungs
        .iter()
        .max_by(|a, b| a.tcp.duration_s.total_cmp(&b.tcp.duration_s));
    let (clean, _) = clean_band(report);
    let retrans: u64 = rungs.iter().map(|r| r.tcp.retransmits).sum();
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
}

/// Two TCP flows sharing a bottleneck, alone and beside a flood.
fn sharing_sentence(s: &mut String, report: &DemoReport) {
    let Some(sh) = &report.sharing else {
        return;
    };
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

/// Where TCP's goodput sat against the Mathis et al. model.
fn sweep_sentence(s: &mut String, report: &DemoReport) {
    if report.sweep.is_empty() {
        return;
    }
    let (above, below): (Vec<_>, Vec<_>) = report
        .sweep
        .iter()
        .partition(|p| p.tcp.goodput_mbps >= p.mathis_mbps);
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

/// Writes report.json, report.md and the charts to `out`; `captured` says
/// whether the pcaps are there too.
/// The picture of the five peers.
pub const MESH_FILE: &str = "mesh.svg";

pub fn write_files(out: &Path, report: &DemoReport, captured: bool) -> anyhow::Result<()> {
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&crate::run::rounded(serde_json::to_value(report)?))?,
    )?;
    let mut md = format!(
        "# badnet demo\n\nBackend {} ({}), hosts {:?}, {}; {:.0} s.\n\n{}\n{}\n\n",
        report.backend,
        report.backend_reason,
        report.hosts,
        report.machine,
        report.duration_s,
        table::markdown(report),
        report.summary
    );
    let images: Vec<String> = charts::FILES
        .iter()
        .map(|c| format!("![{}]({})\n", c.alt, c.file))
        .collect();
    md.push_str(&images.join("\n"));
    if let Some(mesh) = &report.mesh {
        std::fs::write(out.join(MESH_FILE), super::peers::svg(mesh))?;
        md.push_str(&format!(
            "\n![Five peers through a partition]({MESH_FILE})\n"
        ));
    }
    if captured {
        md.push_str(&format!("\nPacket captures of the '{CAPTURED}' network: `tcp.pcap`, `udp.pcap` (open them in Wireshark).\n"));
    }
    std::fs::write(out.join("report.md"), md)?;
    let drawn: Vec<(&str, String)> = charts::FILES
        .iter()
        .map(|c| (c.caption, (c.draw)(report).svg()))
        .collect();
    for (c, (_, svg)) in charts::FILES.iter().zip(&drawn) {
        std::fs::write(out.join(c.file), svg)?;
    }
    std::fs::write(
        out.join("report.html"),
        html::page(report, &drawn, captured, &reproduce(report)),
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
