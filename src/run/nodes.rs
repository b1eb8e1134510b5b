//! Programs that run in a lab's hosts for the whole run: a cluster's
//! nodes (a scenario's `[[scenario.host]]`) and `badnet lab --run`'s. Each
//! starts in its host as a process group of its own, is waited for until
//! it is ready, takes the process faults of a timeline or of `badnet
//! fault` (`kill`, `stop`, `cont`, `restart`: the whole group, as Jepsen's
//! nemeses hit a node's daemon), and is stopped at the end with how it
//! ended and what it wrote.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use anyhow::Context;
use faults::Lab;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::Serialize;
use services::child::KillOnDrop;

use super::docker::{self, Running};
use super::output::Streams;
use super::process::{self, wait_ready_container, Ready};
use crate::error::BadInput;
use crate::timeline::{ProcessFault, Verb};

/// A host's program, as given.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub host: String,
    /// Its command line: split as a shell would, run without one, its
    /// placeholders (`{self}`, `{n1}`, `{peers}`, `{hosts}`) filled in.
    pub run: String,
    pub ready: Ready,
    /// How long it may take to be ready.
    pub ready_limit: Duration,
    /// With container hosts: the local image it runs in, a container that
    /// joins its host's holder (none: a process in the host).
    pub image: Option<String>,
}

/// Where the programs' output goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Kept, head and tail, for the run's report.
    Keep,
    /// Copied to standard error line by line behind the host's name (a
    /// lab held for a person to watch).
    Echo,
}

/// How one host's program ended.
#[derive(Debug, Clone, Serialize)]
pub struct NodeReport {
    pub host: String,
    /// Its words, placeholders filled in.
    pub command: Vec<String>,
    /// How many times it was started (1, and one more per `restart`).
    pub starts: u32,
    /// How its last start ended: an exit code, or the signal that killed it.
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub ended: String,
    /// It exited by itself before the end of the run, not by a step's
    /// `kill`: a node that dies on its own fails a scenario.
    pub exited_early: bool,
    /// The head and tail of what its last start wrote (empty with
    /// [`Output::Echo`]).
    pub stdout: String,
    pub stderr: String,
    pub stdout_left_out: u64,
    pub stderr_left_out: u64,
}

/// The longest piece of a program's output echoed as one line.
const LINE_MAX: u64 = 64 << 10;

enum Sink {
    Kept(Streams),
    /// Copied by threads of their own, which end with the pipes.
    Echo,
}

/// A started program: a process group in its host, or a container that
/// joined its host's holder.
enum Proc {
    Process { child: KillOnDrop, sink: Sink },
    Container(Running),
}

struct Node {
    spec: NodeSpec,
    argv: Vec<String>,
    proc: Proc,
    starts: u32,
    /// A step killed it: its end was asked for.
    killed: bool,
}

/// The running programs of a lab's hosts.
pub struct Nodes<'a> {
    lab: &'a Lab,
    /// With container hosts, each host's holder, in the lab's order.
    holders: Option<&'a [Running]>,
    output: Output,
    nodes: Mutex<Vec<Node>>,
    spawner: Spawner,
}

