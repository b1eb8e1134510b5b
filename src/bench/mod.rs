//! `badnet bench`: how fast the links are, how faithful the impairments,
//! how strong the servers, how long the runs take. Each section writes
//! `OUT/<section>.json`; `OUT/summary.md` puts them side by side with the
//! machine they ran on.
//!
//! Benchmarks, not tests: nothing here passes or fails on a number.

mod fidelity;
mod hosts;
mod measure;
mod servers;
mod suite;
mod throughput;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use faults::Backend;
use serde::Serialize;

use crate::machine::Machine;
use crate::progress::Progress;

/// A section of the benchmarks; they run in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Section {
    /// The wire against a plain veth pair: throughput and latency.
    Link,
    /// Configured against observed impairments.
    Fidelity,
    /// Our servers against the lecture's, and many clients held.
    Servers,
    /// Suite and demo wall times, runs side by side.
    Suite,
    /// Labs of 2 to 256 hosts built and removed (and Mininet's, where it
    /// is installed).
    Hosts,
}

impl Section {
    /// Every section, in order.
    pub const ALL: [Section; 5] = [
        Section::Link,
        Section::Fidelity,
        Section::Servers,
        Section::Suite,
        Section::Hosts,
    ];

    /// Its name, as in `--only` and the JSON file's name.
    pub fn name(self) -> &'static str {
        match self {
            Section::Link => "link",
            Section::Fidelity => "fidelity",
            Section::Servers => "servers",
            Section::Suite => "suite",
            Section::Hosts => "hosts",
        }
    }
}

/// What `badnet bench` was asked for.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    pub out: PathBuf,
    /// Shorter spans and fewer samples.
    pub quick: bool,
    /// Sections to run (all when empty).
    pub only: Vec<Section>,
    /// Concurrent TCP clients to hold.
    pub clients: usize,
}

/// Runs the sections and writes their JSON and the summary.
pub fn run(config: &BenchConfig) -> anyhow::Result<String> {
    let wanted = |s: &Section| config.only.is_empty() || config.only.contains(s);
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("creating {}", config.out.display()))?;
    let machine = Machine::here();
    write(&config.out, "machine", &machine)?;
    let mut md = format!("Machine: {machine}.\n");
    let fidelity_backend = match faults::netem_available() {
        Ok(()) => Backend::Netem,
        Err(_) => Backend::Wire,
    };
    let sections: Vec<Section> = Section::ALL.into_iter().filter(wanted).collect();
    let progress = Progress::new(sections.len());
    for section in sections {
        let name = section.name();
        eprintln!("bench: {name}");
        let start = Instant::now();
        match section {
            Section::Link => {
                let r = throughput::link(config.quick)?;
                write(&config.out, name, &r)?;
                md += &link_md(&r);
            }
            Section::Fidelity => {
                let r = fidelity::fidelity(fidelity_backend, config.quick)?;
                write(&config.out, name, &r)?;
                md += &fidelity_md(fidelity_backend, &r);
            }
            Section::Servers => {
                let r = servers::servers(config.quick, config.clients)?;
                write(&config.out, name, &r)?;
                md += &servers_md(&r);
            }
            Section::Suite => {
                let r = suite::suite(&config.out, config.quick)?;
                write(&config.out, name, &r)?;
                md += &suite_md(&config.out, &r);
            }
            Section::Hosts => {
                let r = hosts::hosts(config.quick)?;
                write(&config.out, name, &r)?;
                md += &hosts_md(&r);
            }
        }
        eprintln!("bench: {name} took {:.1} s", start.elapsed().as_secs_f64());
        progress.step(name);
    }
    std::fs::write(config.out.join("summary.md"), &md)?;
    Ok(md)
}

