//! What every suite binary of the driver shares.

use std::process::Command;

/// A command that runs the `badnet` binary built beside the suite.
pub fn badnet() -> Command {
    Command::new(env!("CARGO_BIN_EXE_badnet"))
}
