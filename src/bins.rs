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
