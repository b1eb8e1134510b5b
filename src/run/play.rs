//! Playing a timeline while the client runs: each step applied on
//! schedule, the moment the link took it recorded, and the link's counters
//! read at each step, so that every phase has its own.

use std::sync::mpsc;
use std::time::Instant;

use anyhow::Context;
use faults::{Direction, Lab, LinkCounters, PairCounters};
use serde::Serialize;

use super::nodes::Nodes;
use crate::timeline::{Action, Step};

/// A step as it was played.
#[derive(Debug, Clone, Serialize)]
pub struct Played {
    #[serde(flatten)]
    pub step: Step,
    /// When the link had it, from the start of the client; `None` when the
    /// client ended before the step was due.
    pub applied_ms: Option<f64>,
}

/// One stretch of the run under one state of the link.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// `start` (the run's own impairment), or the step that began it.
    pub action: String,
    /// From when the link had it to the next step (or the client's end),
    /// in milliseconds from the start of the client.
    pub from_ms: f64,
    pub to_ms: f64,
    /// What the link counted in this phase, per direction (of the first
    /// two hosts).
    #[serde(serialize_with = "counts_only")]
    pub link: LinkCounters,
    /// What every directed pair counted in this phase, for labs of more
    /// than two hosts.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "pair_counts_only"
    )]
    pub links: Option<PairCounters>,
}

/// The played timeline: every step, and the phases it made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timeline {
    pub timeline: Vec<Played>,
    pub phases: Vec<Phase>,
}

impl Timeline {
    /// Each step's lateness (applied minus due), in milliseconds, of the
    /// steps that were applied.
    pub fn lateness_ms(&self) -> impl Iterator<Item = f64> + '_ {
        self.timeline
            .iter()
            .filter_map(|p| p.applied_ms.map(|a| a - p.step.at.as_secs_f64() * 1e3))
    }
}

/// A phase's counts without the lateness figures, which are of the whole
/// run (a histogram's quantiles cannot be split by phase).
fn counts_only<S: serde::Serializer>(link: &LinkCounters, s: S) -> Result<S::Ok, S::Error> {
    let mut v = serde_json::to_value(link).map_err(serde::ser::Error::custom)?;
    for way in ["forward", "reverse"] {
        if let Some(map) = v.get_mut(way).and_then(|w| w.as_object_mut()) {
            map.retain(|k, _| !k.starts_with("late_"));
        }
    }
    v.serialize(s)
}

/// [`counts_only`] for every pair.
fn pair_counts_only<S: serde::Serializer>(
    links: &Option<PairCounters>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut v = serde_json::to_value(links).map_err(serde::ser::Error::custom)?;
    if let Some(pairs) = v.as_object_mut() {
        for counts in pairs.values_mut().filter_map(|c| c.as_object_mut()) {
            counts.retain(|k, _| !k.starts_with("late_"));
        }
    }
    v.serialize(s)
}

fn apply(
    lab: &Lab,
    direction: Direction,
    nodes: Option<&Nodes>,
    action: &Action,
) -> anyhow::Result<faults::Change> {
    Ok(match action {
        Action::Impair(spec) => lab.impair(direction, spec)?,
        Action::Clear => lab.clear(Direction::Both)?,
        Action::Partition => lab.partition()?,
        Action::Heal => lab.heal()?,
        Action::Renumber => lab.renumber_a()?,
        Action::Fault(fault) => lab.apply(fault)?,
        Action::Process(fault) => {
            let nodes = nodes.context("this run's hosts run no programs of their own")?;
            let (before, pairs_before) = (lab.counters()?, lab.pair_counters()?);
            nodes.apply(fault)?;
            let at = Instant::now();
            faults::Change {
                at,
                before,
                after: lab.counters()?,
                pairs_before,
                pairs_after: lab.pair_counters()?,
            }
        }
    })
}

fn ms(since: Instant, t: Instant) -> f64 {
    t.saturating_duration_since(since).as_secs_f64() * 1e3
}

