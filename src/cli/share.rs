//! `badnet share`: several flows through one bottleneck.

use std::time::Duration;

use clap::Args;

use super::args::LinkArgs;
use crate::error::BadInput;
use crate::run::share::{Share, ShareReport};
use crate::run::{Outcome, Request};
use crate::scenario::{Scenario, Transport};

/// `badnet share` flags.
#[derive(Debug, Clone, Args)]
pub struct ShareArgs {
    /// The bottleneck from A to B, e.g. 20mbit.
    #[arg(long, default_value = "20mbit", allow_hyphen_values = true)]
    pub rate: String,
    /// Packets its queue holds (netem's limit).
    #[arg(long, default_value_t = 100, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// TCP flows at once.
    #[arg(long, default_value_t = 2, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(0..=64))]
    pub tcp: u32,
    /// One UDP flood beside them at this rate, e.g. 40mbit (no congestion
    /// control: it sends at this rate whatever happens).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_bits)]
    pub udp: Option<u64>,
    /// How long the flows run.
    #[arg(long, default_value = "4s", allow_hyphen_values = true, value_parser = crate::duration::parse_positive)]
    pub duration: Duration,
    #[command(flatten)]
    pub link: LinkArgs,
    /// netns, or containers (holder containers of the services image).
    #[arg(long, allow_hyphen_values = true, value_enum, default_value = "netns")]
    pub hosts: crate::scenario::HostKind,
    /// One JSON object instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// A rate in tc's words, to bits per second.
fn parse_bits(text: &str) -> Result<u64, String> {
    faults::plumbing::parse_bit_rate(text)
        .ok_or_else(|| format!("'{text}' is not a rate (examples: 500kbit, 40mbit, 1gbit)"))
}

/// Runs `badnet share`.
pub fn run(args: &ShareArgs) -> anyhow::Result<()> {
    if faults::plumbing::parse_bit_rate(&args.rate).is_none() {
        return Err(BadInput::new(
            "--rate",
            format!("'{}' is not a rate (examples: 500kbit, 20mbit)", args.rate),
        )
        .into());
    }
    if args.link.backend == faults::Backend::Veth {
        return Err(BadInput::new(
            "--backend",
            "veth is a plain pair and carries no impairment, so no bottleneck: use netem, wire or auto",
        )
        .into());
    }
    if args.tcp == 0 && args.udp.is_none() {
        return Err(
            BadInput::new("--tcp", "no flows: give --tcp N (N above 0) or --udp RATE").into(),
        );
    }
    if args.duration > Duration::from_secs(600) {
        return Err(BadInput::new("--duration", "at most 600s").into());
    }
    let mut scenario = Scenario::new(Transport::Tcp);
    scenario.backend = args.link.backend;
    scenario.seed = Some(args.link.seed_or_drawn());
    scenario.hosts = args.hosts;
    let request = Request::share(
        scenario,
        Share {
            rate: args.rate.clone(),
            limit: args.limit,
            tcp: args.tcp,
            udp_bps: args.udp.map(|b| b as f64),
            duration: args.duration,
        },
    )?;
    let spinner = crate::progress::Spinner::start(
        &format!(
            "{} TCP flows{} through {}",
            args.tcp,
            if args.udp.is_some() {
                " and a UDP flood"
            } else {
                ""
            },
            args.rate
        ),
        args.duration,
    );
    let outcome = crate::run::execute(&request)?;
    drop(spinner);
    let Outcome::Share(report) = &outcome else {
        unreachable!("a share request has a share outcome")
    };
    if args.json {
        println!("{}", outcome.json(&request.scenario, ""));
    } else {
        print!(
            "{}",
            summary(report, request.scenario.seed.unwrap_or_default())
        );
    }
    Ok(())
}

fn summary(r: &ShareReport, seed: u64) -> String {
    let mut s = format!(
        "{} flows through {} (queue {} packets) for {:.1} s, backend {}, seed {}\n",
        r.flows.len(),
        r.rate,
        r.limit,
        r.duration_s,
        r.backend,
        seed
    );
    for (i, f) in r.flows.iter().enumerate() {
        s.push_str(&format!(
            "flow {} {}: {:.2} Mbit/s\n",
            i + 1,
            f.transport
                .probe_program()
                .trim_end_matches("-client")
                .to_uppercase(),
            f.goodput_mbps
        ));
    }
    if let Some(j) = r.jain {
        s.push_str(&format!(
            "Jain's fairness index over the TCP flows: {j:.3}\n"
        ));
    }
    if let Some(u) = &r.udp {
        s.push_str(&format!(
            "UDP flood: offered {:.2}, sent {:.2}, delivered {:.2} Mbit/s\n",
            u.offered_mbps, u.sent_mbps, u.delivered_mbps
        ));
    }
    let f = r.link.forward;
    s.push_str(&format!(
        "link A->B: in {} passed {} queue drops {} dropped {}\n",
        f.packets_in, f.passed, f.queue_drops, f.dropped
    ));
    s
}
