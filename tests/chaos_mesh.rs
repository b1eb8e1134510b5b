//! `badnet export chaos-mesh` against Chaos Mesh's own schema, without a
//! cluster and without root.
//!
//! The schema facts below are written as data, read from chaos-mesh/chaos-mesh
//! at commit 608b61e7c1b16c01a242e8ddc93c768ea77d783a (2026-08-07):
//! - config/crd/bases/chaos-mesh.org_networkchaos.yaml and
//!   config/crd/bases/chaos-mesh.org_workflows.yaml (openAPIV3Schema: field
//!   names, types, required fields, enums, patterns, minimums);
//! - api/v1alpha1/networkchaos_webhook.go (`from` and `both` need a target,
//!   `externalTargets` only with `to`, both unless the action is
//!   partition; a rate is an integer and one of its units);
//! - api/v1alpha1/common_webhook.go (percentages and correlations are
//!   `FloatStr`: strconv.ParseFloat(s, 32); durations: time.ParseDuration);
//! - api/v1alpha1/workflow_webhook.go (template names are DNS-1123
//!   subdomains, unique; the entry and every child exist; a Suspend has a
//!   deadline; a chaos template has its chaos and no `duration`);
//! - api/v1alpha1/zz_generated.workflow.chaosmesh.go (the template types);
//! - pkg/chaosdaemon/tc_server.go (a latency or jitter takes effect only
//!   if it compares, as a string, above "0ms").
//!
//! Every field, type, enum value and pattern the exported objects use is
//! checked; a field the schema below does not know fails.

mod support;

use support::badnet_with_programs;

use std::path::{Path, PathBuf};
use std::time::Duration;

use badnet::export::chaos_mesh::{self, Options};
use badnet::export::{Plan, Refused};
use serde::Deserialize;
use serde_json::{json, Value};

