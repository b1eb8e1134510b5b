//! badnet's driver: builds labs from [`faults`], runs the [`services`]
//! programs on them, and judges what they measured.
//!
//! Module map:
//! - [`cli`]: the `badnet` command line.
//! - [`stats`]: Clopper-Pearson bounds for checks that must not be flaky.

pub mod cli;
pub mod stats;
