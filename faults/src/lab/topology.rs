//! A lab's description: named hosts on one switch, each with an address,
//! and the impairment of every directed pair. Pure data, checked when it is
//! made, from which [`crate::Lab`] builds the real thing.

use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Serialize;

use crate::netem::impairment::Impairment;
use crate::{Error, Result};

/// The first address of the run's range (RFC 2544's benchmarking range,
/// 198.18.0.0/15): host `i` (from 0) has this plus `i + 1`.
const NETWORK: u32 = u32::from_be_bytes([198, 18, 0, 0]);
/// The prefix length of the hosts' common network.
pub const PREFIX_LEN: u8 = 15;
/// Addresses of the range a host can have (the network and broadcast
/// addresses excluded): hosts and the addresses they are renumbered to
/// share them.
pub const ADDRESSES: usize = (1 << (32 - PREFIX_LEN)) - 2;
/// The longest host name.
const NAME_MAX: usize = 32;
/// Words a host cannot be named, because scenario files give them another
/// meaning (`{self}`, `{hosts}`, `{peers}`, `{dir}`).
const RESERVED: [&str; 4] = ["self", "hosts", "peers", "dir"];

/// The address number `n` of the range (1 is 198.18.0.1).
pub fn address(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(NETWORK + n)
}

/// Named hosts on one switch, and the impairments between them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topology {
    names: Vec<String>,
    /// Every pair's impairment, unless `pairs` names it.
    default: Impairment,
    /// Per directed pair, in the order given (a later one replaces an
    /// earlier one on the pairs both name).
    pairs: Vec<(Pairs, Impairment)>,
}

impl Topology {
    /// `n` hosts named `h1` ... `hN`.
    pub fn hosts(n: usize) -> Result<Self> {
        Self::named((1..=n).map(|i| format!("h{i}")))
    }

    /// Hosts with these names, in this order (the first has 198.18.0.1,
    /// the next 198.18.0.2, ...). Names are 1 to 32 letters, digits, `_`
    /// or `-`, start with a letter or digit, and are each given once.
    pub fn named<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Result<Self> {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.len() < 2 {
            return Err(Error::invalid(
                "hosts",
                names.len().to_string(),
                "two or more hosts",
            ));
        }
        if names.len() > ADDRESSES {
            return Err(Error::invalid(
                "hosts",
                names.len().to_string(),
                format!("at most {ADDRESSES} hosts: the addresses of 198.18.0.0/{PREFIX_LEN}"),
            ));
        }
        for (i, name) in names.iter().enumerate() {
            check_name(name)?;
            if names[..i].contains(name) {
                return Err(Error::invalid(
                    "hosts",
                    name.clone(),
                    "each host named once",
                ));
            }
        }
        Ok(Self {
            names,
            default: Impairment::none(),
            pairs: Vec::new(),
        })
    }

    /// The two hosts of the classic lab: `a` (the client side, 198.18.0.1)
    /// and `b` (the server side, 198.18.0.2).
    pub fn two() -> Self {
        Self::named(["a", "b"]).expect("two valid names")
    }

    /// Impairs the pairs `pairs` names (every pair for [`Pairs::All`]) with
    /// `spec`, validated first.
    pub fn impair(mut self, pairs: Pairs, spec: Impairment) -> Result<Self> {
        spec.validate()?;
        self.resolve(&pairs)?;
        if pairs == Pairs::All {
            self.default = spec;
            self.pairs.clear();
        } else {
            self.pairs.push((pairs, spec));
        }
        Ok(self)
    }

    /// The hosts' names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// How many hosts.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no hosts (never, for a checked topology).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of host `name`.
    pub fn index(&self, name: &str) -> Result<usize> {
        self.names
            .iter()
            .position(|n| n == name)
            .ok_or_else(|| unknown(name, &self.names))
    }

    /// The address host `name` starts with.
    pub fn address_of(&self, name: &str) -> Result<Ipv4Addr> {
        self.index(name).map(|i| address(i as u32 + 1))
    }

    /// The impairment every pair starts with, unless one of
    /// [`Topology::pair_impairments`] names it.
    pub fn default_impairment(&self) -> &Impairment {
        &self.default
    }

    /// The per-pair impairments, in the order given.
    pub fn pair_impairments(&self) -> &[(Pairs, Impairment)] {
        &self.pairs
    }

    /// The directed pairs (by index) that `pairs` names: never a host to
    /// itself.
    pub fn resolve(&self, pairs: &Pairs) -> Result<Vec<(usize, usize)>> {
        let n = self.names.len();
        let all = |from: Option<usize>, to: Option<usize>| -> Vec<(usize, usize)> {
            (0..n)
                .flat_map(|s| (0..n).map(move |d| (s, d)))
                .filter(|&(s, d)| s != d)
                .filter(|&(s, d)| from.map_or(true, |f| f == s) && to.map_or(true, |t| t == d))
                .collect()
        };
        let distinct = |a: &str, b: &str| -> Result<(usize, usize)> {
            let (a, b) = (self.index(a)?, self.index(b)?);
            if a == b {
                return Err(Error::invalid(
                    "pair",
                    pairs.to_string(),
                    "two different hosts",
                ));
            }
            Ok((a, b))
        };
        Ok(match pairs {
            Pairs::All => all(None, None),
            Pairs::From(a) => all(Some(self.index(a)?), None),
            Pairs::To(b) => all(None, Some(self.index(b)?)),
            Pairs::One(a, b) => vec![distinct(a, b)?],
            Pairs::Both(a, b) => {
                let (a, b) = distinct(a, b)?;
                vec![(a, b), (b, a)]
            }
        })
    }
}

