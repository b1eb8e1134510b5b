//! Helpers of the driver's suites.

#![allow(dead_code)] // each suite uses its own part of this module

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use faults::{Backend, Host, Lab};

/// Fails (never skips) without root, with the remedy.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this suite builds network namespaces, links and qdiscs: run it as root (sudo make test)"
    );
}

/// The backend the scenario suites run on: `BADNET_BACKEND` (auto, netem
/// or wire), auto by default, so CI can run them on both where netem exists.
pub fn backend() -> Backend {
    std::env::var("BADNET_BACKEND").map_or(Backend::Auto, |b| {
        b.parse().expect("BADNET_BACKEND is auto, netem or wire")
    })
}

/// A lab of `backend`, seeded for repeatable draws.
pub fn lab(backend: Backend) -> Lab {
    require_root();
    Lab::new(backend, Some(20_261_125)).expect("building a lab")
}

/// A UDP socket bound inside `host`.
pub fn udp_in(host: &Host, addr: SocketAddr) -> UdpSocket {
    let s = host
        .run(|| UdpSocket::bind(addr))
        .expect("entering host")
        .expect("binding");
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    s
}

/// Namespaces of run `id` that still exist.
pub fn namespaces_of(id: &str) -> Vec<String> {
    faults::cleanup::namespaces()
        .into_iter()
        .filter(|n| n.contains(id))
        .collect()
}

/// Path of one of the workspace's binaries (built beside the test).
pub fn bin(name: &str) -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_BIN_EXE_badnet"));
    dir.pop();
    dir.join(name)
}

/// Runs `scenario` and returns its outcome, failing with the cause.
pub fn run(scenario: &badnet::scenario::Scenario) -> badnet::runner::Outcome {
    require_root();
    badnet::runner::run(scenario).unwrap_or_else(|e| panic!("run failed: {e:#}"))
}

/// The UDP report of an outcome.
pub fn udp_report(o: &badnet::runner::Outcome) -> &services::report::UdpReport {
    match &o.report {
        services::report::Report::Udp(r) => r,
        other => panic!("expected a UDP report, got {other:?}"),
    }
}

/// The TCP report of an outcome.
pub fn tcp_report(o: &badnet::runner::Outcome) -> &services::report::TcpReport {
    match &o.report {
        services::report::Report::Tcp(r) => r,
        other => panic!("expected a TCP report, got {other:?}"),
    }
}
