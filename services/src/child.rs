//! Child processes that never outlive their owner, and bounded waits on
//! what they print.

use std::io::{self, BufRead, BufReader, Read};
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// What a child printed, and how it ended.
#[derive(Debug)]
pub struct Captured {
    /// None when it was still running at its limit and was killed.
    pub status: Option<ExitStatus>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From the call to the end (or the kill).
    pub duration: Duration,
}

/// A child process killed (by its PID, or its process group's) and reaped
/// when dropped.
#[derive(Debug)]
pub struct KillOnDrop {
    child: Child,
    group: bool,
}

impl KillOnDrop {
    /// Spawns `cmd`.
    pub fn spawn(cmd: &mut Command) -> io::Result<Self> {
        Ok(Self {
            child: cmd.spawn()?,
            group: false,
        })
    }

    /// Spawns `cmd` in a process group of its own, all of which is killed
    /// on drop: for a program that may be a wrapper (pyenv's `python3`)
    /// that forks the real one.
    pub fn spawn_group(cmd: &mut Command) -> io::Result<Self> {
        Ok(Self {
            child: cmd.process_group(0).spawn()?,
            group: true,
        })
    }

    /// Sends SIGINT (a program's cue to finish and write out) and waits.
    pub fn interrupt(&mut self) -> io::Result<std::process::ExitStatus> {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT);
        self.child.wait()
    }

    /// Kills the child (and its group, if it has one) now, and reaps it.
    pub fn terminate(&mut self) {
        if self.group {
            let _ = kill(Pid::from_raw(-(self.child.id() as i32)), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the child at most `limit`, killing it past that, and
    /// collects what it wrote to its standard output and error (each piped,
    /// each read on a thread of its own, so neither pipe can fill and stall
    /// it). The readers end when the pipes close: with the child for a
    /// program that leaves none open in children of its own, with its
    /// group for one spawned with [`KillOnDrop::spawn_group`].
    pub fn output_within(mut self, limit: Duration) -> io::Result<Captured> {
        let started = Instant::now();
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            self.child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            self.child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        let readers = pipes.map(|pipe| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut buf);
                }
                buf
            })
        });
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break Some(status);
            }
            if started.elapsed() >= limit {
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let duration = started.elapsed();
        self.terminate();
        let [stdout, stderr] = readers.map(|r| r.join().unwrap_or_default());
        Ok(Captured {
            status,
            stdout,
            stderr,
            duration,
        })
    }

    /// The first line of the child's standard output (piped) within `limit`.
    pub fn first_stdout_line(&mut self, limit: Duration) -> Option<String> {
        first_line_within(self.child.stdout.take()?, limit)
    }

    /// The first line of the child's standard error (piped) within `limit`.
    pub fn first_stderr_line(&mut self, limit: Duration) -> Option<String> {
        first_line_within(self.child.stderr.take()?, limit)
    }
}

impl Deref for KillOnDrop {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.child
    }
}

impl DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.child
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// The first line `reader` gives within `limit`, read on a thread of its
/// own so a silent process cannot hang the caller.
fn first_line_within(reader: impl Read + Send + 'static, limit: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(limit).ok()
}