fn unknown(name: &str, names: &[String]) -> Error {
    let shown = if names.len() <= 8 {
        names.join(", ")
    } else {
        format!("{}, ... {}", names[..4].join(", "), names[names.len() - 1])
    };
    Error::invalid("host", name, format!("one of the lab's hosts ({shown})"))
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.ends_with('-')
        && !RESERVED.contains(&name);
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "host name",
            name,
            format!(
                "1 to {NAME_MAX} letters, digits, '_' or '-', starting with a letter or digit, \
                 not ending in '-', and none of {}",
                RESERVED.join(", ")
            ),
        ))
    }
}

/// Which directed pairs of hosts an impairment is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum Pairs {
    /// `a->b`: what `a` sends to `b`.
    One(String, String),
    /// `a<->b`: both ways between `a` and `b`.
    Both(String, String),
    /// `a->*`: everything `a` sends.
    From(String),
    /// `*->b`: everything `b` receives.
    To(String),
    /// `*`: every pair.
    All,
}

impl FromStr for Pairs {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "pair",
                s,
                "a->b, a<->b, a->*, *->b or * (host names of the lab)",
            )
        };
        let s = s.trim();
        if matches!(s, "*" | "*->*" | "*<->*") {
            return Ok(Pairs::All);
        }
        let name = |n: &str| -> Result<String> {
            let n = n.trim();
            check_name(n).map_err(|_| bad())?;
            Ok(n.to_owned())
        };
        if let Some((a, b)) = s.split_once("<->") {
            return Ok(Pairs::Both(name(a)?, name(b)?));
        }
        let (a, b) = s.split_once("->").ok_or_else(bad)?;
        match (a.trim(), b.trim()) {
            ("*", b) => Ok(Pairs::To(name(b)?)),
            (a, "*") => Ok(Pairs::From(name(a)?)),
            (a, b) => Ok(Pairs::One(name(a)?, name(b)?)),
        }
    }
}

impl std::fmt::Display for Pairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pairs::One(a, b) => write!(f, "{a}->{b}"),
            Pairs::Both(a, b) => write!(f, "{a}<->{b}"),
            Pairs::From(a) => write!(f, "{a}->*"),
            Pairs::To(b) => write!(f, "*->{b}"),
            Pairs::All => f.write_str("*"),
        }
    }
}

impl From<Pairs> for String {
    fn from(p: Pairs) -> String {
        p.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_named_and_numbered_in_order() {
        let t = Topology::hosts(3).unwrap();
        assert_eq!(t.names(), ["h1", "h2", "h3"]);
        assert_eq!(t.address_of("h1").unwrap(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(t.address_of("h3").unwrap(), Ipv4Addr::new(198, 18, 0, 3));
        assert_eq!(address(256), Ipv4Addr::new(198, 18, 1, 0));
        assert_eq!(address(ADDRESSES as u32), Ipv4Addr::new(198, 19, 255, 254));
        let two = Topology::two();
        assert_eq!(two.address_of("b").unwrap(), Ipv4Addr::new(198, 18, 0, 2));
    }

    #[test]
    fn bad_hosts_are_refused_naming_what_is_wrong() {
        for (names, says) in [
            (vec!["h1"], "two or more"),
            (vec!["h1", "h1"], "each host named once"),
            (vec!["h1", "a b"], "letters, digits"),
            (vec!["h1", "-x"], "starting with"),
            (vec!["h1", "x-"], "not ending"),
            (vec!["h1", "self"], "none of"),
            (vec!["h1", "a>b"], "letters, digits"),
        ] {
            let err = Topology::named(names.clone()).unwrap_err().to_string();
            assert!(err.contains(says), "{names:?}: {err}");
        }
        let err = Topology::hosts(ADDRESSES + 1).unwrap_err().to_string();
        assert!(err.contains("at most 131070 hosts"), "{err}");
    }

    #[test]
    fn pairs_parse_print_and_resolve() {
        let t = Topology::hosts(3).unwrap();
        for (text, pairs) in [
            ("h1->h2", vec![(0, 1)]),
            ("h1<->h3", vec![(0, 2), (2, 0)]),
            ("h2->*", vec![(1, 0), (1, 2)]),
            ("*->h2", vec![(0, 1), (2, 1)]),
            ("*", vec![(0, 1), (0, 2), (1, 0), (1, 2), (2, 0), (2, 1)]),
        ] {
            let p: Pairs = text.parse().unwrap();
            assert_eq!(p.to_string(), text);
            assert_eq!(t.resolve(&p).unwrap(), pairs, "{text}");
        }
        assert_eq!(
            "node-1->node-2".parse::<Pairs>().unwrap(),
            Pairs::One("node-1".into(), "node-2".into())
        );
        for bad in ["h1", "h1->", "->h2", "h1=>h2", "h1->h2->h3", ""] {
            assert!(bad.parse::<Pairs>().is_err(), "{bad}");
        }
        let err = t
            .resolve(&"h1->h9".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("h9") && err.contains("h1, h2, h3"), "{err}");
        let err = t
            .resolve(&"h1->h1".parse().unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("two different hosts"), "{err}");
    }

    #[test]
    fn every_pair_replaces_and_a_pair_adds() {
        let loss: Impairment = "loss 5%".parse().unwrap();
        let delay: Impairment = "delay 20ms".parse().unwrap();
        let t = Topology::hosts(3)
            .unwrap()
            .impair("h1->h2".parse().unwrap(), delay.clone())
            .unwrap();
        assert_eq!(t.pair_impairments().len(), 1);
        let t = t.impair(Pairs::All, loss.clone()).unwrap();
        assert_eq!(t.default_impairment(), &loss);
        assert!(t.pair_impairments().is_empty());
        assert!(Topology::hosts(3)
            .unwrap()
            .impair("h1->h4".parse().unwrap(), delay)
            .is_err());
    }
}
