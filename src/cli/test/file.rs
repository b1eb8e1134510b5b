//! Scenario files, loaded and checked: `badnet run`s declared in TOML,
//! with what each must show.
//!
//! ```toml
//! [[scenario]]
//! name = "UDP loses datagrams and never resends them"
//! transport = "udp"            # or server = "…" and client = "…"
//! loss = "10%"                 # any flag of `badnet run`, _ for -
//! direction = "forward"
//! count = 3000
//! at = [["1s", "delay 50ms"], ["2s", "clear"]]
//!
//! [scenario.expect]
//! exit_code = 0                # your client's, or 0: the run completed
//! max_duration = "20s"
//! [scenario.expect.fields]     # paths into `badnet run --json`
//! lost = { proportion_of = "sent", expected = 0.10 }
//! "link.forward.dropped" = { equals_field = "lost" }
//! duplicates = 0
//! ```
//!
//! Every key of a scenario but `name` and `expect` is a flag of `badnet
//! run`, so a file means what the command line means and is checked by
//! the same rules. A file is refused whole, naming the file, the line and
//! the key, for an unknown key, a bad value or a missing field, before
//! any scenario runs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, FromArgMatches};
use serde::Deserialize;
use toml::Spanned;

use super::judge::FieldExpectation;
use crate::cli::run::RunArgs;
use crate::error::BadInput;
use crate::run::cluster::{Cluster, ClusterClient};
use crate::run::nodes::NodeSpec;
use crate::run::process::Ready;

/// One scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Declared {
    pub file: PathBuf,
    pub line: usize,
    pub name: String,
    pub args: RunArgs,
    /// The `badnet run` words it stands for (to reproduce it by hand);
    /// with hosts of its own, those of its network alone.
    pub argv: Vec<String>,
    /// Its hosts, their programs and its client, when it names hosts
    /// (`hosts = [...]`, `[[scenario.host]]`, `[scenario.client]`).
    pub cluster: Option<Cluster>,
    pub expect: Expect,
}

impl Declared {
    /// The request it stands for.
    pub fn request(&self) -> Result<crate::run::Request, BadInput> {
        match &self.cluster {
            None => self.args.request(),
            Some(c) => self.args.cluster_request(c.clone()),
        }
    }
}

/// What a scenario must show.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Your client's exit code; for the probes, 0 means the run completed.
    pub exit_code: i32,
    pub max_duration: Option<Duration>,
    pub fields: Vec<(String, FieldExpectation)>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    scenario: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
}

/// The same file read again for its tables alone (expectations, hosts,
/// client), so that their keys keep their places (a `toml::Value` keeps
/// none).
#[derive(Debug, Deserialize)]
struct TablesToml {
    scenario: Vec<ScenarioTablesToml>,
}

#[derive(Debug, Deserialize)]
struct ScenarioTablesToml {
    expect: Option<Spanned<ExpectToml>>,
    host: Option<Spanned<Vec<Spanned<HostToml>>>>,
    client: Option<Spanned<ClientKey>>,
}

/// A `[[scenario.host]]`: a host's program.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HostToml {
    name: Spanned<String>,
    run: Spanned<String>,
    ready: Option<Spanned<String>>,
    ready_port: Option<Spanned<u16>>,
    ready_timeout: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
}

/// `[scenario.client]`: the client of a scenario with hosts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientToml {
    host: Spanned<String>,
    run: Spanned<String>,
    timeout: Option<Spanned<String>>,
    image: Option<Spanned<String>>,
}

/// `client`: your client's command line (a flag of `badnet run`), or the
/// table of a scenario with hosts.
#[derive(Debug)]
enum ClientKey {
    Line,
    Table(ClientToml),
}

