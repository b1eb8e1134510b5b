//! Everything needed to put two hosts on a link and break that link on
//! purpose, without ever changing the machine's own network namespace.
//!
//! # Layout
//!
//! The modules are private; this page re-exports the API, so each type has
//! one path (`faults::Lab`, `faults::Impairment`, ...).
//!
//! - `lab`: [`Lab`], two hosts and one link, impairments per [`Direction`]
//!   (`direction`), partitions.
//! - `backend`: the [`Backend`] of a link, and what `auto` picks.
//! - `host`: [`Host`], a network namespace: run programs in it, open sockets
//!   in it.
//! - `link`: the link itself: a veth pair (plain, or shaped by the kernel's
//!   netem), or TUN devices joined by the wire.
//! - `wire`: the userspace link: one forwarder per direction, each driving
//!   a `NetemModel`.
//! - `impairment`: the spec ([`Impairment`], [`Loss`], [`Distribution`]), in
//!   `tc netem`'s vocabulary; `units` parses and prints its values.
//! - `model`: netem's algorithm in userspace; `rng` its seeded draws;
//!   `counters` what a link did ([`CounterSnapshot`]).
//! - `tun`: TUN devices with checksum and segmentation offload; `vnet` the
//!   header in front of their packets; `gso`: cutting what the wire reads
//!   into wire-size packets; `gro`: coalescing what it delivers;
//!   `checksum`: the Internet checksum both use.
//! - `owner`, `cleanup`: run ids, and sweeping what dead runs left.
//! - `snmp`: what a host's kernel counted of UDP ([`UdpCounters`]).
//! - `doctor`: what this machine can do ([`Doctor`]).
//! - `cmd`: running `ip` and `tc` as argv, logged as shell commands.
//! - `sys`: the crate's only unsafe code, behind safe functions.
//! - `error`: [`Error`].
//! - [`bounds`]: the Clopper-Pearson bounds a test of a random process
//!   needs, so that it is neither flaky nor blind.
//!
//! The userspace model is reachable for property tests through one marked
//! path, [`testing`].
//!
//! # Example
//!
//! Build a lab, impair it, run a program in a host, read the counters,
//! remove it (requires root):
//!
//! ```no_run
//! use faults::{Backend, Direction, Lab};
//!
//! # fn main() -> faults::Result<()> {
//! let lab = Lab::new(Backend::Auto, Some(7))?;
//! lab.impair(Direction::Forward, &"loss 10%".parse()?)?;
//! let ping = lab
//!     .a()
//!     .command("ping")
//!     .args(["-c", "20", "-i", "0.01", &lab.addr_b().to_string()])
//!     .output()
//!     .expect("ping runs");
//! println!("{}", String::from_utf8_lossy(&ping.stdout));
//! let counters = lab.counters()?;
//! println!("A to B: {} in, {} dropped", counters.forward.packets_in, counters.forward.dropped);
//! lab.remove()?;
//! # Ok(())
//! # }
//! ```

//! # In your own tests
//!
//! A lab is a value like any other: build it in an `rstest` fixture, open
//! your server's socket in host B and your client's in host A (a socket
//! opened in a host stays in its namespace), impair the link, assert on
//! what your client saw, and remove it. The crate `tests/lab-example` of
//! this repository does this with a bound derived from the count.
//!
//! ```no_run
//! use std::net::{SocketAddr, UdpSocket};
//!
//! use faults::{Backend, Direction, Lab};
//! use rstest::{fixture, rstest};
//!
//! #[fixture]
//! fn lab() -> Lab {
//!     Lab::new(Backend::Auto, Some(7)).expect("a lab (run as root)")
//! }
//!
//! #[rstest]
//! fn my_server_answers_through_loss(lab: Lab) {
//!     lab.impair(Direction::Forward, &"loss 10%".parse().unwrap()).unwrap();
//!     let addr = SocketAddr::from((lab.addr_b(), 9000));
//!     let server = lab.b().run(|| UdpSocket::bind(addr)).unwrap().unwrap();
//!     let client = lab.a().run(|| UdpSocket::bind((lab.addr_a(), 0))).unwrap().unwrap();
//!     // ... run your server on `server`, your client on `client` ...
//!     # drop((server, client));
//!     assert!(lab.counters().unwrap().forward.packets_in > 0);
//!     lab.remove().unwrap();
//! }
//! # fn main() {}
//! ```

#![deny(unsafe_code)]

pub mod bounds;
mod cmd;
mod doctor;
mod error;
mod lab;
mod netem;
mod snmp;
#[allow(unsafe_code)]
mod sys;
mod wire;

pub use doctor::{doctor, Capability, Doctor};
pub use error::{Error, Result};
pub use lab::backend::{netem_available, Backend};
pub use lab::cleanup::{netns_names, sweep};
pub use lab::counts::PairCounters;
pub use lab::direction::Direction;
pub use lab::fault::Fault;
pub use lab::host::Host;
pub use lab::link::{ADDR_A, ADDR_A_RENUMBERED, ADDR_B};
pub use lab::owner::{
    is_alive, owner_alive, owner_pid, owner_token, recorded_runs, run_id_of, Run,
};
pub use lab::topology::{Pairs, Topology};
pub use lab::{Builder, Change, Lab, LinkCounters, Select};
pub use netem::counters::CounterSnapshot;
pub use netem::impairment::{Distribution, Impairment, Loss};
pub use netem::units::{rate as parse_rate, serialize_ms};
pub use snmp::UdpCounters;
pub use wire::switch::realtime_thread;

/// The userspace link's model and its counters, for property tests: the
/// wire is the model's only other user.
pub mod testing {
    pub use crate::netem::counters::Counters;
    pub use crate::netem::model::{NetemModel, L2_OVERHEAD};
}
