//! Helpers of the network-namespace suites.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use faults::{Backend, Host, Lab};

pub use crate::support::badnet;
pub use badnet::testing::{backend_from_env as backend, namespaces_of, require_root, run, seed};

/// A lab of `backend`, seeded with this run's seed (printed; see
/// [`badnet::testing::seed`]).
pub fn lab(backend: Backend) -> Lab {
    require_root();
    Lab::new(backend, Some(seed())).expect("building a lab")
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

/// Path of one of the workspace's binaries (built beside the test).
pub fn bin(name: &str) -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_BIN_EXE_badnet"));
    dir.pop();
    dir.join(name)
}
