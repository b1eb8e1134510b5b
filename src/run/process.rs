//! Programs in a run's hosts: how to tell that a server is ready, what a
//! client did, and both run in containers that join a holder's namespace
//! (`--network container:HOLDER`).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use faults::Host;
use serde::Serialize;

use super::docker::{self, Running};
use super::play::Started;

/// How to tell that the server is ready.
#[derive(Debug, Clone)]
pub enum Ready {
    /// A line of its standard output matches.
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
    /// None when it was killed (past its limit, or by a signal).
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub duration_s: f64,
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
            Ready::Line(re) => {
                let (out, _) = server.logs();
                String::from_utf8_lossy(&out)
                    .lines()
                    .any(|l| re.is_match(l))
            }
            Ready::Port(port) => listening(host, *port)?,
        };
        if ok {
            return Ok(());
        }
        if !server.running() {
            let (out, err) = server.logs();
            anyhow::bail!(
                "exited before it was ready: {}{}",
                String::from_utf8_lossy(&out).trim(),
                String::from_utf8_lossy(&err).trim()
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
    let code = match rx.recv_timeout(limit) {
        Ok(code) => code?.parse::<i32>().ok(),
        Err(_) => {
            let _ = docker::docker(&["kill", &client.id]);
            None
        }
    };
    let duration = start.elapsed();
    let (stdout, stderr) = client.logs();
    Ok(ClientResult {
        exit_code: code,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        duration_s: duration.as_secs_f64(),
    })
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
