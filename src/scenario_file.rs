//! Scenario files: `badnet run`s declared in TOML, with what each must
//! show (`badnet test FILE.toml…`).
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
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, FromArgMatches};
use serde::Deserialize;
use toml::Spanned;

use crate::bounds::{clopper_pearson, ProportionCheck, FALSE_FAILURE};
use crate::cli::RunArgs;
use crate::error::BadInput;

/// One scenario, ready to run.
#[derive(Debug, Clone)]
pub struct Declared {
    pub file: PathBuf,
    pub line: usize,
    pub name: String,
    pub args: RunArgs,
    /// The `badnet run` words it stands for (to reproduce it by hand).
    pub argv: Vec<String>,
    pub expect: Expect,
}

/// What a scenario must show.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Your client's exit code; for the probes, 0 means the run completed.
    pub exit_code: i32,
    pub max_duration: Option<Duration>,
    pub fields: Vec<(String, FieldCheck)>,
}

/// A check on one field of the run's JSON.
#[derive(Debug, Clone)]
pub enum FieldCheck {
    Equals(serde_json::Value),
    /// A string field matches this regular expression.
    Matches(regex::Regex),
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    EqualsField(String),
    /// The field, a count, is a binomial sample of the field `of`: its
    /// proportion must be consistent with `expected` (Clopper-Pearson at
    /// [`FALSE_FAILURE`]).
    Proportion {
        of: String,
        expected: f64,
    },
    /// As `Proportion`, with some proportion in `lo..=hi`.
    ProportionIn {
        of: String,
        lo: f64,
        hi: f64,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileToml {
    scenario: Vec<Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>>,
}

/// The same file read again for the expectations alone, so that their
/// keys keep their places (a `toml::Value` keeps none).
#[derive(Debug, Deserialize)]
struct ExpectationsToml {
    scenario: Vec<ScenarioExpectToml>,
}

#[derive(Debug, Deserialize)]
struct ScenarioExpectToml {
    expect: Option<Spanned<ExpectToml>>,
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
struct CheckToml {
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
    let dir = path.parent().unwrap_or(Path::new("."));
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let flags = run_flags();
    let expectations: ExpectationsToml = toml::from_str(&text).map_err(|e| {
        let at = e.span().map_or(1, |s| src.line(s.start));
        BadInput::new(
            format!("{}:{at}: expect", path.display()),
            e.message().trim().to_owned(),
        )
    })?;
    let mut out = Vec::new();
    for (table, e) in file.scenario.iter().zip(expectations.scenario) {
        let mut d = declared(&src, &dir, &flags, table)?;
        if let Some(e) = e.expect {
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

fn declared(
    src: &Source,
    dir: &Path,
    flags: &BTreeMap<String, bool>,
    table: &Spanned<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
) -> Result<Declared, BadInput> {
    let start = table.span().start;
    let mut name = None;
    let expect = Expect::default();
    let mut argv = vec!["run".to_owned()];
    // Which key gave each flag, to name it when the flag is refused.
    let mut origin: Vec<(String, usize)> = Vec::new();
    for (key, value) in table.get_ref() {
        let k = key.get_ref().as_str();
        let at = key.span().start;
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
            "transport" => {
                let t = value
                    .get_ref()
                    .as_str()
                    .ok_or_else(|| src.bad(at, k, "must be \"udp\" or \"tcp\""))?;
                argv.push(t.to_owned());
                origin.push(("transport".into(), at));
            }
            "at" => {
                let steps = value.get_ref().as_array().ok_or_else(|| {
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
                origin.push(("--at".into(), at));
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
                match (switch, value.get_ref()) {
                    (true, toml::Value::Boolean(true)) => argv.push(flag.clone()),
                    (true, toml::Value::Boolean(false)) => {}
                    (true, other) => {
                        return Err(src.bad(at, k, format!("must be true or false, not {other}")))
                    }
                    (false, toml::Value::String(s)) => {
                        argv.extend([flag.clone(), s.replace("{dir}", &dir.display().to_string())])
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
                origin.push((flag, at));
            }
        }
    }
    let name = name.ok_or_else(|| src.bad(start, "name", "missing: every scenario has a name"))?;
    // The same parser and checks as the command line; a refusal names the
    // flag, which names the key.
    let blame = |message: String| {
        let (key, at) = origin
            .iter()
            .find(|(flag, _)| message.to_lowercase().contains(&flag.to_lowercase()))
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
    args.check().map_err(|e| blame(format!("{e:#}")))?;
    Ok(Declared {
        file: src.path.to_path_buf(),
        line: src.line(start),
        name,
        args,
        argv,
        expect,
    })
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
            services::cli::parse_positive_duration(d.get_ref())
                .map_err(|m| src.bad(d.span().start.max(at), "expect.max_duration", m))?,
        );
    }
    for (path, check) in e.fields {
        let key = format!("expect.fields.{}", path.get_ref());
        let at = path.span().start;
        out.fields.push((
            path.into_inner(),
            field_check(check.get_ref()).map_err(|m| src.bad(at, &key, m))?,
        ));
    }
    Ok(out)
}

fn field_check(value: &toml::Value) -> Result<FieldCheck, String> {
    let toml::Value::Table(_) = value else {
        return Ok(FieldCheck::Equals(to_json(value)));
    };
    let c: CheckToml = value.clone().try_into().map_err(|e: toml::de::Error| {
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
        CheckToml {
            equals: Some(v), ..
        } => FieldCheck::Equals(to_json(&v)),
        CheckToml {
            matches: Some(re), ..
        } => FieldCheck::Matches(regex::Regex::new(&re).map_err(|e| format!("matches: {e}"))?),
        CheckToml {
            equals_field: Some(f),
            ..
        } => FieldCheck::EqualsField(f),
        CheckToml {
            proportion_of: Some(of),
            expected,
            expected_in,
            ..
        } => match (expected, expected_in) {
            (Some(p), None) if unit(p) => FieldCheck::Proportion { of, expected: p },
            (None, Some([lo, hi])) if unit(lo) && unit(hi) && lo <= hi => {
                FieldCheck::ProportionIn { of, lo, hi }
            }
            _ => {
                return Err(
                    "proportion_of needs expected = P or expected_in = [LO, HI], within 0..=1"
                        .into(),
                )
            }
        },
        CheckToml { min, max, .. } => {
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo > hi {
                    return Err(format!("min {lo} is above max {hi}"));
                }
            }
            FieldCheck::Range { min, max }
        }
    })
}

fn to_json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

/// The value at a dotted path (`link.forward.dropped`, `phases.1.action`).
pub fn lookup<'a>(json: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(json, |v, part| match v {
        serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => v.get(part),
    })
}

impl FieldCheck {
    /// Why `json` fails this check on `path`, or None when it passes.
    pub fn failure(&self, json: &serde_json::Value, path: &str) -> Option<String> {
        let Some(v) = lookup(json, path) else {
            return Some(format!("{path} is not in the run's JSON"));
        };
        let number = |v: &serde_json::Value, p: &str| {
            v.as_f64()
                .ok_or_else(|| format!("{p} = {v} is not a number"))
        };
        let count = |p: &str| {
            lookup(json, p)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("{p} is not a count in the run's JSON"))
        };
        let result: Result<Option<String>, String> = (|| {
            Ok(match self {
                FieldCheck::Equals(want) => {
                    let same = match (v.as_f64(), want.as_f64()) {
                        (Some(a), Some(b)) => a == b,
                        _ => v == want,
                    };
                    (!same).then(|| format!("{path} = {v}, expected {want}"))
                }
                FieldCheck::Matches(re) => {
                    let text = v
                        .as_str()
                        .ok_or_else(|| format!("{path} = {v} is not a string"))?;
                    (!re.is_match(text)).then(|| format!("{path} = {v} does not match /{re}/"))
                }
                FieldCheck::Range { min, max } => {
                    let x = number(v, path)?;
                    match (min, max) {
                        (Some(lo), _) if x < *lo => {
                            Some(format!("{path} = {x}, expected at least {lo}"))
                        }
                        (_, Some(hi)) if x > *hi => {
                            Some(format!("{path} = {x}, expected at most {hi}"))
                        }
                        _ => None,
                    }
                }
                FieldCheck::EqualsField(other) => {
                    let w = lookup(json, other)
                        .ok_or_else(|| format!("{other} is not in the run's JSON"))?;
                    (v != w).then(|| format!("{path} = {v}, expected {other} = {w}"))
                }
                FieldCheck::Proportion { of, expected } => {
                    let (k, n) = (count(path)?, count(of)?);
                    if n == 0 || k > n {
                        return Err(format!("{path} = {k} of {of} = {n} is not a proportion"));
                    }
                    let c = ProportionCheck::new(k, n, *expected);
                    (!c.pass).then(|| format!("{path} / {of}: {c}"))
                }
                FieldCheck::ProportionIn { of, lo, hi } => {
                    let (k, n) = (count(path)?, count(of)?);
                    if n == 0 || k > n {
                        return Err(format!("{path} = {k} of {of} = {n} is not a proportion"));
                    }
                    let (l, u) = clopper_pearson(k, n, FALSE_FAILURE);
                    (l > *hi || u < *lo).then(|| {
                        format!(
                            "{path} / {of} = {k} of {n}: interval {l:.4}..{u:.4} at false-failure {FALSE_FAILURE:e}, expected within {lo}..{hi}"
                        )
                    })
                }
            })
        })();
        result.unwrap_or_else(Some)
    }
}

/// What one scenario did.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub scenario: Declared,
    pub duration: Duration,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    /// The run's JSON (null when it could not run).
    pub json: serde_json::Value,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs `s` and judges it.
pub fn judge(s: &Declared) -> Verdict {
    let start = Instant::now();
    let done = crate::cli::execute(&s.args);
    let duration = start.elapsed();
    let mut failures = Vec::new();
    let json = match done {
        Ok(done) => {
            let code = if done.client_failed.is_none() {
                0
            } else {
                done.json["client"]["exit_code"]
                    .as_i64()
                    .map_or(-1, |c| c as i32)
            };
            if code != s.expect.exit_code {
                failures.push(format!(
                    "exit code {}, expected {}{}",
                    if code == -1 {
                        "none (killed)".into()
                    } else {
                        code.to_string()
                    },
                    s.expect.exit_code,
                    done.client_failed
                        .map(|w| format!(" ({w})"))
                        .unwrap_or_default()
                ));
            }
            for (path, check) in &s.expect.fields {
                failures.extend(check.failure(&done.json, path));
            }
            done.json
        }
        Err(e) => {
            if s.expect.exit_code == 0 || s.args.server.is_none() {
                failures.push(format!("the run failed: {e:#}"));
            } else {
                failures.push(format!(
                    "the run failed before the client could exit: {e:#}"
                ));
            }
            serde_json::Value::Null
        }
    };
    if let Some(limit) = s.expect.max_duration {
        if duration > limit {
            failures.push(format!(
                "took {:.2} s, expected at most {:.2} s",
                duration.as_secs_f64(),
                limit.as_secs_f64()
            ));
        }
    }
    Verdict {
        scenario: s.clone(),
        duration,
        failures,
        json,
    }
}

/// One line per scenario: pass or FAIL, where, what, how long, and why.
pub fn line(v: &Verdict) -> String {
    let mut s = format!(
        "{} {}:{} {} ({:.2} s)",
        if v.passed() { "pass" } else { "FAIL" },
        v.scenario.file.display(),
        v.scenario.line,
        v.scenario.name,
        v.duration.as_secs_f64()
    );
    if !v.passed() {
        let _ = write!(s, ": {}", v.failures.join("; "));
    }
    s
}

fn xml(text: &str) -> String {
    text.chars()
        .filter(|c| matches!(c, '\t' | '\n' | '\r') || *c >= ' ')
        .map(|c| match c {
            '&' => "&amp;".into(),
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '"' => "&quot;".into(),
            '\'' => "&apos;".into(),
            c => c.to_string(),
        })
        .collect()
}

/// JUnit XML of `verdicts`: one testsuite per file, one testcase per
/// scenario, a failure element with the reasons, the command that
/// reproduces it and the run's JSON as system-out.
pub fn junit(verdicts: &[Verdict]) -> String {
    let mut files: Vec<&Path> = verdicts.iter().map(|v| v.scenario.file.as_path()).collect();
    files.dedup();
    let failed = verdicts.iter().filter(|v| !v.passed()).count();
    let total: f64 = verdicts.iter().map(|v| v.duration.as_secs_f64()).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"badnet test\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{total:.3}\">\n",
        verdicts.len()
    );
    for file in files {
        let of: Vec<&Verdict> = verdicts
            .iter()
            .filter(|v| v.scenario.file == file)
            .collect();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
            xml(&file.display().to_string()),
            of.len(),
            of.iter().filter(|v| !v.passed()).count(),
            of.iter().map(|v| v.duration.as_secs_f64()).sum::<f64>()
        );
        for v in of {
            let _ = write!(
                s,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
                xml(&v.scenario.name),
                xml(&file.display().to_string()),
                v.duration.as_secs_f64()
            );
            if !v.passed() {
                let _ = write!(
                    s,
                    "\n      <failure message=\"{}\">badnet {}</failure>\n    ",
                    xml(&v.failures.join("; ")),
                    xml(&v.scenario.argv.join(" "))
                );
            }
            let _ = writeln!(
                s,
                "<system-out>{}</system-out></testcase>",
                xml(&v.json.to_string())
            );
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Vec<Declared>, BadInput> {
        let dir = std::env::temp_dir().join(format!("badnet-scenario-{}", std::process::id()));
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
            ("[[scenarios]]\nname = \"x\"\n", 1, ""),
            ("[[scenario]]\nname = \"x\"\ntransport = \"udp\"\ncount = \n", 4, ""),
        ] {
            let e = load_text(text).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(&format!("s.toml:{line}")), "{text:?}: {shown}");
            assert!(shown.contains(key), "{text:?}: {shown}");
        }
    }

    #[test]
    fn field_checks_pass_and_fail_as_stated() {
        let json = serde_json::json!({
            "sent": 1000, "lost": 100, "duplicates": 0, "intact": true,
            "link": {"forward": {"dropped": 100}}, "phases": [{"action": "start"}]
        });
        let pass = [
            (
                "lost",
                FieldCheck::Proportion {
                    of: "sent".into(),
                    expected: 0.1,
                },
            ),
            (
                "lost",
                FieldCheck::ProportionIn {
                    of: "sent".into(),
                    lo: 0.05,
                    hi: 0.2,
                },
            ),
            (
                "lost",
                FieldCheck::Range {
                    min: Some(1.0),
                    max: None,
                },
            ),
            (
                "link.forward.dropped",
                FieldCheck::EqualsField("lost".into()),
            ),
            ("intact", FieldCheck::Equals(true.into())),
            ("duplicates", FieldCheck::Equals(0.0.into())),
            ("phases.0.action", FieldCheck::Equals("start".into())),
            (
                "phases.0.action",
                FieldCheck::Matches(regex::Regex::new("^st").unwrap()),
            ),
        ];
        for (path, c) in &pass {
            assert_eq!(c.failure(&json, path), None, "{path} {c:?}");
        }
        let fail = [
            (
                "lost",
                FieldCheck::Proportion {
                    of: "sent".into(),
                    expected: 0.2,
                },
            ),
            (
                "lost",
                FieldCheck::ProportionIn {
                    of: "sent".into(),
                    lo: 0.2,
                    hi: 0.3,
                },
            ),
            (
                "lost",
                FieldCheck::Range {
                    min: None,
                    max: Some(50.0),
                },
            ),
            ("duplicates", FieldCheck::EqualsField("lost".into())),
            ("intact", FieldCheck::Equals(false.into())),
            ("missing", FieldCheck::Equals(0.into())),
            ("phases.3.action", FieldCheck::Equals("start".into())),
            (
                "phases.0.action",
                FieldCheck::Matches(regex::Regex::new("^x").unwrap()),
            ),
            ("lost", FieldCheck::Matches(regex::Regex::new("1").unwrap())),
        ];
        for (path, c) in &fail {
            assert!(c.failure(&json, path).is_some(), "{path} {c:?}");
        }
    }

    #[test]
    fn junit_escapes_and_counts() {
        let s = Declared {
            file: "a.toml".into(),
            line: 1,
            name: "<x> & \"y\"".into(),
            args: RunArgs::from_arg_matches(
                &RunArgs::augment_args(clap::Command::new("r").no_binary_name(true))
                    .try_get_matches_from(["udp"])
                    .unwrap(),
            )
            .unwrap(),
            argv: vec!["run".into(), "udp".into()],
            expect: Expect::default(),
        };
        let v = [
            Verdict {
                scenario: s.clone(),
                duration: Duration::from_millis(1500),
                failures: vec![],
                json: serde_json::json!({}),
            },
            Verdict {
                scenario: s,
                duration: Duration::from_millis(500),
                failures: vec!["lost = 0 < 1".into()],
                json: serde_json::Value::Null,
            },
        ];
        let x = junit(&v);
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(x.contains("&lt;x&gt; &amp; &quot;y&quot;"), "{x}");
        assert!(
            x.contains("<failure message=\"lost = 0 &lt; 1\">badnet run udp</failure>"),
            "{x}"
        );
    }
}
