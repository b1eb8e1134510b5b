//! A plan's timeline as phases: between two steps, the faults in force,
//! each a directed set of pairs and what happens to their packets.
//!
//! Per source host, destinations that share an impairment share one
//! fault, so no two faults ever name the same directed pair (an engine
//! that classifies a packet by the first or last filter it matches would
//! otherwise pick one at random). Cuts (partitions) may overlap: a drop
//! is a drop.

use std::time::Duration;

use faults::{Fault, Impairment};

use super::plan::{Plan, Refused};

/// What a fault does to the packets of its pairs.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// netem's impairment.
    Netem(Impairment),
    /// Every packet dropped.
    Cut,
}

/// One fault in force: from the hosts `from` to the hosts `to` (and back,
/// when `both`).
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    pub effect: Effect,
    pub from: Vec<String>,
    pub to: Vec<String>,
    pub both: bool,
}

/// The faults in force from `start` (after the client's start) to `end`
/// (None: to the end of the run).
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub start: Duration,
    pub end: Option<Duration>,
    pub chaos: Vec<Chaos>,
}

/// The plan's phases, in time order; consecutive phases with the same
/// faults are one. Steps an engine of pairs cannot play (`down`, `up`,
/// `renumber`) are refused, naming the step.
pub fn phases(plan: &Plan) -> Result<Vec<Phase>, Refused> {
    let topology = plan.topology()?;
    let names = topology.names().to_vec();
    let n = names.len();
    let mut imp = vec![vec![Impairment::none(); n]; n];
    let set = |imp: &mut Vec<Vec<Impairment>>, pairs, spec: &Impairment| -> Result<(), Refused> {
        for (s, d) in topology
            .resolve(pairs)
            .map_err(|e| Refused::new("impair", e.to_string()))?
        {
            imp[s][d] = spec.clone();
        }
        Ok(())
    };
    set(&mut imp, &faults::Pairs::All, &plan.default)?;
    for (pairs, spec) in &plan.pairs {
        set(&mut imp, pairs, spec)?;
    }
    let mut cuts: Vec<Chaos> = Vec::new();
    let mut out = vec![Phase {
        start: Duration::ZERO,
        end: None,
        chaos: in_force(&names, &imp, &cuts),
    }];
    let mut steps: Vec<&(Duration, Fault)> = plan.timeline.iter().collect();
    steps.sort_by_key(|(at, _)| *at);
    let mut i = 0;
    while i < steps.len() {
        let at = steps[i].0;
        while i < steps.len() && steps[i].0 == at {
            let step = &steps[i].1;
            let refuse = |why: &str| Refused::new("at", format!("{at:?} '{step}': {why}"));
            match step {
                Fault::Impair(pairs, spec) => set(&mut imp, pairs, spec)?,
                Fault::Clear(pairs) => set(&mut imp, pairs, &Impairment::none())?,
                Fault::Partition(groups) => {
                    let groups: Vec<Vec<String>> = if groups.is_empty() {
                        names.iter().map(|h| vec![h.clone()]).collect()
                    } else {
                        groups.clone()
                    };
                    for (k, group) in groups.iter().enumerate().take(groups.len() - 1) {
                        cuts.push(Chaos {
                            effect: Effect::Cut,
                            from: group.clone(),
                            to: groups[k + 1..].concat(),
                            both: true,
                        });
                    }
                }
                Fault::Isolate(h) => cuts.push(Chaos {
                    effect: Effect::Cut,
                    from: vec![h.clone()],
                    to: names.iter().filter(|o| *o != h).cloned().collect(),
                    both: true,
                }),
                Fault::Oneway(a, b) => cuts.push(Chaos {
                    effect: Effect::Cut,
                    from: vec![a.clone()],
                    to: vec![b.clone()],
                    both: false,
                }),
                Fault::Heal => cuts.clear(),
                Fault::Down(_) | Fault::Up(_) => {
                    return Err(refuse(
                        "a pod's interface cannot be taken down by Chaos Mesh; \
                         'isolate HOST' cuts its packets both ways, but its own sends \
                         would not fail as on a down interface",
                    ))
                }
                Fault::Renumber(_) => return Err(refuse(
                    "a pod's address is its network plugin's to give; Chaos Mesh cannot change it",
                )),
            }
            i += 1;
        }
        cuts.dedup();
        let chaos = in_force(&names, &imp, &cuts);
        let last = out.last_mut().expect("one phase at least");
        if last.start == at {
            // Steps at 0s: the first phase is what they make.
            last.chaos = chaos;
        } else if last.chaos != chaos {
            last.end = Some(at);
            out.push(Phase {
                start: at,
                end: None,
                chaos,
            });
        }
    }
    Ok(out)
}