impl<'de> Deserialize<'de> for ClientKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = ClientKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command line, or a table of host, run and timeout")
            }
            fn visit_str<E>(self, _: &str) -> Result<ClientKey, E> {
                Ok(ClientKey::Line)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ClientKey, A::Error> {
                ClientToml::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(ClientKey::Table)
            }
        }
        d.deserialize_any(Either)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectToml {
    exit_code: Option<Spanned<i32>>,
    max_duration: Option<Spanned<String>>,
    #[serde(default)]
    fields: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldToml {
    equals: Option<toml::Value>,
    matches: Option<String>,
    min: Option<f64>,
    max: Option<f64>,
    equals_field: Option<String>,
    proportion_of: Option<String>,
    expected: Option<f64>,
    expected_in: Option<[f64; 2]>,
}

/// Where in a file: its name and the line of a byte offset.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count()
            + 1
    }

    fn bad(&self, offset: usize, key: &str, message: impl std::fmt::Display) -> BadInput {
        BadInput::new(
            format!("{}:{}: {key}", self.path.display(), self.line(offset)),
            message.to_string(),
        )
    }
}

/// The flags of `badnet run` a scenario may give, by key (`--ready-port`
/// is `ready_port`), and whether each is a switch.
fn run_flags() -> BTreeMap<String, bool> {
    let cmd = RunArgs::augment_args(clap::Command::new("run"));
    cmd.get_arguments()
        .filter_map(|a| {
            let long = a.get_long()?;
            let switch = matches!(a.get_action(), clap::ArgAction::SetTrue);
            Some((long.replace('-', "_"), switch))
        })
        .filter(|(k, _)| k != "json" && k != "help")
        .collect()
}

/// Reads and checks every scenario of `path`: all or nothing.
pub fn load(path: &Path) -> Result<Vec<Declared>, BadInput> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BadInput::new(path.display().to_string(), format!("cannot read it: {e}")))?;
    let src = Source { path, text: &text };
    let file: FileToml = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(1, |s| src.line(s.start));
        BadInput::new(
            format!("{}:{at}", path.display()),
            e.message().trim().to_owned(),
        )
    })?;
    let dir = folder_of(path);
    let flags = run_flags();
    let tables: TablesToml = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(1, |s| src.line(s.start));
        let key = e
            .span()
            .map(|s| &text[s.start..s.end.min(text.len())])
            .and_then(|t| t.lines().next())
            .unwrap_or("")
            .trim();
        BadInput::new(
            format!("{}:{at}: {key}", path.display()),
            e.message().trim().to_owned(),
        )
    })?;
    let mut out = Vec::new();
    for (table, t) in file.scenario.iter().zip(tables.scenario) {
        let mut d = declared(&src, &dir, &flags, table, t.host, t.client)?;
        if let Some(e) = t.expect {
            d.expect = expectations_of(&src, e)?;
        }
        out.push(d);
    }
    if out.is_empty() {
        return Err(BadInput::new(
            path.display().to_string(),
            "declares no [[scenario]]",
        ));
    }
    Ok(out)
}

/// The folder of the file at `path`, absolute, so that a command's `{dir}`
/// means the same from wherever it runs (the parent of `s.toml` is "": the
/// current folder).
fn folder_of(path: &Path) -> PathBuf {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir)
        .or_else(|_| std::path::absolute(dir))
        .unwrap_or_else(|_| dir.to_path_buf())
}

