//! A timeline: how the link changes while a run goes on (`--at 1s 'loss
//! 100%' --at 2s clear`).
//!
//! A [`Step`] is a moment, counted from the start of the client (the probe
//! or your own), and an [`Action`]: a new impairment, `clear`, `partition`
//! or `heal`. [`check`] refuses a timeline that cannot be played as
//! written, before anything is created; `run::play` plays it and reports when
//! each step was applied and what the link counted in each phase.

use std::fmt;
use std::time::Duration;

use faults::Impairment;
use serde::{Serialize, Serializer};

/// What a step does to the link.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Impair the run's direction(s) with this, replacing what was there.
    Impair(Impairment),
    /// No impairment either way.
    Clear,
    /// Cut the link both ways.
    Partition,
    /// End the partition: the impairment in force before it applies again.
    Heal,
    /// Host A moves to another address in the run's range.
    Renumber,
    /// A step that names hosts (`partition h1,h2 | h3`, `isolate h3`,
    /// `oneway h1->h2`, `impair h1->h2 loss 20%`, `down h2`, ...): the
    /// N-host lab's vocabulary.
    Fault(faults::Fault),
    /// A fault of a host's program (`kill n1`, `stop n1`, `cont n1`,
    /// `restart n1`), for runs whose hosts run programs of their own.
    Process(ProcessFault),
}

/// What a process fault does to a host's program, as Jepsen's nemeses do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// SIGKILL to its process group: the node dies.
    Kill,
    /// SIGSTOP to its process group: the node pauses, its sockets open.
    Stop,
    /// SIGCONT: the paused node goes on.
    Cont,
    /// Its program started again (the old one killed if it still runs),
    /// then waited for until it is ready.
    Restart,
}

/// A fault of the program of one host: `kill n1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessFault {
    pub verb: Verb,
    pub host: String,
}

impl ProcessFault {
    pub const VERBS: [&'static str; 4] = ["kill", "stop", "cont", "restart"];

    /// `kill H`, `stop H`, `cont H` or `restart H`; None when `text` is
    /// none of these verbs, an error when it is one without a host.
    pub fn parse(text: &str) -> Option<Result<Self, String>> {
        let mut words = text.split_whitespace();
        let verb = match words.next()? {
            "kill" => Verb::Kill,
            "stop" => Verb::Stop,
            "cont" => Verb::Cont,
            "restart" => Verb::Restart,
            _ => return None,
        };
        let verb_word = text.split_whitespace().next().unwrap_or_default();
        Some(match (words.next(), words.next()) {
            (Some(host), None) => Ok(Self {
                verb,
                host: host.to_owned(),
            }),
            _ => Err(format!(
                "'{}': {verb_word} takes one host, e.g. '{verb_word} n1'",
                text.trim()
            )),
        })
    }
}

impl fmt::Display for ProcessFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = match self.verb {
            Verb::Kill => "kill",
            Verb::Stop => "stop",
            Verb::Cont => "cont",
            Verb::Restart => "restart",
        };
        write!(f, "{verb} {}", self.host)
    }
}

impl Action {
    /// `clear`, `partition`, `heal`, `renumber`, netem arguments (`loss
    /// 100%`), a step that names hosts ([`faults::Fault`]), or a fault of a
    /// host's program ([`ProcessFault`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        const NAMING: [&str; 9] = [
            "impair",
            "clear",
            "partition",
            "isolate",
            "oneway",
            "heal",
            "down",
            "up",
            "renumber",
        ];
        if let Some(process) = ProcessFault::parse(text) {
            return process.map(Action::Process);
        }
        match text.trim() {
            "clear" => Ok(Action::Clear),
            "partition" => Ok(Action::Partition),
            "heal" => Ok(Action::Heal),
            "renumber" => Ok(Action::Renumber),
            step if NAMING.contains(&step.split_whitespace().next().unwrap_or_default()) => step
                .parse::<faults::Fault>()
                .map(Action::Fault)
                .map_err(|e| e.to_string()),
            "" => Err(
                "an empty step: give clear, partition, heal, renumber or netem arguments".into(),
            ),
            spec => spec.parse::<Impairment>().map(Action::Impair).map_err(|e| {
                format!("{e} (a step is clear, partition, heal, renumber or netem arguments)")
            }),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Impair(spec) => write!(f, "{spec}"),
            Action::Clear => f.write_str("clear"),
            Action::Partition => f.write_str("partition"),
            Action::Heal => f.write_str("heal"),
            Action::Renumber => f.write_str("renumber"),
            Action::Fault(fault) => write!(f, "{fault}"),
            Action::Process(p) => write!(f, "{p}"),
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One change of the link, due `at` after the client starts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    #[serde(rename = "at_ms", serialize_with = "faults::plumbing::serialize_ms")]
    pub at: Duration,
    pub action: Action,
}

impl Step {
    /// A step from the two words of `--at TIME ACTION`.
    pub fn parse(at: &str, action: &str) -> Result<Self, String> {
        let at = crate::duration::parse(at).map_err(|e| format!("time of a step: {e}"))?;
        Ok(Self {
            at,
            action: Action::parse(action).map_err(|e| format!("step at {at:?}: {e}"))?,
        })
    }
}

