//! What an export starts from: a scenario as hosts, impairments and a
//! timeline of [`Fault`]s, whatever wrote it (a two-host scenario file, an
//! N-host one, the Rust API).

use std::time::Duration;

use faults::{Fault, Impairment, Pairs, Topology};

/// A scenario, engine-neutral: what the network does to which pairs, when,
/// and which probe (if any) measures it.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The scenario's name (objects are named after it).
    pub name: String,
    /// The hosts, by name: on a cluster, the pods labelled with each.
    pub hosts: Vec<String>,
    /// Every pair's impairment, unless `pairs` names the pair.
    pub default: Impairment,
    /// Per-pair impairments, in order: a later one replaces an earlier one
    /// on the pairs both name.
    pub pairs: Vec<(Pairs, Impairment)>,
    /// Steps in time from the client's start.
    pub timeline: Vec<(Duration, Fault)>,
    /// badnet's probe as the client, with badnet's server; None for your
    /// own programs (your pods run them).
    pub probe: Option<Probe>,
}

/// badnet's probe and its server: the services image's programs.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The host the probe runs in (its pods carry that host's label).
    pub client_host: String,
    /// The host the server runs in.
    pub server_host: String,
    /// The probe's program (`udp-client`) and arguments; `{server}` stands
    /// for the server's address.
    pub client: Vec<String>,
    /// The server's program (`udp-server`) and arguments.
    pub server: Vec<String>,
    /// The port the server listens on, and its protocol (`UDP`, `TCP`).
    pub port: u16,
    pub protocol: &'static str,
}

/// What an engine cannot express, by the key that asks for it, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key}: {why}")]
pub struct Refused {
    pub key: String,
    pub why: String,
}

impl Refused {
    pub fn new(key: impl Into<String>, why: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            why: why.into(),
        }
    }
}

impl Plan {
    /// The plan's topology: its hosts and impairments, checked.
    pub fn topology(&self) -> Result<Topology, Refused> {
        let mut t = Topology::named(self.hosts.clone())
            .map_err(|e| Refused::new("hosts", e.to_string()))?;
        if !self.default.is_none() {
            t = t
                .impair(Pairs::All, self.default.clone())
                .map_err(|e| Refused::new("impairment", e.to_string()))?;
        }
        for (pairs, spec) in &self.pairs {
            t = t
                .impair(pairs.clone(), spec.clone())
                .map_err(|e| Refused::new("impair", format!("{pairs} {spec}: {e}")))?;
        }
        for (at, step) in &self.timeline {
            step.check(&t)
                .map_err(|e| Refused::new("at", format!("{at:?} '{step}': {e}")))?;
        }
        Ok(t)
    }
}
