//! Everything needed to put hosts on a network and break it on purpose,
//! without ever changing the machine's own network namespace.
//!
//! # Layout
//!
//! The modules are private but for [`bounds`]; this page re-exports the
//! API, so each type has one path (`faults::Lab`, `faults::Impairment`,
//! ...). The files are in three layers:
//!
//! - `lab/`: what a user builds. [`Topology`] (`topology`) describes named
//!   hosts and each pair's impairment; [`Lab`] builds it and changes it:
//!   the verbs of `Lab`, or a [`Fault`] (`fault`: the vocabulary of steps,
//!   partitions as a grudge of cut pairs), with [`PairCounters`] (`counts`)
//!   per directed pair. `host` ([`Host`]: a network namespace to run
//!   programs and open sockets in), `link` (the two-host veth pair, the
//!   bridge of three or more, or the wire's TUN devices), `backend`
//!   ([`Backend`] and what `auto` picks), `direction` (the two-host lab's
//!   [`Direction`]), `owner` and `cleanup` (run ids, sweeping what dead runs
//!   left).
//! - `netem/`: netem's vocabulary and algorithm: `impairment`
//!   ([`Impairment`], [`Loss`], [`Distribution`]) and `units`, the model of
//!   `sch_netem` (`model`), its seeded draws (`rng`), what it counted
//!   (`counters`, [`CounterSnapshot`]).
//! - `wire/`: the userspace switch's packet path: `switch` (a port per
//!   host, a netem model per directed pair), `tun` devices with checksum
//!   and segmentation offload, the `vnet` header in front of their packets,
//!   `gso` (cutting what the switch reads into wire-size packets), `gro`
//!   (coalescing what it delivers), `checksum`.
//!
//! Beside them: `snmp` (what a host's kernel counted of UDP,
//! [`UdpCounters`]), `doctor` (what this machine can do, [`Doctor`]),
//! `cmd` (running `ip` and `tc` as argv, one at a time or as a batch,
//! logged as shell commands), `sys` (the crate's only unsafe code, behind
//! safe functions), `error` ([`Error`]), and [`bounds`] (the
//! Clopper-Pearson bounds a test of a random process needs).
//!
//! The userspace model is reachable for property tests through one marked
//! path, [`testing`]; run records and other plumbing the `badnet` driver
//! shares are under [`plumbing`].
//!
//! # Example
//!
//! Five hosts on one switch, a lossy pair, a partition of 2 | 3 and its
//! heal, the switch's counts per pair (requires root):
//!
//! ```no_run
//! use faults::{Backend, Lab, Topology};
//!
//! # fn main() -> faults::Result<()> {
//! let lab = Lab::builder(Topology::hosts(5)?)
//!     .backend(Backend::Auto)
//!     .seed(Some(7))
//!     .build()?;
//! lab.impair("h1->h2", &"loss 10%".parse()?)?;
//! let ping = lab
//!     .host("h1")?
//!     .command("ping")
//!     .args(["-c", "20", "-i", "0.01", &lab.address("h2")?.to_string()])
//!     .output()
//!     .expect("ping runs");
//! println!("{}", String::from_utf8_lossy(&ping.stdout));
//! lab.partition_groups(&[&["h1", "h2"], &["h3", "h4", "h5"]])?;
//! // ... h1 and h2 reach each other, not h3, h4 or h5 ...
//! lab.heal()?;
//! let counts = lab.pair_counters()?;
//! let h1_h2 = counts.get("h1", "h2");
//! println!("h1 to h2: {} in, {} dropped", h1_h2.packets_in, h1_h2.dropped);
//! lab.remove()?;
//! # Ok(())
//! # }
//! ```
//!
//! The classic lab is two hosts, A and B ([`Lab::new`]), and a link whose
//! [`Direction`]s are `Forward` (A to B) and `Reverse`.

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

/// What the `badnet` driver shares with this crate beyond a lab: run
/// records and who owns them, the names of namespaces, the units of netem's
/// vocabulary, real-time threads.
pub mod plumbing {
    pub use crate::lab::cleanup::{netns_names, remove_own_runs};
    pub use crate::lab::owner::{
        control_socket, is_alive, is_mine, on_first_run, owner_alive, owner_pid, owner_token,
        recorded_runs, run_id_of, Building, Run,
    };
    pub use crate::netem::units::{rate as parse_bit_rate, serialize_ms};
    pub use crate::wire::switch::realtime_thread;
}

/// The userspace link's model and its counters, for property tests: the
/// wire is the model's only other user.
pub mod testing {
    pub use crate::netem::counters::Counters;
    pub use crate::netem::model::{NetemModel, L2_OVERHEAD};
}
