//! Which way across the link: a user's [`Direction`], and the link's own
//! two [`Way`]s.

use serde::Serialize;

use crate::netem::impairment::Impairment;
use crate::{Error, Result};

/// Which way across the link an impairment applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A to B (client to server).
    Forward,
    /// B to A (server to client).
    Reverse,
    /// Both ways, each with the same spec (netem shapes egress only, so this
    /// is one qdisc on each end).
    Both,
}

impl Direction {
    /// The spec of each direction (A to B, B to A) when `spec` is applied in
    /// this direction.
    pub fn split(self, spec: &Impairment) -> [Impairment; 2] {
        let none = Impairment::none();
        match self {
            Direction::Forward => [spec.clone(), none],
            Direction::Reverse => [none, spec.clone()],
            Direction::Both => [spec.clone(), spec.clone()],
        }
    }
}

/// One of the link's two ways: what a [`Direction`] names one or both of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Way {
    AToB,
    BToA,
}

impl Way {
    pub(crate) const BOTH: [Way; 2] = [Way::AToB, Way::BToA];

    /// 0 for A to B, 1 for B to A: the index of per-way arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// `a` for A to B, `b` for B to A.
    pub(crate) fn pick<T>(self, a: T, b: T) -> T {
        match self {
            Way::AToB => a,
            Way::BToA => b,
        }
    }
}

impl Direction {
    /// Every direction.
    pub const ALL: [Direction; 3] = [Direction::Forward, Direction::Reverse, Direction::Both];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
            Direction::Both => "both",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Direction::ALL
            .into_iter()
            .find(|d| d.name() == s)
            .ok_or_else(|| Error::invalid("direction", s, "forward, reverse or both"))
    }
}
