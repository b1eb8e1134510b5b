//! The `badnet` command line: one file per command, the flags they share
//! in `args`, and the one place where a failure becomes an exit code.

mod args;
mod doctor;
pub mod export;
mod fault;
mod guard;
mod lab;
mod mesh;
mod run;
mod share;
mod signals;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use faults::Direction;

pub use args::LinkArgs;
pub use run::RunArgs;

use crate::bench::{BenchConfig, Section};
use crate::demo::DemoConfig;
use crate::scenario::HostKind;

/// See, by measurement, what UDP and TCP do on a bad network.
#[derive(Debug, Parser)]
#[command(name = "badnet", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one transport over one bad network and report what it saw.
    Run(Box<RunArgs>),
    /// Every host of an N-host lab runs the server and probes every other
    /// at once: a matrix of what each pair delivered, what the switch
    /// counted per pair and per phase.
    Mesh(Box<mesh::MeshArgs>),
    /// UDP and TCP side by side on a ladder of bad networks: table, plots, pcaps.
    Demo {
        /// Where to write report.json, report.md, the plots and the pcaps.
        #[arg(long, allow_hyphen_values = true, default_value = "badnet-report", value_parser = args::out_dir)]
        out: PathBuf,
        #[command(flatten)]
        link: LinkArgs,
        /// What the hosts are: network namespaces, or containers (`make images` first).
        #[arg(long, allow_hyphen_values = true, value_enum, default_value_t = HostKind::Netns)]
        hosts: HostKind,
        /// Fewer probes and bytes.
        #[arg(long)]
        quick: bool,
        /// One run at a time instead of at once (slower; to compare).
        #[arg(long)]
        serial: bool,
    },
    /// Several flows through one bottleneck: N TCP flows and optionally a
    /// UDP flood, each flow's goodput over time, Jain's fairness index.
    Share(share::ShareArgs),
    /// Run the scenarios declared in TOML files, each with what it must
    /// show; one line per scenario, exit 0 only if all pass.
    Test {
        /// Scenario files (see tests/scenarios/ for examples).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Also write JUnit XML here, for CI.
        #[arg(long, allow_hyphen_values = true)]
        junit: Option<PathBuf>,
        /// Judge a report obtained elsewhere instead of running: the
        /// probe's JSON (e.g. `kubectl logs` of `badnet export`'s Job) or
        /// a saved `badnet run --json`, against the one scenario chosen.
        #[arg(long, value_name = "REPORT.json", allow_hyphen_values = true)]
        judge: Option<PathBuf>,
        /// Only the scenario of this name.
        #[arg(long, value_name = "NAME", allow_hyphen_values = true)]
        scenario: Option<String>,
        /// Also write each scenario's run (its JSON, what `badnet run
        /// --json` prints) into this folder, as N-NAME.json.
        #[arg(long, value_name = "DIR", allow_hyphen_values = true)]
        reports: Option<PathBuf>,
        /// Only load and check the files (every key, value, host and
        /// step), run nothing: exit 0 if they are valid, 2 if not.
        #[arg(long, conflicts_with_all = ["judge", "junit", "reports"])]
        check: bool,
    },
    /// A scenario file for another engine: `badnet export chaos-mesh
    /// FILE.toml…` writes Kubernetes YAML for Chaos Mesh.
    Export(export::ExportArgs),
    /// What this machine can do (root, netem, TUN, user namespaces, Docker), with remedies.
    Doctor {
        /// One JSON object with keys root, netem, tun, userns, docker.
        #[arg(long)]
        json: bool,
    },
    /// Remove what dead runs left behind (namespaces, links, processes).
    Cleanup,
    /// Benchmarks: the wire against veth, impairment fidelity, the servers
    /// against the lecture's, runs alone and side by side.
    Bench {
        /// Where to write `SECTION.json` and `summary.md`.
        #[arg(long, allow_hyphen_values = true, default_value = "target/bench", value_parser = args::out_dir)]
        out: PathBuf,
        /// Shorter spans, fewer samples.
        #[arg(long)]
        quick: bool,
        /// Only these sections (comma-separated; all by default).
        #[arg(long, allow_hyphen_values = true, value_enum, value_delimiter = ',')]
        only: Vec<Section>,
        /// Concurrent TCP clients to hold.
        #[arg(long, default_value_t = 10_000, allow_hyphen_values = true, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        clients: u32,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print badnet's manual page (roff), generated from these flags; with
    /// --dir, write one page per command there (badnet.1, badnet-run.1, ...).
    Manpage {
        /// Where to write the pages (a folder that is there).
        #[arg(long, allow_hyphen_values = true)]
        dir: Option<PathBuf>,
    },
    /// Build hosts on one switch (two by default: A and B), impair their
    /// links, print how to use them, and keep them until Ctrl-C or SIGTERM
    /// (or for --duration).
    Lab {
        /// How many hosts (2: A and B; more: h1 ... hN), or their names:
        /// n1,n2,n3.
        #[arg(long, allow_hyphen_values = true, default_value = "2")]
        hosts: args::HostsArg,
        #[command(flatten)]
        link: LinkArgs,
        /// netem arguments for every pair (with two hosts, for
        /// --direction), e.g. "delay 50ms 10ms loss 5%"; or PAIRS NETEM
        /// for some pairs: "h1->h2 loss 20%". Repeat it.
        #[arg(long, allow_hyphen_values = true, value_parser = lab::parse_impair)]
        impair: Vec<(Option<faults::Pairs>, faults::Impairment)>,
        /// With two hosts, which way an --impair without pairs applies:
        /// forward is A to B.
        #[arg(long, allow_hyphen_values = true, value_enum, default_value_t = Direction::Both)]
        direction: Direction,
        /// Keep the lab this long, then remove it (0s: build and remove at
        /// once); without it, until Ctrl-C or SIGTERM.
        #[arg(long, allow_hyphen_values = true, value_parser = services::cli::parse_duration)]
        duration: Option<std::time::Duration>,
        /// A program to run in a host while the lab is held: HOST=COMMAND,
        /// split as a shell would (never run through one); {NAME} is that
        /// host's address, {self} this host's, {peers} the others',
        /// {hosts} all. Repeat it.
        #[arg(long, allow_hyphen_values = true, value_name = "HOST=COMMAND")]
        run: Vec<String>,
        /// JSON lines: the hosts once built (run_id, hosts, build_s), each
        /// change made by badnet fault (step, at_ms), the links' counts,
        /// the programs and remove_s once removed.
        #[arg(long)]
        json: bool,
    },
    /// Change a lab that `badnet lab` holds, from another shell: a step of
    /// the timeline's vocabulary (partition n1 | n2,n3, heal, isolate n3,
    /// oneway n1->n2, impair PAIRS NETEM, clear, down n2, up n2, renumber
    /// n2), or a fault of a host's program (kill n2, stop n2, cont n2,
    /// restart n2). Prints when it took effect.
    Fault {
        /// The lab's run id (badnet lab prints it).
        run_id: String,
        /// The step.
        step: String,
    },
    /// The guard of a command's runs (started by badnet itself): sweeps
    /// them once that command has ended, if it left any.
    #[command(hide = true)]
    Guard {
        /// The command's PID.
        parent: u32,
    },
}