/// A scenario's table: its name, and the `badnet run` words its keys stand
/// for, parsed and checked as the command line would be.
fn declared(
    src: &Source,
    dir: &Path,
    flags: &BTreeMap<String, bool>,
    table: &Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    host: Option<Spanned<Vec<Spanned<HostToml>>>>,
    client: Option<Spanned<ClientKey>>,
) -> Result<Declared, BadInput> {
    let start = table.span().start;
    let mut name = None;
    let mut argv = vec!["run".to_owned()];
    // Which key gave each flag, to name it when the flag is refused.
    let mut origin: Vec<(String, usize)> = Vec::new();
    let mut names: Option<(Vec<String>, usize)> = None;
    let mut impairs: Vec<(String, usize)> = Vec::new();
    for (key, value) in table.get_ref() {
        let k = key.get_ref().as_str();
        let at = key.span().start;
        match (k, value.get_ref()) {
            ("hosts", toml::Value::Array(list)) => {
                let list = list
                    .iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| src.bad(at, k, "must be a list of host names"))?;
                names = Some((list, at));
                continue;
            }
            ("impair", toml::Value::Array(list)) => {
                for item in list {
                    let item = item.as_str().ok_or_else(|| {
                        src.bad(
                            at,
                            k,
                            "must be a list of 'PAIRS NETEM', e.g. [\"n1->n2 loss 20%\"]",
                        )
                    })?;
                    impairs.push((item.to_owned(), at));
                }
                continue;
            }
            ("host", _) => continue, // read with its places by `load`
            ("client", toml::Value::Table(_)) => continue,
            _ => {}
        }
        match k {
            "name" => {
                name = Some(
                    value
                        .get_ref()
                        .as_str()
                        .ok_or_else(|| src.bad(at, k, "must be a string"))?
                        .to_owned(),
                )
            }
            "expect" => {} // read with its places by `load`
            _ => {
                let flag = words(src, dir, flags, k, at, value.get_ref(), &mut argv)?;
                origin.push((flag, at));
            }
        }
    }
    let name = name.ok_or_else(|| src.bad(start, "name", "missing: every scenario has a name"))?;
    if names.is_none() {
        let bad = |at: usize, key: &str, m: &str| src.bad(at, key, format!("{name}: {m}"));
        if let Some(h) = &host {
            return Err(bad(
                h.span().start,
                "host",
                "a program per host needs the hosts: hosts = [\"n1\", \"n2\", ...]",
            ));
        }
        if let Some(c) = client
            .as_ref()
            .filter(|c| matches!(c.get_ref(), ClientKey::Table(_)))
        {
            return Err(bad(
                c.span().start,
                "client",
                "a [scenario.client] table needs the hosts: hosts = [\"n1\", ...]; your client alone is client = \"COMMAND\"",
            ));
        }
    }
    let mut pairs = Vec::new();
    if names.is_some() {
        // The run's network, without a transport of its own: the programs
        // bring theirs.
        if !argv.iter().any(|w| w == "udp" || w == "tcp") {
            argv.insert(1, "udp".into());
        }
        for (item, at) in &impairs {
            pairs.push(
                crate::run::many::parse_pair_impairment(item)
                    .map_err(|m| src.bad(*at, "impair", format!("{name}: {m}")))?,
            );
        }
    } else {
        for (item, at) in &impairs {
            argv.extend(["--impair".to_owned(), item.clone()]);
            origin.push(("--impair".into(), *at));
        }
    }
    let args = parse(src, start, &name, &argv, &origin, names.is_some())?;
    let client = match client {
        Some(c) => match c.into_inner() {
            ClientKey::Table(t) => Some(t),
            ClientKey::Line => None,
        },
        None => None,
    };
    let cluster = cluster(src, dir, &name, start, names, pairs, host, client, &args)?;
    Ok(Declared {
        file: src.path.to_path_buf(),
        line: src.line(start),
        name,
        args,
        argv,
        cluster,
        expect: Expect::default(),
    })
}

