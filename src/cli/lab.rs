//! `badnet lab`: two hosts and an impaired link, kept until Ctrl-C.

use faults::{Backend, Direction, Impairment};
use nix::sys::signal::{SigSet, Signal};

use crate::run::{Hosts, Network};
use crate::scenario::HostKind;

/// `badnet lab`: builds the lab, prints how to use it, removes it on
/// SIGINT or SIGTERM.
pub fn run(
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
    let hosts = Hosts::build(Network {
        hosts: HostKind::Netns,
        backend,
        seed,
        impairment: impair,
        direction,
    })?;
    let lab = &hosts.lab;
    let (a, b) = (lab.a().name().to_owned(), lab.b().name().to_owned());
    println!("lab {} ready: {}", lab.run_id(), lab.backend_reason());
    println!("host a: {a} {}", lab.addr_a());
    println!("host b: {b} {}", lab.addr_b());
    println!("link: {direction:?} {impair}");
    println!("try: ip netns exec {a} ping {}", lab.addr_b());
    println!("Ctrl-C removes it");
    let signal = signals.wait()?;
    tracing::info!("{signal}: removing the lab");
    let counters = lab.counters()?;
    hosts.remove()?;
    println!("forward: {}", serde_json::to_string(&counters.forward)?);
    println!("reverse: {}", serde_json::to_string(&counters.reverse)?);
    println!("removed");
    Ok(())
}
