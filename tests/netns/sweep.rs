//! Every flag of every command, given bad values, generated from the
//! commands' own definitions (`Cli::command()`): a flag added tomorrow is
//! swept without anyone listing it. Each bad value is either accepted or
//! refused with exit code 2 and a message naming its flag, before anything
//! is built; never exit 1, never a panic.
//!
//! Most refusals happen in clap, and are checked in-process. A command
//! line that clap accepts is run, several at once, with `BADNET_KEEP=1`
//! (a lab it built stays, with its run record): it must exit 0, exit 2
//! naming the flag with no run recorded, or still be running at a short
//! bound (accepted; then killed). What the accepted runs kept is swept at
//! the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, Command, CommandFactory};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::*;

/// Bad values of every kind: negative, zero, huge, empty, garbage, a
/// wrong unit, a time out of range.
const BAD: &[&str] = &[
    "-1",
    "-1s",
    "0",
    "99999999999999999999",
    "99999h",
    "",
    "garbage ; x",
    "5parsecs",
    "1e999",
];

/// How long an accepted command line may run before it is killed. A
/// refusal comes within milliseconds (a Docker engine's answer within a
/// few hundred); what runs longer was accepted (an `--out` folder named
/// `0`), and past this it only loads the machine: the 25 such lines ran
/// a demo, a bench or scenarios each, 12.2 s for the sweep at 1.5 s.
const BOUND: Duration = Duration::from_millis(600);
/// Command lines run at once.
const AT_ONCE: usize = 16;

/// What each command needs besides the swept flag, to run briefly: groups
/// of arguments, each named by its flag (or positional's id), dropped when
/// that flag is the one swept or the one it conflicts with.
fn base(command: &str, scenario: &str) -> Vec<(String, Vec<String>)> {
    let g = |id: &str, args: &[&str]| {
        (
            id.to_owned(),
            args.iter().map(|a| (*a).to_owned()).collect(),
        )
    };
    match command {
        "run" => vec![
            g("transport", &["udp"]),
            g("count", &["--count", "1"]),
            g("timeout", &["--timeout", "200ms"]),
        ],
        "mesh" => vec![g("hosts", &["--hosts", "2"]), g("count", &["--count", "1"])],
        "share" => vec![g("duration", &["--duration", "200ms"])],
        "lab" => vec![g("duration", &["--duration", "0s"])],
        "demo" => vec![g("quick", &["--quick"])],
        "bench" => vec![
            g("quick", &["--quick"]),
            g("only", &["--only", "link"]),
            g("clients", &["--clients", "1"]),
        ],
        "test" => vec![g("files", &[scenario])],
        "export" => vec![g("engine", &["chaos-mesh"]), g("files", &[scenario])],
        "fault" => vec![g("run_id", &["ffffff"]), g("step", &["heal"])],
        "completions" => vec![g("shell", &["bash"])],
        _ => Vec::new(),
    }
}

/// A good value for a flag that the swept one requires.
fn good(arg: &Arg) -> String {
    let known: HashMap<&str, &str> = [
        ("server", "sleep 30"),
        ("client", "true"),
        ("partition_after", "10ms"),
        ("partition_for", "10ms"),
        ("messages", "10/s"),
        ("duration", "100ms"),
    ]
    .into();
    if let Some(v) = known.get(arg.get_id().as_str()) {
        return (*v).to_owned();
    }
    if let Some(v) = arg.get_default_values().first() {
        return v.to_string_lossy().into_owned();
    }
    arg.get_possible_values()
        .first()
        .map_or("1".to_owned(), |p| p.get_name().to_owned())
}

/// One bad value of one flag, as a command line.
struct Case {
    flag: String,
    argv: Vec<String>,
}

/// The flags that take a value, per command (nested subcommands included).
fn flags(cmd: &Command, path: &[String], out: &mut Vec<(Vec<String>, Command, Arg)>) {
    for sub in cmd.get_subcommands() {
        let mut p = path.to_vec();
        p.push(sub.get_name().to_owned());
        for arg in sub.get_arguments() {
            if arg.get_long().is_some() && arg.get_action().takes_values() {
                out.push((p.clone(), sub.clone(), arg.clone()));
            }
        }
        flags(sub, &p, out);
    }
}

/// The command line of `value` for `arg` of `sub`: its base, the flag and
/// value (repeated for a flag of several values), and what the flag
/// requires, found by asking clap; or clap's refusal.
fn case(path: &[String], sub: &Command, arg: &Arg, value: &str, scenario: &str) -> Case {
    let long = format!("--{}", arg.get_long().unwrap());
    let n = arg.get_num_args().map_or(1, |r| r.min_values().max(1));
    let mut groups = base(path.last().unwrap(), scenario);
    groups.retain(|(id, _)| id != arg.get_id().as_str());
    let mut swept = vec![long.clone()];
    swept.extend(std::iter::repeat(value.to_owned()).take(n));
    let argv = |groups: &[(String, Vec<String>)]| {
        let mut v = vec!["badnet".to_owned()];
        v.extend(path.iter().cloned());
        v.extend(groups.iter().flat_map(|(_, a)| a.iter().cloned()));
        v.extend(swept.iter().cloned());
        v
    };
    for _ in 0..8 {
        let Err(e) = badnet::cli::Cli::command().try_get_matches_from(argv(&groups)) else {
            break;
        };
        let named = |kind| match e.get(kind) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(s)) => s.clone(),
            _ => Vec::new(),
        };
        match e.kind() {
            ErrorKind::MissingRequiredArgument => {
                for missing in named(ContextKind::InvalidArg) {
                    let Some(req) = sub.get_arguments().find(|a| {
                        a.get_long().is_some_and(|l| {
                            missing.starts_with(&format!("--{l} ")) || missing == format!("--{l}")
                        })
                    }) else {
                        break;
                    };
                    groups.push((
                        req.get_id().to_string(),
                        vec![format!("--{}", req.get_long().unwrap()), good(req)],
                    ));
                }
            }
            ErrorKind::ArgumentConflict => {
                let mut prior = named(ContextKind::PriorArg);
                prior.extend(named(ContextKind::InvalidArg));
                let prior = prior.join(" ").to_lowercase();
                let before = groups.len();
                groups.retain(|(id, a)| {
                    !(a.first()
                        .is_some_and(|f| f.starts_with("--") && prior.contains(f.as_str()))
                        || prior.contains(&format!("[{id}]"))
                        || prior.contains(&format!("<{id}>")))
                });
                if groups.len() == before {
                    break;
                }
            }
            _ => break,
        }
    }
    Case {
        flag: long,
        argv: argv(&groups),
    }
}

