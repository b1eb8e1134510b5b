//! Helpers for Rust tests that run scenarios and labs: badnet's own
//! suites use them, and so can a crate's `#[rstest]` tests.

use std::io::Read;
use std::sync::OnceLock;

use faults::Backend;

use crate::run::{self, ProbeOutcome};
use crate::scenario::Scenario;

/// Fails (never skips) without root, with the remedy.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this suite builds network namespaces, links and qdiscs: run it as root (sudo make test)"
    );
}

/// The backend the scenario suites run on: `BADNET_BACKEND` (auto, netem,
/// wire or veth), auto by default, so CI can run them on each backend.
///
/// # Panics
/// If `BADNET_BACKEND` names no backend.
pub fn backend_from_env() -> Backend {
    std::env::var("BADNET_BACKEND").map_or(Backend::Auto, |b| {
        b.parse().unwrap_or_else(|e| panic!("BADNET_BACKEND: {e}"))
    })
}

/// The seed of this test process's random draws: `BADNET_SEED` if set,
/// else fresh from the OS on every run (a fixed seed would make each
/// statistical check's false-failure probability one over seeds, paid
/// once, not one per run). Printed once on standard error, which the test
/// runner shows with a failure, so that it can be replayed:
/// `BADNET_SEED=N cargo nextest run -E 'test(NAME)'`.
///
/// # Panics
/// If `BADNET_SEED` is not a number.
pub fn seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| {
        let seed = match std::env::var("BADNET_SEED") {
            Ok(s) => s.parse().unwrap_or_else(|e| panic!("BADNET_SEED={s}: {e}")),
            Err(_) => {
                let mut buf = [0u8; 8];
                std::fs::File::open("/dev/urandom")
                    .and_then(|mut f| f.read_exact(&mut buf))
                    .expect("reading /dev/urandom");
                u64::from_le_bytes(buf)
            }
        };
        eprintln!("badnet: seed {seed} (replay with BADNET_SEED={seed})");
        seed
    })
}

/// Runs the probes of `scenario` and returns their outcome.
///
/// # Panics
/// Without root, or when the run fails, with the cause.
pub fn run(scenario: &Scenario) -> ProbeOutcome {
    require_root();
    run::execute_probe(scenario).unwrap_or_else(|e| panic!("run failed: {e:#}"))
}

/// Network namespaces of run `id` that still exist.
pub fn namespaces_of(id: &str) -> Vec<String> {
    faults::plumbing::netns_names()
        .into_iter()
        .filter(|n| n.contains(id))
        .collect()
}
