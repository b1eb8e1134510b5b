//! Many clients, one server (the lecture's picture): N client hosts probe
//! one server host at once. The TCP server makes a socket per client, the
//! UDP server answers each datagram where it came from; the clients'
//! source addresses and ports are what tell them apart at the server.

use faults::{Backend, Direction, Impairment, PairCounters, Pairs};
use serde::Serialize;
use services::report::Report;

use super::many::{self, HostInfo};
use super::play::{with_timeline, Timeline};
use crate::error::BadInput;
use crate::scenario::{Scenario, Transport};

/// The most clients a run takes.
pub const MAX_CLIENTS: usize = 64;
/// The server's host.
pub const SERVER: &str = "server";

/// N clients (hosts c1 ... cN) and the server (host `server`), and the
/// impairments of some pairs; the rest is the request's scenario's.
#[derive(Debug, Clone)]
pub struct Clients {
    pub n: usize,
    pub pairs: Vec<(Pairs, Impairment)>,
}

impl Clients {
    /// The hosts: the server, then c1 ... cN.
    pub fn hosts(&self) -> Vec<String> {
        std::iter::once(SERVER.to_owned())
            .chain((1..=self.n).map(|i| format!("c{i}")))
            .collect()
    }

    /// Refuses what cannot run, before anything is created.
    pub fn check(&self, s: &Scenario) -> Result<faults::Topology, BadInput> {
        if !(1..=MAX_CLIENTS).contains(&self.n) {
            return Err(BadInput::new(
                "--clients",
                format!("{}: 1 to {MAX_CLIENTS} clients", self.n),
            ));
        }
        many::topology(&self.hosts(), "--clients", s, &self.pairs, &[])
    }
}

/// One client: its host, its address, the source port its probe had, and
/// its probe's report.
#[derive(Debug, Clone, Serialize)]
pub struct ClientReport {
    pub host: String,
    pub address: std::net::Ipv4Addr,
    pub source_port: Option<u16>,
    #[serde(flatten)]
    pub report: Report,
}

/// What many clients measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClientsOutcome {
    pub transport: Transport,
    pub backend: Backend,
    pub seed: u64,
    pub server: HostInfo,
    pub clients: Vec<ClientReport>,
    /// What the switch counted per directed pair over the whole run.
    pub links: PairCounters,
    #[serde(flatten)]
    pub timeline: Timeline,
}

/// Builds the lab, starts the server, has every client probe it at once
/// while the timeline plays, and removes the lab.
pub fn run(c: &Clients, s: &Scenario) -> anyhow::Result<ClientsOutcome> {
    let lab = many::build(c.check(s)?, s)?;
    let hosts = HostInfo::of(&lab)?;
    let server = many::start_server(&lab, SERVER, s.transport)?;
    let pairs: Vec<(String, String)> = hosts[1..]
        .iter()
        .map(|h| (h.name.clone(), SERVER.to_owned()))
        .collect();
    let (reports, timeline) = with_timeline(&lab, Direction::Both, &s.timeline, |started| {
        many::probe(&lab, s, &pairs, started)
    })?;
    drop(server);
    let clients = reports
        .into_iter()
        .zip(&hosts[1..])
        .map(|(p, h)| ClientReport {
            host: p.from,
            address: h.address,
            source_port: match &p.report {
                Report::Udp(r) => r.local_port,
                Report::Tcp(r) => r.local_port,
            },
            report: p.report,
        })
        .collect();
    let outcome = ClientsOutcome {
        transport: s.transport,
        backend: lab.backend(),
        seed: lab.seed(),
        server: hosts[0].clone(),
        clients,
        links: lab.pair_counters()?,
        timeline,
    };
    lab.remove()?;
    Ok(outcome)
}

impl ClientsOutcome {
    /// One line per client, and the server's links.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} clients of one server ({} {}) on {} (seed {})\n",
            self.clients.len(),
            self.server.name,
            self.server.address,
            self.backend,
            self.seed
        );
        for c in &self.clients {
            let port = c.source_port.map_or("-".to_owned(), |p| p.to_string());
            out.push_str(&format!(
                "  {} {}:{port}: {}\n",
                c.host,
                c.address,
                c.report.summary().lines().next().unwrap_or("")
            ));
        }
        out
    }
}
