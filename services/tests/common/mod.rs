//! Helpers of the services suites: private network namespaces and child
//! processes with bounded waits.

#![allow(dead_code)] // each suite uses its own part of this module

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `f` on a thread of its own in a new, empty network namespace with
/// `lo` up. Processes that `f` spawns live in that namespace too, so each
/// test gets its own port 12000 and leaves nothing behind.
///
/// Requires CAP_SYS_ADMIN: run as root, or under `unshare -rn`.
pub fn in_private_netns<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect(
                "a private network namespace needs CAP_SYS_ADMIN: run the tests as root (sudo make test)",
            );
            let up = Command::new("ip").args(["link", "set", "lo", "up"]).status();
            assert!(up.is_ok_and(|s| s.success()), "`ip link set lo up` failed: install iproute2");
            f()
        })
        .join()
        .expect("test thread panicked")
    })
}

pub use services::child::KillOnDrop as Server;

/// Starts `cmd` and waits (at most 10 s) for its readiness line.
pub fn start_server(cmd: Command) -> Server {
    start_server_with_stderr(cmd, Stdio::inherit())
}

/// [`start_server`], with the server's standard error sent to `stderr`.
pub fn start_server_with_stderr(mut cmd: Command, stderr: Stdio) -> Server {
    let mut server =
        Server::spawn(cmd.stdout(Stdio::piped()).stderr(stderr)).expect("spawn server");
    let line = server
        .first_stdout_line(Duration::from_secs(10))
        .expect("server printed no readiness line in 10 s");
    assert_eq!(line.trim_end(), "The server is ready to receive");
    server
}

/// Runs `cmd` with `input` on stdin and returns its output, killing it
/// after `limit`.
pub fn run_with_input(mut cmd: Command, input: &[u8], limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for client"),
        Err(_) => {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
            panic!("client did not finish within {limit:?}");
        }
    }
}

/// Stdout of a finished process, checked for success.
pub fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8 output")
}

/// A command for one of the lecture's Python programs.
pub fn python(program: &str) -> Command {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "seed", program]
        .iter()
        .collect();
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg(path);
    cmd
}

/// A command for one of our binaries.
pub fn ours(bin: &str) -> Command {
    let path = match bin {
        "udp-server" => env!("CARGO_BIN_EXE_udp-server"),
        "udp-client" => env!("CARGO_BIN_EXE_udp-client"),
        "tcp-server" => env!("CARGO_BIN_EXE_tcp-server"),
        "tcp-client" => env!("CARGO_BIN_EXE_tcp-client"),
        other => panic!("no binary {other}"),
    };
    Command::new(path)
}

/// Reads everything a child printed on stdout so far (after it exited).
pub fn drain(child: &mut Child) -> String {
    let mut s = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut s);
    }
    s
}
