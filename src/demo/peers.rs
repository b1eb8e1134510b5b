//! The demo's many hosts: five peers probing each other through a
//! partition of 2 | 3 and its heal, drawn as what each directed pair's link
//! delivered before, during and after (mesh.svg); and four clients of one
//! server, one of them on a lossy link.

use std::fmt::Write as _;
use std::time::Duration;

use faults::{Impairment, PairCounters};

use super::DemoConfig;
use crate::markup::escape;
use crate::run::clients::{Clients, ClientsOutcome};
use crate::run::mesh::{Mesh, MeshOutcome};
use crate::run::{self, Outcome, Request, Workload};
use crate::scenario::{Scenario, Transport};
use crate::timeline::Step;

/// The peers' partition, and the client whose link is lossy.
pub const PARTITION: &str = "partition h1,h2 | h3,h4,h5";
pub const LOSSY_CLIENT: &str = "c3->server loss 30%";

fn probes(cfg: &DemoConfig) -> Scenario {
    let mut s = Scenario::new(Transport::Udp);
    s.backend = cfg.backend;
    s.seed = Some(cfg.seed());
    s.interval = Duration::from_millis(5);
    s.count = if cfg.quick { 120 } else { 300 };
    s.timeout = Duration::from_millis(500);
    s
}

/// Five peers, every one probing every other, cut 2 | 3 for the middle
/// third of the run, then healed.
pub fn mesh(cfg: &DemoConfig) -> anyhow::Result<MeshOutcome> {
    let mut s = probes(cfg);
    let third = s.interval.mul_f64(s.count as f64 / 3.0);
    s.timeline = vec![
        Step::parse(&format!("{}ms", third.as_millis()), PARTITION).map_err(anyhow::Error::msg)?,
        Step::parse(&format!("{}ms", 2 * third.as_millis()), "heal").map_err(anyhow::Error::msg)?,
    ];
    let r = Request {
        scenario: s,
        workload: Workload::Mesh(Mesh::new(5)),
    };
    match run::execute(&r)? {
        Outcome::Mesh(o) => Ok(o),
        _ => unreachable!("a mesh request has a mesh outcome"),
    }
}

/// Four clients of one UDP server at once, c3's link to it lossy.
pub fn clients(cfg: &DemoConfig) -> anyhow::Result<ClientsOutcome> {
    let (pairs, spec) = LOSSY_CLIENT.split_once(' ').expect("pairs and a spec");
    let spec: Impairment = spec.parse()?;
    let r = Request {
        scenario: probes(cfg),
        workload: Workload::Clients(Clients {
            n: 4,
            pairs: vec![(pairs.parse()?, spec)],
        }),
    };
    match run::execute(&r)? {
        Outcome::Clients(o) => Ok(o),
        _ => unreachable!("a clients request has a clients outcome"),
    }
}

/// What `links` of one phase delivered from `from` to `to`: the share of
/// the packets offered that passed, if any were offered.
fn delivered(links: &PairCounters, from: &str, to: &str) -> Option<f64> {
    let c = links.get(from, to);
    (c.packets_in > 0).then(|| c.passed as f64 / c.packets_in as f64)
}

const CELL: f64 = 30.0;
const GAP: f64 = 40.0;
const LEFT: f64 = 40.0;
const TOP: f64 = 60.0;

/// The mesh's phases side by side, each a matrix: row sends to column, the
/// cell's shade the share its link delivered (green all, red none, grey
/// nothing offered).
pub fn svg(o: &MeshOutcome) -> String {
    let names: Vec<&str> = o.hosts.iter().map(|h| h.name.as_str()).collect();
    let n = names.len() as f64;
    let panel = n * CELL;
    let phases = &o.timeline.phases;
    let width = LEFT + phases.len() as f64 * (panel + GAP);
    let height = TOP + panel + 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <text x=\"{LEFT}\" y=\"16\" font-size=\"14\">Five peers: what each pair's link delivered, row to column</text>\n"
    );
    for (k, phase) in phases.iter().enumerate() {
        let x0 = LEFT + k as f64 * (panel + GAP);
        let title = match k {
            0 => "before".to_owned(),
            _ if phase.action == "heal" => "after heal".to_owned(),
            _ => phase.action.clone(),
        };
        let _ = writeln!(
            svg,
            "<text x=\"{x0}\" y=\"{}\">{}</text>",
            TOP - 24.0,
            escape(&title)
        );
        for (j, to) in names.iter().enumerate() {
            let _ = writeln!(
                svg,
                "<text x=\"{:.0}\" y=\"{}\" text-anchor=\"middle\">{to}</text>",
                x0 + (j as f64 + 0.5) * CELL,
                TOP - 6.0
            );
        }
        for (i, from) in names.iter().enumerate() {
            let y = TOP + i as f64 * CELL;
            let _ = writeln!(
                svg,
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{from}</text>",
                x0 - 4.0,
                y + CELL * 0.65
            );
            for (j, to) in names.iter().enumerate() {
                let share = phase.links.as_ref().and_then(|l| delivered(l, from, to));
                let (fill, label) = match share {
                    _ if i == j => ("#ffffff".to_owned(), String::new()),
                    None => ("#dddddd".to_owned(), String::new()),
                    Some(d) => (shade(d), format!("{:.0}", d * 100.0)),
                };
                let x = x0 + j as f64 * CELL;
                let _ = writeln!(
                    svg,
                    "<rect x=\"{x:.0}\" y=\"{y:.0}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"{fill}\" stroke=\"#888888\"><title>{from}->{to}: {label}%</title></rect>"
                );
                if !label.is_empty() {
                    let _ = writeln!(
                        svg,
                        "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" font-size=\"9\">{label}</text>",
                        x + CELL / 2.0,
                        y + CELL * 0.62
                    );
                }
            }
        }
        let _ = writeln!(
            svg,
            "<text x=\"{x0}\" y=\"{:.0}\">{:.0}-{:.0} ms</text>",
            TOP + panel + 18.0,
            phase.from_ms,
            phase.to_ms
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Green for 1, red for 0, between them in proportion.
fn shade(delivered: f64) -> String {
    let d = delivered.clamp(0.0, 1.0);
    let r = (220.0 * (1.0 - d) + 60.0 * d) as u8;
    let g = (60.0 * (1.0 - d) + 180.0 * d) as u8;
    format!("#{r:02x}{g:02x}50")
}

/// One line per client: its address and source port, what it lost.
pub fn clients_html(o: &ClientsOutcome) -> String {
    let mut html = format!(
        "<p id=\"clients\">{} clients of one UDP server ({}), '{}':</p>\n<ul>\n",
        o.clients.len(),
        o.server.address,
        escape(LOSSY_CLIENT)
    );
    for c in &o.clients {
        let lost = match &c.report {
            services::report::Report::Udp(r) => format!("lost {} of {}", r.lost, r.sent),
            services::report::Report::Tcp(_) => String::new(),
        };
        let _ = writeln!(
            html,
            "<li>{} from {}:{}: {lost}</li>",
            escape(&c.host),
            c.address,
            c.source_port.map_or("-".into(), |p| p.to_string())
        );
    }
    html.push_str("</ul>\n");
    html
}
