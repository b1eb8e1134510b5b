//! Helpers of the network-namespace suites.

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use faults::{Backend, Host, Lab};

pub use crate::support::{badnet, badnet_with_programs, count, num, on_backend};
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

/// How late a timeline step may take effect on the wire: the forwarder
/// takes a command within microseconds of being woken, so 10 ms is the
/// scheduler's slack on a busy 2-core machine, not the link's. netem's
/// `tc` takes longer to start: 50 ms.
pub const STEP_SLACK_MS: f64 = 10.0;

/// `badnet run --json ARGS`: its exit code, its JSON (null if none), its
/// standard error.
pub fn run_json(args: &[&str]) -> (Option<i32>, serde_json::Value, String) {
    require_root();
    let out = badnet()
        .args(["run", "--json"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        serde_json::from_slice(&out.stdout).unwrap_or_default(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `badnet run --json --backend B ARGS` on the suites' backend: its JSON,
/// or a panic with its standard error unless it exited 0.
pub fn run_ok(args: &[&str]) -> serde_json::Value {
    json_ok("run", args)
}

/// `badnet COMMAND --json --backend B ARGS` on the suites' backend: its
/// JSON, or a panic with its standard error unless it exited 0.
pub fn json_ok(command: &str, args: &[&str]) -> serde_json::Value {
    require_root();
    let out = badnet()
        .args([command, "--json"])
        .args(on_backend())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "badnet {command} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A run's timeline has steps, each applied no earlier than due and
/// within [`STEP_SLACK_MS`] after (50 ms on netem).
pub fn steps_on_time(json: &serde_json::Value) {
    let steps = json["timeline"].as_array().unwrap();
    assert!(!steps.is_empty(), "{json}");
    let slack = if json["backend"] == "wire" {
        STEP_SLACK_MS
    } else {
        50.0
    };
    for step in steps {
        let late = num(&step["applied_ms"]) - num(&step["at_ms"]);
        assert!(
            (0.0..=slack).contains(&late),
            "'{}' applied {late:.2} ms after it was due: {json}",
            step["action"]
        );
    }
}
