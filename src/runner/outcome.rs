//! What one run measured.

use faults::{Backend, Lab, LinkCounters, UdpCounters};
use serde::Serialize;
use services::report::Report;

use super::play::Timeline;
use crate::scenario::{HostKind, Scenario};

/// What one run measured: the probe's report and the link's counters, with
/// what ran where.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub scenario: Scenario,
    /// The backend the link ran on (never auto).
    pub backend: Backend,
    /// Why that backend.
    pub backend_reason: String,
    /// What kind of host ran the programs.
    pub hosts: HostKind,
    /// The run id in every resource name.
    pub run_id: String,
    /// What the probe saw.
    pub report: Report,
    /// What the link did, per direction.
    pub link: LinkCounters,
    /// What host B's kernel counted of UDP during the run (evidence from
    /// outside the link: e.g. datagrams that reached the server).
    pub server_udp: UdpCounters,
    /// The timeline as played: when each step took effect, and what the
    /// link counted in each phase.
    #[serde(flatten)]
    pub timeline: Timeline,
}

impl Outcome {
    /// The outcome of `scenario` on `lab` (read before the lab is removed),
    /// with the probe's `report`; `server_before` is what host B's kernel
    /// had counted of UDP before the run.
    pub fn new(
        scenario: &Scenario,
        lab: &Lab,
        report: Report,
        server_before: UdpCounters,
        timeline: Timeline,
    ) -> faults::Result<Self> {
        Ok(Self {
            scenario: scenario.clone(),
            backend: lab.backend(),
            backend_reason: lab.backend_reason().to_owned(),
            hosts: scenario.hosts,
            run_id: lab.run_id().to_owned(),
            report,
            link: lab.counters()?,
            server_udp: lab.b().udp_counters()?.since(server_before),
            timeline,
        })
    }
}
