//! A plan as Chaos Mesh's objects (chaos-mesh.org/v1alpha1): a
//! NetworkChaos per fault, a Workflow for a timeline, and for badnet's
//! probe its server and a Job.
//!
//! Each badnet host is the set of pods labelled `KEY: HOST`. A fault
//! from hosts F to hosts T is `selector` F, `target` T, `mode: all`,
//! `direction: to` (`both` when it holds both ways). Faults in force for
//! the whole run are plain objects; the others are a Workflow: a Serial
//! of phases, each a Suspend (nothing in force), one chaos, or a Parallel
//! of them, with the phase's length as `deadline`.

use std::time::Duration;

use faults::{Distribution, Impairment, Loss};
use serde_json::{json, Map, Value};

use super::phases::{phases, Chaos, Effect, Phase};
use super::plan::{Plan, Refused};

/// The label that names a pod's host, unless `--label` gives another.
pub const DEFAULT_LABEL: &str = "badnet.io/host";
/// The image that waits before the probe starts (the services image is
/// `FROM scratch`: it has no `sleep`).
pub const WAIT_IMAGE: &str = "busybox:1.36";

/// How objects are placed and found.
#[derive(Debug, Clone)]
pub struct Options {
    /// The namespace of every object and of the pods selected; None: the
    /// one `kubectl` applies to.
    pub namespace: Option<String>,
    /// The label key whose value names a pod's host.
    pub label: String,
    /// The services image, `badnet/services:VERSION`.
    pub image: String,
    /// How long the probe's pod waits before the probe starts, so that
    /// Chaos Mesh (which selects the pods that exist when a chaos is
    /// injected) finds it: the chaos is injected half-way through.
    pub probe_delay: Duration,
}

/// The objects of `plan`, in the order to apply them: the probe's server
/// and Job (if any), then the faults.
pub fn objects(plan: &Plan, o: &Options) -> Result<Vec<Value>, Refused> {
    objects_named(plan, &base_name(&plan.name), o)
}

/// The name every object of a scenario's starts with: `badnet-` and the
/// scenario's name in at most 40 lower-case letters, digits and '-'.
pub fn base_name(scenario: &str) -> String {
    format!("badnet-{}", slug(scenario))
}

/// [`objects`], named from `base` (a DNS-1123 label of at most 50
/// characters).
pub fn objects_named(plan: &Plan, base: &str, o: &Options) -> Result<Vec<Value>, Refused> {
    for host in &plan.hosts {
        if !label_value(host) {
            return Err(Refused::new(
                "hosts",
                format!("{host}: a Kubernetes label value is at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"),
            ));
        }
    }
    check_impairment(&plan.default)?;
    for (pairs, spec) in &plan.pairs {
        check_impairment(spec).map_err(|e| Refused::new(e.key, format!("{pairs}: {}", e.why)))?;
    }
    for (at, step) in &plan.timeline {
        if let faults::Fault::Impair(_, spec) = step {
            check_impairment(spec).map_err(|e| {
                Refused::new("at", format!("{at:?} '{step}': {}: {}", e.key, e.why))
            })?;
        }
    }
    let mut phases = phases(plan)?;
    let mut out = Vec::new();
    // With a probe, every fault waits in a Workflow until the probe's pod
    // exists; it is applied half-way through the pod's wait.
    let lead = plan.probe.as_ref().map(|p| {
        out.extend(probe_objects(plan, p, base, o));
        let half = o.probe_delay / 2;
        (half, o.probe_delay - half)
    });
    let always: Vec<Chaos> = if lead.is_some() {
        Vec::new()
    } else {
        phases[0]
            .chaos
            .iter()
            .filter(|c| phases.iter().all(|p| p.chaos.contains(c)))
            .cloned()
            .collect()
    };
    for (i, c) in always.iter().enumerate() {
        out.push(network_chaos(
            &format!("{base}-{}", i + 1),
            &plan.name,
            spec(c, o),
            o,
        ));
    }
    for p in &mut phases {
        p.chaos.retain(|c| !always.contains(c));
    }
    while phases.last().is_some_and(|p| p.chaos.is_empty()) {
        phases.pop();
    }
    if !phases.is_empty() {
        out.push(workflow(base, &plan.name, &phases, lead, o));
    }
    Ok(out)
}

