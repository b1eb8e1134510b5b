//! `badnet export chaos-mesh FILE.toml…`: scenario files as Chaos Mesh's
//! objects, on standard output; what Chaos Mesh cannot express is refused
//! (exit 2), naming the file, the line, the key and why.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use faults::{Direction, Fault, Pairs};

use super::test::file::{self, Declared};
use crate::error::BadInput;
use crate::export::chaos_mesh::{self, Options};
use crate::export::{Plan, Probe, Refused};
use crate::scenario::PORT;
use crate::timeline::Action;

/// The engine whose objects an export writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Kubernetes YAML for Chaos Mesh: a NetworkChaos per fault, a
    /// Workflow for a timeline, and for badnet's probes their server and a
    /// Job; each host is the pods labelled `KEY: HOST`.
    ChaosMesh,
}

/// `badnet export` flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The engine (chaos-mesh).
    #[arg(value_enum)]
    pub engine: Engine,
    /// Scenario files (as `badnet test` takes them).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The namespace of the objects and of the pods they select.
    #[arg(long, allow_hyphen_values = true)]
    pub namespace: Option<String>,
    /// The label whose value names a pod's host.
    #[arg(long, default_value = chaos_mesh::DEFAULT_LABEL, allow_hyphen_values = true)]
    pub label: String,
    /// Only the scenario of this name (a file's scenarios would otherwise
    /// all be applied at once, on the same pods).
    #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
    pub scenario: Option<String>,
    /// How long the probe's pod waits before the probe starts (the faults
    /// are injected half-way through).
    #[arg(long, default_value = "20s", allow_hyphen_values = true, value_parser = crate::duration::parse_positive)]
    pub probe_delay: Duration,
}

/// `badnet export`.
pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    match args.engine {
        Engine::ChaosMesh => {
            print!("{}", chaos_mesh_yaml(args)?);
            Ok(())
        }
    }
}

/// The YAML of every scenario of every file: all of them, or the first
/// refusal.
pub fn chaos_mesh_yaml(args: &ExportArgs) -> Result<String, BadInput> {
    let o = options(args)?;
    let mut out = String::new();
    let mut names: Vec<String> = Vec::new();
    let mut all = Vec::new();
    for path in &args.files {
        all.extend(file::load(path)?);
    }
    if let Some(name) = &args.scenario {
        let given: Vec<String> = all.iter().map(|d| d.name.clone()).collect();
        all.retain(|d| d.name == *name);
        if all.is_empty() {
            return Err(BadInput::new(
                "--scenario",
                format!(
                    "no scenario is named {name:?}; the files hold: {}",
                    given.join("; ")
                ),
            ));
        }
    }
    for d in all {
        let at = |key: &str| format!("{}:{}: {key}", d.file.display(), d.line);
        let plan =
            plan(&d).map_err(|r| BadInput::new(at(&r.key), format!("{}: {}", d.name, r.why)))?;
        // Scenarios whose names begin alike get objects named apart.
        let mut base = chaos_mesh::base_name(&plan.name);
        let twins = names.iter().filter(|n| **n == base).count();
        names.push(base.clone());
        if twins > 0 {
            base = format!("{base}-{}", twins + 1);
        }
        let objects = chaos_mesh::objects_named(&plan, &base, &o).map_err(|r| {
            BadInput::new(at(&key_of(&d, &r.key)), format!("{}: {}", d.name, r.why))
        })?;
        out.push_str(&format!("# {}:{}: {}\n", d.file.display(), d.line, d.name));
        out.push_str(&chaos_mesh::yaml(&objects));
    }
    Ok(out)
}

fn options(args: &ExportArgs) -> Result<Options, BadInput> {
    if !label_key(&args.label) {
        return Err(BadInput::new(
            "--label",
            format!("{}: a Kubernetes label key, [PREFIX/]NAME (NAME at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)", args.label),
        ));
    }
    if let Some(ns) = &args.namespace {
        if !dns_label(ns) {
            return Err(BadInput::new(
                "--namespace",
                format!("{ns}: a namespace is at most 63 lower-case letters, digits or '-', starting and ending with a letter or digit"),
            ));
        }
    }
    Ok(Options {
        namespace: args.namespace.clone(),
        label: args.label.clone(),
        image: format!("{}:{}", crate::run::docker::IMAGE, crate::run::docker::TAG),
        probe_delay: args.probe_delay,
    })
}

/// The key of the file that holds a refused netem word: the `netem` key
/// when it spells the word, else the word's own key (`loss`).
fn key_of(d: &Declared, word: &str) -> String {
    match &d.args.impairment.netem {
        Some(n) if n.contains(word) => "netem".into(),
        _ => word.into(),
    }
}

