//! Programs in a run's hosts: how to tell that a server is ready, what a
//! client did, and both run in containers that join a holder's namespace
//! (`--network container:HOLDER`).

use std::process::{ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use faults::Host;
use serde::Serialize;

use super::docker::{self, Running};
use super::output::{Kept, Streams};
use super::play::Started;

/// How to tell that the server is ready.
#[derive(Debug, Clone)]
pub enum Ready {
    /// A line of its standard output or error matches.
    Line(regex::Regex),
    /// Something listens on this TCP port, or is bound to this UDP port,
    /// in host B.
    Port(u16),
    /// Start the client at once.
    Now,
}

/// What the client did.
#[derive(Debug, Clone, Serialize)]
pub struct ClientResult {
    /// None when it was killed (at its limit, or by a signal).
    pub exit_code: Option<i32>,
    /// Whether it (or anything it started that kept its output open) still
    /// ran at its limit, and was killed with every process in its host.
    pub killed_at_limit: bool,
    /// The head and tail of its standard output and error (see
    /// [`super::output`]), and how many bytes of each were left out.
    pub stdout: String,
    pub stderr: String,
    pub stdout_left_out: u64,
    pub stderr_left_out: u64,
    pub duration_s: f64,
}

impl ClientResult {
    /// A client that exited (`Some`) or was killed at its limit (`None`),
    /// after `duration`, having written `out` and `err`.
    pub fn new(status: Option<ExitStatus>, [out, err]: [Kept; 2], duration: Duration) -> Self {
        Self {
            exit_code: status.and_then(|s| s.code()),
            killed_at_limit: status.is_none(),
            stdout: out.text(),
            stderr: err.text(),
            stdout_left_out: out.left_out(),
            stderr_left_out: err.left_out(),
            duration_s: duration.as_secs_f64(),
        }
    }
}

/// How a program ended, in words.
pub fn ended(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended ({status})"),
    }
}

/// What a container wrote so far (`docker logs`), bounded as a program's
/// output is.
pub(super) fn container_logs(id: &str) -> [Kept; 2] {
    let child = std::process::Command::new("docker")
        .args(["logs", id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        return Default::default();
    };
    let (mut streams, _) = Streams::read(child.stdout.take(), child.stderr.take(), None);
    streams.wait_closed(Instant::now() + Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    streams.take()
}

/// Waits until `server`, a container in `host`, is ready as `ready` says.
pub fn wait_ready_container(
    server: &Running,
    host: &Host,
    ready: &Ready,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let ok = match ready {
            Ready::Now => return Ok(()),
            Ready::Line(re) => container_logs(&server.id)
                .iter()
                .any(|k| k.text().lines().any(|l| re.is_match(l))),
            Ready::Port(port) => listening(host, *port)?,
        };
        if ok {
            return Ok(());
        }
        if !server.running() {
            let code = docker::docker(&["inspect", "-f", "{{.State.ExitCode}}", &server.id])
                .unwrap_or_else(|_| "unknown".into());
            let [out, err] = container_logs(&server.id);
            anyhow::bail!(
                "exited with code {code} before it was ready; its last lines:\n{}\n{}",
                out.last_lines(5),
                err.last_lines(5)
            );
        }
        if Instant::now() >= deadline {
            anyhow::bail!(match ready {
                Ready::Line(re) => format!(
                    "never printed a line matching --ready {:?} within {limit:?}",
                    re.as_str()
                ),
                Ready::Port(port) =>
                    format!("nothing listened on port {port} within {limit:?} (--ready-port)"),
                Ready::Now => unreachable!(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the client's container in holder `holder`'s namespace, waits
/// for it to exit (killing it past `limit`), and keeps what it printed.
pub fn run_client_container(
    run: &str,
    image: &str,
    holder: &str,
    argv: &[String],
    limit: Duration,
    started: &Started,
) -> anyhow::Result<ClientResult> {
    let start = Instant::now();
    let client = Running::start(run, image, &format!("container:{holder}"), argv)?;
    started.now();
    let (tx, rx) = mpsc::channel();
    let id = client.id.clone();
    // Detached: `docker wait` returns when the container exits, or fails
    // once it is removed.
    std::thread::spawn(move || {
        let _ = tx.send(docker::docker(&["wait", &id]));
    });
    let (code, killed) = match rx.recv_timeout(limit) {
        Ok(code) => (code?.parse::<i32>().ok(), false),
        Err(_) => {
            let _ = docker::docker(&["kill", &client.id]);
            (None, true)
        }
    };
    let duration = start.elapsed();
    let mut result = ClientResult::new(None, container_logs(&client.id), duration);
    result.exit_code = code;
    result.killed_at_limit = killed;
    Ok(result)
}

/// Whether a TCP socket listens, or a UDP socket is bound, on `port` in
/// `host` (its /proc/net/tcp and udp).
pub fn listening(host: &Host, port: u16) -> anyhow::Result<bool> {
    let tables = host.run(|| {
        ["tcp", "tcp6", "udp", "udp6"].map(|t| {
            std::fs::read_to_string(format!("/proc/thread-self/net/{t}")).unwrap_or_default()
        })
    })?;
    let hex = format!(":{port:04X}");
    Ok(tables.iter().enumerate().any(|(i, table)| {
        table.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&hex) && (i >= 2 || f[3] == "0A")
        })
    }))
}
