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

/// Loads every file (all are checked before anything runs), runs each
/// scenario in order, prints a line per scenario, and fails unless all
/// passed.
pub fn run(files: &[PathBuf], junit: Option<&Path>) -> anyhow::Result<()> {
    let mut scenarios = Vec::new();
    for file in files {
        scenarios.extend(file::load(file)?);
    }
    let progress = crate::progress::Progress::new(scenarios.len());
    let mut verdicts: Vec<Judged> = Vec::new();
    for s in &scenarios {
        let v = judge::judge(s);
        progress.println(&judge::line(&v));
        progress.step(&s.name);
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