/// The hosts, their programs and the client of a scenario that names
/// hosts, checked as a run would check them: a refusal names the key and
/// its line (`hosts`, a `[[scenario.host]]`'s `name` or `run`, `client.host`,
/// `at`, `impair`).
#[allow(clippy::too_many_arguments)]
fn cluster(
    src: &Source,
    dir: &Path,
    scenario: &str,
    start: usize,
    names: Option<(Vec<String>, usize)>,
    pairs: Vec<(faults::Pairs, faults::Impairment)>,
    host: Option<Spanned<Vec<Spanned<HostToml>>>>,
    client: Option<ClientToml>,
    args: &RunArgs,
) -> Result<Option<Cluster>, BadInput> {
    let bad = |at: usize, key: &str, m: &dyn std::fmt::Display| {
        src.bad(at, key, format!("{scenario}: {m}"))
    };
    let Some((hosts, hosts_at)) = names else {
        return Ok(None);
    };
    let Some(client) = client else {
        return Err(bad(
            hosts_at,
            "client",
            &"a scenario with hosts has a client: [scenario.client] with host and run",
        ));
    };
    for (flag, why) in [
        (args.server.is_some(), "server"),
        (args.clients.is_some(), "clients"),
        (args.messages.is_some(), "messages"),
    ] {
        if flag {
            return Err(bad(
                hosts_at,
                why,
                &format!("a scenario with hosts runs its [[scenario.host]] programs and its [scenario.client]; {why} is for a run of two hosts"),
            ));
        }
    }
    let time = |v: &Option<Spanned<String>>, key: &str, default: Duration| match v {
        None => Ok(default),
        Some(t) => {
            crate::duration::parse_positive(t.get_ref()).map_err(|m| bad(t.span().start, key, &m))
        }
    };
    let fill_dir =
        |line: &str| crate::run::programs::substitute(line, "{dir}", &dir.display().to_string());
    let entries = host.map(Spanned::into_inner).unwrap_or_default();
    let mut nodes = Vec::new();
    for entry in &entries {
        let h = entry.get_ref();
        let ready = match (&h.ready, &h.ready_port) {
            (Some(_), Some(p)) => {
                return Err(bad(
                    p.span().start,
                    "ready_port",
                    &"give ready or ready_port, not both",
                ))
            }
            (Some(re), None) => Ready::Line(
                regex::Regex::new(re.get_ref()).map_err(|e| bad(re.span().start, "ready", &e))?,
            ),
            (None, Some(p)) => Ready::Port(*p.get_ref()),
            (None, None) => Ready::Now,
        };
        nodes.push(NodeSpec {
            host: h.name.get_ref().clone(),
            run: fill_dir(h.run.get_ref()),
            ready,
            ready_limit: time(&h.ready_timeout, "ready_timeout", args.ready_timeout)?,
            image: h.image.as_ref().map(|i| i.get_ref().clone()),
        });
    }
    let c = Cluster {
        hosts,
        pairs,
        nodes,
        client: ClusterClient {
            host: client.host.get_ref().clone(),
            run: fill_dir(client.run.get_ref()),
            limit: time(&client.timeout, "client.timeout", Duration::from_secs(60))?,
            image: client.image.as_ref().map(|i| i.get_ref().clone()),
        },
    };
    let scenario_of = args.scenario()?;
    c.check(&scenario_of).map_err(|e| {
        let (key, at) = match e.flag.as_str() {
            "client.host" => ("client.host".to_owned(), client.host.span().start),
            "client.run" => ("client.run".to_owned(), client.run.span().start),
            "client.image" => (
                "client.image".to_owned(),
                client.image.as_ref().map_or(start, |i| i.span().start),
            ),
            "at" | "--at" => ("at".to_owned(), key_at(src, start, "at")),
            "--impair" => ("impair".to_owned(), key_at(src, start, "impair")),
            "hosts" => ("hosts".to_owned(), hosts_at),
            flag => match flag.strip_prefix("host[").and_then(|f| f.split_once("].")) {
                Some((i, field)) => {
                    let entry = i.parse::<usize>().ok().and_then(|i| entries.get(i));
                    let at = entry.map_or(start, |h| {
                        let h = h.get_ref();
                        match field {
                            "run" => h.run.span().start,
                            "image" => h
                                .image
                                .as_ref()
                                .map_or(h.name.span().start, |i| i.span().start),
                            _ => h.name.span().start,
                        }
                    });
                    (format!("host.{field}"), at)
                }
                None => (flag.trim_start_matches('-').replace('-', "_"), start),
            },
        };
        bad(at, &key, &e.message)
    })?;
    Ok(Some(c))
}

/// Where the key `key` of the scenario table that begins at `start` is:
/// the first line from there that sets it (else the table's start).
fn key_at(src: &Source, start: usize, key: &str) -> usize {
    let mut offset = start;
    for line in src.text[start..].split_inclusive('\n') {
        let t = line.trim_start();
        if t.starts_with(key) && t[key.len()..].trim_start().starts_with('=') {
            return offset;
        }
        offset += line.len();
    }
    start
}

