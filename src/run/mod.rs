//! Carrying out a run: a [`Request`] (a [`Scenario`]'s network and a
//! [`Workload`]) in, an [`Outcome`] out, and the outcome as JSON. The
//! command line (`badnet run`, `share`), scenario files (`badnet test`),
//! the demo and Rust tests all build a request and call [`execute`].
//!
//! - [`hosts`]: where the hosts come from (network namespaces or holder
//!   containers): a new lab, then impaired, made in one place.
//! - [`play`]: the timeline played while the client runs, with the moment
//!   each step took effect and each phase's counts.
//! - One module per workload, each run on built hosts: [`probe`] (the
//!   lecture's probes), [`programs`] (yours), [`timeliness`] (timestamped
//!   messages, their one-way latency), [`share`] (flows through one
//!   bottleneck).
//! - [`template`]: commands that name hosts (`{n1}`, `{self}`,
//!   `{peers}`).
//! - Workloads of many hosts, each on a lab of its own ([`many`]: what they
//!   share): [`mesh`] (every host probes every other), [`clients`] (N
//!   clients, one server).
//! - [`process`]: programs in hosts (ready when, what a client did, in
//!   containers joined to a holder); [`output`]: the bounded head and tail
//!   of what a program wrote; [`docker`]: the Docker plumbing of container
//!   hosts.
//!
//! A new workload is a variant of [`Workload`] and of [`Outcome`], a module
//! that runs it on [`Hosts`] (or on their lab, where container hosts
//! change nothing), and an arm in [`Request::check`], [`execute`] and
//! [`Outcome::json`]. The workloads import `hosts`, `play`, `process`,
//! `output` and `docker`, never each other.

pub mod clients;
pub mod cluster;
pub mod docker;
pub mod hosts;
pub mod many;
pub mod mesh;
pub mod nodes;
pub mod output;
pub mod play;
pub mod probe;
pub mod process;
pub mod programs;
pub mod share;
pub mod template;
pub mod timeliness;

use std::path::PathBuf;

use faults::Direction;

use crate::error::BadInput;
use crate::scenario::Scenario;
pub use hosts::{Hosts, Network};
pub use probe::ProbeOutcome;
use programs::{Programs, ProgramsOutcome};
use share::{Share, ShareReport};
use timeliness::{Messages, TimelinessOutcome};

/// What runs on the hosts.
#[derive(Debug, Clone)]
pub enum Workload {
    /// The transport's server and probe (the scenario's settings); with
    /// `capture`, host A's side of the link is recorded there as a pcap
    /// (network-namespace hosts only).
    Probe { capture: Option<PathBuf> },
    /// Your own server and client.
    Programs(Programs),
    /// Timestamped messages at a steady rate, by the scenario's transport.
    Timeliness(Messages),
    /// Several flows through one bottleneck.
    Share(Share),
    /// Every host of an N-host lab probes every other.
    Mesh(mesh::Mesh),
    /// N client hosts probe one server host at once.
    Clients(clients::Clients),
    /// Your programs on named hosts (a cluster's nodes) and a client.
    Cluster(cluster::Cluster),
}

/// Everything one run needs: the network (hosts, backend, seed,
/// impairment, timeline, the probes' settings) and what runs on it.
#[derive(Debug, Clone)]
pub struct Request {
    pub scenario: Scenario,
    pub workload: Workload,
}

/// What one run measured, by workload.
#[derive(Debug, Clone)]
pub enum Outcome {
    Probe(Box<ProbeOutcome>),
    Programs(ProgramsOutcome),
    Timeliness(TimelinessOutcome),
    Share(ShareReport),
    Mesh(mesh::MeshOutcome),
    Clients(clients::ClientsOutcome),
    Cluster(Box<cluster::ClusterOutcome>),
}

impl Request {
    /// The flows of `share` through a bottleneck from A to B on the hosts,
    /// backend and seed of `scenario`.
    pub fn share(mut scenario: Scenario, share: Share) -> Result<Self, BadInput> {
        scenario.impairment = share.bottleneck()?;
        scenario.direction = Direction::Forward;
        Ok(Self {
            scenario,
            workload: Workload::Share(share),
        })
    }

