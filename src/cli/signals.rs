//! SIGINT and SIGTERM, for every command but `badnet lab` (which waits for
//! them itself): blocked in every thread from the start, and taken by one
//! thread of their own, which removes everything this process's runs
//! created (their namespaces and every process in them, their records,
//! their containers) and exits 128 + the signal's number: 130 or 143.

use std::sync::atomic::{AtomicBool, Ordering};

use nix::sys::signal::{SigSet, Signal};

/// Set once a signal came: the thread that took it exits the process.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Blocks SIGINT and SIGTERM in this thread, and so in every thread it
/// starts from now on (call it before any), and starts the thread that
/// takes them. Programs spawned later start with no signal blocked (the
/// standard library clears the mask in the child).
pub fn take() -> anyhow::Result<()> {
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGINT);
    signals.add(Signal::SIGTERM);
    signals.thread_block()?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if let Ok(signal) = signals.wait() {
                stop(signal);
            }
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