/// Appends to `argv` the words of key `k` (at `at`) with `value`; returns
/// the flag (or argument) it gave.
fn words(
    src: &Source,
    dir: &Path,
    flags: &BTreeMap<String, bool>,
    k: &str,
    at: usize,
    value: &toml::Value,
    argv: &mut Vec<String>,
) -> Result<String, BadInput> {
    match k {
        "transport" => {
            let t = value
                .as_str()
                .ok_or_else(|| src.bad(at, k, "must be \"udp\" or \"tcp\""))?;
            argv.push(t.to_owned());
            Ok("transport".into())
        }
        "at" => {
            let steps = value.as_array().ok_or_else(|| {
                src.bad(
                    at,
                    k,
                    "must be a list of [time, action] pairs, e.g. [[\"1s\", \"loss 100%\"]]",
                )
            })?;
            for step in steps {
                match step.as_array().map(Vec::as_slice) {
                    Some([toml::Value::String(t), toml::Value::String(a)]) => {
                        argv.extend(["--at".into(), t.clone(), a.clone()]);
                    }
                    _ => {
                        return Err(src.bad(
                            at,
                            k,
                            format!("{step} is not a [time, action] pair of strings"),
                        ))
                    }
                }
            }
            Ok("--at".into())
        }
        _ => {
            let Some(&switch) = flags.get(k) else {
                return Err(src.bad(
                    at,
                    k,
                    format!(
                        "unknown key; a scenario takes name, expect, at, transport and the flags of badnet run: {}",
                        flags.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                ));
            };
            let flag = format!("--{}", k.replace('_', "-"));
            match (switch, value) {
                (true, toml::Value::Boolean(true)) => argv.push(flag.clone()),
                (true, toml::Value::Boolean(false)) => {}
                (true, other) => {
                    return Err(src.bad(at, k, format!("must be true or false, not {other}")))
                }
                (false, toml::Value::String(s)) => {
                    let dir = dir.display().to_string();
                    // A program's line is split into words later: the
                    // folder must stay one word, spaces and quotes and all.
                    let s = match k {
                        "server" | "client" => crate::run::programs::substitute(s, "{dir}", &dir),
                        _ => s.replace("{dir}", &dir),
                    };
                    argv.extend([flag.clone(), s])
                }
                (false, toml::Value::Integer(i)) => argv.extend([flag.clone(), i.to_string()]),
                (false, toml::Value::Float(f)) => argv.extend([flag.clone(), f.to_string()]),
                (false, other) => {
                    return Err(src.bad(
                        at,
                        k,
                        format!("must be a string or a number, not {other}"),
                    ))
                }
            }
            Ok(flag)
        }
    }
}

/// `argv` parsed and checked by the same parser and checks as the command
/// line; a refusal names the flag, which names the key that gave it.
fn parse(
    src: &Source,
    start: usize,
    name: &str,
    argv: &[String],
    origin: &[(String, usize)],
    cluster: bool,
) -> Result<RunArgs, BadInput> {
    let blame = |message: String| {
        let (key, at) = blamed(&message, origin)
            .map_or(("(scenario)".to_owned(), start), |(f, at)| {
                (f.trim_start_matches('-').replace('-', "_"), *at)
            });
        src.bad(at, &key, format!("{name}: {message}"))
    };
    let mut cmd = RunArgs::augment_args(clap::Command::new("badnet run").no_binary_name(true));
    let matches = cmd.try_get_matches_from_mut(&argv[1..]).map_err(|e| {
        let first = e.to_string().lines().next().unwrap_or("").to_owned();
        blame(first.trim_start_matches("error: ").to_owned())
    })?;
    let args = RunArgs::from_arg_matches(&matches).map_err(|e| blame(e.to_string()))?;
    if cluster {
        // Its workload is checked with its hosts: the network's flags here.
        args.scenario().map_err(|e| blame(format!("{e:#}")))?;
    } else {
        args.check().map_err(|e| blame(format!("{e:#}")))?;
    }
    Ok(args)
}

/// The flag (and where its key is) that `message` names: a flag named
/// whole, not inside a longer one (`--client` is not in `--client-image`);
/// the longest if several are.
fn blamed<'a>(message: &str, origin: &'a [(String, usize)]) -> Option<&'a (String, usize)> {
    let message = message.to_lowercase();
    let part_of_a_name =
        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
    origin
        .iter()
        .filter(|(flag, _)| {
            let flag = flag.to_lowercase();
            message.match_indices(&flag).any(|(i, _)| {
                !part_of_a_name(message[..i].chars().next_back())
                    && !part_of_a_name(message[i + flag.len()..].chars().next())
            })
        })
        .max_by_key(|(flag, _)| flag.len())
}

