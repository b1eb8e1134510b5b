//! How long the suite's runs take, alone and side by side.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

/// Wall time of `badnet demo --quick`, and of N scenarios run at once.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteBench {
    pub demo_quick_s: f64,
    /// One entry per degree of parallelism.
    pub parallel: Vec<Parallel>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Parallel {
    /// Scenarios started at once (each: UDP, loss 10% both ways, 1000
    /// probes 1 ms apart, its own lab).
    pub runs: usize,
    pub wall_s: f64,
    /// Scenarios per second.
    pub throughput: f64,
    /// Whether every run exited 0 with a distinct run id.
    pub all_passed: bool,
}

pub fn suite(out: &Path, quick: bool) -> anyhow::Result<SuiteBench> {
    let exe = std::env::current_exe()?;
    eprintln!("  badnet demo --quick");
    let start = Instant::now();
    let demo = Command::new(&exe)
        .args(["demo", "--quick", "--out"])
        .arg(out.join("demo-quick"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("running badnet demo --quick")?;
    anyhow::ensure!(demo.success(), "badnet demo --quick failed: {demo}");
    let demo_quick_s = start.elapsed().as_secs_f64();
    let degrees: &[usize] = if quick { &[1, 4] } else { &[1, 2, 4, 8, 16] };
    let mut parallel = Vec::new();
    for &runs in degrees {
        eprintln!("  {runs} scenario(s) at once");
        let start = Instant::now();
        let children = (0..runs)
            .map(|_| {
                Command::new(&exe)
                    .args([
                        "run",
                        "udp",
                        "--loss",
                        "10%",
                        "--count",
                        "1000",
                        "--interval",
                        "1ms",
                        "--json",
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ids = Vec::new();
        let mut all_passed = true;
        for child in children {
            let out = child.wait_with_output()?;
            all_passed &= out.status.success();
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            ids.push(report["run_id"].as_str().unwrap_or("").to_owned());
        }
        let wall_s = start.elapsed().as_secs_f64();
        ids.sort();
        ids.dedup();
        all_passed &= ids.len() == runs && ids.iter().all(|id| !id.is_empty());
        parallel.push(Parallel {
            runs,
            wall_s,
            throughput: runs as f64 / wall_s,
            all_passed,
        });
    }
    Ok(SuiteBench {
        demo_quick_s,
        parallel,
    })
}
