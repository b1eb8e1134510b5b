//! A scenario: which transport, over which bad network, with which workload.

use std::time::Duration;

use faults::{Backend, Direction, Impairment};
use serde::Serialize;

/// UDP or TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
}

/// What the hosts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum HostKind {
    /// Network namespaces that the run creates.
    Netns,
    /// Containers of the services image (`make images`).
    Containers,
}

/// A cut of the link during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// From the start of the probe.
    #[serde(rename = "after_ms", serialize_with = "faults::units::serialize_ms")]
    pub after: Duration,
    /// How long the link stays cut.
    #[serde(rename = "for_ms", serialize_with = "faults::units::serialize_ms")]
    pub duration: Duration,
}

/// Everything one run needs.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub transport: Transport,
    pub impairment: Impairment,
    pub direction: Direction,
    pub backend: Backend,
    pub hosts: HostKind,
    pub partition: Option<Partition>,
    /// UDP: probes to send.
    pub count: u64,
    /// UDP: time between probes.
    #[serde(rename = "interval_ms", serialize_with = "faults::units::serialize_ms")]
    pub interval: Duration,
    /// UDP: bytes per probe.
    pub size: usize,
    /// TCP: bytes to stream.
    pub bytes: u64,
    /// TCP: bytes per write call.
    pub write_size: usize,
    /// UDP: wait for late echoes; TCP: give up after this long.
    #[serde(rename = "timeout_ms", serialize_with = "faults::units::serialize_ms")]
    pub timeout: Duration,
    /// Seed of the wire's draws.
    pub seed: Option<u64>,
    /// UDP: keep every RTT in the report.
    pub samples: bool,
    /// TCP: congestion control (`TCP_CONGESTION`), or the system's default.
    pub congestion: Option<String>,
}

impl Scenario {
    /// A scenario with the probes' defaults and a clean link.
    pub fn new(transport: Transport) -> Self {
        Self {
            transport,
            impairment: Impairment::none(),
            direction: Direction::Both,
            backend: Backend::Auto,
            hosts: HostKind::Netns,
            partition: None,
            count: 1000,
            interval: Duration::from_millis(1),
            size: 64,
            bytes: 1 << 20,
            write_size: 64,
            timeout: match transport {
                Transport::Udp => Duration::from_secs(2),
                Transport::Tcp => Duration::from_secs(60),
            },
            seed: None,
            samples: false,
            congestion: None,
        }
    }

    /// The same scenario over `spec` (netem arguments) in `direction`.
    ///
    /// # Panics
    /// If `spec` is not a valid impairment: for literals in code and tests.
    pub fn impaired(mut self, spec: &str, direction: Direction) -> Self {
        self.impairment = spec
            .parse()
            .unwrap_or_else(|e| panic!("bad impairment literal '{spec}': {e}"));
        self.direction = direction;
        self
    }

    /// How many directions carry the impairment.
    pub fn impaired_directions(&self) -> i32 {
        match self.direction {
            Direction::Both => 2,
            Direction::Forward | Direction::Reverse => 1,
        }
    }
}