/// Whether the error in `stderr` (its `error:` or `badnet:` line, not the
/// usage that follows, which repeats every flag given) names `flag`.
fn names(stderr: &str, flag: &str) -> bool {
    stderr
        .lines()
        .filter(|l| l.starts_with("error:") || l.starts_with("badnet:"))
        .any(|l| {
            l.match_indices(flag).any(|(at, _)| {
                !l[at + flag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '-')
            })
        })
}

/// A command line clap accepted, running.
struct Running {
    case: Case,
    child: Child,
    stderr: PathBuf,
    started: Instant,
}

#[test]
fn every_flag_of_every_command_refuses_bad_values_with_exit_2_naming_it_before_building() {
    require_root();
    let started = Instant::now();
    let dir = std::env::temp_dir().join(format!("badnet-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scenarios/udp.toml");
    let mut all = Vec::new();
    flags(&badnet::cli::Cli::command(), &[], &mut all);
    // The generator found the commands' flags (run alone has 40).
    assert!(all.len() > 40, "only {} flags found", all.len());
    let mut failures = Vec::new();
    let mut to_run = Vec::new();
    let (mut in_clap, mut tried) = (0, 0);
    for (path, sub, arg) in &all {
        for value in BAD {
            let c = case(path, sub, arg, value, scenario);
            tried += 1;
            match badnet::cli::Cli::command().try_get_matches_from(&c.argv) {
                Ok(_) => to_run.push(c),
                Err(e) => {
                    in_clap += 1;
                    let text = e.render().to_string();
                    if e.exit_code() != 2 || !names(&text, &c.flag) {
                        failures.push(format!(
                            "{}: clap exit {}: {}",
                            c.argv[1..].join(" "),
                            e.exit_code(),
                            text.lines().next().unwrap_or("")
                        ));
                    }
                }
            }
        }
    }
    let ran = to_run.len();
    let parsed_in = started.elapsed();
    let mut pids = Vec::new();
    let mut running: Vec<Running> = Vec::new();
    let mut accepted = Vec::new();
    while !to_run.is_empty() || !running.is_empty() {
        while running.len() < AT_ONCE {
            let Some(c) = to_run.pop() else { break };
            let stderr = dir.join(format!("stderr-{}", pids.len()));
            let child = badnet()
                .args(&c.argv[1..])
                .current_dir(&dir)
                .env("BADNET_KEEP", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(&stderr).unwrap())
                .spawn()
                .unwrap();
            pids.push(child.id());
            running.push(Running {
                case: c,
                child,
                stderr,
                started: Instant::now(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
        let mut still = Vec::new();
        for mut r in running.drain(..) {
            let status = r.child.try_wait().unwrap();
            if status.is_none() && r.started.elapsed() < BOUND {
                still.push(r);
                continue;
            }
            let pid = r.child.id();
            if status.is_none() {
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = r.child.wait();
                accepted.push(format!("{:?} (still running: killed)", &r.case.argv[1..]));
                continue;
            }
            let code = status.unwrap().code();
            let stderr = std::fs::read_to_string(&r.stderr).unwrap_or_default();
            let line = r.case.argv[1..].join(" ");
            let built: Vec<String> = faults::plumbing::recorded_runs()
                .into_iter()
                .filter(|id| faults::plumbing::owner_pid(id) == Some(pid))
                .collect();
            match code {
                Some(0) => accepted.push(format!("{:?} (exit 0)", &r.case.argv[1..])),
                Some(2) if !names(&stderr, &r.case.flag) => failures.push(format!(
                    "{line}: exit 2 without naming {}: {}",
                    r.case.flag,
                    stderr.trim()
                )),
                Some(2) if !built.is_empty() => failures.push(format!(
                    "{line}: refused only after building runs {built:?}: {}",
                    stderr.trim()
                )),
                Some(2) => {}
                other => failures.push(format!("{line}: exit {other:?}: {}", stderr.trim())),
            }
        }
        running = still;
    }
    // What the accepted runs kept (BADNET_KEEP), now that they are dead.
    let _ = faults::sweep();
    let _ = std::fs::remove_dir_all(&dir);
    let left: Vec<String> = faults::plumbing::recorded_runs()
        .into_iter()
        .filter(|id| faults::plumbing::owner_pid(id).is_some_and(|p| pids.contains(&p)))
        .collect();
    eprintln!(
        "swept {} flags x {} values: {tried} cases, {in_clap} refused by clap (in {:.1} s), {ran} run ({} accepted), in {:.1} s",
        all.len(),
        BAD.len(),
        parsed_in.as_secs_f64(),
        accepted.len(),
        started.elapsed().as_secs_f64()
    );
    eprintln!("accepted:\n  {}", accepted.join("\n  "));
    assert!(left.is_empty(), "runs left behind: {left:?}");
    assert!(
        failures.is_empty(),
        "{} of {tried}:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