fn expectations_of(src: &Source, e: Spanned<ExpectToml>) -> Result<Expect, BadInput> {
    let at = e.span().start;
    let e = e.into_inner();
    let mut out = Expect {
        exit_code: e.exit_code.map_or(0, Spanned::into_inner),
        ..Expect::default()
    };
    if let Some(d) = e.max_duration {
        out.max_duration = Some(
            crate::duration::parse_positive(d.get_ref())
                .map_err(|m| src.bad(d.span().start.max(at), "expect.max_duration", m))?,
        );
    }
    for (path, check) in e.fields {
        let key = format!("expect.fields.{}", path.get_ref());
        let at = path.span().start;
        out.fields.push((
            path.into_inner(),
            field_expectation(check.get_ref()).map_err(|m| src.bad(at, &key, m))?,
        ));
    }
    Ok(out)
}

fn field_expectation(value: &toml::Value) -> Result<FieldExpectation, String> {
    let toml::Value::Table(_) = value else {
        return Ok(FieldExpectation::Equals(to_json(value)));
    };
    let c: FieldToml = value.clone().try_into().map_err(|e: toml::de::Error| {
        format!(
            "{} (a check is a value, or a table of equals, matches, min, max, equals_field, or proportion_of with expected or expected_in)",
            e.message().trim()
        )
    })?;
    let given = [
        c.equals.is_some(),
        c.matches.is_some(),
        c.min.is_some() || c.max.is_some(),
        c.equals_field.is_some(),
        c.proportion_of.is_some(),
    ];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("give one of equals, matches, min/max, equals_field or proportion_of".into());
    }
    let unit = |p: f64| (0.0..=1.0).contains(&p);
    Ok(match c {
        FieldToml {
            equals: Some(v), ..
        } => FieldExpectation::Equals(to_json(&v)),
        FieldToml {
            matches: Some(re), ..
        } => {
            FieldExpectation::Matches(regex::Regex::new(&re).map_err(|e| format!("matches: {e}"))?)
        }
        FieldToml {
            equals_field: Some(f),
            ..
        } => FieldExpectation::EqualsField(f),
        FieldToml {
            proportion_of: Some(of),
            expected,
            expected_in,
            ..
        } => match (expected, expected_in) {
            (Some(p), None) if unit(p) => FieldExpectation::Proportion { of, expected: p },
            (None, Some([lo, hi])) if unit(lo) && unit(hi) && lo <= hi => {
                FieldExpectation::ProportionIn { of, lo, hi }
            }
            _ => {
                return Err(
                    "proportion_of needs expected = P or expected_in = [LO, HI], within 0..=1"
                        .into(),
                )
            }
        },
        FieldToml { min, max, .. } => {
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo > hi {
                    return Err(format!("min {lo} is above max {hi}"));
                }
            }
            FieldExpectation::Range { min, max }
        }
    })
}

