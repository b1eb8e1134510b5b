//! badnet's driver: builds labs from [`faults`], runs the [`services`]
//! programs on them, and judges what they measured.
//!
//! Module map:
//! - [`cli`]: the `badnet` command line.
//! - [`scenario`]: transport, impairment, backend, workload.
//! - [`runner`]: runs a scenario on network-namespace hosts.
//! - [`containers`]: the container lane: the same scenarios between
//!   containers of the services image.
//! - [`verdict`]: what the measurements must show.
//! - [`demo`]: UDP and TCP side by side on a ladder of bad networks.
//! - [`plot`]: small SVG charts.
//! - [`stats`]: Clopper-Pearson bounds for checks that must not be flaky.
//! - [`bench`]: `badnet bench`, the benchmarks.
//! - [`bins`]: finding the services' binaries.

pub mod bench;
pub mod bins;
pub mod cli;
pub mod containers;
pub mod demo;
pub mod plot;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod verdict;