/// The objects as one YAML stream.
pub fn yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|v| serde_norway::to_string(v).expect("JSON values are YAML"))
        .map(|doc| format!("---\n{doc}"))
        .collect()
}

fn metadata(name: &str, scenario: &str, part: &str, o: &Options) -> Value {
    let mut m = json!({
        "name": name,
        "labels": {"app.kubernetes.io/managed-by": "badnet", "badnet.io/part": part},
        "annotations": {"badnet.io/scenario": scenario},
    });
    if let Some(ns) = &o.namespace {
        m["namespace"] = json!(ns);
    }
    m
}

fn network_chaos(name: &str, scenario: &str, spec: Value, o: &Options) -> Value {
    json!({
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "NetworkChaos",
        "metadata": metadata(name, scenario, "chaos", o),
        "spec": spec,
    })
}

/// The pods of these hosts.
fn selector(hosts: &[String], o: &Options) -> Value {
    let mut s = match hosts {
        [one] => json!({"labelSelectors": {o.label.clone(): one}}),
        many => json!({"expressionSelectors": [
            {"key": o.label, "operator": "In", "values": many}
        ]}),
    };
    if let Some(ns) = &o.namespace {
        s["namespaces"] = json!([ns]);
    }
    s
}

/// A NetworkChaos's spec for one fault (without `duration`: a Workflow
/// gives its chaos a `deadline` instead).
fn spec(c: &Chaos, o: &Options) -> Value {
    let mut s = Map::new();
    s.insert("selector".into(), selector(&c.from, o));
    s.insert("mode".into(), json!("all"));
    s.insert(
        "target".into(),
        json!({"selector": selector(&c.to, o), "mode": "all"}),
    );
    s.insert(
        "direction".into(),
        json!(if c.both { "both" } else { "to" }),
    );
    match &c.effect {
        Effect::Cut => {
            s.insert("action".into(), json!("partition"));
        }
        Effect::Netem(spec) => {
            s.insert("action".into(), json!("netem"));
            s.extend(netem(spec));
        }
    }
    Value::Object(s)
}

/// Why Chaos Mesh cannot express `spec`, by its netem word; what it can
/// express is what `netem` writes, field for field.
fn check_impairment(spec: &Impairment) -> Result<(), Refused> {
    if spec.distribution != Distribution::Uniform {
        return Err(Refused::new(
            "distribution",
            "Chaos Mesh's delay has a latency, a jitter and a correlation, no distribution (its jitter is netem's uniform one)",
        ));
    }
    match spec.loss {
        Loss::Gemodel { .. } => {
            return Err(Refused::new(
                "loss",
                "Gilbert-Elliott loss (gemodel): Chaos Mesh's loss is random, with a correlation",
            ))
        }
        Loss::State { .. } => {
            return Err(Refused::new(
                "loss",
                "4-state loss (state): Chaos Mesh's loss is random, with a correlation",
            ))
        }
        Loss::None | Loss::Random { .. } => {}
    }
    if spec.limit != faults::Impairment::default().limit {
        return Err(Refused::new(
            "limit",
            format!(
                "a queue of {} packets: Chaos Mesh's netem keeps netem's default of {}",
                spec.limit,
                faults::Impairment::default().limit
            ),
        ));
    }
    if spec.seed.is_some() {
        return Err(Refused::new(
            "seed",
            "Chaos Mesh's netem draws from the kernel's random numbers: a run cannot be replayed from a seed",
        ));
    }
    Ok(())
}

