//! Run ids and who owns them, so a later run can tell a dead run's
//! leftovers from a live run's resources.
//!
//! Each run writes `/run/badnet/<id>` (its PID and the process start time)
//! before it creates anything, and removes it after its last resource is
//! gone. A run whose record names a process that is no longer there, or is
//! another process with the same PID, is dead.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::netem::rng::Rng;
use crate::{Error, Result};

/// Every resource name starts with this.
pub const PREFIX: &str = "bn";
const STATE_DIR: &str = "/run/badnet";
/// Length of a run id (hex digits).
pub const ID_LEN: usize = 6;

/// A live run: its id, and its record on disk while it lives.
#[derive(Debug)]
pub struct Run {
    id: String,
    record: PathBuf,
}

/// What to call once, before this process records its first run.
static ON_FIRST_RUN: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();
static FIRST_RUN: std::sync::Once = std::sync::Once::new();

/// Sets what this process calls once, before it records its first run:
/// for a guard that outlives the process and sweeps what a SIGKILL left.
/// The first hook set stays.
pub fn on_first_run(hook: fn()) {
    let _ = ON_FIRST_RUN.set(hook);
}

impl Run {
    /// A new run with a fresh id, recorded as owned by this process.
    pub fn start() -> Result<Self> {
        if let Some(hook) = ON_FIRST_RUN.get() {
            FIRST_RUN.call_once(hook);
        }
        fs::create_dir_all(STATE_DIR).map_err(Error::sys(format!("creating {STATE_DIR}")))?;
        let me = std::process::id();
        let started = start_time(me).unwrap_or_default();
        for _ in 0..16 {
            let id = format!(
                "{:06x}",
                Rng::seeded(Rng::entropy_seed()).next_u32() & 0x00ff_ffff
            );
            let record = PathBuf::from(STATE_DIR).join(&id);
            // The record appears whole or not at all: written under a
            // hidden name, then linked to its own (which fails if the id is
            // taken). A sweep that read it half-written would take a live
            // run for a dead one.
            let draft = PathBuf::from(STATE_DIR).join(format!(".{id}.{me}"));
            fs::write(&draft, format!("{me} {started}\n"))
                .map_err(Error::sys("writing the run record"))?;
            let linked = fs::hard_link(&draft, &record);
            let _ = fs::remove_file(&draft);
            if linked.is_ok() {
                return Ok(Self { id, record });
            }
        }
        Err(Error::sys("choosing a run id")(std::io::Error::other(
            "16 ids in a row were taken",
        )))
    }

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The name of a resource of this run: `bn<id>-<role>`.
    pub fn name(&self, role: &str) -> String {
        format!("{PREFIX}{}-{role}", self.id)
    }

    /// Forgets the run: its resources are gone.
    pub fn finish(self) {
        let _ = fs::remove_file(&self.record);
    }
}

/// Labs (and other resources of a run) being built now in this process.
static BUILDING: AtomicUsize = AtomicUsize::new(0);
/// Set once this process is stopping: nothing more is built.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// While it lives, this process is building something of a run (a lab,
/// a container), and a [`stop_building`] waits for it to be built, so that
/// what it removes next is all there is.
#[must_use = "the build is over when this is dropped"]
#[derive(Debug)]
pub struct Building(());

