//! The demo's side-by-side table: its rows, in Markdown (the terminal,
//! report.md) and HTML (report.html).

use super::ladder::DemoReport;

/// The clean transfer's times as a noise band: (median, highest).
pub(super) fn clean_band(report: &DemoReport) -> (f64, f64) {
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

/// The table's columns.
pub const HEADER: [&str; 14] = [
    "network",
    "UDP sent",
    "received",
    "lost",
    "reordered",
    "duplicates",
    "RTT p50 ms",
    "RTT p99 ms",
    "TCP intact",
    "in order",
    "retransmits",
    "time",
    "goodput Mbit/s",
    "time vs clean",
];

/// Markdown's alignment of each column.
const ALIGN: [&str; 14] = [
    "---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", ":---:", ":---:", "---:",
    "---:", "---:", "---:",
];

/// The side-by-side table's rows, a cell per column of [`HEADER`].
pub fn rows(report: &DemoReport) -> Vec<[String; 14]> {
    let band = clean_band(report);
    report
        .rungs
        .iter()
        .map(|r| {
            let (p50, p99) = r.udp.rtt_ms.map_or(("-".into(), "-".into()), |p| {
                (format!("{:.2}", p.p50), format!("{:.2}", p.p99))
            });
            [
                r.name.clone(),
                r.udp.sent.to_string(),
                r.udp.received.to_string(),
                format!("{:.1}%", r.udp.loss_rate * 100.0),
                r.udp.reordered.to_string(),
                r.udp.duplicates.to_string(),
                p50,
                p99,
                yes(r.tcp.intact).into(),
                r.tcp.in_order.map_or("-", yes).into(),
                r.tcp.retransmits.to_string(),
                duration(r.tcp.duration_s),
                format!("{:.1}", r.tcp.goodput_mbps),
                against_clean(r.tcp.duration_s, band),
            ]
        })
        .collect()
}

/// The side-by-side table, in Markdown.
pub fn markdown(report: &DemoReport) -> String {
    let line = |cells: &[&str]| format!("| {} |\n", cells.join(" | "));
    let mut t = line(&HEADER);
    t.push_str(&format!("|{}|\n", ALIGN.join("|")));
    for row in rows(report) {
        t.push_str(&line(&row.each_ref().map(String::as_str)));
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
