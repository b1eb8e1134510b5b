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
    remove_runs(|id| !owner::is_alive(id))
}

/// Removes every run of this process, as [`sweep`] removes a dead run's:
/// its namespaces, the processes in them, its record. First stops this
/// process from building anything more, and waits (at most 10 s) for what
/// it is building now: for a process about to exit on a signal. Returns the
/// names removed.
///
/// Equivalent to `ip netns pids NAME | xargs kill -9; ip netns del NAME`
/// for each `bn<id>-*` namespace of a run recorded as this process's.
/// Requires CAP_SYS_ADMIN.
pub fn remove_own_runs() -> Result<Vec<String>> {
    if !owner::stop_building(std::time::Duration::from_secs(10)) {
        tracing::warn!("a lab was still being built after 10 s: removing what is there");
    }
    remove_runs(owner::is_mine)
}

/// Removes the namespaces (their processes killed first) and the records
/// of the runs whose id `doomed` picks.
fn remove_runs(doomed: impl Fn(&str) -> bool) -> Result<Vec<String>> {
    let dead: Vec<String> = netns_names()
        .into_iter()
        .filter(|name| run_id_of(name).is_some_and(&doomed))
        .collect();
    let pids: Vec<i32> = pids_in_named(&dead).into_iter().flatten().collect();
    for &pid in &pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    wait_gone(&pids, std::time::Duration::from_secs(2));
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
        if doomed(&id) {
            owner::forget(&id);
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(dead),
    }
}

/// Waits (at most `limit`) until each of `pids`, killed, has ended: it is
/// gone, or a zombie that holds nothing.
fn wait_gone(pids: &[i32], limit: std::time::Duration) {
    let deadline = std::time::Instant::now() + limit;
    let ended = |pid: &i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'))
        })
    };
    while !pids.iter().all(ended) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
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
