//! SIGINT and SIGTERM, for every command but `badnet lab` (which waits for
//! them itself): caught from the start (by tokio's handler, which only
//! wakes a thread of their own) and taken by that thread, which passes them
//! on to the badnet processes this one started, removes everything this
//! process's runs created (their namespaces and every process in them,
//! their records, their containers) and exits 128 + the signal's number:
//! 130 or 143. Caught, not blocked: a program started in a host begins with
//! neither blocked nor caught (exec resets a caught signal), so a server
//! still finishes and writes out on SIGINT.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

/// Set once a signal came: the thread that took it exits the process.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Catches SIGINT and SIGTERM from now on, and starts the thread that
/// takes them.
pub fn take() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    // Caught from here on, before anything is built.
    let (mut interrupt, mut terminate) = {
        let _entered = runtime.enter();
        (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        )
    };
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let signal = runtime.block_on(async {
                tokio::select! {
                    _ = interrupt.recv() => Signal::SIGINT,
                    _ = terminate.recv() => Signal::SIGTERM,
                }
            });
            stop(signal);
        })?;
    Ok(())
}

/// Returns unless a signal came; if one did, waits for the thread that
/// took it to exit the process (the command's own end, a failure as its
/// hosts vanish, say, is not the process's).
pub fn settle() {
    while STOPPING.load(Ordering::SeqCst) {
        std::thread::park();
    }
}

/// Removes what this process built, and exits as `signal` asks.
fn stop(signal: Signal) -> ! {
    STOPPING.store(true, Ordering::SeqCst);
    eprintln!("badnet: {signal}: removing what this run built");
    forward(signal);
    match faults::plumbing::remove_own_runs() {
        Ok(removed) => tracing::debug!("removed {removed:?}"),
        Err(e) => eprintln!("badnet: removing the run: {e}; `badnet cleanup` removes the rest"),
    }
    if let Err(e) = crate::run::docker::remove_own() {
        eprintln!(
            "badnet: removing the run's containers: {e:#}; `badnet cleanup` removes the rest"
        );
    }
    std::process::exit(128 + signal as i32)
}

/// Sends `signal` to the badnet processes this one started (`badnet
/// bench` runs the demo and runs as commands of their own), each of which
/// removes what it built, and waits for them (at most 15 s).
fn forward(signal: Signal) {
    use nix::sys::wait::{waitpid, WaitPidFlag};
    use nix::unistd::Pid;
    let Ok(me) = std::env::current_exe() else {
        return;
    };
    let parent = std::process::id().to_string();
    let children: Vec<Pid> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // The parent is the second field after the command's name.
            let ppid = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split(' ').nth(1));
            ppid == Some(parent.as_str())
                && std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == me)
        })
        .map(Pid::from_raw)
        .collect();
    for &child in &children {
        let _ = nix::sys::signal::kill(child, signal);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    for child in children {
        while std::time::Instant::now() < deadline {
            match waitpid(child, Some(WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
}