    /// Refuses what cannot run as given, and creates nothing: a timeline
    /// that cannot be played, programs that cannot be found.
    pub fn check(&self) -> Result<(), BadInput> {
        let s = &self.scenario;
        let at = |e: String| BadInput::new("--at", e);
        let process =
            |steps: &[crate::timeline::Step]| crate::timeline::refuse_process(steps).map_err(at);
        match &self.workload {
            Workload::Probe { .. } => {
                process(&s.timeline)?;
                s.check_steps(s.probe_limit()).map_err(at)
            }
            Workload::Timeliness(m) => {
                process(&s.timeline)?;
                s.check_steps(m.limit(s)).map_err(at)
            }
            Workload::Programs(p) => {
                process(&p.steps)?;
                programs::check(p)
            }
            Workload::Share(_) => Ok(()),
            Workload::Mesh(m) => m.check(s).map(drop),
            Workload::Clients(c) => c.check(s).map(drop),
            Workload::Cluster(c) => c.check(s).map(drop),
        }
    }

    /// The network it builds.
    fn network(&self) -> Network<'_> {
        let s = &self.scenario;
        Network {
            hosts: s.hosts,
            backend: s.backend,
            seed: s.seed,
            impairment: &s.impairment,
            direction: s.direction,
        }
    }
}

/// Runs `r`: checks it, builds its hosts, runs its workload on them, and
/// removes everything. Prints nothing.
pub fn execute(r: &Request) -> anyhow::Result<Outcome> {
    if let Workload::Programs(p) = &r.workload {
        // An image can only be looked for where an engine answers.
        if p.images.is_some() {
            docker::engine()?;
        }
    }
    r.check()?;
    let s = &r.scenario;
    // The workloads of many hosts build labs of their own.
    match &r.workload {
        Workload::Mesh(m) => return mesh::run(m, s).map(Outcome::Mesh),
        Workload::Clients(c) => return clients::run(c, s).map(Outcome::Clients),
        Workload::Cluster(c) => return cluster::run(c, s).map(|o| Outcome::Cluster(Box::new(o))),
        _ => {}
    }
    let hosts = Hosts::build(r.network())?;
    let lab = &hosts.lab;
    let outcome = match &r.workload {
        Workload::Probe { capture } => {
            probe::on_hosts(&hosts, s, capture.as_deref()).map(|o| Outcome::Probe(Box::new(o)))
        }
        Workload::Programs(p) => programs::on_hosts(p, &hosts, s.direction).map(Outcome::Programs),
        Workload::Timeliness(m) => timeliness::on_lab(lab, s, *m).map(Outcome::Timeliness),
        Workload::Share(share) => share::on_lab(lab, share).map(Outcome::Share),
        Workload::Mesh(_) | Workload::Clients(_) | Workload::Cluster(_) => {
            unreachable!("built their own labs")
        }
    };
    hosts.remove()?;
    outcome
}

/// Runs the probes of `s` ([`execute`] of a [`Workload::Probe`]).
pub fn execute_probe(s: &Scenario) -> anyhow::Result<ProbeOutcome> {
    execute_probe_captured(s, None)
}

/// [`execute_probe`], with host A's side of the link recorded to the pcap file
/// `capture` (network-namespace hosts only; containers ignore it).
pub fn execute_probe_captured(
    s: &Scenario,
    capture: Option<PathBuf>,
) -> anyhow::Result<ProbeOutcome> {
    let r = Request {
        scenario: s.clone(),
        workload: Workload::Probe { capture },
    };
    match execute(&r)? {
        Outcome::Probe(o) => Ok(*o),
        _ => unreachable!("a probe request has a probe outcome"),
    }
}

impl Outcome {
    /// What `badnet run --json` (and `share --json`) prints: the
    /// workload's own fields, and but for `share` the impairment of `s`:
    /// as `given` on the command line, as `tc` arguments, and its
    /// direction; and `seed`, the seed of the link's draws (the probe's
    /// lab's, else that of `s`, which the command line always sets).
    pub fn json(&self, s: &Scenario, given: &str) -> serde_json::Value {
        let mut impairment = serde_json::json!({
            "given": given,
            "tc": s.impairment.tc_args().join(" "),
            "direction": s.direction,
        });
        let mut v = match self {
            Outcome::Probe(o) => {
                impairment["spec"] = serde_json::json!(s.impairment);
                probe_json(o)
            }
            Outcome::Programs(o) => to_json(o),
            Outcome::Timeliness(o) => to_json(o),
            Outcome::Share(r) => to_json(r),
            Outcome::Mesh(o) => to_json(o),
            Outcome::Clients(o) => to_json(o),
            Outcome::Cluster(o) => to_json(o),
        };
        if v.get("seed").is_none() {
            v["seed"] = serde_json::json!(s.seed);
        }
        if !matches!(
            self,
            Outcome::Share(_) | Outcome::Mesh(_) | Outcome::Cluster(_)
        ) {
            v["impairment"] = impairment;
        }
        rounded(v)
    }