/// Refuses a fault of a host's program in a run whose hosts run none of
/// their own (only a scenario's `[[scenario.host]]` programs take them).
pub fn refuse_process(steps: &[Step]) -> Result<(), String> {
    match steps.iter().find(|s| matches!(s.action, Action::Process(_))) {
        Some(step) => Err(format!(
            "'{}' at {:?}: no program of this run's hosts takes process faults (kill, stop, cont, restart are for the programs of [[scenario.host]] and of badnet lab --run)",
            step.action, step.at
        )),
        None => Ok(()),
    }
}

/// Refuses a timeline that cannot be played as written: steps out of
/// order (or two at one moment), a heal with no partition before it, a
/// partition while cut, a change of impairment while cut (heal first), or
/// a step at or after `run_ends` (when the run's length is known).
pub fn check(steps: &[Step], run_ends: Option<Duration>) -> Result<(), String> {
    let mut cut = false;
    let mut renumbered = false;
    let mut last: Option<Duration> = None;
    for step in steps {
        if let Some(before) = last {
            if step.at <= before {
                return Err(format!(
                    "steps out of order: '{}' at {:?} comes after a step at {before:?} (each step must come later than the one before)",
                    step.action, step.at
                ));
            }
        }
        if let Some(end) = run_ends {
            if step.at >= end {
                return Err(format!(
                    "'{}' at {:?} is beyond the run, which ends after {end:?}",
                    step.action, step.at
                ));
            }
        }
        match (&step.action, cut) {
            (Action::Partition, true) => {
                return Err(format!(
                    "partition at {:?}: the link is already cut",
                    step.at
                ))
            }
            (Action::Heal, false) => {
                return Err(format!(
                    "heal at {:?}: there is no partition to heal",
                    step.at
                ))
            }
            (Action::Impair(_) | Action::Clear, true) => {
                return Err(format!(
                    "'{}' at {:?}: the link is cut; heal it first",
                    step.action, step.at
                ))
            }
            (Action::Renumber, _) if renumbered => {
                return Err(format!(
                    "renumber at {:?}: host A is renumbered once per run",
                    step.at
                ))
            }
            (Action::Renumber, _) => renumbered = true,
            (Action::Partition, false) => cut = true,
            (Action::Heal | Action::Fault(faults::Fault::Heal), true) => cut = false,
            (Action::Fault(faults::Fault::Heal), false) => {
                return Err(format!(
                    "heal at {:?}: there is no partition to heal",
                    step.at
                ))
            }
            (
                Action::Fault(
                    faults::Fault::Partition(_)
                    | faults::Fault::Isolate(_)
                    | faults::Fault::Oneway(..),
                ),
                _,
            ) => cut = true,
            _ => {}
        }
        last = Some(step.at);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(list: &[(&str, &str)]) -> Vec<Step> {
        list.iter()
            .map(|(t, a)| Step::parse(t, a).unwrap())
            .collect()
    }

    #[test]
    fn a_step_is_a_time_and_clear_partition_heal_or_netem_arguments() {
        let s = Step::parse("1.5s", "loss 100%").unwrap();
        assert_eq!(s.at, Duration::from_millis(1500));
        let spec: Impairment = "loss 100%".parse().unwrap();
        assert_eq!(s.action, Action::Impair(spec.clone()));
        assert_eq!(Step::parse("2s", "clear").unwrap().action, Action::Clear);
        assert_eq!(
            serde_json::to_value(&s).unwrap(),
            serde_json::json!({"at_ms": 1500.0, "action": spec.to_string()})
        );
        assert_eq!(
            Step::parse("1s", "partition h1,h2 | h3").unwrap().action,
            Action::Fault("partition h1,h2 | h3".parse().unwrap())
        );
        for (at, action) in [
            ("1s", "partition h1"),
            ("1s", "isolate"),
            ("-1s", "clear"),
            ("1x", "clear"),
            ("1s", ""),
            ("1s", "lose 5%"),
            ("1s", "loss 200%"),
        ] {
            assert!(Step::parse(at, action).is_err(), "{at} {action}");
        }
    }

    #[test]
    fn a_timeline_that_cannot_be_played_as_written_is_refused() {
        let ok = steps(&[
            ("1s", "loss 100%"),
            ("2s", "clear"),
            ("3s", "partition"),
            ("4s", "heal"),
        ]);
        assert_eq!(check(&ok, Some(Duration::from_secs(5))), Ok(()));
        assert_eq!(check(&ok, None), Ok(()));
        for (bad, why) in [
            (steps(&[("2s", "clear"), ("1s", "loss 1%")]), "out of order"),
            (steps(&[("1s", "clear"), ("1s", "loss 1%")]), "out of order"),
            (steps(&[("1s", "heal")]), "no partition"),
            (
                steps(&[("1s", "partition"), ("2s", "partition")]),
                "already cut",
            ),
            (
                steps(&[("1s", "partition"), ("2s", "loss 5%")]),
                "heal it first",
            ),
            (steps(&[("6s", "clear")]), "beyond the run"),
        ] {
            let e = check(&bad, Some(Duration::from_secs(5))).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
