//! The guard: a small process of badnet's own, started before a command
//! records its first run, that outlives it. A command stopped by SIGINT or
//! SIGTERM removes what it built itself; one killed by SIGKILL cannot, and
//! the programs it ran die with it (their parent-death signal) but not
//! what they forked. The guard waits on a pipe whose other end only the
//! command holds: when it closes (the command has ended, however), the
//! guard sweeps the command's runs if any are left: their namespaces, the
//! processes in them, their containers, their records.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Makes this process start its guard before it records its first run.
pub fn install() {
    faults::plumbing::on_first_run(start);
}

fn start() {
    let me = std::process::id();
    let spawned = Command::new("/proc/self/exe")
        .args(["guard", &me.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Out of the terminal's process group: a Ctrl-C is the command's
        // to handle, not the guard's.
        .process_group(0)
        .spawn();
    match spawned {
        // The pipe's end is kept open until this process exits (the
        // child is not waited for: it outlives us).
        Ok(mut child) => std::mem::forget(child.stdin.take()),
        Err(e) => tracing::warn!("no guard for this run ({e}): a SIGKILL would leave its hosts"),
    }
}

use std::os::unix::process::CommandExt;

/// The guard's body: waits until `parent` has ended, then sweeps its runs
/// that are left (at most 10 s, while the parent is being reaped).
pub fn watch(parent: u32) -> anyhow::Result<()> {
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while stdin.read(&mut sink).is_ok_and(|n| n > 0) {}
    let left = || {
        faults::plumbing::recorded_runs()
            .into_iter()
            .filter(|id| faults::plumbing::owner_pid(id) == Some(parent))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while left() > 0 && Instant::now() < deadline {
        faults::sweep()?;
        let _ = crate::run::docker::sweep();
        if left() > 0 {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}