/// The faults of an impairment matrix and a set of cuts: per source, one
/// fault per distinct impairment; a fault of one pair and its mirror with
/// the same impairment are one fault both ways.
fn in_force(names: &[String], imp: &[Vec<Impairment>], cuts: &[Chaos]) -> Vec<Chaos> {
    let mut out: Vec<Chaos> = Vec::new();
    for (s, row) in imp.iter().enumerate() {
        let mut groups: Vec<(&Impairment, Vec<String>)> = Vec::new();
        for (d, spec) in row.iter().enumerate() {
            if d == s || spec.is_none() {
                continue;
            }
            match groups.iter_mut().find(|(g, _)| *g == spec) {
                Some((_, to)) => to.push(names[d].clone()),
                None => groups.push((spec, vec![names[d].clone()])),
            }
        }
        for (spec, to) in groups {
            let mirror = out.iter_mut().find(|c| {
                !c.both
                    && c.effect == Effect::Netem(spec.clone())
                    && c.from == to
                    && c.to == [names[s].clone()]
            });
            match mirror {
                Some(c) => c.both = true,
                None => out.push(Chaos {
                    effect: Effect::Netem(spec.clone()),
                    from: vec![names[s].clone()],
                    to,
                    both: false,
                }),
            }
        }
    }
    out.extend(cuts.iter().cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(default: &str, pairs: &[&str], steps: &[(u64, &str)]) -> Plan {
        Plan {
            name: "t".into(),
            hosts: ["n1", "n2", "n3"].map(String::from).to_vec(),
            default: default.parse().unwrap(),
            pairs: pairs
                .iter()
                .map(|p| {
                    let (pairs, spec) = p.split_once(' ').unwrap();
                    (pairs.parse().unwrap(), spec.parse().unwrap())
                })
                .collect(),
            timeline: steps
                .iter()
                .map(|(ms, s)| (Duration::from_millis(*ms), s.parse().unwrap()))
                .collect(),
            probe: None,
        }
    }

    #[test]
    fn no_two_faults_name_one_directed_pair() {
        let p = phases(&plan("loss 1%", &["n1->n2 delay 20ms"], &[])).unwrap();
        assert_eq!(p.len(), 1);
        let mut seen = Vec::new();
        for c in &p[0].chaos {
            for f in &c.from {
                for t in &c.to {
                    seen.push((f.clone(), t.clone()));
                    if c.both {
                        seen.push((t.clone(), f.clone()));
                    }
                }
            }
        }
        seen.sort();
        let len = seen.len();
        seen.dedup();
        assert_eq!(seen.len(), len, "{:?}", p[0].chaos);
        assert_eq!(len, 6, "every pair of three hosts once: {:?}", p[0].chaos);
    }

    #[test]
    fn a_pair_and_its_mirror_with_one_impairment_are_one_fault_both_ways() {
        let p = phases(&plan("", &["n1<->n2 loss 5%"], &[])).unwrap();
        assert_eq!(p[0].chaos.len(), 1);
        assert!(p[0].chaos[0].both);
    }

    #[test]
    fn a_timeline_is_phases_and_a_step_that_changes_nothing_is_no_phase() {
        let p = phases(&plan(
            "",
            &[],
            &[
                (1000, "partition n1 | n2,n3"),
                (2000, "heal"),
                (3000, "clear"),
            ],
        ))
        .unwrap();
        assert_eq!(p.len(), 3, "{p:?}");
        assert_eq!(p[1].start, Duration::from_secs(1));
        assert_eq!(p[1].end, Some(Duration::from_secs(2)));
        assert_eq!(p[1].chaos[0].to, ["n2", "n3"]);
        assert!(p[2].chaos.is_empty() && p[2].end.is_none());
    }

    #[test]
    fn steps_at_the_start_make_the_first_phase() {
        let p = phases(&plan("", &[], &[(0, "isolate n1"), (1000, "heal")])).unwrap();
        assert_eq!(p.len(), 2, "{p:?}");
        assert_eq!(p[0].start, Duration::ZERO);
        assert_eq!(p[0].end, Some(Duration::from_secs(1)));
        assert_eq!(p[0].chaos.len(), 1);
        assert!(p[1].chaos.is_empty());
    }

    #[test]
    fn interface_and_address_steps_are_refused_naming_the_step() {
        for step in ["down n1", "up n1", "renumber n2"] {
            let e = phases(&plan("", &[], &[(1000, step)])).unwrap_err();
            assert_eq!(e.key, "at");
            assert!(e.why.contains(step), "{e}");
        }
    }
}
