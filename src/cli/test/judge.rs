//! Judging a scenario: its run's JSON against what the file expects.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::file::Declared;
use crate::verdict;

/// What one field of the run's JSON must hold (judged by
/// [`FieldExpectation::failure`]).
#[derive(Debug, Clone)]
pub enum FieldExpectation {
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
    /// [`crate::bounds::FALSE_FAILURE`]).
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

/// The value at a dotted path (`link.forward.dropped`, `phases.1.action`).
pub fn lookup<'a>(json: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(json, |v, part| match v {
        serde_json::Value::Array(items) => items.get(part.parse::<usize>().ok()?),
        _ => v.get(part),
    })
}

impl FieldExpectation {
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
                FieldExpectation::Equals(want) => {
                    let same = match (v.as_f64(), want.as_f64()) {
                        (Some(a), Some(b)) => a == b,
                        _ => v == want,
                    };
                    (!same).then(|| format!("{path} = {v}, expected {want}"))
                }
                FieldExpectation::Matches(re) => {
                    let text = v
                        .as_str()
                        .ok_or_else(|| format!("{path} = {v} is not a string"))?;
                    (!re.is_match(text)).then(|| format!("{path} = {v} does not match /{re}/"))
                }
                FieldExpectation::Range { min, max } => {
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
                FieldExpectation::EqualsField(other) => {
                    let w = lookup(json, other)
                        .ok_or_else(|| format!("{other} is not in the run's JSON"))?;
                    (v != w).then(|| format!("{path} = {v}, expected {other} = {w}"))
                }
                FieldExpectation::Proportion { of, .. }
                | FieldExpectation::ProportionIn { of, .. } => {
                    let (k, n) = (count(path)?, count(of)?);
                    if n == 0 || k > n {
                        return Err(format!("{path} = {k} of {of} = {n} is not a proportion"));
                    }
                    let c = match *self {
                        FieldExpectation::ProportionIn { lo, hi, .. } => {
                            verdict::proportion_in(path, k, n, lo, hi)
                        }
                        FieldExpectation::Proportion { expected, .. } => {
                            verdict::proportion(path, k, n, expected)
                        }
                        _ => unreachable!("a proportion"),
                    };
                    (!c.pass).then(|| format!("{path} / {of}: {}", c.detail))
                }
            })
        })();
        result.unwrap_or_else(Some)
    }
}

/// A scenario as judged: how its run went against what it expects.
#[derive(Debug, Clone)]
pub struct Judged {
    pub scenario: Declared,
    pub duration: Duration,
    /// Why it failed; empty when it passed.
    pub failures: Vec<String>,
    /// The run's JSON (null when it could not run).
    pub json: serde_json::Value,
}

