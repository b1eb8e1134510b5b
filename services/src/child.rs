//! Child processes that never outlive their owner, and bounded waits on
//! what they print.

use std::io::{self, BufRead, BufReader, Read};
use std::ops::{Deref, DerefMut};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
pub fn first_line_within(reader: impl Read + Send + 'static, limit: Duration) -> Option<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        let _ = tx.send(line);
    });
    rx.recv_timeout(limit).ok()
}
