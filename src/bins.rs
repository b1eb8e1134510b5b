//! Finding the services' binaries: beside `badnet`, or where
//! `BADNET_BIN_DIR` says.

use std::path::PathBuf;

/// The path of binary `name` (`udp-server`, `tcp-client`, ...).
pub fn locate(name: &str) -> anyhow::Result<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("BADNET_BIN_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            dirs.push(dir.to_owned());
            // Test executables live in target/<profile>/deps.
            if let Some(up) = dir.parent() {
                dirs.push(up.to_owned());
            }
        }
    }
    dirs.iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| anyhow::anyhow!("cannot find the `{name}` binary in {dirs:?}: build the workspace (cargo build --workspace) or set BADNET_BIN_DIR"))
}

/// The lecture's four programs.
pub const LECTURE: [&str; 4] = ["udp-server", "udp-client", "tcp-server", "tcp-client"];

/// What to run for `program` as a user wrote it: one of the lecture's four
/// by its bare name is the one beside `badnet`, anything else is as given
/// (a path, or a name looked up on `PATH`).
pub fn resolve(program: &str) -> String {
    if LECTURE.contains(&program) {
        if let Ok(path) = locate(program) {
            return path.to_string_lossy().into_owned();
        }
    }
    program.to_owned()
}
