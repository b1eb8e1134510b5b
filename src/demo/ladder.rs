//! The ladder of networks the demo runs, and what it measured on them.

use std::time::Duration;

use serde::Serialize;
use services::report::{TcpReport, UdpReport};

use crate::scenario::{HostKind, Partition};
use faults::{Backend, LinkCounters};

/// One network of the ladder.
pub struct Rung {
    pub name: &'static str,
    pub spec: &'static str,
    /// Loss per direction, for the loss plot.
    pub loss: Option<f64>,
    pub partition: Option<Partition>,
    /// Its TCP transfer takes milliseconds and its time is the CPU's, not
    /// the network's: it runs alone, never beside other runs.
    pub cpu_bound: bool,
    /// The server reads slowly: UDP 500 datagrams a second (half the
    /// probes' rate), TCP 1 MB a second, each from a 16 KB buffer.
    pub slow_reader: bool,
}

pub const LADDER: &[Rung] = &[
    Rung {
        name: "clean",
        spec: "",
        loss: Some(0.0),
        partition: None,
        cpu_bound: true,
        slow_reader: false,
    },
    Rung {
        name: "loss 1%",
        spec: "loss 1%",
        loss: Some(0.01),
        partition: None,
        cpu_bound: true,
        slow_reader: false,
    },
    Rung {
        name: "loss 5%",
        spec: "loss 5%",
        loss: Some(0.05),
        partition: None,
        cpu_bound: true,
        slow_reader: false,
    },
    Rung {
        name: "loss 20%",
        spec: "loss 20%",
        loss: Some(0.20),
        partition: None,
        cpu_bound: false,
        slow_reader: false,
    },
    Rung {
        name: "delay 50ms ± 20ms",
        spec: "delay 50ms 20ms",
        loss: None,
        partition: None,
        cpu_bound: false,
        slow_reader: false,
    },
    Rung {
        name: "reorder 25%",
        spec: "delay 10ms reorder 25%",
        loss: None,
        partition: None,
        cpu_bound: false,
        slow_reader: false,
    },
    Rung {
        name: "duplicate 5%",
        spec: "duplicate 5%",
        loss: None,
        partition: None,
        cpu_bound: true,
        slow_reader: false,
    },
    Rung {
        name: "corrupt 2%",
        spec: "corrupt 2%",
        loss: None,
        partition: None,
        cpu_bound: true,
        slow_reader: false,
    },
    Rung {
        name: "rate 10mbit",
        spec: "rate 10mbit",
        loss: None,
        partition: None,
        cpu_bound: false,
        slow_reader: false,
    },
    Rung {
        name: "2 s partition",
        spec: "rate 10mbit",
        loss: None,
        partition: Some(Partition {
            after: Duration::from_millis(100),
            duration: Duration::from_secs(2),
        }),
        cpu_bound: false,
        slow_reader: false,
    },
    Rung {
        name: "slow reader",
        spec: "",
        loss: None,
        partition: None,
        cpu_bound: false,
        slow_reader: true,
    },
    Rung {
        name: "terrible",
        spec: "delay 40ms 20ms loss 10% duplicate 5% corrupt 2% reorder 10% rate 20mbit",
        loss: None,
        partition: None,
        cpu_bound: false,
        slow_reader: false,
    },
];

/// The rung whose runs are captured to pcap files.
pub const CAPTURED: &str = "loss 5%";
/// The one-way delay of the goodput sweep (RTT twice that).
pub const SWEEP_DELAY_MS: f64 = 10.0;

/// What one network did to each transport.
#[derive(Debug, Clone, Serialize)]
pub struct RungResult {
    pub name: String,
    pub netem: String,
    pub udp: UdpReport,
    pub tcp: TcpReport,
    pub link: Vec<LinkCounters>,
}

/// One point of the goodput-versus-loss sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub loss: f64,
    pub tcp: TcpReport,
    /// The Mathis et al. model: MSS / (RTT sqrt(p)) sqrt(3/2), in Mbit/s.
    pub mathis_mbps: f64,
}

/// Flows through one bottleneck: two TCP flows alone, and the same two
/// beside a UDP flood.
#[derive(Debug, Clone, Serialize)]
pub struct Sharing {
    pub alone: crate::run::share::ShareReport,
    pub flooded: crate::run::share::ShareReport,
}

/// Messages at a steady rate, UDP against TCP on the same link.
#[derive(Debug, Clone, Serialize)]
pub struct Timeliness {
    pub netem: String,
    pub rate: f64,
    pub udp: crate::run::timeliness::TimelinessReport,
    pub tcp: crate::run::timeliness::TimelinessReport,
}

/// Everything the demo measured.
#[derive(Debug, Clone, Serialize)]
pub struct DemoReport {
    pub backend: Backend,
    /// The seed of the wire's draws.
    pub seed: u64,
    pub backend_reason: String,
    pub hosts: HostKind,
    pub quick: bool,
    pub machine: String,
    pub rungs: Vec<RungResult>,
    pub sweep: Vec<SweepPoint>,
    pub sweep_congestion: String,
    pub rtt_without_jitter_ms: Vec<f64>,
    pub rtt_with_jitter_ms: Vec<f64>,
    /// The clean link's TCP transfer, repeated alone: the run-to-run noise
    /// a time must rise above before "time vs clean" means anything.
    pub clean_tcp_s: Vec<f64>,
    /// Timeliness: the same stream of messages over one lossy link, by UDP
    /// and by TCP (one-way latency of each delivered message).
    pub timeliness: Option<Timeliness>,
    /// Congestion: two TCP flows through one bottleneck, alone and beside a
    /// UDP flood at twice its rate.
    pub sharing: Option<Sharing>,
    /// Many hosts: five peers through a partition of 2 | 3 and its heal.
    pub mesh: Option<crate::run::mesh::MeshOutcome>,
    /// Four clients of one server, one on a lossy link.
    pub clients: Option<crate::run::clients::ClientsOutcome>,
    pub duration_s: f64,
    pub summary: String,
}

/// The Mathis et al. model of TCP goodput (a model, not a bound:
/// measured goodput can sit above it), MSS / (RTT sqrt(p)) sqrt(3/2),
/// in Mbit/s, for a 1448-byte MSS, loss `p` and `rtt_s` seconds.
pub fn mathis_mbps(p: f64, rtt_s: f64) -> f64 {
    1448.0 * 8.0 / (rtt_s * p.sqrt()) * 1.5f64.sqrt() / 1e6
}
