//! badnet's driver: builds labs from [`faults`], runs the [`services`]
//! programs on them, and judges what they measured.
//!
//! # Layout
//!
//! - [`cli`]: the `badnet` command line; each command's flags, and the one
//!   place where a failure becomes an exit code ([`error`]).
//! - [`scenario`]: transport, impairment, backend, workload, and the
//!   probe's arguments and time limit; [`timeline`]: how the link changes
//!   during a run (`--at`); [`scenario_file`]: runs declared in TOML,
//!   with their expectations (`badnet test`).
//! - [`runner`]: runs a scenario on network-namespace hosts
//!   ([`runner::netns`]) or containers ([`runner::containers`]), and
//!   returns an [`runner::Outcome`].
//! - [`share`]: several flows through one bottleneck (`badnet share`).
//! - [`mesh`]: every host of an N-host lab probes every other (`badnet
//!   mesh`).
//! - [`verdict`]: what the measurements must show; [`bounds`]: the
//!   Clopper-Pearson bounds its statistical checks use.
//! - [`demo`]: UDP and TCP side by side on a ladder of bad networks; its
//!   report files and charts ([`plot`]).
//! - [`mod@bench`]: `badnet bench`, the benchmarks.
//! - [`machine`]: the machine a report was measured on.
//! - [`bins`]: finding the services' binaries.
//! - [`testing`]: helpers for Rust tests of scenarios and labs.
//!
//! Modules depend downwards in this list's reverse order, never in a
//! circle: `cli` uses everything, `runner` uses `scenario`, `demo` uses
//! `runner`.

#![deny(unsafe_code)]

pub mod bench;
pub mod bins;
pub use faults::bounds;
pub mod cli;
pub mod demo;
pub mod error;
pub mod machine;
pub mod mesh;
pub mod plot;
pub mod progress;
pub mod runner;
pub mod scenario;
pub mod scenario_file;
pub mod share;
pub mod testing;
pub mod timeline;
pub mod verdict;

/// The README's Rust example, compiled as a doctest (as turmoil does).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
