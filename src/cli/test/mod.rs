//! `badnet test FILE.toml…`: declared scenarios, one line each, pass or
//! FAIL with the reason; JUnit XML for CI.
//!
//! - `file`: scenario files, loaded and checked (each scenario is the
//!   flags of a `badnet run`).
//! - `judge`: a scenario's run against its expectations.
//! - `junit`: the JUnit XML of the judged scenarios.

pub(crate) mod file;
mod judge;
mod junit;

use std::path::{Path, PathBuf};

use judge::Judged;

use crate::error::BadInput;

/// Loads every file (all are checked before anything runs), keeps the
/// scenario named `only` if given, runs each scenario in order (or, with
/// `report`, judges the one scenario against that report instead of
/// running it), prints a line per scenario, and fails unless all passed.
pub fn run(
    files: &[PathBuf],
    junit: Option<&Path>,
    report: Option<&Path>,
    only: Option<&str>,
    reports: Option<&Path>,
) -> anyhow::Result<()> {
    let mut scenarios = Vec::new();
    for file in files {
        scenarios.extend(file::load(file)?);
    }
    if let Some(path) = junit {
        junit::check_writable(path)?;
    }
    if let Some(dir) = reports {
        std::fs::create_dir_all(dir)
            .and_then(|()| tempfile_in(dir))
            .map_err(|e| {
                BadInput::new(
                    "--reports",
                    format!("{}: cannot write there: {e}", dir.display()),
                )
            })?;
    }
    if let Some(name) = only {
        let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        scenarios.retain(|s| s.name == name);
        if scenarios.is_empty() {
            return Err(BadInput::new(
                "--scenario",
                format!(
                    "no scenario is named {name:?}; the files hold: {}",
                    names.join("; ")
                ),
            )
            .into());
        }
    }
    let report = match report {
        None => None,
        Some(path) => {
            if scenarios.len() != 1 {
                return Err(BadInput::new(
                    "--judge",
                    format!(
                        "a report is one run: the files hold {} scenarios; choose one with --scenario NAME",
                        scenarios.len()
                    ),
                )
                .into());
            }
            Some(read_report(path)?)
        }
    };
    let progress = crate::progress::Progress::new(scenarios.len());
    let mut verdicts: Vec<Judged> = Vec::new();
    for s in &scenarios {
        let v = match &report {
            Some(json) => judge::judge_report(s, json.clone()),
            None => judge::judge(s),
        };
        progress.println(&judge::line(&v));
        progress.step(&s.name);
        if let Some(dir) = reports {
            let path = dir.join(format!("{}-{}.json", verdicts.len() + 1, slug(&s.name)));
            std::fs::write(&path, format!("{:#}\n", v.json))
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        verdicts.push(v);
    }
    drop(progress);
    if let Some(path) = junit {
        std::fs::write(path, junit::junit(&verdicts))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    let failed = verdicts.iter().filter(|v| !v.passed()).count();
    println!(
        "{} of {} scenarios passed{}",
        verdicts.len() - failed,
        verdicts.len(),
        junit.map_or(String::new(), |p| format!("; JUnit XML in {}", p.display()))
    );
    if failed > 0 {
        anyhow::bail!("{failed} of {} scenarios failed", verdicts.len());
    }
    Ok(())
}

/// Loads and checks every file, runs nothing: a line saying how many
/// scenarios are valid, or the first refusal (bad input).
pub fn check(files: &[PathBuf], only: Option<&str>) -> anyhow::Result<()> {
    let mut scenarios = Vec::new();
    for file in files {
        scenarios.extend(file::load(file)?);
    }
    if let Some(name) = only {
        if !scenarios.iter().any(|s| s.name == name) {
            return Err(
                BadInput::new("--scenario", format!("no scenario is named {name:?}")).into(),
            );
        }
    }
    for s in &scenarios {
        // The request's own checks: programs found, timelines playable.
        s.request()?;
    }
    println!(
        "{} scenarios in {} files are valid",
        scenarios.len(),
        files.len()
    );
    Ok(())
}

/// A report: a JSON object, or the last line of a log that is one (what
/// `kubectl logs` gives for the probe's Job).
fn read_report(path: &Path) -> Result<serde_json::Value, BadInput> {
    let bad = |why: String| BadInput::new("--judge", format!("{}: {why}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_str(&text) {
        return Ok(v);
    }
    text.lines()
        .rev()
        .find_map(|l| match serde_json::from_str(l.trim()) {
            Ok(v @ serde_json::Value::Object(_)) => Some(v),
            _ => None,
        })
        .ok_or_else(|| bad("holds no JSON object (the probe's --json report)".into()))
}

/// Whether a file can be made in `dir` (made and removed again).
fn tempfile_in(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".badnet-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// A scenario's name as a file name: letters and digits, the rest `-`.
fn slug(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    s.chars().take(60).collect()
}
