//! The demo's report.html: one self-contained page (the table, the
//! summary, the charts inline, links to the pcaps, the machine and backend
//! it ran on, and the commands that reproduce it) that loads nothing from
//! the network.

use super::ladder::{DemoReport, CAPTURED};
use super::table::{rows, HEADER};
use crate::markup::escape;

/// The side-by-side table in HTML: a header row, a row per network.
fn table(report: &DemoReport) -> String {
    let row = |cell: &str, cells: &[&str]| {
        let cells: String = cells
            .iter()
            .map(|c| format!("<{cell}>{}</{cell}>", escape(c)))
            .collect();
        format!("<tr>{cells}</tr>\n")
    };
    let mut html = String::from("<table id=\"ladder\">\n");
    html.push_str(&row("th", &HEADER));
    for r in rows(report) {
        html.push_str(&row("td", &r.each_ref().map(String::as_str)));
    }
    html.push_str("</table>\n");
    html
}

/// The page, with `charts` (title, SVG) inline and `commands` that
/// reproduce the run.
pub fn page(
    report: &DemoReport,
    charts: &[(&str, String)],
    captured: bool,
    commands: &[String],
) -> String {
    let mut body = format!(
        "<h1>badnet demo</h1>\n<p id=\"setup\">Backend <b>{}</b> ({}), hosts {}, {}; {:.0} s.</p>\n",
        report.backend,
        escape(&report.backend_reason),
        report.hosts,
        escape(&report.machine),
        report.duration_s
    );
    body.push_str(&table(report));
    body.push_str(&format!(
        "<p id=\"summary\">{}</p>\n",
        escape(&report.summary)
    ));
    for (title, svg) in charts {
        body.push_str(&format!(
            "<figure class=\"chart\"><figcaption>{}</figcaption>\n{svg}\n</figure>\n",
            escape(title)
        ));
    }
    if let Some(mesh) = &report.mesh {
        body.push_str(&format!(
            "<figure class=\"chart\" id=\"mesh\"><figcaption>Five peers through a partition</figcaption>\n{}\n</figure>\n",
            super::peers::svg(mesh)
        ));
    }
    if let Some(clients) = &report.clients {
        body.push_str(&super::peers::clients_html(clients));
    }
    if captured {
        body.push_str(&format!(
            "<p id=\"pcaps\">Packet captures of the '{}' network: <a href=\"tcp.pcap\">tcp.pcap</a>, <a href=\"udp.pcap\">udp.pcap</a> (open them in Wireshark).</p>\n",
            escape(CAPTURED)
        ));
    }
    body.push_str("<h2>Reproduce</h2>\n<pre id=\"commands\">");
    for c in commands {
        body.push_str(&escape(c));
        body.push('\n');
    }
    body.push_str("</pre>\n");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>badnet demo</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n{body}</body>\n</html>\n"
    )
}

const STYLE: &str = "body { font-family: sans-serif; margin: 2em; max-width: 75em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
figure.chart { display: inline-block; margin: 1em; }
pre { background: #f4f4f4; padding: 0.5em; }
";