    /// Why your client's run counts as failed: it exited with a code
    /// other than 0, or was killed. None for the other workloads (a run
    /// that could not complete is an error instead).
    pub fn client_failed(&self) -> Option<String> {
        let client = match self {
            Outcome::Programs(o) => &o.client,
            Outcome::Cluster(o) => &o.client.result,
            _ => return None,
        };
        match client.exit_code {
            Some(0) => None,
            code => Some(format!(
                "the client {}",
                match (code, client.killed_at_limit) {
                    (Some(c), _) => format!("exited with {c}"),
                    (None, true) => format!(
                        "was killed at its limit, {:.1} s, with every process in its host",
                        client.duration_s
                    ),
                    (None, false) => "was killed".into(),
                }
            )),
        }
    }

    /// Why the run failed whatever its client did: the hosts whose program
    /// died on its own before the end.
    pub fn hosts_failed(&self) -> Vec<String> {
        match self {
            Outcome::Cluster(o) => o.exited_early(),
            _ => Vec::new(),
        }
    }
}

/// `v` with every float rounded as the text prints it, by its key: times
/// in ms (`_ms`, `_us`) and rates in Mbit/s (`_mbps`) to 3 decimals,
/// seconds (`_s`) to 6; anything else (fractions, percentages, indices,
/// probabilities that may be tiny) to 12 significant digits. So no
/// `0.12999999999999998` reaches a reader. An array's numbers go by the
/// array's key.
pub fn rounded(mut v: serde_json::Value) -> serde_json::Value {
    round_in(&mut v, "");
    v
}

fn round_in(v: &mut serde_json::Value, key: &str) {
    use serde_json::Value;
    match v {
        Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or_default();
            let decimals = if ["_ms", "_us", "_mbps"].iter().any(|s| key.ends_with(s)) {
                Some(3)
            } else if key.ends_with("_s") {
                Some(6)
            } else {
                None
            };
            let r = match decimals {
                Some(d) => {
                    let scale = 10f64.powi(d);
                    (x * scale).round() / scale
                }
                None => format!("{x:.11e}").parse().unwrap_or(x),
            };
            if let Some(n) = serde_json::Number::from_f64(if r.is_finite() { r } else { x }) {
                *v = Value::Number(n);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| round_in(item, key)),
        Value::Object(map) => map.iter_mut().for_each(|(k, item)| round_in(item, k)),
        _ => {}
    }
}

fn to_json(v: &impl serde::Serialize) -> serde_json::Value {
    serde_json::to_value(v).expect("outcomes serialize")
}

/// The probe's fields, plus backend, hosts and link counters.
fn probe_json(o: &ProbeOutcome) -> serde_json::Value {
    let mut v = to_json(&o.report);
    let extra = serde_json::json!({
        "backend": o.backend,
        "backend_reason": o.backend_reason,
        "hosts": o.hosts,
        "run_id": o.run_id,
        "partition": o.scenario.partition,
        "link": o.link,
        "server_udp": o.server_udp,
        "receive_buffer_drops": o.server_udp.rcvbuf_errors,
        "unread_at_end": o.unread_at_end,
        "seed": o.seed,
        "renumbered": o.scenario.renumber_after.map(|_| faults::ADDR_A_RENUMBERED.to_string()),
        "timeline": o.timeline.timeline,
        "phases": o.timeline.phases,
    });
    if let (Some(map), serde_json::Value::Object(more)) = (v.as_object_mut(), extra) {
        map.extend(more);
    }
    v
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn json_floats_are_rounded_as_the_text_prints_them() {
        let v = super::rounded(json!({
            "delay_ms": 0.12999999999999998,
            "duration_s": 1.000_000_4,
            "loss_rate": 0.1 + 0.2,
            "alpha": 1.234_567e-7,
            "rtt_samples_ms": [0.123_456_7, 2.0],
            "count": 3,
            "nested": {"goodput_mbps": 4.180_000_000_000_001},
        }));
        assert_eq!(
            v.to_string(),
            r#"{"alpha":1.234567e-7,"count":3,"delay_ms":0.13,"duration_s":1.0,"loss_rate":0.3,"nested":{"goodput_mbps":4.18},"rtt_samples_ms":[0.123,2.0]}"#
        );
    }
}