/// netem's fields as Chaos Mesh spells them: percentages as strings of a
/// number (`"10"`), times with their unit, a rate in tc's units.
fn netem(spec: &Impairment) -> Map<String, Value> {
    let mut m = Map::new();
    if !spec.delay.is_zero() {
        let mut d = json!({"latency": time(spec.delay)});
        if !spec.jitter.is_zero() {
            d["jitter"] = json!(time(spec.jitter));
        }
        if spec.delay_correlation > 0.0 {
            d["correlation"] = json!(number(spec.delay_correlation));
        }
        if spec.reorder > 0.0 {
            d["reorder"] = json!({
                "reorder": number(spec.reorder),
                "correlation": number(spec.reorder_correlation),
                "gap": spec.gap,
            });
        }
        m.insert("delay".into(), d);
    }
    if let Loss::Random {
        percent,
        correlation,
    } = spec.loss
    {
        m.insert(
            "loss".into(),
            json!({"loss": number(percent), "correlation": number(correlation)}),
        );
    }
    for (word, p, c) in [
        ("duplicate", spec.duplicate, spec.duplicate_correlation),
        ("corrupt", spec.corrupt, spec.corrupt_correlation),
    ] {
        if p > 0.0 {
            m.insert(
                word.into(),
                json!({word: number(p), "correlation": number(c)}),
            );
        }
    }
    if let Some(bits) = spec.rate {
        m.insert("rate".into(), json!({"rate": rate(bits)}));
    }
    m
}

/// A percentage as Chaos Mesh's strings of a number: `"10"`, `"0.5"`.
fn number(v: f64) -> String {
    format!("{v}")
}

/// A time in its largest exact unit, an integer: Chaos Mesh compares
/// latencies as strings against `"0ms"`, so `"0.5ms"` would count as none.
fn time(d: Duration) -> String {
    let ns = d.as_nanos();
    [(1_000_000_000, "s"), (1_000_000, "ms"), (1_000, "us")]
        .into_iter()
        .find(|(unit, _)| ns % unit == 0)
        .map_or(format!("{ns}ns"), |(unit, name)| {
            format!("{}{name}", ns / unit)
        })
}

/// Bits per second in tc's largest exact unit (`kbit` is 1000 bits).
fn rate(bits: u64) -> String {
    [
        (1_000_000_000_000, "tbit"),
        (1_000_000_000, "gbit"),
        (1_000_000, "mbit"),
        (1_000, "kbit"),
    ]
    .into_iter()
    .find(|(unit, _)| bits % unit == 0)
    .map_or(format!("{bits}bit"), |(unit, name)| {
        format!("{}{name}", bits / unit)
    })
}

/// A Go duration (`deadline`), never zero.
fn deadline(d: Duration) -> String {
    time(d.max(Duration::from_nanos(1)))
}

/// The Workflow of the phases: a Serial of one template per phase.
fn workflow(
    base: &str,
    scenario: &str,
    phases: &[Phase],
    lead: Option<(Duration, Duration)>,
    o: &Options,
) -> Value {
    let mut templates = Vec::new();
    let mut children = Vec::new();
    // The probe starts when its pod's wait ends: the first phase waits
    // with it.
    let mut extra = Duration::ZERO;
    if let Some((suspend, rest)) = lead {
        children.push("wait-for-pods".to_owned());
        templates.push(json!({"name": "wait-for-pods", "templateType": "Suspend", "deadline": deadline(suspend)}));
        extra = rest;
    }
    for (i, p) in phases.iter().enumerate() {
        let name = format!("phase-{i}");
        let extra = if i == 0 { extra } else { Duration::ZERO };
        let length = p.end.map(|end| end - p.start + extra);
        let with_deadline = |mut t: Value| {
            if let Some(l) = length {
                t["deadline"] = json!(deadline(l));
            }
            t
        };
        let chaos: Vec<Value> = p
            .chaos
            .iter()
            .enumerate()
            .map(|(j, c)| {
                with_deadline(json!({
                    "name": if p.chaos.len() == 1 { name.clone() } else { format!("{name}-{}", j + 1) },
                    "templateType": "NetworkChaos",
                    "networkChaos": spec(c, o),
                }))
            })
            .collect();
        match chaos.len() {
            0 => templates.push(with_deadline(
                json!({"name": name, "templateType": "Suspend"}),
            )),
            1 => templates.extend(chaos),
            _ => {
                let names: Vec<Value> = chaos.iter().map(|c| c["name"].clone()).collect();
                templates.push(with_deadline(
                    json!({"name": name, "templateType": "Parallel", "children": names}),
                ));
                templates.extend(chaos);
            }
        }
        children.push(name);
    }
    templates.insert(
        0,
        json!({"name": "timeline", "templateType": "Serial", "children": children}),
    );
    json!({
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": "Workflow",
        "metadata": metadata(&format!("{base}-timeline"), scenario, "chaos", o),
        "spec": {"entry": "timeline", "templates": templates},
    })
}

