//! What can happen to a lab's network, in words: the steps of a timeline
//! and of `badnet fault`, each a [`Fault`].
//!
//! A partition is a grudge (Jepsen's word): the set of directed pairs whose
//! packets are dropped. `partition`, `isolate` and `oneway` add pairs to
//! it; `heal` empties it.

use std::fmt;
use std::str::FromStr;

use crate::lab::topology::{Pairs, Topology};
use crate::netem::impairment::Impairment;
use crate::{Error, Result};

/// One change of a lab's network.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// `impair PAIRS NETEM`: these pairs get this impairment, replacing
    /// theirs (`impair * loss 5%`: every pair).
    Impair(Pairs, Impairment),
    /// `clear [PAIRS]`: these pairs (every pair without one) get none.
    Clear(Pairs),
    /// `partition A,B | C,D,E`: each group is cut from the others, both
    /// ways; hosts no group names keep every link (Jepsen's bridge).
    /// `partition` alone cuts every pair.
    Partition(Vec<Vec<String>>),
    /// `isolate H`: H is cut from every other host, both ways.
    Isolate(String),
    /// `oneway A->B`: what A sends to B is dropped; B to A passes.
    Oneway(String, String),
    /// `heal`: no pair is cut; every pair has its impairment again.
    Heal,
    /// `down H`: H's interface goes down (an intermittently connected peer).
    Down(String),
    /// `up H`: H's interface comes back.
    Up(String),
    /// `renumber H`: H moves to a new address of the range, routes
    /// following.
    Renumber(String),
}

const VOCABULARY: &str = "impair PAIRS NETEM, clear [PAIRS], partition [A,B | C,...], \
                          isolate H, oneway A->B, heal, down H, up H or renumber H";

impl FromStr for Fault {
    type Err = Error;
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        let (verb, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        let one_host = |what: fn(String) -> Fault| -> Result<Fault> {
            if rest.is_empty() || rest.contains(char::is_whitespace) {
                return Err(Error::invalid(
                    "step",
                    text,
                    format!("{verb} and one host name"),
                ));
            }
            Ok(what(rest.to_owned()))
        };
        match verb {
            "impair" => {
                let (pairs, spec) = rest.split_once(char::is_whitespace).ok_or_else(|| {
                    Error::invalid("step", text, "impair PAIRS NETEM (impair h1->h2 loss 20%)")
                })?;
                Ok(Fault::Impair(pairs.parse()?, spec.parse()?))
            }
            "clear" if rest.is_empty() => Ok(Fault::Clear(Pairs::All)),
            "clear" => Ok(Fault::Clear(rest.parse()?)),
            "partition" => Ok(Fault::Partition(groups(text, rest)?)),
            "isolate" => one_host(Fault::Isolate),
            "down" => one_host(Fault::Down),
            "up" => one_host(Fault::Up),
            "renumber" => one_host(Fault::Renumber),
            "oneway" => match rest.parse::<Pairs>() {
                Ok(Pairs::One(a, b)) => Ok(Fault::Oneway(a, b)),
                _ => Err(Error::invalid("step", text, "oneway A->B")),
            },
            "heal" if rest.is_empty() => Ok(Fault::Heal),
            _ => Err(Error::invalid("step", text, VOCABULARY)),
        }
    }
}

