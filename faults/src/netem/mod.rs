//! netem's vocabulary and its algorithm: the spec ([`Impairment`]), its
//! units, the userspace model of `sch_netem`, its seeded draws and what it
//! counted.

pub mod counters;
pub mod impairment;
pub mod model;
pub mod rng;
pub mod units;
