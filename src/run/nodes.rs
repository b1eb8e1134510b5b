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

use super::output::Streams;
use super::process::{ended, Ready};
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

struct Node {
    spec: NodeSpec,
    argv: Vec<String>,
    child: KillOnDrop,
    sink: Sink,
    starts: u32,
    /// A step killed it: its end was asked for.
    killed: bool,
}

/// The running programs of a lab's hosts.
pub struct Nodes<'a> {
    lab: &'a Lab,
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
    pub fn start(lab: &'a Lab, specs: &[NodeSpec], output: Output) -> anyhow::Result<Self> {
        let spawner = Spawner::new();
        let nodes = specs
            .iter()
            .map(|spec| Node::start(lab, &spawner, spec.clone(), output, 1))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            lab,
            output,
            nodes: Mutex::new(nodes),
            spawner,
        })
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
                let new = Node::start(self.lab, &self.spawner, spec, self.output, starts)
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
        spec: NodeSpec,
        output: Output,
        starts: u32,
    ) -> anyhow::Result<Self> {
        let host = lab.host(&spec.host)?;
        let argv = words(lab, &spec.host, &spec.run, "run")?;
        let mut cmd = host.command(&crate::bins::resolve(&argv[0]));
        cmd.args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = spawner
            .spawn(cmd)
            .with_context(|| format!("host {}: starting {:?}", spec.host, argv[0]))?;
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
                .with_context(|| format!("host {}: its program {:?}", spec.host, argv[0]))?;
                Sink::Kept(streams)
            }
            Output::Echo => {
                echo(&spec.host, stdout, stderr);
                Sink::Echo
            }
        };
        Ok(Self {
            spec,
            argv,
            child,
            sink,
            starts,
            killed: false,
        })
    }

    fn signal(&self, signal: Signal) -> nix::Result<()> {
        match kill(Pid::from_raw(-(self.child.id() as i32)), signal) {
            // The group is gone (every process of it has exited): nothing
            // to signal, as for a node already dead.
            Err(nix::errno::Errno::ESRCH) => Ok(()),
            other => other,
        }
    }

    fn end(mut self) -> NodeReport {
        use std::os::unix::process::ExitStatusExt;
        let before = self.child.try_wait().ok().flatten();
        let exited_early = before.is_some() && !self.killed;
        self.child.terminate();
        let status = before.or_else(|| self.child.try_wait().ok().flatten());
        let ended = match (before, self.killed) {
            (Some(s), true) => format!("{} (a step killed it)", ended(s)),
            (Some(s), false) => format!("{} before the end of the run", ended(s)),
            (None, _) => "ran until the end, stopped".to_owned(),
        };
        let [out, err] = match &mut self.sink {
            Sink::Kept(streams) => {
                streams.wait_closed(std::time::Instant::now() + Duration::from_millis(500));
                streams.take()
            }
            // Not waited for: what the program forked out of its group may
            // hold the pipes until the lab is removed.
            Sink::Echo => Default::default(),
        };
        NodeReport {
            host: self.spec.host,
            command: self.argv,
            starts: self.starts,
            exit_code: before.and_then(|s| s.code()),
            signal: before.and_then(|s| s.signal()).or_else(|| {
                // Stopped by us at the end: SIGKILL, whatever wait saw.
                status.and_then(|s| s.signal())
            }),
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
