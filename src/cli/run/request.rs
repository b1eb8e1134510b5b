//! The request `badnet run`'s flags describe, checked as they are read:
//! bad values name their flag.

use std::time::Duration;

use faults::Backend;

use super::RunArgs;
use crate::error::BadInput;
use crate::run::cluster::Cluster;
use crate::run::programs::{Images, Programs, Ready};
use crate::run::timeliness::Messages;
use crate::run::{Request, Workload};
use crate::scenario::{HostKind, Partition, Scenario, Transport};
use crate::timeline::Action;

impl RunArgs {
    /// The flags that are a netem word and its value (`--loss 5%` is
    /// `loss 5%`), by that word.
    /// The impairment as netem arguments, from the flags.
    pub fn netem_args(&self) -> String {
        self.impairment.netem_args()
    }

    /// The scenario the flags describe; bad values name their flag.
    pub fn scenario(&self) -> Result<Scenario, BadInput> {
        let mut s = Scenario::new(self.transport.unwrap_or(Transport::Udp));
        s.impairment = self.impairment.impairment()?;
        s.direction = self.direction;
        s.backend = self.link.backend;
        s.hosts = self.hosts;
        s.partition = self
            .partition_after
            .zip(self.partition_for)
            .map(|(after, duration)| Partition { after, duration });
        s.count = self.count;
        s.interval = self.interval;
        s.size = self.size as usize;
        s.bytes = self.bytes;
        if let Some(t) = self.timeout {
            s.timeout = t;
        }
        s.seed = Some(self.link.seed_or_drawn());
        s.samples = self.samples;
        s.receiver_rate = self.receiver_rate;
        s.receiver_buffer = self.receiver_buffer;
        s.renumber_after = self.renumber_after;
        if self.reconnect {
            if self.transport != Some(Transport::Tcp) {
                return Err(BadInput::new(
                    "--reconnect",
                    "is for tcp (a UDP probe has no connection)",
                ));
            }
            s.reconnect = Some(Duration::from_secs(1));
        }
        if self.server.is_none() {
            // Your own programs' timeline is bounded by the client's limit
            // (Programs), the probe's by its own (Request::check).
            s.timeline = self.steps()?;
            crate::timeline::check(&s.timeline, None).map_err(|e| BadInput::new("--at", e))?;
        }
        Ok(s)
    }

    /// The request the flags describe: your programs, timestamped
    /// messages, or the probes. Bad values name their flag; nothing is
    /// checked that would need the system.
    pub fn request(&self) -> Result<Request, BadInput> {
        let scenario = self.scenario()?;
        let workload = match (&self.server, &self.client, self.messages, self.duration) {
            (Some(server), Some(client), _, _) => {
                Workload::Programs(self.programs(server, client)?)
            }
            (_, _, Some(rate), Some(duration)) => {
                let m = Messages { rate, duration };
                if m.count() > 10_000_000 {
                    return Err(BadInput::new(
                        "--messages",
                        format!(
                            "{} messages in {duration:?}: at most 10,000,000 per run",
                            m.count()
                        ),
                    ));
                }
                Workload::Timeliness(m)
            }
            _ if self.clients.is_some() || !self.impair.is_empty() => {
                Workload::Clients(crate::run::clients::Clients {
                    n: self.clients.unwrap_or(1) as usize,
                    pairs: self.impair.clone(),
                })
            }
            _ => Workload::Probe { capture: None },
        };
        self.refuse_veth(&scenario)?;
        let r = Request { scenario, workload };
        if !matches!(r.workload, Workload::Programs(_)) {
            r.check().map_err(|e| self.blame_renumber(e))?;
        }
        Ok(r)
    }

    /// The request of a scenario with hosts of its own: `cluster` (its
    /// per-pair impairments among it) on the network the flags describe
    /// (every pair's impairment, the timeline), checked as a run would
    /// check it.
    pub fn cluster_request(&self, cluster: Cluster) -> Result<Request, BadInput> {
        let scenario = self.scenario()?;
        self.refuse_veth(&scenario)?;
        let r = Request {
            scenario,
            workload: Workload::Cluster(cluster),
        };
        r.check()?;
        Ok(r)
    }

    /// Refuses what cannot run as given, as a run would, but creates
    /// nothing: bad values, a timeline that cannot be played, programs that
    /// cannot be found.
    pub fn check(&self) -> Result<(), BadInput> {
        match self.request()? {
            Request {
                workload: Workload::Programs(p),
                ..
            } => crate::run::programs::check(&p),
            _ => Ok(()),
        }
    }

    /// The veth backend is a plain pair: an impairment, a partition or any
    /// other step on its link but a renumbering is refused, by
    /// `--backend`, before anything is built.
    fn refuse_veth(&self, s: &Scenario) -> Result<(), BadInput> {
        let faulty = |steps: &[crate::timeline::Step]| {
            steps.iter().any(|step| step.action != Action::Renumber)
        };
        if self.link.backend == Backend::Veth
            && (!s.impairment.is_none() || faulty(&s.steps()) || faulty(&self.steps()?))
        {
            return Err(BadInput::new(
                "--backend",
                "veth is a plain pair: it carries no impairment, partition or timeline step; use netem, wire or auto",
            ));
        }
        Ok(())
    }

    /// A refused timeline that the renumbering made unplayable is
    /// `--renumber-after`'s fault, not `--at`'s.
    fn blame_renumber(&self, e: BadInput) -> BadInput {
        if e.flag == "--at" && self.renumber_after.is_some() && e.message.contains("renumber") {
            BadInput::new("--renumber-after", e.message)
        } else {
            e
        }
    }

    /// The `--at` steps, as given.
    pub fn steps(&self) -> Result<Vec<crate::timeline::Step>, BadInput> {
        crate::cli::args::steps(&self.at)
    }
}

impl RunArgs {
    /// Your programs as the flags give them.
    fn programs(&self, server: &str, client: &str) -> Result<Programs, BadInput> {
        Ok(Programs {
            server: server.to_owned(),
            client: client.to_owned(),
            ready: match (&self.ready, self.ready_port) {
                (Some(re), _) => Ready::Line(re.clone()),
                (None, Some(port)) => Ready::Port(port),
                (None, None) => Ready::Now,
            },
            ready_limit: self.ready_timeout,
            client_limit: self.timeout.unwrap_or(Duration::from_secs(60)),
            steps: self.steps()?,
            images: self.images()?,
        })
    }

    /// The images of your programs: with --hosts containers, the ones given
    /// or the services image.
    fn images(&self) -> Result<Option<Images>, BadInput> {
        let services = || format!("{}:{}", crate::run::docker::IMAGE, crate::run::docker::TAG);
        match self.hosts {
            HostKind::Containers => Ok(Some(Images {
                server: self.server_image.clone().unwrap_or_else(services),
                client: self.client_image.clone().unwrap_or_else(services),
            })),
            HostKind::Netns => match (&self.server_image, &self.client_image) {
                (Some(_), _) => Err(BadInput::new("--server-image", "needs --hosts containers")),
                (_, Some(_)) => Err(BadInput::new("--client-image", "needs --hosts containers")),
                _ => Ok(None),
            },
        }
    }
}
