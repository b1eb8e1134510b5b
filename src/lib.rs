//! badnet's driver: builds labs from [`faults`], runs the [`services`]
//! programs on them, and judges what they measured.
//!
//! # Layout
//!
//! - [`cli`]: the `badnet` command line; each command's flags, scenario
//!   files (`badnet test`), and the one place where a failure becomes an
//!   exit code ([`error`]).
//! - [`scenario`]: transport, impairment, backend, hosts, and the
//!   probe's arguments and time limit; [`timeline`]: how the link changes
//!   during a run (`--at`); [`duration`]: the times badnet's flags take
//!   (always with their unit).
//! - [`run`]: a [`run::Request`] (a scenario and a [`run::Workload`]:
//!   the probes, your programs, timeliness, flows sharing a bottleneck)
//!   carried out on network-namespace or container hosts by
//!   [`run::execute`], its [`run::Outcome`] and that outcome's JSON.
//! - [`export`]: a scenario as another engine's objects (`badnet export
//!   chaos-mesh`): Chaos Mesh's NetworkChaos and Workflow, the probe's Job.
//! - [`verdict`]: what the measurements must show; [`bounds`]: the
//!   Clopper-Pearson bounds its statistical checks use.
//! - [`demo`]: UDP and TCP side by side on a ladder of bad networks; its
//!   report files and charts ([`plot`]).
//! - [`mod@bench`]: `badnet bench`, the benchmarks.
//! - [`machine`]: the machine a report was measured on; [`markup`]: text
//!   escaped for HTML and XML.
//! - [`bins`]: finding the services' binaries.
//! - [`testing`]: helpers for Rust tests of scenarios and labs.
//!
//! No module imports one that imports it: `cli` uses everything; `demo`
//! and `testing` use `run`; `run` uses `scenario`, `timeline`, `bins` and
//! `error`; `scenario` uses `timeline`, which uses `duration`.

#![deny(unsafe_code)]

pub mod bench;
pub mod bins;
pub use faults::bounds;
pub mod cli;
pub mod demo;
pub mod duration;
pub mod error;
pub mod export;
pub mod machine;
pub mod markup;
pub mod plot;
pub mod progress;
pub mod run;
pub mod scenario;
pub mod testing;
pub mod timeline;
pub mod verdict;

/// The README's Rust example, compiled as a doctest (as turmoil does).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
