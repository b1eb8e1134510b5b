//! A scenario: which transport, over which bad network, with which probe
//! settings.

use std::time::Duration;

use faults::{Backend, Direction, Impairment};

use crate::timeline::{Action, Step};
use serde::Serialize;

/// The port the server listens on (the lecture's).
pub const PORT: u16 = services::DEFAULT_PORT;

/// UDP or TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    /// The server program of this transport (a binary of `services`).
    pub fn server_program(self) -> &'static str {
        match self {
            Transport::Udp => "udp-server",
            Transport::Tcp => "tcp-server",
        }
    }

    /// The probe program of this transport.
    pub fn probe_program(self) -> &'static str {
        match self {
            Transport::Udp => "udp-client",
            Transport::Tcp => "tcp-client",
        }
    }
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

impl HostKind {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            HostKind::Netns => "netns",
            HostKind::Containers => "containers",
        }
    }
}

impl std::fmt::Display for HostKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A cut of the link during the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// From the start of the probe.
    #[serde(rename = "after_ms", serialize_with = "faults::plumbing::serialize_ms")]
    pub after: Duration,
    /// How long the link stays cut.
    #[serde(rename = "for_ms", serialize_with = "faults::plumbing::serialize_ms")]
    pub duration: Duration,
}

/// The network a run builds (hosts, backend, seed, impairment), how it
/// changes during the run, and the probes' settings: what every
/// [`crate::run::Request`] carries beside its workload.
#[derive(Debug, Clone, Serialize)]
pub struct Scenario {
    pub transport: Transport,
    pub impairment: Impairment,
    pub direction: Direction,
    pub backend: Backend,
    pub hosts: HostKind,
    pub partition: Option<Partition>,
    /// How the link changes while the probe runs (`--at`).
    pub timeline: Vec<Step>,
    /// Host A's address changes this long after the probe starts.
    pub renumber_after: Option<Duration>,
    /// TCP: reconnect when the connection fails or stalls for this long,
    /// and send again what had not come back.
    pub reconnect: Option<Duration>,
    /// UDP: probes to send.
    pub count: u64,
    /// UDP: time between probes.
    #[serde(
        rename = "interval_ms",
        serialize_with = "faults::plumbing::serialize_ms"
    )]
    pub interval: Duration,
    /// UDP: bytes per probe.
    pub size: usize,
    /// TCP: bytes to stream.
    pub bytes: u64,
    /// TCP: bytes per write call.
    pub write_size: usize,
    /// UDP: wait for late echoes; TCP: give up after this long.
    #[serde(
        rename = "timeout_ms",
        serialize_with = "faults::plumbing::serialize_ms"
    )]
    pub timeout: Duration,
    /// Seed of the wire's draws.
    pub seed: Option<u64>,
    /// UDP: keep every RTT in the report.
    pub samples: bool,
    /// TCP: congestion control (`TCP_CONGESTION`), or the system's default.
    pub congestion: Option<String>,
    /// A slow reader: the server reads at most this many datagrams (UDP) or
    /// bytes (TCP) per second.
    pub receiver_rate: Option<f64>,
    /// The server socket's receive buffer, in bytes (the kernel doubles it).
    pub receiver_buffer: Option<u64>,
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
            timeline: Vec::new(),
            renumber_after: None,
            reconnect: None,
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
            receiver_rate: None,
            receiver_buffer: None,
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

    /// The probe's arguments (after the program) against `server`.
    pub fn probe_args(&self, server: &str) -> Vec<String> {
        let mut args: Vec<String> = match self.transport {
            Transport::Udp => vec![
                "--count".into(),
                self.count.to_string(),
                "--interval".into(),
                micros(self.interval),
                "--size".into(),
                self.size.to_string(),
            ],
            Transport::Tcp => vec![
                "--bytes".into(),
                self.bytes.to_string(),
                "--write-size".into(),
                self.write_size.to_string(),
            ],
        };
        args.extend([
            "--server".into(),
            server.to_owned(),
            "--port".into(),
            PORT.to_string(),
        ]);
        args.extend([
            "--probe".into(),
            "--json".into(),
            "--timeout".into(),
            micros(self.timeout),
        ]);
        if let (Transport::Tcp, Some(stall)) = (self.transport, self.reconnect) {
            args.extend(["--reconnect".into(), micros(stall)]);
        }
        if let (Transport::Udp, Some(at)) = (self.transport, self.renumber_after) {
            args.extend(["--renumber-after".into(), micros(at)]);
        }
        if self.transport == Transport::Udp && self.samples {
            args.push("--samples".into());
        }
        if let (Transport::Tcp, Some(cc)) = (self.transport, &self.congestion) {
            args.extend(["--congestion".into(), cc.clone()]);
        }
        args
    }

    /// The server's arguments beyond its address: the slow reader's.
    pub fn server_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(rate) = self.receiver_rate {
            args.extend(["--receiver-rate".into(), rate.to_string()]);
        }
        if let Some(bytes) = self.receiver_buffer {
            args.extend(["--receiver-buffer".into(), bytes.to_string()]);
        }
        args
    }

    /// The steps the link takes during the run: the partition's cut and
    /// heal, and the timeline's, in time order.
    pub fn steps(&self) -> Vec<Step> {
        let mut steps = self.timeline.clone();
        if let Some(p) = self.partition {
            steps.push(Step {
                at: p.after,
                action: Action::Partition,
            });
            steps.push(Step {
                at: p.after + p.duration,
                action: Action::Heal,
            });
        }
        if let Some(at) = self.renumber_after {
            steps.push(Step {
                at,
                action: Action::Renumber,
            });
        }
        steps.sort_by_key(|s| s.at);
        steps
    }

    /// Refuses steps that cannot be played as written, or timeline steps
    /// beyond `limit`, how long the client may run (a partition may
    /// outlast it: its heal is then not played).
    pub fn check_steps(&self, limit: Duration) -> Result<(), String> {
        let mut bounded = self.timeline.clone();
        if let Some(at) = self.renumber_after {
            bounded.push(Step {
                at,
                action: Action::Renumber,
            });
            bounded.sort_by_key(|s| s.at);
        }
        crate::timeline::check(&bounded, Some(limit))?;
        crate::timeline::check(&self.steps(), None)
    }

    /// How long the probe may run: its sending time and its timeout.
    pub fn probe_limit(&self) -> Duration {
        match self.transport {
            Transport::Udp => self.interval.mul_f64(self.count as f64) + self.timeout,
            Transport::Tcp => self.timeout,
        }
    }
}

fn micros(d: Duration) -> String {
    format!("{}us", d.as_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_args_carry_every_setting_of_the_scenario() {
        let mut udp = Scenario::new(Transport::Udp);
        udp.samples = true;
        let args = udp.probe_args("198.18.0.2").join(" ");
        assert!(
            args.contains("--count 1000 --interval 1000us --size 64"),
            "{args}"
        );
        assert!(
            args.contains("--server 198.18.0.2 --port 12000 --probe --json --timeout 2000000us"),
            "{args}"
        );
        assert!(args.ends_with("--samples"), "{args}");
        let mut tcp = Scenario::new(Transport::Tcp);
        tcp.congestion = Some("cubic".into());
        let args = tcp.probe_args("198.18.0.2").join(" ");
        assert!(args.contains("--bytes 1048576 --write-size 64"), "{args}");
        assert!(args.ends_with("--congestion cubic"), "{args}");
    }
}
