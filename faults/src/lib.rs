//! Everything needed to put two hosts on a link and break that link on
//! purpose.
//!
//! Module map:
//! - [`impairment`]: the spec, in `tc netem`'s vocabulary; [`units`] parses
//!   and prints its values.
//! - [`model`]: netem's algorithm in userspace; [`rng`] its seeded draws;
//!   [`counters`] what a link did.
//! - [`error`]: the crate's error type.

pub mod counters;
pub mod error;
pub mod impairment;
pub mod model;
pub mod rng;
pub mod units;

pub use counters::{CounterSnapshot, Counters};
pub use error::{Error, Result};
pub use impairment::{Distribution, Impairment, Loss};
