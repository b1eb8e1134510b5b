//! Helpers for Rust tests that run scenarios and labs: badnet's own
//! suites use them, and so can a crate's `#[rstest]` tests.

use faults::Backend;

use crate::runner::{self, Outcome};
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

/// Runs `scenario` and returns its outcome.
///
/// # Panics
/// Without root, or when the run fails, with the cause.
pub fn run(scenario: &Scenario) -> Outcome {
    require_root();
    runner::run(scenario).unwrap_or_else(|e| panic!("run failed: {e:#}"))
}

/// Network namespaces of run `id` that still exist.
pub fn namespaces_of(id: &str) -> Vec<String> {
    faults::netns_names()
        .into_iter()
        .filter(|n| n.contains(id))
        .collect()
}