/// Runs the command line; the exit code follows the README: 0 done, 1 a
/// failure to run, 2 bad input.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // `badnet lab` waits for the signals itself, and reports as it removes.
    if !matches!(cli.command, Command::Lab { .. }) {
        if let Err(e) = signals::take() {
            eprintln!("badnet: taking SIGINT and SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    }
    services::cli::init_tracing();
    if !matches!(cli.command, Command::Guard { .. }) {
        guard::install();
    }
    let done = run(cli);
    signals::settle();
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("badnet: {e:#}");
            ExitCode::from(crate::error::exit_code(&e))
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Mesh(args) => mesh::run(&args),
        Command::Doctor { json } => doctor::run(json),
        Command::Test {
            files,
            scenario,
            check: true,
            ..
        } => test::check(&files, scenario.as_deref()),
        Command::Test {
            files,
            junit,
            judge,
            scenario,
            reports,
            check: false,
        } => test::run(
            &files,
            junit.as_deref(),
            judge.as_deref(),
            scenario.as_deref(),
            reports.as_deref(),
        ),
        Command::Share(args) => share::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Demo {
            out,
            link,
            hosts,
            quick,
            serial,
        } => demo(DemoConfig {
            out,
            backend: link.backend,
            seed: link.seed,
            hosts,
            quick,
            serial,
        }),
        Command::Bench {
            out,
            quick,
            only,
            clients,
        } => {
            let summary = crate::bench::run(&BenchConfig {
                out: out.clone(),
                quick,
                only,
                clients: clients as usize,
            })?;
            println!("{summary}");
            println!("Wrote {}/*.json and summary.md.", out.display());
            Ok(())
        }
        Command::Cleanup => cleanup(),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "badnet",
                &mut script,
            );
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            Ok(())
        }
        Command::Manpage { dir } => {
            if let Some(dir) = &dir {
                args::existing_dir(dir).map_err(|e| crate::error::BadInput::new("--dir", e))?;
            }
            let cmd = <Cli as clap::CommandFactory>::command();
            match dir {
                Some(dir) => clap_mangen::generate_to(cmd, dir)?,
                None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?,
            }
            Ok(())
        }
        Command::Lab {
            hosts,
            link,
            impair,
            direction,
            duration,
            run,
            json,
        } => lab::run(&lab::LabRequest {
            hosts,
            backend: link.backend,
            seed: link.seed,
            impair,
            direction,
            duration,
            run,
            json,
        }),
        Command::Fault { run_id, step } => fault::run(&run_id, &step),
        Command::Guard { parent } => guard::watch(parent),
    }
}

fn demo(cfg: DemoConfig) -> anyhow::Result<()> {
    let report = crate::demo::run(&cfg)?;
    println!("{}", crate::demo::table(&report));
    println!("{}\n", report.summary);
    println!(
        "Wrote {}/report.html, report.md, report.json, {}{} in {:.0} s.",
        cfg.out.display(),
        crate::demo::CHART_FILES
            .iter()
            .map(|c| c.file)
            .chain(report.mesh.as_ref().map(|_| crate::demo::MESH_FILE))
            .collect::<Vec<_>>()
            .join(", "),
        if cfg.hosts == HostKind::Netns {
            ", tcp.pcap, udp.pcap"
        } else {
            ""
        },
        report.duration_s
    );
    Ok(())
}

fn cleanup() -> anyhow::Result<()> {
    let mut removed = faults::sweep()?;
    removed.extend(
        crate::run::docker::sweep()?
            .into_iter()
            .map(|id| format!("container {id}")),
    );
    if removed.is_empty() {
        println!("nothing to clean up");
    }
    for name in removed {
        println!("removed {name}");
    }
    Ok(())
}
