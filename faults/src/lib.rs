//! Everything needed to put two hosts on a link and break that link on
//! purpose, without ever changing the machine's own network namespace.
//!
//! Module map:
//! - [`lab`]: two hosts, one link, impairments per direction, partitions;
//!   the backend choice (`auto | netem | wire`).
//! - [`host`]: a network namespace: run programs in it, open sockets in it.
//! - [`link`]: a veth pair shaped by the kernel's netem, or TUN devices
//!   joined by [`wire`], the userspace forwarder.
//! - [`impairment`]: the spec, in `tc netem`'s vocabulary; [`units`] parses
//!   and prints its values.
//! - [`model`]: netem's algorithm in userspace; [`rng`] its seeded draws;
//!   [`counters`] what a link did.
//! - [`tun`]: TUN devices; [`gro`]: coalescing what the wire delivers.
//! - [`owner`], [`cleanup`]: run ids, and sweeping what dead runs left.
//! - [`doctor`]: what this machine can do.
//! - [`cmd`]: running `ip` and `tc` as argv, logged as shell commands.
//! - [`error`]: the crate's error type.

pub mod cleanup;
pub mod cmd;
pub mod counters;
pub mod doctor;
pub mod error;
pub mod gro;
pub mod host;
pub mod impairment;
pub mod lab;
pub mod link;
pub mod model;
pub mod owner;
pub mod rng;
pub mod tun;
pub mod units;
pub mod wire;

pub use counters::{CounterSnapshot, Counters};
pub use error::{Error, Result};
pub use host::Host;
pub use impairment::{Distribution, Impairment, Loss};
pub use lab::{Backend, Direction, Lab, LinkCounters};
