//! A cluster of your programs: named hosts on one switch, a program per
//! host (a node of your system: a replica, a broker, a peer), and a client
//! program in one host whose exit code is the verdict, while the timeline
//! plays faults of the network (`partition n1 | n2,n3`) and of the nodes
//! (`kill n1`, `stop n1`, `cont n1`, `restart n1`).
//!
//! Every node is started in its host and waited for (its readiness) before
//! the client starts; the timeline counts from the client's start; at the
//! end every node is stopped, and the report has per host its program's
//! exit code and output, and per phase every pair's counts.

use std::time::Duration;

use faults::{Backend, Direction, Impairment, PairCounters, Pairs, Topology};
use serde::Serialize;

use super::many::{self, HostInfo};
use super::nodes::{NodeReport, NodeSpec, Nodes, Output};
use super::play::{with_nodes, Timeline};
use super::process::ClientResult;
use crate::error::BadInput;
use crate::scenario::Scenario;

/// The most hosts a cluster takes.
pub const MAX_HOSTS: usize = 64;

/// Hosts, their programs, and the client.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Every host, by name, in the order of their addresses.
    pub hosts: Vec<String>,
    /// Impairments of some pairs, over the scenario's (every pair's).
    pub pairs: Vec<(Pairs, Impairment)>,
    pub nodes: Vec<NodeSpec>,
    pub client: ClusterClient,
}

/// The client: its host, its command line, how long it may run.
#[derive(Debug, Clone)]
pub struct ClusterClient {
    pub host: String,
    pub run: String,
    pub limit: Duration,
    /// The local image it runs in (its host then a container too).
    pub image: Option<String>,
}

/// One host of the run, and its program's end (None: it ran none).
#[derive(Debug, Clone, Serialize)]
pub struct HostReport {
    #[serde(flatten)]
    pub host: HostInfo,
    pub program: Option<NodeReport>,
}

/// The client's result and its host.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterClientReport {
    pub host: String,
    pub command: Vec<String>,
    #[serde(flatten)]
    pub result: ClientResult,
}

/// What a cluster run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterOutcome {
    pub backend: Backend,
    pub backend_reason: String,
    pub run_id: String,
    pub seed: u64,
    pub hosts: Vec<HostReport>,
    pub client: ClusterClientReport,
    /// What the switch counted per directed pair over the whole run.
    pub links: PairCounters,
    #[serde(flatten)]
    pub timeline: Timeline,
}

impl Cluster {
    /// Refuses what cannot run, before anything is created, naming the
    /// key at fault: `hosts`, `host` (a program's), `client`, `impair`,
    /// `at`.
    pub fn check(&self, s: &Scenario) -> Result<Topology, BadInput> {
        if !(2..=MAX_HOSTS).contains(&self.hosts.len()) {
            return Err(BadInput::new(
                "hosts",
                format!("{} hosts: 2 to {MAX_HOSTS}", self.hosts.len()),
            ));
        }
        let with_programs: Vec<&str> = self.nodes.iter().map(|n| n.host.as_str()).collect();
        let topology = many::topology(&self.hosts, "hosts", s, &self.pairs, &with_programs)?;
        let addrs: Vec<_> = topology
            .names()
            .iter()
            .map(|n| topology.address_of(n).expect("a host"))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let key = |field: &str| format!("host[{i}].{field}");
            topology.index(&node.host).map_err(|_| {
                BadInput::new(
                    key("name"),
                    format!(
                        "'{}' is not one of the hosts ({})",
                        node.host,
                        self.hosts.join(", ")
                    ),
                )
            })?;
            if !seen.insert(node.host.as_str()) {
                return Err(BadInput::new(
                    key("name"),
                    format!("host '{}' has a program twice", node.host),
                ));
            }
            let words = super::programs::split(&node.run, &key("run"))?;
            super::template::fill(&words, &topology, &addrs, &node.host)
                .map_err(|e| BadInput::new(key("run"), format!("host {}: {e}", node.host)))?;
            if node.image.is_none() {
                findable(&words[0], &key("run"))?;
            }
        }
        let c = &self.client;
        topology.index(&c.host).map_err(|_| {
            BadInput::new(
                "client.host",
                format!(
                    "'{}' is not one of the hosts ({})",
                    c.host,
                    self.hosts.join(", ")
                ),
            )
        })?;
        let words = super::programs::split(&c.run, "client.run")?;
        super::template::fill(&words, &topology, &addrs, &c.host)
            .map_err(|e| BadInput::new("client.run", e))?;
        if c.image.is_none() {
            findable(&words[0], "client.run")?;
        }
        self.check_images()?;
        crate::timeline::check(&s.timeline, Some(c.limit)).map_err(|e| BadInput::new("at", e))?;
        Ok(topology)
    }
}

impl Cluster {
    /// Whether its hosts are containers: some program names an image.
    pub fn in_containers(&self) -> bool {
        self.client.image.is_some() || self.nodes.iter().any(|n| n.image.is_some())
    }