/// `A,B | C,D`: the groups of a partition (none for a bare `partition`).
fn groups(text: &str, rest: &str) -> Result<Vec<Vec<String>>> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |why: &str| Error::invalid("step", text, why.to_owned());
    let groups: Vec<Vec<String>> = rest
        .split('|')
        .map(|g| {
            g.split(',')
                .map(|h| h.trim().to_owned())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .collect();
    if groups.len() < 2 || groups.iter().any(Vec::is_empty) {
        return Err(bad(
            "partition GROUP | GROUP [| ...], each group hosts separated by commas",
        ));
    }
    Ok(groups)
}

impl Fault {
    /// Checks the step against the lab's hosts: every name is one of them,
    /// no host in two groups, no host one-way cut from itself. Nothing is
    /// changed by a step that fails this.
    pub fn check(&self, topology: &Topology) -> Result<()> {
        let step = || self.to_string();
        match self {
            Fault::Impair(pairs, spec) => {
                spec.validate()?;
                topology.resolve(pairs).map(drop)
            }
            Fault::Clear(pairs) => topology.resolve(pairs).map(drop),
            Fault::Partition(groups) => {
                let mut seen: Vec<&str> = Vec::new();
                for host in groups.iter().flatten() {
                    topology.index(host)?;
                    if seen.contains(&host.as_str()) {
                        return Err(Error::invalid(
                            "step",
                            step(),
                            format!("each host in one group at most ({host} is in two)"),
                        ));
                    }
                    seen.push(host);
                }
                Ok(())
            }
            Fault::Isolate(h) | Fault::Down(h) | Fault::Up(h) | Fault::Renumber(h) => {
                topology.index(h).map(drop)
            }
            Fault::Oneway(a, b) => {
                if a == b {
                    return Err(Error::invalid(
                        "step",
                        step(),
                        "two different hosts: a host is never cut from itself",
                    ));
                }
                topology.index(a).and(topology.index(b)).map(drop)
            }
            Fault::Heal => Ok(()),
        }
    }

    /// The directed pairs (by index) this step cuts: those it adds to the
    /// grudge. Empty for steps that cut nothing.
    pub fn cuts(&self, topology: &Topology) -> Result<Vec<(usize, usize)>> {
        self.check(topology)?;
        let n = topology.len();
        Ok(match self {
            Fault::Partition(groups) if groups.is_empty() => topology.resolve(&Pairs::All)?,
            Fault::Partition(groups) => {
                let group: Vec<Option<usize>> = (0..n)
                    .map(|i| groups.iter().position(|g| g.contains(&topology.names()[i])))
                    .collect();
                topology
                    .resolve(&Pairs::All)?
                    .into_iter()
                    .filter(|&(s, d)| matches!((group[s], group[d]), (Some(a), Some(b)) if a != b))
                    .collect()
            }
            Fault::Isolate(h) => {
                let i = topology.index(h)?;
                (0..n)
                    .filter(|&j| j != i)
                    .flat_map(|j| [(i, j), (j, i)])
                    .collect()
            }
            Fault::Oneway(a, b) => vec![(topology.index(a)?, topology.index(b)?)],
            _ => Vec::new(),
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Impair(pairs, spec) => write!(f, "impair {pairs} {spec}"),
            Fault::Clear(Pairs::All) => f.write_str("clear"),
            Fault::Clear(pairs) => write!(f, "clear {pairs}"),
            Fault::Partition(groups) if groups.is_empty() => f.write_str("partition"),
            Fault::Partition(groups) => {
                let groups: Vec<String> = groups.iter().map(|g| g.join(",")).collect();
                write!(f, "partition {}", groups.join(" | "))
            }
            Fault::Isolate(h) => write!(f, "isolate {h}"),
            Fault::Oneway(a, b) => write!(f, "oneway {a}->{b}"),
            Fault::Heal => f.write_str("heal"),
            Fault::Down(h) => write!(f, "down {h}"),
            Fault::Up(h) => write!(f, "up {h}"),
            Fault::Renumber(h) => write!(f, "renumber {h}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn five() -> Topology {
        Topology::hosts(5).unwrap()
    }

    #[test]
    fn every_step_parses_and_prints_back() {
        for text in [
            "impair h1->h2 loss 20%",
            "impair * delay 10ms",
            "clear",
            "clear h1<->h2",
            "partition",
            "partition h1,h2 | h3,h4,h5",
            "isolate h3",
            "oneway h1->h2",
            "heal",
            "down h2",
            "up h2",
            "renumber h4",
        ] {
            let f: Fault = text.parse().unwrap();
            assert_eq!(f.to_string().parse::<Fault>().unwrap(), f, "{text}");
            if !text.starts_with("impair") {
                assert_eq!(f.to_string(), text);
            }
            f.check(&five()).unwrap();
        }
        assert_eq!(
            "partition h1, h2|h3".parse::<Fault>().unwrap().to_string(),
            "partition h1,h2 | h3"
        );
    }

    #[test]
    fn bad_steps_are_refused_naming_the_step() {
        for (text, says) in [
            ("explode h1", "partition [A,B"),
            ("partition h1,h2", "GROUP | GROUP"),
            ("partition h1 | ", "GROUP | GROUP"),
            ("oneway h1<->h2", "oneway A->B"),
            ("isolate", "isolate and one host"),
            ("down h1 h2", "down and one host"),
            ("impair h1->h2", "impair PAIRS NETEM"),
            ("impair h1->h2 loss 200%", "loss"),
            ("heal now", "partition [A,B"),
        ] {
            let err = text.parse::<Fault>().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
        for (text, says) in [
            ("partition h1,h2 | h2,h3", "in two"),
            ("partition h1 | h9", "h9"),
            ("oneway h1->h1", "never cut from itself"),
            ("isolate h6", "h6"),
            ("renumber x", "'x'"),
            ("impair h1->h7 loss 1%", "h7"),
        ] {
            let err = text
                .parse::<Fault>()
                .unwrap()
                .check(&five())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn a_partition_cuts_across_groups_only_and_leaves_the_unnamed_alone() {
        let t = five();
        let cuts = "partition h1,h2 | h3,h4"
            .parse::<Fault>()
            .unwrap()
            .cuts(&t)
            .unwrap();
        assert_eq!(cuts.len(), 8, "{cuts:?}");
        for (s, d) in &cuts {
            assert!((*s < 2) != (*d < 2), "{s}->{d} is inside a group");
            assert!(*s != 4 && *d != 4, "h5 is named by no group");
        }
        let isolated = "isolate h3".parse::<Fault>().unwrap().cuts(&t).unwrap();
        assert_eq!(isolated.len(), 8);
        assert!(isolated.iter().all(|&(s, d)| s == 2 || d == 2));
        assert_eq!(
            "oneway h1->h2".parse::<Fault>().unwrap().cuts(&t).unwrap(),
            [(0, 1)]
        );
        assert_eq!(
            "partition"
                .parse::<Fault>()
                .unwrap()
                .cuts(&t)
                .unwrap()
                .len(),
            20
        );
    }
}
