//! `badnet mesh`: every host probes every other.

use std::time::Duration;

use clap::Args;
use faults::{Impairment, Pairs};

use super::args::{HostsArg, ImpairmentArgs, LinkArgs};
use crate::error::BadInput;
use crate::run::many::parse_pair_impairment;
use crate::run::mesh::Mesh;
use crate::run::{Outcome, Request, Workload};
use crate::scenario::{Scenario, Transport};

/// `badnet mesh` flags.
#[derive(Debug, Clone, Args)]
pub struct MeshArgs {
    /// How many hosts (h1 ... hN), or their names: h1,h2,h3.
    #[arg(long, allow_hyphen_values = true, default_value = "5")]
    pub hosts: HostsArg,
    /// TCP streams instead of UDP probes: each intact and in order, or its
    /// error.
    #[arg(long)]
    pub tcp: bool,
    /// UDP probes per ordered pair.
    #[arg(long, default_value_t = 200, allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub count: u64,
    /// Time between a pair's UDP probes.
    #[arg(long, default_value = "5ms", allow_hyphen_values = true, value_parser = services::cli::parse_positive_duration)]
    pub interval: Duration,
    /// UDP: how long each probe waits for late echoes after its last
    /// send (default 2s); TCP: when it gives up (default 60s).
    #[arg(long, allow_hyphen_values = true, value_parser = crate::duration::parse_positive)]
    pub timeout: Option<Duration>,
    /// TCP bytes per ordered pair.
    #[arg(long, default_value_t = 256 << 10, allow_hyphen_values = true, value_parser = clap::value_parser!(u64).range(1..=services::tcp_probe::MAX_BYTES))]
    pub bytes: u64,
    /// Every pair's impairment: the flags of `badnet run` (--loss,
    /// --delay, ..., --netem).
    #[command(flatten)]
    pub impairment: ImpairmentArgs,
    /// An impairment on some pairs: PAIRS NETEM, where PAIRS is a->b,
    /// a<->b, a->*, *->b or *. Repeat it; a later one replaces an earlier
    /// one on the pairs both name.
    #[arg(long, allow_hyphen_values = true, value_parser = parse_pair_impairment)]
    pub impair: Vec<(Pairs, Impairment)>,
    /// A step of the timeline: at TIME from the probes' start, STEP:
    /// partition A,B | C,D, isolate H, oneway A->B, heal, impair PAIRS
    /// NETEM, clear [PAIRS], down H, up H, renumber H.
    #[arg(long, num_args = 2, value_names = ["TIME", "STEP"], action = clap::ArgAction::Append, allow_hyphen_values = true)]
    pub at: Vec<String>,
    #[command(flatten)]
    pub link: LinkArgs,
    /// One JSON object instead of the matrix.
    #[arg(long)]
    pub json: bool,
}

impl MeshArgs {
    /// The request these flags describe, checked: bad input is refused
    /// here, before anything is created.
    pub fn request(&self) -> Result<Request, BadInput> {
        let mut s = Scenario::new(if self.tcp {
            Transport::Tcp
        } else {
            Transport::Udp
        });
        s.count = self.count;
        s.interval = self.interval;
        s.bytes = self.bytes;
        if let Some(t) = self.timeout {
            s.timeout = t;
        }
        s.impairment = self.impairment.impairment()?;
        s.timeline = super::args::steps(&self.at)?;
        s.backend = self.link.backend;
        s.seed = self.link.seed;
        let r = Request {
            scenario: s,
            workload: Workload::Mesh(Mesh {
                hosts: self.hosts.names(),
                pairs: self.impair.clone(),
            }),
        };
        r.check()?;
        Ok(r)
    }
}

/// `badnet mesh`.
pub fn run(args: &MeshArgs) -> anyhow::Result<()> {
    let Outcome::Mesh(outcome) = crate::run::execute(&args.request()?)? else {
        unreachable!("a mesh request has a mesh outcome")
    };
    if args.json {
        println!("{}", crate::run::rounded(serde_json::to_value(&outcome)?));
    } else {
        print!("{}", outcome.summary());
    }
    Ok(())
}