impl Judged {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs `s` as `badnet run` would (the same request, the same JSON) and
/// judges it.
pub fn judge(s: &Declared) -> Judged {
    let start = Instant::now();
    let done = run(s);
    let duration = start.elapsed();
    let mut failures = Vec::new();
    let json = match done {
        Ok((json, client_failed, hosts_failed)) => {
            failures.extend(hosts_failed);
            failures.extend(exit_code(s, &json, client_failed));
            for (path, check) in &s.expect.fields {
                failures.extend(check.failure(&json, path));
            }
            json
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
    judged(s, duration, failures, json)
}

/// Judges `s` against a report obtained elsewhere (the probe's JSON from
/// a cluster's Job, or a saved `badnet run --json`): the same field
/// checks as a local run; the exit code is the report's client's (0 for a
/// probe's: it reported); `max_duration` bounds its `duration_s`, its own
/// measure of how long it ran.
pub fn judge_report(s: &Declared, json: serde_json::Value) -> Judged {
    let mut failures = Vec::new();
    let code = json["client"]["exit_code"].as_i64().unwrap_or(0);
    if code != i64::from(s.expect.exit_code) {
        failures.push(format!("exit code {code}, expected {}", s.expect.exit_code));
    }
    for (path, check) in &s.expect.fields {
        failures.extend(check.failure(&json, path));
    }
    let duration = json["duration_s"]
        .as_f64()
        .filter(|d| d.is_finite() && *d >= 0.0)
        .map_or(Duration::ZERO, Duration::from_secs_f64);
    judged(s, duration, failures, json)
}

/// The verdict of `s`, from the failures found so far and the limit on
/// its duration.
fn judged(
    s: &Declared,
    duration: Duration,
    mut failures: Vec<String>,
    json: serde_json::Value,
) -> Judged {
    if let Some(limit) = s.expect.max_duration {
        if duration > limit {
            failures.push(format!(
                "took {:.2} s, expected at most {:.2} s",
                duration.as_secs_f64(),
                limit.as_secs_f64()
            ));
        }
    }
    Judged {
        scenario: s.clone(),
        duration,
        failures,
        json,
    }
}

/// The run's JSON, and why your client counts as failed.
fn run(s: &Declared) -> anyhow::Result<(serde_json::Value, Option<String>, Vec<String>)> {
    let r = s.request()?;
    let outcome = crate::run::execute(&r)?;
    Ok((
        outcome.json(&r.scenario, &s.args.netem_args()),
        outcome.client_failed(),
        outcome.hosts_failed(),
    ))
}

/// Why the run's exit code is not the one expected: your client's, or 0
/// for a run that completed.
fn exit_code(
    s: &Declared,
    json: &serde_json::Value,
    client_failed: Option<String>,
) -> Option<String> {
    let code = if client_failed.is_none() {
        0
    } else {
        json["client"]["exit_code"]
            .as_i64()
            .map_or(-1, |c| c as i32)
    };
    (code != s.expect.exit_code).then(|| {
        format!(
            "exit code {}, expected {}{}",
            if code == -1 {
                "none (killed)".into()
            } else {
                code.to_string()
            },
            s.expect.exit_code,
            client_failed.map(|w| format!(" ({w})")).unwrap_or_default()
        )
    })
}

/// One line per scenario: pass or FAIL, where, what, how long, and why.
pub fn line(v: &Judged) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_expectations_pass_and_fail_as_stated() {
        let json = serde_json::json!({
            "sent": 1000, "lost": 100, "duplicates": 0, "intact": true,
            "link": {"forward": {"dropped": 100}}, "phases": [{"action": "start"}]
        });
        let pass = [
            (
                "lost",
                FieldExpectation::Proportion {
                    of: "sent".into(),
                    expected: 0.1,
                },
            ),
            (
                "lost",
                FieldExpectation::ProportionIn {
                    of: "sent".into(),
                    lo: 0.05,
                    hi: 0.2,
                },
            ),
            (
                "lost",
                FieldExpectation::Range {
                    min: Some(1.0),
                    max: None,
                },
            ),
            (
                "link.forward.dropped",
                FieldExpectation::EqualsField("lost".into()),
            ),
            ("intact", FieldExpectation::Equals(true.into())),
            ("duplicates", FieldExpectation::Equals(0.0.into())),
            ("phases.0.action", FieldExpectation::Equals("start".into())),
            (
                "phases.0.action",
                FieldExpectation::Matches(regex::Regex::new("^st").unwrap()),
            ),
        ];
        for (path, c) in &pass {
            assert_eq!(c.failure(&json, path), None, "{path} {c:?}");
        }
        let fail = [
            (
                "lost",
                FieldExpectation::Proportion {
                    of: "sent".into(),
                    expected: 0.2,
                },
            ),
            (
                "lost",
                FieldExpectation::ProportionIn {
                    of: "sent".into(),
                    lo: 0.2,
                    hi: 0.3,
                },
            ),
            (
                "lost",
                FieldExpectation::Range {
                    min: None,
                    max: Some(50.0),
                },
            ),
            ("duplicates", FieldExpectation::EqualsField("lost".into())),
            ("intact", FieldExpectation::Equals(false.into())),
            ("missing", FieldExpectation::Equals(0.into())),
            ("phases.3.action", FieldExpectation::Equals("start".into())),
            (
                "phases.0.action",
                FieldExpectation::Matches(regex::Regex::new("^x").unwrap()),
            ),
            (
                "lost",
                FieldExpectation::Matches(regex::Regex::new("1").unwrap()),
            ),
        ];
        for (path, c) in &fail {
            assert!(c.failure(&json, path).is_some(), "{path} {c:?}");
        }
    }
}
