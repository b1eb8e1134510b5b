//! Sweeping what dead runs left behind.

use crate::cmd;
use crate::lab::host::pids_in_named;
use crate::lab::owner::{self, run_id_of};
use crate::Result;

/// Removes every namespace (and the processes in it) of a run whose owner
/// is gone, and the records of dead runs. Returns the names removed.
/// Touches nothing of a live run, and nothing without the `bn` prefix.
///
/// Equivalent to `ip netns pids NAME | xargs kill -9; ip netns del NAME`
/// for each dead `bn<id>-*` namespace. Requires CAP_SYS_ADMIN.
pub fn sweep() -> Result<Vec<String>> {
    let dead: Vec<String> = netns_names()
        .into_iter()
        .filter(|name| run_id_of(name).is_some_and(|id| !owner::is_alive(id)))
        .collect();
    for pid in pids_in_named(&dead).into_iter().flatten() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let lines: Vec<String> = dead.iter().map(|n| format!("netns del {n}")).collect();
    // `ip -batch` stops at its first failure: another sweep (a run
    // starting beside this one) may have removed a namespace first, which
    // is gone, as asked; what is left is deleted one by one.
    let mut first_error = None;
    if cmd::run_batch("ip", &[], &lines).is_err() {
        for name in &dead {
            match cmd::run_argv(&["ip", "netns", "del", name]) {
                Err(_) if !std::path::Path::new("/run/netns").join(name).exists() => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
                Ok(_) => {}
            }
        }
    }
    for id in owner::recorded_runs() {
        if !owner::is_alive(&id) {
            owner::forget(&id);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(dead),
    }
}

/// Names of the network namespaces in `/run/netns`.
pub fn netns_names() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}