/// A schema node, as the CRD (and the webhook) says.
enum S {
    /// Fields: name, schema, required.
    Obj(Vec<(&'static str, S, bool)>),
    Str,
    Enum(&'static [&'static str]),
    /// The CRD's `pattern`.
    Pattern(&'static str),
    /// The webhook's FloatStr: a string strconv.ParseFloat(s, 32) takes.
    FloatStr,
    /// The webhook's Rate: an unsigned integer and one of its units.
    Rate,
    /// A Go duration (time.ParseDuration).
    GoDuration,
    Int {
        min: Option<i64>,
    },
    Arr(Box<S>),
    MapOf(Box<S>),
}

use S::*;

const DURATION_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(ns|us|ms|s|m|h)$";
const MODES: &[&str] = &["one", "all", "fixed", "fixed-percent", "random-max-percent"];
const ACTIONS: &[&str] = &[
    "netem",
    "delay",
    "loss",
    "duplicate",
    "corrupt",
    "partition",
    "bandwidth",
];
const DIRECTIONS: &[&str] = &["to", "from", "both"];
/// metav1.LabelSelectorRequirement's operators.
const OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];
const RATE_UNITS: &[&str] = &[
    "kbit", "mbit", "gbit", "tbit", "tbps", "gbps", "mbps", "kbps", "bps", "bit",
];
const TEMPLATE_TYPES: &[&str] = &[
    "Serial",
    "Parallel",
    "Suspend",
    "Schedule",
    "Task",
    "StatusCheck",
    "NetworkChaos",
    "PodChaos",
];

fn obj(fields: Vec<(&'static str, S, bool)>) -> S {
    Obj(fields)
}

fn pod_selector_spec() -> S {
    obj(vec![
        ("namespaces", Arr(Box::new(Str)), false),
        ("labelSelectors", MapOf(Box::new(Str)), false),
        (
            "expressionSelectors",
            Arr(Box::new(obj(vec![
                ("key", Str, true),
                ("operator", Enum(OPERATORS), true),
                ("values", Arr(Box::new(Str)), false),
            ]))),
            false,
        ),
        ("fieldSelectors", MapOf(Box::new(Str)), false),
        ("annotationSelectors", MapOf(Box::new(Str)), false),
    ])
}

fn percent_and_correlation(word: &'static str) -> S {
    obj(vec![
        (word, FloatStr, true),
        ("correlation", FloatStr, false),
    ])
}

/// NetworkChaosSpec (the CRD's spec; also a Workflow template's
/// networkChaos).
fn network_chaos_spec() -> S {
    obj(vec![
        ("selector", pod_selector_spec(), true),
        ("mode", Enum(MODES), true),
        ("value", Str, false),
        ("action", Enum(ACTIONS), true),
        ("direction", Enum(DIRECTIONS), false),
        (
            "target",
            obj(vec![
                ("selector", pod_selector_spec(), true),
                ("mode", Enum(MODES), true),
                ("value", Str, false),
            ]),
            false,
        ),
        ("externalTargets", Arr(Box::new(Str)), false),
        ("duration", GoDuration, false),
        ("device", Str, false),
        (
            "delay",
            obj(vec![
                ("latency", Pattern(DURATION_PATTERN), true),
                ("jitter", Pattern(DURATION_PATTERN), false),
                ("correlation", FloatStr, false),
                (
                    "reorder",
                    obj(vec![
                        ("reorder", FloatStr, true),
                        ("correlation", FloatStr, false),
                        ("gap", Int { min: None }, true),
                    ]),
                    false,
                ),
            ]),
            false,
        ),
        ("loss", percent_and_correlation("loss"), false),
        ("duplicate", percent_and_correlation("duplicate"), false),
        ("corrupt", percent_and_correlation("corrupt"), false),
        ("rate", obj(vec![("rate", Rate, true)]), false),
        (
            "bandwidth",
            obj(vec![
                ("rate", Rate, true),
                ("limit", Int { min: Some(1) }, true),
                ("buffer", Int { min: Some(1) }, true),
            ]),
            false,
        ),
    ])
}

fn metadata() -> S {
    obj(vec![
        ("name", Str, true),
        ("namespace", Str, false),
        ("labels", MapOf(Box::new(Str)), false),
        ("annotations", MapOf(Box::new(Str)), false),
    ])
}

fn network_chaos() -> S {
    obj(vec![
        ("apiVersion", Enum(&["chaos-mesh.org/v1alpha1"]), true),
        ("kind", Enum(&["NetworkChaos"]), true),
        ("metadata", metadata(), true),
        ("spec", network_chaos_spec(), true),
    ])
}

fn workflow() -> S {
    obj(vec![
        ("apiVersion", Enum(&["chaos-mesh.org/v1alpha1"]), true),
        ("kind", Enum(&["Workflow"]), true),
        ("metadata", metadata(), true),
        (
            "spec",
            obj(vec![
                ("entry", Str, true),
                (
                    "templates",
                    Arr(Box::new(obj(vec![
                        ("name", Str, true),
                        ("templateType", Enum(TEMPLATE_TYPES), true),
                        ("deadline", GoDuration, false),
                        ("children", Arr(Box::new(Str)), false),
                        ("networkChaos", network_chaos_spec(), false),
                    ]))),
                    true,
                ),
            ]),
            true,
        ),
    ])
}

/// Go's time.ParseDuration, for the forms a number and a unit repeated.
fn go_duration(s: &str) -> bool {
    regex::Regex::new(r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$")
        .unwrap()
        .is_match(s)
}

fn check(v: &Value, s: &S, path: &str, errs: &mut Vec<String>) {
    let mut bad = |why: String| errs.push(format!("{path}: {why} (got {v})"));
    match (s, v) {
        (Obj(fields), Value::Object(m)) => {
            for (k, child) in m {
                match fields.iter().find(|(name, _, _)| name == k) {
                    Some((_, schema, _)) => check(child, schema, &format!("{path}.{k}"), errs),
                    None => errs.push(format!("{path}.{k}: no such field in the schema")),
                }
            }
            for (name, _, required) in fields {
                if *required && !m.contains_key(*name) {
                    errs.push(format!("{path}.{name}: required, missing"));
                }
            }
        }
        (Str, Value::String(_)) => {}
        (Enum(values), Value::String(x)) => {
            if !values.contains(&x.as_str()) {
                bad(format!("not one of {values:?}"));
            }
        }
        (Pattern(p), Value::String(x)) => {
            if !regex::Regex::new(p).unwrap().is_match(x) {
                bad(format!("does not match {p}"));
            }
        }
        (FloatStr, Value::String(x)) => {
            if x.parse::<f32>().map_or(true, |f| !f.is_finite()) {
                bad("not a number strconv.ParseFloat takes".into());
            }
        }
        (Rate, Value::String(x)) => {
            let x = x.trim().to_lowercase();
            let ok = RATE_UNITS
                .iter()
                .find(|u| x.ends_with(*u))
                .is_some_and(|u| x.trim_end_matches(u).trim().parse::<u64>().is_ok());
            if !ok {
                bad("not an integer and one of kbit, mbit, ... bps, bit".into());
            }
        }
        (GoDuration, Value::String(x)) => {
            if !go_duration(x) {
                bad("not a Go duration".into());
            }
        }
        (Int { min }, Value::Number(n)) => match n.as_i64() {
            Some(i) if min.map_or(true, |m| i >= m) => {}
            _ => bad(format!("not an integer at least {min:?}")),
        },
        (Arr(item), Value::Array(items)) => {
            for (i, x) in items.iter().enumerate() {
                check(x, item, &format!("{path}[{i}]"), errs);
            }
        }
        (MapOf(item), Value::Object(m)) => {
            for (k, x) in m {
                check(x, item, &format!("{path}.{k}"), errs);
            }
        }
        _ => bad("wrong type".into()),
    }
}

/// DNS-1123 subdomain (object and template names).
fn dns_subdomain(s: &str) -> bool {
    s.len() <= 253
        && regex::Regex::new(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
            .unwrap()
            .is_match(s)
}

/// The webhook's rules for one NetworkChaos spec, and tc_server.go's
/// string comparison of times.
fn webhook_network_chaos(spec: &Value, path: &str, errs: &mut Vec<String>) {
    let direction = spec["direction"].as_str().unwrap_or("to");
    if spec["action"] != "partition" {
        if matches!(direction, "from" | "both") && spec.get("target").is_none() {
            errs.push(format!(
                "{path}: `{direction}` cannot be used when targets is empty"
            ));
        }
        if matches!(direction, "from" | "both") && spec.get("externalTargets").is_some() {
            errs.push(format!("{path}: externalTargets only with `to`"));
        }
    }
    for t in ["latency", "jitter"] {
        if let Some(x) = spec["delay"][t].as_str() {
            if x <= "0ms" {
                errs.push(format!(
                    "{path}.delay.{t} = {x}: Chaos Mesh's daemon applies it only above \"0ms\" as a string"
                ));
            }
        }
    }
}

/// Everything wrong with one exported object, by Chaos Mesh's schema and
/// webhook (for its kinds) or Kubernetes' basic rules (for the others).
fn problems(o: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    let name = o["metadata"]["name"].as_str().unwrap_or_default();
    if !dns_subdomain(name) || name.len() > 63 {
        errs.push(format!("metadata.name {name:?} is no DNS-1123 label"));
    }
    match o["kind"].as_str() {
        Some("NetworkChaos") => {
            check(o, &network_chaos(), "", &mut errs);
            webhook_network_chaos(&o["spec"], "spec", &mut errs);
            if o["spec"].get("duration").is_some() {
                errs.push("a run's fault lasts as long as the run: no duration".into());
            }
        }
        Some("Workflow") => {
            check(o, &workflow(), "", &mut errs);
            let templates = o["spec"]["templates"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let names: Vec<&str> = templates
                .iter()
                .filter_map(|t| t["name"].as_str())
                .collect();
            let entry = o["spec"]["entry"].as_str().unwrap_or_default();
            if !names.contains(&entry) {
                errs.push(format!("entry {entry} is no template"));
            }
            for (i, t) in templates.iter().enumerate() {
                let at = format!("spec.templates[{i}]");
                let n = t["name"].as_str().unwrap_or_default();
                if !dns_subdomain(n) {
                    errs.push(format!("{at}.name {n:?} is no DNS-1123 subdomain"));
                }
                if names.iter().filter(|x| **x == n).count() > 1 {
                    errs.push(format!("{at}.name {n} is not unique"));
                }
                let kind = t["templateType"].as_str().unwrap_or_default();
                let has = |k: &str| t.get(k).is_some();
                match kind {
                    "Suspend" => {
                        if !has("deadline") {
                            errs.push(format!("{at}: a Suspend needs a deadline"));
                        }
                        if has("children") || has("networkChaos") {
                            errs.push(format!("{at}: a Suspend has no children nor chaos"));
                        }
                    }
                    "Serial" | "Parallel" => {
                        for c in t["children"].as_array().into_iter().flatten() {
                            if !names.contains(&c.as_str().unwrap_or_default()) {
                                errs.push(format!("{at}: child {c} is no template"));
                            }
                        }
                        if has("networkChaos") {
                            errs.push(format!("{at}: a {kind} has no chaos"));
                        }
                    }
                    "NetworkChaos" => {
                        if !has("networkChaos") {
                            errs.push(format!("{at}: the value of chaos NetworkChaos is required"));
                        }
                        if t["networkChaos"].get("duration").is_some() {
                            errs.push(format!(
                                "{at}: no duration in a Workflow's chaos, a deadline"
                            ));
                        }
                        if has("children") {
                            errs.push(format!("{at}: a chaos has no children"));
                        }
                        webhook_network_chaos(
                            &t["networkChaos"],
                            &format!("{at}.networkChaos"),
                            &mut errs,
                        );
                    }
                    other => errs.push(format!("{at}: unexpected template type {other}")),
                }
            }
        }
        Some("Job" | "Deployment" | "Service") => {
            let want = match o["kind"].as_str() {
                Some("Job") => "batch/v1",
                Some("Deployment") => "apps/v1",
                _ => "v1",
            };
            if o["apiVersion"] != want {
                errs.push(format!("{} has apiVersion {}", o["kind"], o["apiVersion"]));
            }
        }
        other => errs.push(format!("unexpected kind {other:?}")),
    }
    errs
}

fn options() -> Options {
    Options {
        namespace: Some("shop".into()),
        label: chaos_mesh::DEFAULT_LABEL.into(),
        image: "badnet/services:0.1.0".into(),
        probe_delay: Duration::from_secs(20),
    }
}

/// Exports `plan`, checks every object, and checks that the YAML reads
/// back as the same objects (strings stay strings: `"10"`, not 10).
fn export_valid(plan: &Plan) -> Vec<Value> {
    let objects = chaos_mesh::objects(plan, &options())
        .unwrap_or_else(|e| panic!("{}: refused: {e}", plan.name));
    for o in &objects {
        let errs = problems(o);
        assert!(errs.is_empty(), "{}: {errs:#?}\n{o:#}", plan.name);
    }
    let text = chaos_mesh::yaml(&objects);
    let back: Vec<Value> = serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect();
    assert_eq!(back, objects, "{text}");
    objects
}

/// Every scenario file under tests/scenarios/, its folders' included.
fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files = Vec::new();
    let mut folders = vec![dir];
    while let Some(folder) = folders.pop() {
        for path in std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().path())
        {
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Scenarios of tests/scenarios/ that are not exported, by name, with the
/// key their refusal names.
const REFUSED: &[(&str, &str)] = &[
    (
        "UDP loss is per client and follows that client's own link",
        "clients",
    ),
    (
        "one TCP server serves every client at once, each stream intact and in order",
        "clients",
    ),
    (
        "three nodes: a partition of one cuts its pairs alone; a paused node resumes, a killed one restarts",
        "at",
    ),
    (
        "Redis Sentinel: partition of the master, heal, kill and restart of a replica",
        "at",
    ),
];

#[test]
fn every_scenario_of_the_repository_exports_as_valid_chaos_mesh_objects_or_is_refused_by_name() {
    let mut exported = 0;
    for file in scenario_files() {
        for planned in badnet::cli::export::plans(&file).unwrap() {
            let refusal =
                planned.plan.as_ref().err().cloned().or_else(|| {
                    chaos_mesh::objects(planned.plan.as_ref().unwrap(), &options()).err()
                });
            match (refusal, REFUSED.iter().find(|(n, _)| *n == planned.name)) {
                (None, None) => {
                    export_valid(planned.plan.as_ref().unwrap());
                    exported += 1;
                }
                (Some(Refused { key, .. }), Some((_, want))) => assert_eq!(&key, want),
                (r, listed) => panic!("{}: refused {r:?}, listed {listed:?}", planned.name),
            }
        }
    }
    assert!(exported >= 8, "only {exported} scenarios exported");
}

#[test]
fn the_command_writes_the_same_valid_objects_for_every_file() {
    for file in scenario_files() {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_badnet"))
            .args(["export", "chaos-mesh", "--namespace", "shop"])
            .arg(&file)
            .output()
            .unwrap();
        let refused = badnet::cli::export::plans(&file)
            .unwrap()
            .iter()
            .find_map(|p| REFUSED.iter().find(|(n, _)| *n == p.name).copied());
        if let Some((name, key)) = refused {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{}: {stderr}", file.display());
            assert!(
                stderr.contains(&format!("{key}: {name}")),
                "{}: {stderr}",
                file.display()
            );
            continue;
        }
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let docs: Vec<Value> = serde_norway::Deserializer::from_str(&text)
            .map(|doc| Value::deserialize(doc).unwrap())
            .collect();
        assert!(!docs.is_empty());
        for d in &docs {
            assert_eq!(d["metadata"]["namespace"], "shop");
            let errs = problems(d);
            assert!(errs.is_empty(), "{}: {errs:#?}", file.display());
        }
    }
}

fn three_replicas(steps: &[(u64, &str)], pairs: &[&str]) -> Plan {
    Plan {
        name: "three replicas".into(),
        hosts: ["n1", "n2", "n3", "cli"].map(String::from).to_vec(),
        default: "loss 1%".parse().unwrap(),
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

/// The chaos specs of the exported objects: plain ones and the
/// Workflow's.
fn specs(objects: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for o in objects {
        match o["kind"].as_str() {
            Some("NetworkChaos") => out.push(o["spec"].clone()),
            Some("Workflow") => out.extend(
                o["spec"]["templates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|t| t.get("networkChaos").cloned()),
            ),
            _ => {}
        }
    }
    out
}

fn hosts_of(selector: &Value) -> Vec<String> {
    if let Some(one) = selector["labelSelectors"][chaos_mesh::DEFAULT_LABEL].as_str() {
        return vec![one.to_owned()];
    }
    selector["expressionSelectors"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_step_of_the_vocabulary_exports_as_valid_objects_that_say_what_it_means() {
    for (step, then, check) in [
        ("impair n1->n2 delay 20ms", "clear", "n1 to n2"),
        ("impair n1<->n2 delay 20ms", "clear", "n1 both n2"),
        ("impair n1->* delay 20ms", "clear", "n1 to n2,n3,cli"),
        ("impair *->n2 delay 20ms", "clear", "n1 to n2"),
        ("impair * delay 20ms 5ms 25% loss 2% 10% duplicate 1% corrupt 0.1% reorder 25% 50% gap 5 rate 20mbit", "clear", ""),
        ("clear n1<->n2", "impair * loss 1%", ""),
        ("clear", "impair * loss 1%", ""),
        ("partition n1 | n2,n3", "heal", "cut n1 both n2,n3"),
        ("partition n1 | n2 | n3,cli", "heal", "cut n2 both n3,cli"),
        ("partition", "heal", "cut n1 both n2,n3,cli"),
        ("isolate n3", "heal", "cut n3 both n1,n2,cli"),
        ("oneway n1->n2", "heal", "cut n1 to n2"),
    ] {
        let plan = three_replicas(&[(1000, step), (2000, then)], &[]);
        let objects = export_valid(&plan);
        let workflows = objects.iter().filter(|o| o["kind"] == "Workflow").count();
        assert_eq!(workflows, 1, "{step}: a timeline is one Workflow");
        if check.is_empty() {
            continue;
        }
        let words: Vec<&str> = check.split(' ').collect();
        let (action, rest) = match words[0] {
            "cut" => ("partition", &words[1..]),
            _ => ("netem", &words[..]),
        };
        let want_from = vec![rest[0].to_owned()];
        let want_to: Vec<String> = rest[2].split(',').map(String::from).collect();
        let found = specs(&objects).into_iter().any(|s| {
            s["action"] == action
                && s["direction"] == rest[1]
                && hosts_of(&s["selector"]) == want_from
                && hosts_of(&s["target"]["selector"]) == want_to
                && s["mode"] == "all"
                && s["target"]["mode"] == "all"
        });
        assert!(found, "{step}: no {check} in {:#}", Value::Array(specs(&objects)));
    }
}

#[test]
fn per_pair_impairments_and_the_default_never_name_one_pair_twice() {
    let plan = three_replicas(&[], &["cli<->n3 delay 20ms", "n1->n2 loss 30%"]);
    let objects = export_valid(&plan);
    assert!(
        objects.iter().all(|o| o["kind"] == "NetworkChaos"),
        "no timeline: plain objects"
    );
    let mut pairs = Vec::new();
    for s in specs(&objects) {
        for f in hosts_of(&s["selector"]) {
            for t in hosts_of(&s["target"]["selector"]) {
                pairs.push(format!("{f}->{t}"));
                if s["direction"] == "both" {
                    pairs.push(format!("{t}->{f}"));
                }
            }
        }
    }
    pairs.sort();
    let all = pairs.len();
    pairs.dedup();
    assert_eq!((all, pairs.len()), (12, 12), "{pairs:?}");
}

/// Writes `text` as a scenario file and exports it with the command.
fn export_file(text: &str) -> std::process::Output {
    let dir = std::env::temp_dir().join(format!("badnet-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("s{}.toml", text.len()));
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_badnet"))
        .args(["export", "chaos-mesh"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    out
}

#[test]
fn what_chaos_mesh_cannot_express_is_refused_with_exit_2_naming_the_key_and_why() {
    for (keys, key, why) in [
        (
            "netem = \"delay 10ms 5ms distribution normal\"",
            "netem",
            "no distribution",
        ),
        (
            "netem = \"loss gemodel 1% 10%\"",
            "netem",
            "Gilbert-Elliott",
        ),
        (
            "netem = \"loss state 1% 10% 20% 30% 1%\"",
            "netem",
            "4-state",
        ),
        ("netem = \"limit 50\"", "netem", "queue of 50 packets"),
        ("seed = 7", "seed", "replayed"),
        (
            "renumber_after = \"1s\"",
            "renumber_after",
            "network plugin",
        ),
        ("at = [[\"1s\", \"renumber\"]]", "at", "network plugin"),
        (
            "at = [[\"1s\", \"down a\"], [\"2s\", \"up a\"]]",
            "at",
            "interface",
        ),
        (
            "at = [[\"1s\", \"delay 10ms 5ms distribution pareto\"]]",
            "at",
            "no distribution",
        ),
        (
            "messages = \"100/s\"\nduration = \"1s\"",
            "messages",
            "badnet itself",
        ),
    ] {
        let text = format!("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\n{keys}\n");
        let out = export_file(&text);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{keys}: {err}");
        assert!(out.stdout.is_empty(), "{keys}: nothing on stdout");
        assert!(err.contains(&format!(".toml:1: {key}")), "{keys}: {err}");
        assert!(err.contains(why), "{keys}: {err}");
    }
}

#[test]
fn the_probe_runs_as_a_job_in_the_client_pods_and_its_server_in_the_server_pods() {
    let out = export_file(
        "[[scenario]]\nname = \"u\"\ntransport = \"udp\"\nloss = \"10%\"\ncount = 300\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_norway::Deserializer::from_str(std::str::from_utf8(&out.stdout).unwrap())
            .map(|doc| Value::deserialize(doc).unwrap())
            .collect();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Service", "Deployment", "Job", "Workflow"]);
    let pod = &docs[2]["spec"]["template"];
    assert_eq!(pod["metadata"]["labels"][chaos_mesh::DEFAULT_LABEL], "a");
    let command: Vec<&str> = pod["spec"]["containers"][0]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(command[0], "/bin/udp-client");
    let joined = command.join(" ");
    assert!(
        joined.contains("--count 300") && joined.contains("--json"),
        "{joined}"
    );
    assert!(
        joined.contains(&format!(
            "--server {}",
            docs[0]["metadata"]["name"].as_str().unwrap()
        )),
        "{joined}"
    );
    assert_eq!(
        docs[1]["spec"]["template"]["metadata"]["labels"][chaos_mesh::DEFAULT_LABEL],
        "b"
    );
    assert_eq!(
        pod["spec"]["containers"][0]["image"],
        format!("badnet/services:{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_checker_refuses_what_chaos_mesh_refuses() {
    let plan = three_replicas(&[], &["n1<->n2 delay 20ms"]);
    let objects = export_valid(&plan);
    let both = objects
        .iter()
        .find(|o| o["spec"]["direction"] == "both")
        .unwrap()
        .clone();
    let doctored = |f: &dyn Fn(&mut Value)| {
        let mut o = both.clone();
        f(&mut o);
        problems(&o).join("; ")
    };
    for (what, f, says) in [
        (
            "a direction no enum has",
            &(|o: &mut Value| o["spec"]["direction"] = json!("sideways")) as &dyn Fn(&mut Value),
            "not one of",
        ),
        (
            "both without a target",
            &|o: &mut Value| {
                o["spec"].as_object_mut().unwrap().remove("target");
            },
            "targets is empty",
        ),
        (
            "a percent sign",
            &|o: &mut Value| o["spec"]["loss"] = json!({"loss": "10%"}),
            "ParseFloat",
        ),
        (
            "a latency below \"0ms\" as a string",
            &|o: &mut Value| o["spec"]["delay"]["latency"] = json!("0.5ms"),
            "above \"0ms\"",
        ),
        (
            "a latency without its unit",
            &|o: &mut Value| o["spec"]["delay"]["latency"] = json!("20"),
            "does not match",
        ),
        (
            "a field Chaos Mesh does not have",
            &|o: &mut Value| o["spec"]["limit"] = json!(50),
            "no such field",
        ),
        (
            "a mode no enum has",
            &|o: &mut Value| o["spec"]["target"]["mode"] = json!("every"),
            "not one of",
        ),
        (
            "a number where a string goes",
            &|o: &mut Value| o["spec"]["delay"]["latency"] = json!(20),
            "wrong type",
        ),
        (
            "a rate in no unit",
            &|o: &mut Value| o["spec"]["rate"] = json!({"rate": "20mb"}),
            "integer and one of",
        ),
    ] {
        let errs = doctored(f);
        assert!(errs.contains(says), "{what}: {errs:?}");
    }
    let timeline = export_valid(&three_replicas(
        &[(1000, "partition n1 | n2,n3"), (3000, "heal")],
        &[],
    ));
    let wf = timeline
        .iter()
        .find(|o| o["kind"] == "Workflow")
        .unwrap()
        .clone();
    let mut no_deadline = wf.clone();
    for t in no_deadline["spec"]["templates"].as_array_mut().unwrap() {
        if t["templateType"] == "Suspend" {
            t.as_object_mut().unwrap().remove("deadline");
        }
    }
    assert!(problems(&no_deadline)
        .join(";")
        .contains("Suspend needs a deadline"));
    let mut with_duration = wf;
    for t in with_duration["spec"]["templates"].as_array_mut().unwrap() {
        if t["templateType"] == "NetworkChaos" {
            t["networkChaos"]["duration"] = json!("5s");
        }
    }
    assert!(problems(&with_duration).join(";").contains("no duration"));
}

#[test]
fn bad_flags_are_refused_with_exit_2_naming_the_flag() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/udp.toml");
    for (flag, value) in [
        ("--label", "bad key!"),
        ("--label", "/host"),
        ("--namespace", "Shop"),
        ("--namespace", "-x"),
        ("--probe-delay", "0s"),
        ("--probe-delay", "soon"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_badnet"))
            .args(["export", "chaos-mesh", flag, value])
            .arg(&file)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(err.contains(flag), "{flag} {value}: {err}");
        assert!(out.stdout.is_empty());
    }
}

/// The fenced blocks of a Markdown file: (language, text).
fn blocks(markdown: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(lang)) => open = Some((lang.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => out.push(open.take().unwrap()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn the_books_worked_example_is_what_the_command_writes_and_it_is_valid() {
    let chapter = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/src/cluster.md");
    let blocks = blocks(&std::fs::read_to_string(chapter).unwrap());
    let at = blocks.iter().position(|(l, _)| l == "toml").unwrap();
    let scenario = &blocks[at].1;
    let shown = &blocks[at..].iter().find(|(l, _)| l == "yaml").unwrap().1;
    let dir = std::env::temp_dir().join(format!("badnet-book-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("replicas.toml");
    std::fs::write(&file, scenario).unwrap();
    // Its programs are the lecture's, found on PATH as after make install.
    let out = badnet_with_programs()
        .args(["export", "chaos-mesh", "--namespace", "shop"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written: String = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        &written, shown,
        "the chapter's YAML is not what the command writes"
    );
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&written)
        .map(|doc| Value::deserialize(doc).unwrap())
        .collect();
    for d in &docs {
        let errs = problems(d);
        assert!(errs.is_empty(), "{errs:#?}");
    }
}

#[test]
fn scenarios_whose_names_begin_alike_get_objects_named_apart() {
    let one = "[[scenario]]\nname = \"UDP through a lossy link, with a very long name: the first\"\ntransport = \"udp\"\nloss = \"5%\"\n";
    let two = one.replace("the first", "the second");
    let out = export_file(&format!("{one}\n{two}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let docs: Vec<Value> =
        serde_norway::Deserializer::from_str(std::str::from_utf8(&out.stdout).unwrap())
            .map(|doc| Value::deserialize(doc).unwrap())
            .collect();
    let mut names: Vec<&str> = docs
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 8, "{names:?}");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 8, "{names:?}");
    for d in &docs {
        assert!(problems(d).is_empty(), "{:?}", problems(d));
    }
}