fn to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` from a file `s.toml` in a directory of its own (tests
    /// run at once).
    fn load_text(text: &str) -> Result<Vec<Declared>, BadInput> {
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("badnet-scenario-{}-{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.toml");
        std::fs::write(&path, text).unwrap();
        let r = load(&path);
        std::fs::remove_dir_all(&dir).unwrap();
        r
    }

    #[test]
    fn a_scenario_is_a_badnet_run_and_its_expectations() {
        let s = load_text(
            r#"
[[scenario]]
name = "loss"
transport = "udp"
loss = "10%"
count = 300
samples = true
at = [["100ms", "loss 100%"], ["200ms", "clear"]]
[scenario.expect]
max_duration = "5s"
[scenario.expect.fields]
lost = { proportion_of = "sent", expected = 0.1 }
"link.forward.dropped" = { equals_field = "lost" }
duplicates = 0
"#,
        )
        .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(
            s[0].argv,
            [
                "run",
                "--at",
                "100ms",
                "loss 100%",
                "--at",
                "200ms",
                "clear",
                "--count",
                "300",
                "--loss",
                "10%",
                "--samples",
                "udp"
            ]
        );
        assert_eq!(s[0].line, 2);
        assert_eq!(s[0].expect.exit_code, 0);
        assert_eq!(s[0].expect.fields.len(), 3);
    }

    #[test]
    fn a_refusal_blames_the_flag_it_names_whole() {
        let origin = [("--client".to_owned(), 5), ("--client-image".to_owned(), 8)];
        for (message, flag) in [
            (
                "invalid --client-image: the image \"x\" is not here",
                "--client-image",
            ),
            ("invalid --client: names no program", "--client"),
            ("--client's image --client-image", "--client-image"),
        ] {
            assert_eq!(
                blamed(message, &origin).map(|(f, _)| f.as_str()),
                Some(flag),
                "{message}"
            );
        }
        assert_eq!(blamed("invalid --client-images", &origin), None);
    }

    #[test]
    fn the_folder_of_a_file_named_alone_is_the_current_one() {
        let here = std::fs::canonicalize(".").unwrap();
        assert_eq!(folder_of(Path::new("s.toml")), here);
        assert_eq!(folder_of(Path::new("./s.toml")), here);
        assert!(folder_of(Path::new("../s.toml")).is_absolute());
    }

    #[test]
    fn dir_is_the_files_folder_absolute_and_one_word_in_a_command() {
        let base = std::env::temp_dir().join(format!("badnet dir {}", std::process::id()));
        let dir = base.join("it's here");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("s.toml"),
            "[[scenario]]\nname = \"x\"\nserver = \"sh {dir}/srv.sh\"\nclient = \"sh -c 'cat {dir}/x'\"\n",
        )
        .unwrap();
        let s = load(&dir.join("s.toml")).unwrap();
        let abs = std::fs::canonicalize(&dir).unwrap().display().to_string();
        let server = crate::run::programs::split(&s[0].args.server.clone().unwrap(), "--server");
        assert_eq!(server.unwrap(), ["sh".to_owned(), format!("{abs}/srv.sh")]);
        let client = crate::run::programs::split(&s[0].args.client.clone().unwrap(), "--client");
        assert_eq!(
            client.unwrap(),
            ["sh".to_owned(), "-c".to_owned(), format!("cat {abs}/x")]
        );
        std::fs::remove_dir_all(&base).unwrap();
    }

    /// A scenario with hosts: three nodes and a client, as the issue of
    /// hosts in scenario files writes it, with `{EXTRA}` for more keys.
    const CLUSTER: &str = r#"[[scenario]]
name = "three replicas"
hosts = ["n1", "n2", "n3", "cli"]
loss = "1%"
impair = ["cli<->n3 delay 20ms"]
at = [["2s", "partition n1 | n2,n3"], ["5s", "heal"], ["6s", "kill n1"]]

[[scenario.host]]
name = "n1"
run = "sh -c 'exec sleep 60' {self} {peers}"
ready_port = 7000

[[scenario.host]]
name = "n2"
run = "sh -c 'exec sleep 60' {n1}"
ready = "listening"
ready_timeout = "3s"

[scenario.client]
host = "cli"
run = "sh -c 'exit 0' {n1} {n2} {n3}"
timeout = "20s"

[scenario.expect]
exit_code = 0
[scenario.expect.fields]
"phases.1.links.n1->n2.passed" = 0
"#;

    #[test]
    fn a_scenario_with_hosts_runs_their_programs_and_its_client() {
        let s = load_text(CLUSTER).unwrap();
        let c = s[0].cluster.as_ref().expect("a cluster");
        assert_eq!(c.hosts, ["n1", "n2", "n3", "cli"]);
        assert_eq!(c.pairs.len(), 1);
        assert_eq!(c.nodes.len(), 2);
        assert!(matches!(c.nodes[0].ready, Ready::Port(7000)));
        assert!(matches!(c.nodes[1].ready, Ready::Line(_)));
        assert_eq!(c.nodes[1].ready_limit, Duration::from_secs(3));
        assert_eq!(c.client.host, "cli");
        assert_eq!(c.client.limit, Duration::from_secs(20));
        assert!(s[0]
            .args
            .impairment
            .impairment()
            .unwrap()
            .to_string()
            .contains("loss random 1%"));
        let r = s[0].request().unwrap();
        assert_eq!(r.scenario.timeline.len(), 3);
    }

    #[test]
    fn bad_hosts_programs_and_steps_name_the_file_line_and_key() {
        for (from, to, line, key) in [
            // A host named twice.
            (
                r#"hosts = ["n1", "n2", "n3", "cli"]"#,
                r#"hosts = ["n1", "n2", "n1", "cli"]"#,
                3,
                "hosts",
            ),
            // A program for a host that does not exist.
            ("name = \"n2\"", "name = \"n9\"", 14, "host.name"),
            // Two programs for one host.
            ("name = \"n2\"", "name = \"n1\"", 14, "host.name"),
            // A client host that is not declared.
            ("host = \"cli\"", "host = \"client\"", 20, "client.host"),
            // A step naming an unknown host.
            ("partition n1 | n2,n3", "partition n1 | n2,n4", 6, "at"),
            // A process fault of a host that runs no program.
            ("kill n1", "kill n3", 6, "at"),
            // {name} of an unknown host in a command.
            ("{self} {peers}", "{self} {n7}", 10, "host.run"),
            ("{n1} {n2} {n3}", "{n1} {n2} {nine}", 21, "client.run"),
            // A per-pair impairment naming an unknown host.
            ("cli<->n3 delay 20ms", "cli<->n5 delay 20ms", 5, "impair"),
            // A key a host's table does not take.
            ("ready_port = 7000", "ready_prot = 7000", 11, "ready_prot"),
            (
                "ready_port = 7000",
                "ready_port = 7000\nready = \"x\"",
                11,
                "ready_port",
            ),
            (
                "timeout = \"20s\"",
                "timeout = \"soon\"",
                22,
                "client.timeout",
            ),
            (
                "run = \"sh -c 'exit 0' {n1} {n2} {n3}\"",
                "run = \"no-such-program-here\"",
                21,
                "client.run",
            ),
            // The hosts' tables without the hosts.
            (r#"hosts = ["n1", "n2", "n3", "cli"]"#, "", 8, "host"),
        ] {
            let text = CLUSTER.replacen(from, to, 1);
            assert_ne!(text, CLUSTER, "{from}");
            let e = load_text(&text).unwrap_err().to_string();
            assert!(e.contains(&format!("s.toml:{line}: {key}")), "{to}: {e}");
        }
    }

    #[test]
    fn unknown_keys_bad_values_and_missing_fields_name_the_file_line_and_key() {
        for (text, line, key) in [
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\nlose = \"5%\"\n", 4, "lose"),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\n\nloss = \"200%\"\n", 5, "loss"),
            ("[[scenario]]\ntransport = \"udp\"\ncount = 0\nname = \"x\"\n", 3, "count"),
            ("[[scenario]]\ntransport = \"udp\"\n", 1, "name"),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\nat = [[\"2s\", \"clear\"], [\"1s\", \"clear\"]]\n", 4, "at"),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\n[scenario.expect]\nexit_cod = 1\n", 5, "exit_cod"),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\n[scenario.expect.fields]\nlost = { min = 5, max = 1 }\n", 5, "expect.fields.lost"),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\n[scenario.expect.fields]\nlost = { proportion_of = \"sent\" }\n", 5, "expect.fields.lost"),
            ("[[scenario]]\nname = \"x\"\ntransport = \"carrier-pigeon\"\n", 3, "transport"),
            ("[[scenario]]\nname = \"x\"\nserver = \"sleep 1\"\nready = \"x\"\nclient = \"true\"\nready_timeout = \"0s\"\n", 6, "ready_timeout"),
            ("[[scenarios]]\nname = \"x\"\n", 1, ""),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\ncount = \n", 4, ""),
        ] {
            let e = load_text(text).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(&format!("s.toml:{line}")), "{text:?}: {shown}");
            assert!(shown.contains(key), "{text:?}: {shown}");
        }
    }
}
