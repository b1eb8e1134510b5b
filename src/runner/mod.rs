//! Running a scenario: build the lab, start the server in host B, run the
//! probe in host A, cut the link if asked, collect what both sides saw,
//! and remove everything.
//!
//! - [`netns`]: hosts that are network namespaces this run creates.
//! - [`containers`]: hosts that are containers of the services image.
//! - [`docker`]: the Docker plumbing of container hosts.
//! - `outcome`: what a run measured ([`Outcome`]), built the same way by both.
//! - [`play`]: the timeline (partition included) played while the client
//!   runs, with the moment each step took effect and each phase's counts.
//! - [`programs`]: your own server and client instead of the probes.
//! - [`messages`]: timestamped messages at a steady rate, their one-way
//!   latency.
//!
//! This file only dispatches; the parts import `outcome`, `play` and `docker`,
//! never each other.

pub mod containers;
pub mod docker;
pub mod messages;
pub mod netns;
mod outcome;
pub mod play;
pub mod programs;

pub use netns::run_on_lab;
pub use outcome::Outcome;

use std::path::Path;

use crate::scenario::{HostKind, Scenario};

/// Runs `scenario` on the hosts it names: network namespaces, or
/// containers.
pub fn run(scenario: &Scenario) -> anyhow::Result<Outcome> {
    run_captured(scenario, None)
}

/// [`run`], with host A's side of the link recorded to the pcap file
/// `capture` (network-namespace hosts only; containers ignore it).
pub fn run_captured(scenario: &Scenario, capture: Option<&Path>) -> anyhow::Result<Outcome> {
    match scenario.hosts {
        HostKind::Netns => netns::run(scenario, capture),
        HostKind::Containers => containers::run(scenario),
    }
}