/// What `client` calls once its program runs (the process spawned, the
/// container started): the timeline's zero. A container can take a second
/// to start on a busy machine, and a timeline that began before would play
/// its steps to a client that was not there yet.
pub struct Started(mpsc::Sender<()>);

impl Started {
    /// The client runs from now.
    pub fn now(&self) {
        let _ = self.0.send(());
    }
}

/// Plays `steps` on `lab` from the moment `client` says its program
/// started until it returns. Impairments apply in `direction`; `clear`
/// clears both ways. A step that could not be applied fails the run: a
/// report of a network that never changed would be a lie. Steps due after
/// the client ended (or when it never started) are reported unapplied.
pub fn with_timeline<T>(
    lab: &Lab,
    direction: Direction,
    steps: &[Step],
    client: impl FnOnce(&Started) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Timeline)> {
    with_nodes(lab, direction, None, steps, client)
}

/// [`with_timeline`] for a lab whose hosts run programs of their own
/// (`nodes`), which take the timeline's process faults.
pub fn with_nodes<T>(
    lab: &Lab,
    direction: Direction,
    nodes: Option<&Nodes>,
    steps: &[Step],
    client: impl FnOnce(&Started) -> anyhow::Result<T>,
) -> anyhow::Result<(T, Timeline)> {
    let (go, began) = mpsc::channel::<()>();
    let started = Started(go);
    if steps.is_empty() {
        return Ok((client(&started)?, Timeline::default()));
    }
    let (done, ended) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let player = s.spawn(move || play(lab, direction, nodes, steps, &began, &ended));
        let result = client(&started);
        drop(started);
        drop(done);
        let timeline = player
            .join()
            .expect("the timeline thread panicked")
            .context("playing the timeline")?;
        Ok((result?, timeline))
    })
}

fn play(
    lab: &Lab,
    direction: Direction,
    nodes: Option<&Nodes>,
    steps: &[Step],
    began: &mpsc::Receiver<()>,
    ended: &mpsc::Receiver<()>,
) -> anyhow::Result<Timeline> {
    // Steps keep their schedule on a busy machine as the wire does.
    faults::plumbing::realtime_thread("the timeline");
    // Err: the client gave up before its program ran.
    let mut over = began.recv().is_err();
    let start = Instant::now();
    let many = lab.hosts().len() > 2;
    let pairs = lab.pair_counters()?;
    let mut phase = Phase {
        action: "start".into(),
        from_ms: 0.0,
        to_ms: 0.0,
        link: lab.counters()?,
        links: many.then_some(pairs),
    };
    let mut out = Timeline::default();
    for step in steps {
        if !over {
            let wait = (start + step.at).saturating_duration_since(Instant::now());
            over = !matches!(
                ended.recv_timeout(wait),
                Err(mpsc::RecvTimeoutError::Timeout)
            );
        }
        if over {
            out.timeline.push(Played {
                step: step.clone(),
                applied_ms: None,
            });
            continue;
        }
        let change = apply(lab, direction, nodes, &step.action)
            .with_context(|| format!("'{}' at {:?}", step.action, step.at))?;
        phase.to_ms = ms(start, change.at);
        phase.link = change.before.since(&phase.link);
        phase.links = phase.links.map(|l| change.pairs_before.since(&l));
        out.phases.push(phase);
        phase = Phase {
            action: step.action.to_string(),
            from_ms: ms(start, change.at),
            to_ms: 0.0,
            link: change.after,
            links: many.then(|| change.pairs_after.clone()),
        };
        out.timeline.push(Played {
            step: step.clone(),
            applied_ms: Some(ms(start, change.at)),
        });
    }
    if !over {
        let _ = ended.recv();
    }
    let end = lab.pair_counters()?;
    phase.to_ms = ms(start, Instant::now());
    phase.link = lab.counters()?.since(&phase.link);
    phase.links = phase.links.map(|l| end.since(&l));
    out.phases.push(phase);
    Ok(out)
}
