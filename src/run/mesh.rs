//! `badnet mesh`: every host of an N-host lab runs the lecture's server
//! and probes every other host at once (the P2P picture: each peer is a
//! client and a server), while the network changes as a timeline says.
//!
//! What it reports per ordered pair is the probe's own report (a UDP probe
//! from `from` to `to` is a round trip: `from`'s request crosses `from->to`,
//! the echo `to->from`), and per directed pair what the switch counted,
//! for the whole run and for each phase.

use faults::{Backend, Direction, Impairment, PairCounters, Pairs};
use serde::Serialize;
use services::report::Report;

use super::many::{self, HostInfo, PairReport};
use super::play::{with_timeline, Timeline};
use crate::error::BadInput;
use crate::scenario::{Scenario, Transport};

/// The most hosts a mesh runs: N(N-1) probes run at once.
pub const MAX_HOSTS: usize = 32;

/// A mesh: its hosts and the impairments of some pairs; the probes'
/// settings, every pair's impairment, the timeline, the backend and the
/// seed are the request's scenario's.
#[derive(Debug, Clone)]
pub struct Mesh {
    /// The hosts' names (h1 ... hN by default).
    pub hosts: Vec<String>,
    pub pairs: Vec<(Pairs, Impairment)>,
}

impl Mesh {
    /// `n` hosts named h1 ... hN.
    pub fn new(n: usize) -> Self {
        Self {
            hosts: (1..=n).map(|i| format!("h{i}")).collect(),
            pairs: Vec::new(),
        }
    }

    /// Refuses what cannot run, before anything is created.
    pub fn check(&self, s: &Scenario) -> Result<faults::Topology, BadInput> {
        if self.hosts.len() > MAX_HOSTS {
            return Err(BadInput::new(
                "--hosts",
                format!(
                    "{} hosts: a mesh runs N(N-1) probes at once, at most {MAX_HOSTS} hosts",
                    self.hosts.len()
                ),
            ));
        }
        many::topology(&self.hosts, "--hosts", s, &self.pairs, &[])
    }
}

/// What a mesh measured.
#[derive(Debug, Clone, Serialize)]
pub struct MeshOutcome {
    pub transport: Transport,
    pub backend: Backend,
    pub seed: u64,
    /// Each host: its name, address and namespace.
    pub hosts: Vec<HostInfo>,
    /// Every ordered pair's probe report.
    pub pairs: Vec<PairReport>,
    /// What the switch counted per directed pair over the whole run.
    pub links: PairCounters,
    #[serde(flatten)]
    pub timeline: Timeline,
}

/// Builds the lab, starts a server in every host, probes every ordered
/// pair at once while the timeline plays, and removes the lab.
pub fn run(mesh: &Mesh, s: &Scenario) -> anyhow::Result<MeshOutcome> {
    let lab = many::build(mesh.check(s)?, s)?;
    let hosts = HostInfo::of(&lab)?;
    let servers = lab
        .names()
        .iter()
        .map(|name| many::start_server(&lab, name, s.transport))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names = lab.names();
    let every: Vec<(String, String)> = names
        .iter()
        .flat_map(|a| {
            names
                .iter()
                .filter(move |b| *b != a)
                .map(move |b| (a.clone(), b.clone()))
        })
        .collect();
    let (pairs, timeline) = with_timeline(&lab, Direction::Both, &s.timeline, |started| {
        many::probe(&lab, s, &every, started)
    })?;
    drop(servers);
    let outcome = MeshOutcome {
        transport: s.transport,
        backend: lab.backend(),
        seed: lab.seed(),
        hosts,
        pairs,
        links: lab.pair_counters()?,
        timeline,
    };
    lab.remove()?;
    Ok(outcome)
}

impl MeshOutcome {
    /// The probe from `from` to `to`.
    pub fn pair(&self, from: &str, to: &str) -> Option<&Report> {
        self.pairs
            .iter()
            .find(|p| p.from == from && p.to == to)
            .map(|p| &p.report)
    }

    /// The matrix of what each pair delivered (UDP: echoes received of
    /// probes sent; TCP: whether the stream came back intact and in order)
    /// and each directed pair's link counts, as text.
    pub fn summary(&self) -> String {
        let names: Vec<&str> = self.hosts.iter().map(|h| h.name.as_str()).collect();
        let width = names.iter().map(|n| n.len()).max().unwrap_or(2).max(6) + 1;
        let mut out = format!(
            "{} mesh of {} hosts on {} (seed {}): row probes column, {}\n",
            match self.transport {
                Transport::Udp => "UDP",
                Transport::Tcp => "TCP",
            },
            names.len(),
            self.backend,
            self.seed,
            match self.transport {
                Transport::Udp => "echoes received of probes sent",
                Transport::Tcp => "the stream back intact and in order",
            }
        );
        out.push_str(&format!("{:>width$}", ""));
        for n in &names {
            out.push_str(&format!("{n:>width$}"));
        }
        out.push('\n');
        for from in &names {
            out.push_str(&format!("{from:>width$}"));
            for to in &names {
                let cell = match self.pair(from, to) {
                    None => "-".to_owned(),
                    Some(Report::Udp(r)) => {
                        format!("{:.0}%", 100.0 * r.received as f64 / r.sent.max(1) as f64)
                    }
                    Some(Report::Tcp(r)) if r.completed && r.intact && r.in_order == Some(true) => {
                        "ok".into()
                    }
                    Some(Report::Tcp(r)) if r.error.is_some() => "cut".into(),
                    Some(Report::Tcp(_)) => "broken".into(),
                };
                out.push_str(&format!("{cell:>width$}"));
            }
            out.push('\n');
        }
        out.push_str("links (whole run): from->to packets in, passed, dropped\n");
        for (from, to, c) in self.links.iter() {
            out.push_str(&format!(
                "  {from}->{to}: {} in, {} passed, {} dropped\n",
                c.packets_in, c.passed, c.dropped
            ));
        }
        for (i, phase) in self.timeline.phases.iter().enumerate() {
            out.push_str(&format!(
                "phase {i} ({}, {:.0}-{:.0} ms): ",
                phase.action, phase.from_ms, phase.to_ms
            ));
            let cut: Vec<String> = phase
                .links
                .iter()
                .flat_map(|l| l.iter())
                .filter(|(_, _, c)| c.packets_in > 0 && c.passed == 0)
                .map(|(f, t, _)| format!("{f}->{t}"))
                .collect();
            if cut.is_empty() {
                out.push_str("every pair that sent passed packets\n");
            } else {
                out.push_str(&format!("passed nothing: {}\n", cut.join(" ")));
            }
        }
        out
    }
}
