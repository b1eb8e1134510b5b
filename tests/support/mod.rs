//! What every suite binary of the driver shares.

use std::process::Command;

/// A command that runs the `badnet` binary built beside the suite.
pub fn badnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_badnet"))
}

/// `badnet` with the services' programs (built beside it) first on PATH,
/// as after make install: for commands that run them by name.
#[allow(dead_code)] // not every suite binary runs the lecture's programs
pub fn badnet_with_programs() -> Command {
    let bins = std::path::Path::new(env!("CARGO_BIN_EXE_badnet"))
        .parent()
        .expect("the binaries' folder");
    let path = format!(
        "{}:{}",
        bins.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = badnet();
    cmd.env("PATH", path);
    cmd
}

/// `--backend B`: the backend the suites run on (`BADNET_BACKEND`, see
/// [`badnet::testing::backend_from_env`]), for a command's flags.
#[allow(dead_code)] // not every suite binary runs commands on a backend
pub fn on_backend() -> [&'static str; 2] {
    ["--backend", badnet::testing::backend_from_env().name()]
}

/// A JSON number, or a panic that shows it.
#[allow(dead_code)] // not every suite binary reads JSON numbers
pub fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A JSON count, or a panic that shows it.
#[allow(dead_code)]
pub fn count(v: &serde_json::Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}
