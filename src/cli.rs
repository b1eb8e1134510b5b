//! The `badnet` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faults::{Backend, Direction, Impairment, Lab};
use nix::sys::signal::{SigSet, Signal};

/// See, by measurement, what UDP and TCP do on a bad network.
#[derive(Debug, Parser)]
#[command(name = "badnet", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// What this machine can do (root, netem, TUN, user namespaces, Docker), with remedies.
    Doctor {
        /// One JSON object with keys root, netem, tun, userns, docker.
        #[arg(long)]
        json: bool,
    },
    /// Remove what dead runs left behind (namespaces, links, processes).
    Cleanup,
    /// Build two hosts and an impaired link, print how to use them, and keep
    /// them until Ctrl-C.
    Lab {
        /// auto, netem or wire.
        #[arg(long, default_value = "auto")]
        backend: Backend,
        /// netem arguments for the link, e.g. "delay 50ms 10ms loss 5%".
        #[arg(long, default_value = "")]
        impair: String,
        /// both, forward (A to B) or reverse.
        #[arg(long, default_value = "both")]
        direction: Direction,
        /// Seed of the wire's random draws.
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// Runs the command line; the exit code follows the README: 0 done, 1 a
/// failure to run, 2 bad input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("badnet: {e:#}");
            match e.downcast_ref::<faults::Error>() {
                Some(faults::Error::Invalid { .. }) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Doctor { json } => doctor(json),
        Command::Cleanup => {
            let removed = faults::cleanup::sweep()?;
            if removed.is_empty() {
                println!("nothing to clean up");
            }
            for name in removed {
                println!("removed {name}");
            }
            Ok(())
        }
        Command::Lab {
            backend,
            impair,
            direction,
            seed,
        } => lab(backend, &impair.parse()?, direction, seed),
    }
}

fn doctor(json: bool) -> anyhow::Result<()> {
    let report = faults::doctor::check();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for c in &report.checks {
        println!(
            "{:<7} {:<3} {}",
            c.name,
            if c.ok { "yes" } else { "no" },
            c.detail
        );
        if let Some(r) = &c.remedy {
            println!("{:<11} remedy: {r}", "");
        }
    }
    Ok(())
}

fn lab(
    backend: Backend,
    impair: &Impairment,
    direction: Direction,
    seed: Option<u64>,
) -> anyhow::Result<()> {
    // Block the signals before any thread starts, so every thread inherits
    // the mask and this one receives them in sigwait.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    let lab = Lab::new(backend, seed)?;
    lab.impair(direction, impair)?;
    let (a, b) = (lab.a().name().to_owned(), lab.b().name().to_owned());
    println!("lab {} ready: {}", lab.run_id(), lab.backend_reason());
    println!("host a: {a} {}", lab.addr_a());
    println!("host b: {b} {}", lab.addr_b());
    println!("link: {direction:?} {impair}");
    println!("try: ip netns exec {a} ping {}", lab.addr_b());
    println!("Ctrl-C removes it");
    let signal = signals.wait()?;
    tracing::info!("{signal}: removing the lab");
    let counters = lab.counters();
    lab.remove()?;
    println!("forward: {}", serde_json::to_string(&counters.forward)?);
    println!("reverse: {}", serde_json::to_string(&counters.reverse)?);
    println!("removed");
    Ok(())
}