/// The probe's server (a Deployment and a headless Service, whose name
/// resolves to the server pod's own address, which the faults filter on)
/// and the Job that runs the probe in the client's pods.
fn probe_objects(plan: &Plan, p: &super::plan::Probe, base: &str, o: &Options) -> Vec<Value> {
    let host_labels = |host: &str| json!({o.label.clone(): host});
    let service = format!("{base}-{}", slug(&p.server_host));
    let server = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(&format!("{base}-server"), &plan.name, "workload", o),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": host_labels(&p.server_host)},
            "template": {
                "metadata": {"labels": host_labels(&p.server_host)},
                "spec": {"containers": [{
                    "name": "server",
                    "image": o.image,
                    "command": p.server.iter().map(|w| format!("/bin/{w}")).take(1).chain(p.server[1..].iter().cloned()).collect::<Vec<_>>(),
                    "ports": [{"containerPort": p.port, "protocol": p.protocol}],
                }]},
            },
        },
    });
    let svc = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(&service, &plan.name, "workload", o),
        "spec": {
            "clusterIP": "None",
            "selector": host_labels(&p.server_host),
            "ports": [{"port": p.port, "protocol": p.protocol}],
        },
    });
    let mut command: Vec<String> = vec![format!("/bin/{}", p.client[0])];
    command.extend(
        p.client[1..]
            .iter()
            .map(|w| w.replace("{server}", &service)),
    );
    let wait = o.probe_delay.as_secs().max(1);
    let job = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(&format!("{base}-probe"), &plan.name, "workload", o),
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": host_labels(&p.client_host)},
                "spec": {
                    "restartPolicy": "Never",
                    "initContainers": [{
                        "name": "wait-for-chaos",
                        "image": WAIT_IMAGE,
                        "command": ["sleep", wait.to_string()],
                    }],
                    "containers": [{"name": "probe", "image": o.image, "command": command}],
                },
            },
        },
    });
    vec![svc, server, job]
}

/// Whether `v` is a Kubernetes label value (a label key's name part has
/// the same form).
pub fn label_value(v: &str) -> bool {
    let b = v.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `name` as part of an object's name (a DNS-1123 label): lower case,
/// runs of anything else one '-', at most 40 characters.
fn slug(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if !s.ends_with('-') && !s.is_empty() {
            s.push('-');
        }
    }
    let s: String = s.chars().take(40).collect();
    let s = s.trim_end_matches('-');
    if s.is_empty() {
        "scenario".into()
    } else {
        s.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_rates_are_integers_of_their_largest_exact_unit() {
        assert_eq!(time(Duration::from_micros(500)), "500us");
        assert_eq!(time(Duration::from_millis(1500)), "1500ms");
        assert_eq!(time(Duration::from_secs(2)), "2s");
        assert_eq!(time(Duration::from_nanos(1)), "1ns");
        assert_eq!(rate(20_000_000), "20mbit");
        assert_eq!(rate(1_500), "1500bit");
        assert_eq!(number(10.0), "10");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(
            slug("UDP loses datagrams, and never resends them!"),
            "udp-loses-datagrams-and-never-resends-th"
        );
    }

    #[test]
    fn what_chaos_mesh_cannot_express_is_refused_by_its_word() {
        for (spec, key) in [
            ("delay 10ms 5ms distribution normal", "distribution"),
            ("loss gemodel 1% 10%", "loss"),
            ("loss state 1% 10% 20% 30% 1%", "loss"),
            ("limit 50", "limit"),
            ("loss 1% seed 7", "seed"),
        ] {
            let e = check_impairment(&spec.parse().unwrap()).unwrap_err();
            assert_eq!(e.key, key, "{spec}: {e}");
        }
        check_impairment(&"delay 10ms 2ms 25% loss 5% 10% duplicate 1% corrupt 0.1% reorder 25% 50% gap 5 rate 20mbit".parse().unwrap()).unwrap();
    }
}