/// A scenario as a plan: a scenario with hosts of its own (its hosts, its
/// impairments, its timeline; its programs are the user's pods), or a
/// two-host one (host a the client's, b the server's).
pub fn plan(d: &Declared) -> Result<Plan, Refused> {
    if let Some(c) = &d.cluster {
        return cluster_plan(d, c);
    }
    let args = &d.args;
    if args.messages.is_some() {
        return Err(Refused::new(
            "messages",
            "the timestamped messages are sent by badnet itself, not by a program of the services image",
        ));
    }
    if args.clients.is_some() {
        return Err(Refused::new(
            "clients",
            "the export writes one probe Job between two hosts; many clients of one server are not exported yet",
        ));
    }
    if args.link.seed.is_some() {
        return Err(Refused::new(
            "seed",
            "Chaos Mesh's netem draws from the kernel's random numbers: a run cannot be replayed from a seed",
        ));
    }
    let mut s = args
        .scenario()
        .map_err(|e| Refused::new(e.flag.trim_start_matches('-'), e.message))?;
    s.timeline = args.steps().map_err(|e| Refused::new("at", e.message))?;
    let (a, b) = ("a".to_owned(), "b".to_owned());
    let ours = match s.direction {
        Direction::Both => Pairs::All,
        Direction::Forward => Pairs::One(a.clone(), b.clone()),
        Direction::Reverse => Pairs::One(b.clone(), a.clone()),
    };
    let (default, pairs) = match &ours {
        Pairs::All => (s.impairment.clone(), Vec::new()),
        one => (
            faults::Impairment::none(),
            if s.impairment.is_none() {
                Vec::new()
            } else {
                vec![(one.clone(), s.impairment.clone())]
            },
        ),
    };
    let mut timeline = Vec::new();
    for step in s.steps() {
        let fault = match step.action {
            Action::Impair(spec) => Fault::Impair(ours.clone(), spec),
            Action::Clear => Fault::Clear(Pairs::All),
            Action::Partition => Fault::Partition(Vec::new()),
            Action::Heal => Fault::Heal,
            Action::Renumber if args.renumber_after == Some(step.at) => {
                return Err(Refused::new(
                    "renumber_after",
                    "a pod's address is its network plugin's to give; Chaos Mesh cannot change it",
                ))
            }
            Action::Renumber => Fault::Renumber(a.clone()),
            Action::Fault(f) => f,
            Action::Process(p) => {
                return Err(Refused::new(
                    "at",
                    format!("'{p}' is a fault of a program, not of the network: a NetworkChaos cannot express it, and a PodChaos kills or fails a pod rather than signalling its process (its controller starts it again), so it is not approximated"),
                ))
            }
        };
        timeline.push((step.at, fault));
    }
    let probe = args.server.is_none().then(|| {
        let mut client = vec![s.transport.probe_program().to_owned()];
        client.extend(s.probe_args("{server}"));
        client.extend(["--wait-for-server".into(), "60s".into()]);
        let mut server = vec![
            s.transport.server_program().to_owned(),
            "--port".into(),
            PORT.to_string(),
        ];
        server.extend(s.server_args());
        Probe {
            client_host: a.clone(),
            server_host: b.clone(),
            client,
            server,
            port: PORT,
            protocol: match s.transport {
                crate::scenario::Transport::Udp => "UDP",
                crate::scenario::Transport::Tcp => "TCP",
            },
        }
    });
    Ok(Plan {
        name: d.name.clone(),
        hosts: vec![a, b],
        default,
        pairs,
        timeline,
        probe,
    })
}

/// A scenario with hosts as a plan: every pair's impairment, the pairs'
/// own, the timeline's network steps (a process fault is refused). Its
/// programs run in the user's pods, so no probe Job is written.
fn cluster_plan(d: &Declared, c: &crate::run::cluster::Cluster) -> Result<Plan, Refused> {
    if d.args.link.seed.is_some() {
        return Err(Refused::new(
            "seed",
            "Chaos Mesh's netem draws from the kernel's random numbers: a run cannot be replayed from a seed",
        ));
    }
    let s = d
        .args
        .scenario()
        .map_err(|e| Refused::new(e.flag.trim_start_matches('-'), e.message))?;
    let mut timeline = Vec::new();
    for step in s.timeline {
        let fault = match step.action {
            Action::Impair(spec) => Fault::Impair(Pairs::All, spec),
            Action::Clear => Fault::Clear(Pairs::All),
            Action::Partition => Fault::Partition(Vec::new()),
            Action::Heal => Fault::Heal,
            Action::Fault(f) => f,
            Action::Renumber => {
                return Err(Refused::new(
                    "at",
                    "a pod's address is its network plugin's to give; Chaos Mesh cannot change it",
                ))
            }
            Action::Process(_) => {
                return Err(Refused::new(
                    "at",
                    format!("'{}' is a fault of a program, not of the network: a NetworkChaos cannot express it, and a PodChaos kills or fails a pod rather than signalling its process (its controller starts it again), so it is not approximated", step.action),
                ))
            }
        };
        timeline.push((step.at, fault));
    }
    Ok(Plan {
        name: d.name.clone(),
        hosts: c.hosts.clone(),
        default: s.impairment,
        pairs: c.pairs.clone(),
        timeline,
        probe: None,
    })
}

/// Whether `k` is a Kubernetes label key: `[PREFIX/]NAME`.
fn label_key(k: &str) -> bool {
    let (prefix, name) = match k.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, k),
    };
    chaos_mesh::label_value(name)
        && prefix.map_or(true, |p| p.len() <= 253 && p.split('.').all(dns_label))
}

/// Whether `s` is a DNS-1123 label.
fn dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// A scenario of a file, as a plan or why it cannot be one.
#[derive(Debug)]
pub struct Planned {
    pub name: String,
    pub plan: Result<Plan, Refused>,
}

/// The file's scenarios, each as a plan or why it cannot be one: for
/// tests that export every scenario of a folder.
pub fn plans(path: &Path) -> Result<Vec<Planned>, BadInput> {
    Ok(file::load(path)?
        .iter()
        .map(|d| Planned {
            name: d.name.clone(),
            plan: plan(d),
        })
        .collect())
}