fn write(out: &Path, name: &str, value: &impl Serialize) -> anyhow::Result<()> {
    let path = out.join(format!("{name}.json"));
    let value = crate::run::rounded(serde_json::to_value(value)?);
    std::fs::write(&path, serde_json::to_string_pretty(&value)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn hosts_md(rows: &[hosts::HostsRow]) -> String {
    let mut md = String::from(
        "\n### Labs of many hosts: build and remove\n\n\
         | hosts | wire: build / remove | bridge: build / remove | Mininet: build, start, stop |\n\
         |---:|---:|---:|---:|\n",
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {:.2} / {:.2} s | {:.2} / {:.2} s | {} |",
            r.hosts,
            r.wire_build_s,
            r.wire_remove_s,
            r.bridge_build_s,
            r.bridge_remove_s,
            r.mininet_s
                .map_or("not installed".to_owned(), |s| format!("{s:.2} s"))
        );
    }
    md
}

fn link_md(r: &throughput::LinkBench) -> String {
    let mut md = String::from(
        "\n### The wire against a plain veth pair (no impairment)\n\n\
         | | veth | wire | wire / veth |\n|---|---:|---:|---:|\n",
    );
    let _ = writeln!(
        md,
        "| TCP, one stream | {:.0} MB/s | {:.0} MB/s | {:.2} |",
        r.veth.tcp_mb_s, r.wire.tcp_mb_s, r.tcp_ratio
    );
    let _ = writeln!(
        md,
        "| UDP, 64-byte payloads received | {:.0} k/s | {:.0} k/s | {:.2} |",
        r.veth.udp_received_pps / 1e3,
        r.wire.udp_received_pps / 1e3,
        r.udp_pps_ratio
    );
    let _ = writeln!(
        md,
        "| UDP round trip p50 / p99 | {:.0} / {:.0} us | {:.0} / {:.0} us | |",
        r.veth.rtt_us.p50, r.veth.rtt_us.p99, r.wire.rtt_us.p50, r.wire.rtt_us.p99
    );
    let _ = writeln!(
        md,
        "\nTCP is the median of {} rounds, veth and wire measured in alternation \
         (wire: {}). The wire adds {:.1} us per crossing at the median of {} round trips \
         ({:+.1} us at p99, where a shared machine's noise dominates).",
        r.wire.tcp_rounds_mb_s.len(),
        r.wire
            .tcp_rounds_mb_s
            .iter()
            .map(|x| format!("{x:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
            + " MB/s",
        r.added_one_way_us.p50,
        r.added_one_way_us.samples,
        r.added_one_way_us.p99,
    );
    md
}

fn fidelity_md(backend: Backend, r: &[fidelity::Fidelity]) -> String {
    let name = if backend == Backend::Netem {
        "netem"
    } else {
        "wire"
    };
    let mut md = format!(
        "\n### Impairment fidelity ({name}, {} datagrams per setting, 200 us apart)\n\n\
         | setting | property | configured | observed | error |\n|---|---|---:|---:|---:|\n",
        r.first().map_or(0, |f| f.sent)
    );
    // The worst error of each unit: points, ms, Mbit/s.
    let mut worst: Vec<(&str, f64, String)> = Vec::new();
    for f in r {
        for p in &f.properties {
            if p.configured == 0.0 && p.observed == 0.0 {
                continue;
            }
            let mark = match p.consistent {
                Some(false) => " (outside its 1e-6 interval)",
                _ => "",
            };
            let _ = writeln!(
                md,
                "| `{}` | {} | {:.3} {u} | {:.3} {u} | {:+.3} {u}{mark} |",
                f.spec,
                p.name,
                p.configured,
                p.observed,
                p.error,
                u = p.unit
            );
            let label = format!("{} of `{}`", p.name, f.spec);
            match worst.iter_mut().find(|w| w.0 == p.unit) {
                Some(w) if w.1.abs() >= p.error.abs() => {}
                Some(w) => *w = (p.unit, p.error, label),
                None => worst.push((p.unit, p.error, label)),
            }
        }
    }
    md += "\n";
    for (unit, e, label) in worst {
        let unit = if unit == "%" { "points" } else { unit };
        let _ = writeln!(md, "Worst error in {unit}: {e:+.3} ({label}).");
    }
    md
}

fn servers_md(r: &servers::ServerBench) -> String {
    let cell =
        |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.0} {unit}"));
    let mut md = String::from(
        "\n### Servers (loopback of one host)\n\n\
         | server | UDP echo, 64 B | TCP exchanges (connect, line, reply, close) | TCP echo stream |\n\
         |---|---:|---:|---:|\n",
    );
    for s in std::iter::once(&r.ours).chain(r.python.as_ref()) {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            s.server,
            cell(s.udp_echo_pps, "/s"),
            cell(s.tcp_exchanges_per_s, "/s"),
            cell(s.tcp_echo_mb_s, "MB/s"),
        );
    }
    let c = &r.clients;
    let _ = writeln!(
        md,
        "\nConcurrent TCP clients: {} of {} held and answering (opened in {:.1} s); server RSS {} KiB idle, \
         {} KiB with all held ({:.1} KiB per connection), {} KiB after they left; server threads: {}. \
         One more client's round trip meanwhile: p50 {:.0} us, p99 {:.0} us.",
        c.held,
        c.target,
        c.open_s,
        c.rss_idle_kib,
        c.rss_held_kib,
        c.kib_per_connection,
        c.rss_after_kib,
        c.threads,
        c.rtt_while_held_us.0,
        c.rtt_while_held_us.1,
    );
    md
}

fn suite_md(out: &Path, r: &suite::SuiteBench) -> String {
    let mut md = String::from("\n### Runs\n\n");
    if let Some(tests) = std::fs::read_to_string(out.join("tests.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    {
        let _ = writeln!(
            md,
            "The test suites (nextest, built beforehand): {:.0} s wall.\n",
            tests["wall_s"].as_f64().unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(md, "`badnet demo --quick`: {:.1} s.\n", r.demo_quick_s);
    md += "| scenarios at once | wall | scenarios/s | all passed, distinct runs |\n|---:|---:|---:|---|\n";
    for p in &r.parallel {
        let _ = writeln!(
            md,
            "| {} | {:.2} s | {:.2} | {} |",
            p.runs,
            p.wall_s,
            p.throughput,
            if p.all_passed { "yes" } else { "no" }
        );
    }
    md
}