impl Building {
    /// Starts building, unless this process is stopping.
    pub fn start() -> Result<Self> {
        BUILDING.fetch_add(1, Ordering::SeqCst);
        if STOPPING.load(Ordering::SeqCst) {
            BUILDING.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::Stopping);
        }
        Ok(Self(()))
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        BUILDING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Stops this process from building anything more, and waits (at most
/// `limit`) for what is being built now to be built: for a process about
/// to remove its runs and exit. Whether nothing was left building.
pub fn stop_building(limit: Duration) -> bool {
    STOPPING.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + limit;
    while BUILDING.load(Ordering::SeqCst) > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Whether run `id` is recorded as this process's.
pub fn is_mine(id: &str) -> bool {
    owner_pid(id) == Some(std::process::id())
}

/// The run id inside a resource name, if it is one of ours.
pub fn run_id_of(name: &str) -> Option<&str> {
    let id = name.strip_prefix(PREFIX)?.get(..ID_LEN)?;
    (id.bytes().all(|b| b.is_ascii_hexdigit())
        && name.as_bytes().get(PREFIX.len() + ID_LEN) == Some(&b'-'))
    .then_some(id)
}

/// The PID recorded as the owner of run `id`.
pub fn owner_pid(id: &str) -> Option<u32> {
    fs::read_to_string(PathBuf::from(STATE_DIR).join(id))
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Whether the run `id` still has a live owner.
pub fn is_alive(id: &str) -> bool {
    let Ok(text) = fs::read_to_string(PathBuf::from(STATE_DIR).join(id)) else {
        return false;
    };
    let mut fields = text.split_whitespace();
    let (Some(pid), Some(started)) = (fields.next(), fields.next()) else {
        return false;
    };
    runs(pid, started)
}

/// Whether process `pid` runs and started at `started` (clock ticks since
/// boot), both as written down: the same PID reused by another process
/// does not count.
fn runs(pid: &str, started: &str) -> bool {
    pid.parse()
        .ok()
        .and_then(start_time)
        .is_some_and(|t| t.to_string() == started)
}

/// Records of runs (live or dead) on this machine.
pub fn recorded_runs() -> Vec<String> {
    fs::read_dir(STATE_DIR)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| !name.starts_with('.'))
                .collect()
        })
        .unwrap_or_default()
}

/// Removes the record of a dead run (and its control socket, if it had
/// one).
pub fn forget(id: &str) {
    let _ = fs::remove_file(PathBuf::from(STATE_DIR).join(id));
    let _ = fs::remove_file(control_socket(id));
}

/// Where a held lab of run `id` listens for changes (`badnet fault`).
pub fn control_socket(id: &str) -> PathBuf {
    PathBuf::from(STATE_DIR).join(format!(".{id}.sock"))
}

/// This process, as `PID:START` (its start time in clock ticks since
/// boot): for resources that outlive a run's record by a moment, such as
/// containers removed after the lab, to name who removes them.
pub fn owner_token() -> String {
    let me = std::process::id();
    format!("{me}:{}", start_time(me).unwrap_or_default())
}

/// Whether the process an [`owner_token`] names still runs (the same PID
/// with the same start time).
pub fn owner_alive(token: &str) -> bool {
    token
        .split_once(':')
        .is_some_and(|(pid, started)| runs(pid, started))
}

/// When process `pid` started (clock ticks since boot), if it runs: a
/// zombie (killed, not yet reaped) has ended and owns nothing.
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields 3 (the state) and 22, counted after the command name, which
    // may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_read_back_from_names() {
        assert_eq!(run_id_of("bn1a2b3c-a"), Some("1a2b3c"));
        assert_eq!(run_id_of("bn1a2b3c-srv"), Some("1a2b3c"));
        for other in ["bn1a2b3c", "bnzzzzzz-a", "eth0", "bn1a2b-a", "xbn1a2b3c-a"] {
            assert_eq!(run_id_of(other), None, "{other}");
        }
    }

    #[test]
    fn this_process_is_alive_and_a_made_up_one_is_not() {
        let me = std::process::id();
        assert!(start_time(me).is_some());
        assert!(start_time(u32::MAX).is_none());
    }

    #[test]
    fn an_owner_token_names_this_process_and_no_other() {
        assert!(owner_alive(&owner_token()));
        let me = std::process::id();
        // This PID with another start time: a reused PID.
        assert!(!owner_alive(&format!("{me}:0")));
        assert!(!owner_alive(&format!("{}:1", u32::MAX)));
        assert!(!owner_alive(""));
        assert!(!owner_alive("not a token"));
    }
}