/// A thread that starts every program, and lives until they are stopped: a
/// program in a host dies with the thread that started it (its parent-death
/// signal is the thread's, not the process's), and a restart comes from
/// the timeline's thread or a `badnet fault` connection's, which end first.
struct Spawner {
    tx: Option<mpsc::Sender<(Command, mpsc::Sender<std::io::Result<KillOnDrop>>)>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spawner {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel::<(Command, mpsc::Sender<std::io::Result<KillOnDrop>>)>();
        let thread = std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(KillOnDrop::spawn_group(&mut cmd));
            }
        });
        Self {
            tx: Some(tx),
            thread: Some(thread),
        }
    }

    /// `cmd` spawned in a process group of its own, by the spawner's
    /// thread.
    fn spawn(&self, cmd: Command) -> std::io::Result<KillOnDrop> {
        let (reply, answer) = mpsc::channel();
        let gone = || std::io::Error::other("the thread that starts programs has ended");
        self.tx
            .as_ref()
            .ok_or_else(gone)?
            .send((cmd, reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `line`'s words with the lab's addresses filled in, for host `host`.
pub fn words(lab: &Lab, host: &str, line: &str, flag: &str) -> Result<Vec<String>, BadInput> {
    let words = super::programs::split(line, flag)?;
    let addrs: Vec<_> = lab
        .names()
        .iter()
        .map(|n| lab.address(n).expect("a host of the lab"))
        .collect();
    super::template::fill(&words, lab.topology(), &addrs, host).map_err(|e| BadInput::new(flag, e))
}

impl<'a> Nodes<'a> {
    /// Starts every program of `specs` in its host, in order, each waited
    /// for until it is ready: a program that exits first or is not ready
    /// in time fails the start, naming its host.
    pub fn start(
        lab: &'a Lab,
        holders: Option<&'a [Running]>,
        specs: &[NodeSpec],
        output: Output,
    ) -> anyhow::Result<Self> {
        let mut nodes = Self {
            lab,
            holders,
            output,
            nodes: Mutex::new(Vec::new()),
            spawner: Spawner::new(),
        };
        let started = specs
            .iter()
            .map(|spec| nodes.start_one(spec.clone(), 1))
            .collect::<anyhow::Result<Vec<_>>>()?;
        *nodes.nodes.get_mut().unwrap_or_else(|e| e.into_inner()) = started;
        Ok(nodes)
    }

    fn start_one(&self, spec: NodeSpec, starts: u32) -> anyhow::Result<Node> {
        let holder = match (self.holders, &spec.image) {
            (Some(holders), Some(_)) => Some(&holders[self.lab.topology().index(&spec.host)?]),
            _ => None,
        };
        Node::start(self.lab, &self.spawner, holder, spec, self.output, starts)
    }

    /// The hosts that run a program.
    pub fn hosts(&self) -> Vec<String> {
        self.lock().iter().map(|n| n.spec.host.clone()).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Node>> {
        self.nodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `fault` to its host's program: a signal to its process
    /// group, or a restart that returns once the new start is ready. A host
    /// with no program is bad input.
    pub fn apply(&self, fault: &ProcessFault) -> anyhow::Result<()> {
        let mut nodes = self.lock();
        let Some(i) = nodes.iter().position(|n| n.spec.host == fault.host) else {
            return Err(BadInput::new(
                "STEP",
                format!(
                    "'{fault}': no program runs in host '{}' (the hosts with one: {})",
                    fault.host,
                    nodes
                        .iter()
                        .map(|n| n.spec.host.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into());
        };
        let node = &mut nodes[i];
        let signal = match fault.verb {
            Verb::Kill => Signal::SIGKILL,
            Verb::Stop => Signal::SIGSTOP,
            Verb::Cont => Signal::SIGCONT,
            Verb::Restart => {
                let spec = node.spec.clone();
                let starts = node.starts + 1;
                nodes.remove(i).end();
                let new = self
                    .start_one(spec, starts)
                    .with_context(|| format!("'{fault}'"))?;
                nodes.insert(i, new);
                return Ok(());
            }
        };
        if fault.verb == Verb::Kill {
            node.killed = true;
        }
        node.signal(signal)
            .with_context(|| format!("'{fault}': signalling its program"))
    }

    /// Stops every program still running (SIGKILL to its group), and says
    /// how each ended.
    pub fn stop(self) -> Vec<NodeReport> {
        let ended = self
            .nodes
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .map(Node::end)
            .collect();
        drop(self.spawner);
        ended
    }
}

impl Node {
    fn start(
        lab: &Lab,
        spawner: &Spawner,
        holder: Option<&Running>,
        spec: NodeSpec,
        output: Output,
        starts: u32,
    ) -> anyhow::Result<Self> {
        let host = lab.host(&spec.host)?;
        let argv = words(lab, &spec.host, &spec.run, "run")?;
        let failed = |what: &str| format!("host {}: {what} {:?}", spec.host, argv[0]);
        let proc = match (holder, &spec.image) {
            (Some(holder), Some(image)) => {
                let c = Running::start(
                    lab.run_id(),
                    image,
                    &format!("container:{}", holder.id),
                    &argv,
                )
                .with_context(|| failed("starting"))?;
                wait_ready_container(&c, host, &spec.ready, spec.ready_limit)
                    .with_context(|| failed(&format!("its program in {image}")))?;
                Proc::Container(c)
            }
            _ => {
                let mut cmd = host.command(&crate::bins::resolve(&argv[0]));
                cmd.args(&argv[1..])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped());
                let mut child = spawner.spawn(cmd).with_context(|| failed("starting"))?;
                let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
                let sink = match output {
                    Output::Keep => {
                        let line = match &spec.ready {
                            Ready::Line(re) => Some(re.clone()),
                            _ => None,
                        };
                        let (mut streams, matched) = Streams::read(stdout, stderr, line);
                        super::programs::wait_ready(
                            &mut child,
                            &mut streams,
                            &matched,
                            host,
                            &spec.ready,
                            spec.ready_limit,
                        )
                        .with_context(|| failed("its program"))?;
                        Sink::Kept(streams)
                    }
                    Output::Echo => {
                        echo(&spec.host, stdout, stderr);
                        Sink::Echo
                    }
                };
                Proc::Process { child, sink }
            }
        };
        Ok(Self {
            spec,
            argv,
            proc,
            starts,
            killed: false,
        })
    }

    /// `signal` to the program's process group; for a container, SIGKILL
    /// is `docker kill`, SIGSTOP and SIGCONT `docker pause` and `unpause`
    /// (every process of it frozen, as a paused machine).
    fn signal(&self, signal: Signal) -> anyhow::Result<()> {
        match &self.proc {
            Proc::Process { child, .. } => {
                match kill(Pid::from_raw(-(child.id() as i32)), signal) {
                    // The group is gone (every process of it has exited):
                    // nothing to signal, as for a node already dead.
                    Err(nix::errno::Errno::ESRCH) | Ok(()) => Ok(()),
                    Err(e) => Err(e.into()),
                }
            }
            Proc::Container(c) => {
                let verb = match signal {
                    Signal::SIGSTOP => "pause",
                    Signal::SIGCONT => "unpause",
                    _ => "kill",
                };
                if verb == "kill" && !c.running() {
                    return Ok(());
                }
                docker::docker(&[verb, &c.id]).map(drop)
            }
        }
    }

    fn end(self) -> NodeReport {
        use std::os::unix::process::ExitStatusExt;
        let Node {
            spec,
            argv,
            proc,
            starts,
            killed,
        } = self;
        // How it ended (None: it ran until now), and what it wrote.
        let (code, signal, early, [out, err]) = match proc {
            Proc::Process { mut child, sink } => {
                let before = child.try_wait().ok().flatten();
                child.terminate();
                let kept = match sink {
                    Sink::Kept(mut streams) => {
                        streams.wait_closed(std::time::Instant::now() + Duration::from_millis(500));
                        streams.take()
                    }
                    // Not waited for: what the program forked out of its
                    // group may hold the pipes until the lab is removed.
                    Sink::Echo => Default::default(),
                };
                let ended = before.map(|s| (s.code(), s.signal()));
                (
                    ended,
                    Some(Signal::SIGKILL as i32),
                    before.map(process::ended),
                    kept,
                )
            }
            Proc::Container(c) => {
                let running = c.running();
                let code = (!running)
                    .then(|| {
                        docker::docker(&["inspect", "-f", "{{.State.ExitCode}}", &c.id])
                            .ok()?
                            .parse::<i32>()
                            .ok()
                    })
                    .flatten();
                let kept = process::container_logs(&c.id);
                drop(c);
                let ended = (!running).then_some((code, None));
                let words = (!running)
                    .then(|| code.map_or("exited".to_owned(), |c| format!("exited with code {c}")));
                (ended, None, words, kept)
            }
        };
        let exited_early = code.is_some() && !killed;
        let ended = match (&early, killed) {
            (Some(how), true) => format!("{how} (a step killed it)"),
            (Some(how), false) => format!("{how} before the end of the run"),
            (None, _) => "ran until the end, stopped".to_owned(),
        };
        NodeReport {
            host: spec.host,
            command: argv,
            starts,
            exit_code: code.and_then(|(c, _)| c),
            signal: match code {
                Some((_, s)) => s,
                // Stopped at the end: SIGKILL.
                None => signal,
            },
            ended,
            exited_early,
            stdout: out.text(),
            stderr: err.text(),
            stdout_left_out: out.left_out(),
            stderr_left_out: err.left_out(),
        }
    }
}

/// Copies each pipe to standard error, a line at a time (at most 64 KiB
/// of one: a program that never ends a line is printed in pieces), behind
/// `[host]`.
fn echo(
    host: &str,
    stdout: Option<impl Read + Send + 'static>,
    stderr: Option<impl Read + Send + 'static>,
) {
    let pipes: [Option<Box<dyn Read + Send>>; 2] = [
        stdout.map(|p| Box::new(p) as Box<dyn Read + Send>),
        stderr.map(|p| Box::new(p) as Box<dyn Read + Send>),
    ];
    pipes.into_iter().flatten().for_each(|pipe| {
        let host = host.to_owned();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(pipe);
            let mut line = Vec::new();
            while (&mut reader)
                .take(LINE_MAX)
                .read_until(b'\n', &mut line)
                .is_ok_and(|n| n > 0)
            {
                let text = String::from_utf8_lossy(&line);
                eprintln!("[{host}] {}", text.trim_end_matches('\n'));
                line.clear();
            }
        });
    });
}