    /// Every image named is here (nothing is pulled), and an engine
    /// answers.
    fn check_images(&self) -> Result<(), BadInput> {
        if !self.in_containers() {
            return Ok(());
        }
        let images = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| Some((n.image.as_ref()?, format!("host[{i}].image"))))
            .chain(
                self.client
                    .image
                    .iter()
                    .map(|i| (i, "client.image".to_owned())),
            );
        for (image, key) in images {
            if !super::docker::image_present(image) {
                return Err(BadInput::new(
                    key,
                    format!(
                        "the image {image:?} is not here, and there is no registry to pull it from: build it (docker build -t {image} DIR) or load it (docker load -i FILE.tar)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn findable(program: &str, key: &str) -> Result<(), BadInput> {
    let program = crate::bins::resolve(program);
    if super::programs::findable(&program) {
        Ok(())
    } else {
        Err(BadInput::new(
            key,
            format!("cannot find the program {program:?} (give a path, or put it on PATH)"),
        ))
    }
}

/// Builds the lab, starts every node and waits for each, runs the client
/// while the timeline plays, stops the nodes and removes the lab.
pub fn run(c: &Cluster, s: &Scenario) -> anyhow::Result<ClusterOutcome> {
    let topology = c.check(s)?;
    let (lab, holders) = if c.in_containers() {
        super::docker::engine()?;
        let (lab, holders) = super::docker::holder_lab_of(topology, s.backend, s.seed)?;
        (lab, Some(holders))
    } else {
        (many::build(topology, s)?, None)
    };
    let outcome = on_lab(c, s, &lab, holders.as_deref());
    lab.remove()?;
    drop(holders);
    outcome
}

/// Runs `c` on its built lab (and the holders of its container hosts).
fn on_lab(
    c: &Cluster,
    s: &Scenario,
    lab: &faults::Lab,
    holders: Option<&[super::docker::Running]>,
) -> anyhow::Result<ClusterOutcome> {
    let hosts = HostInfo::of(lab)?;
    let nodes = Nodes::start(lab, holders, &c.nodes, Output::Keep)?;
    let client_host = lab.host(&c.client.host)?;
    let argv = super::nodes::words(lab, &c.client.host, &c.client.run, "client.run")?;
    let client_holder = match (holders, &c.client.image) {
        (Some(h), Some(image)) => Some((&h[lab.topology().index(&c.client.host)?], image)),
        _ => None,
    };
    let played =
        with_nodes(
            lab,
            Direction::Both,
            Some(&nodes),
            &s.timeline,
            |started| match client_holder {
                Some((holder, image)) => super::process::run_client_container(
                    lab.run_id(),
                    image,
                    &holder.id,
                    &argv,
                    c.client.limit,
                    started,
                ),
                None => super::programs::run_client(client_host, &argv, c.client.limit, started),
            },
        );
    let mut ended = nodes.stop();
    let (client, mut timeline) = played?;
    // Every pair is in the report, zeros included: a pair that carried
    // nothing in a phase is a finding too.
    for phase in &mut timeline.phases {
        phase.links = phase.links.as_ref().map(PairCounters::every_pair);
    }
    let hosts = hosts
        .into_iter()
        .map(|host| {
            let program = ended
                .iter()
                .position(|n| n.host == host.name)
                .map(|i| ended.remove(i));
            HostReport { host, program }
        })
        .collect();
    Ok(ClusterOutcome {
        backend: lab.backend(),
        backend_reason: lab.backend_reason().to_owned(),
        run_id: lab.run_id().to_owned(),
        seed: lab.seed(),
        hosts,
        client: ClusterClientReport {
            host: c.client.host.clone(),
            command: argv,
            result: client,
        },
        links: lab.pair_counters()?.every_pair(),
        timeline,
    })
}

impl ClusterOutcome {
    /// The hosts whose program died on its own before the end, each with
    /// how, for a verdict.
    pub fn exited_early(&self) -> Vec<String> {
        self.hosts
            .iter()
            .filter_map(|h| {
                let p = h.program.as_ref().filter(|p| p.exited_early)?;
                let last = p
                    .stdout
                    .lines()
                    .chain(p.stderr.lines())
                    .rfind(|l| !l.trim().is_empty())
                    .map(|l| format!(": {l}"))
                    .unwrap_or_default();
                Some(format!("host {}'s program {}{last}", h.host.name, p.ended))
            })
            .collect()
    }

    /// A line per host, the client's exit, and the steps.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} hosts on {} (seed {})\n",
            self.hosts.len(),
            self.backend,
            self.seed
        );
        for h in &self.hosts {
            let program = h.program.as_ref().map_or("no program".to_owned(), |p| {
                format!("{} ({} start(s)): {}", p.command[0], p.starts, p.ended)
            });
            out.push_str(&format!(
                "  {} {}: {program}\n",
                h.host.name, h.host.address
            ));
        }
        let code = self
            .client
            .result
            .exit_code
            .map_or("was killed".to_owned(), |c| format!("exited with {c}"));
        out.push_str(&format!(
            "client in {}: {code} after {:.2} s\n",
            self.client.host, self.client.result.duration_s
        ));
        for p in &self.timeline.timeline {
            match p.applied_ms {
                Some(ms) => out.push_str(&format!(
                    "  {} at {:.0} ms (due {:?})\n",
                    p.step.action, ms, p.step.at
                )),
                None => out.push_str(&format!(
                    "  {} due {:?}: the client had ended\n",
                    p.step.action, p.step.at
                )),
            }
        }
        out
    }
}
