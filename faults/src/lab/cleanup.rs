//! Sweeping what dead runs left behind.

use crate::cmd;
use crate::lab::owner::{self, run_id_of};
use crate::Result;

/// Removes every namespace (and the processes in it) of a run whose owner
/// is gone, and the records of dead runs. Returns the names removed.
/// Touches nothing of a live run, and nothing without the `bn` prefix.
///
/// Equivalent to `ip netns pids NAME | xargs kill -9; ip netns del NAME`
/// for each dead `bn<id>-*` namespace. Requires CAP_SYS_ADMIN.
pub fn sweep() -> Result<Vec<String>> {
    let mut removed = Vec::new();
    let mut first_error = None;
    for name in netns_names() {
        let Some(id) = run_id_of(&name) else { continue };
        if owner::is_alive(id) {
            continue;
        }
        if let Ok(pids) = cmd::run_argv(&["ip", "netns", "pids", &name]) {
            for pid in pids.split_whitespace().filter_map(|p| p.parse().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        match cmd::run_argv(&["ip", "netns", "del", &name]) {
            Ok(_) => removed.push(name),
            // Another sweep (a run starting beside this one) removed it
            // first: it is gone, as asked.
            Err(_) if !std::path::Path::new("/run/netns").join(&name).exists() => {}
            Err(e) => {
                first_error.get_or_insert(e);
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
        None => Ok(removed),
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
