//! Bad input, and the exit code of every failure.

/// Input that badnet refuses before it changes anything.
#[derive(Debug, thiserror::Error)]
#[error("invalid {flag}: {message}")]
pub struct BadInput {
    /// The flag (or field) at fault, e.g. `--timeout`.
    pub flag: String,
    /// What is wrong with it, and what is expected.
    pub message: String,
}

impl BadInput {
    /// Bad input to `flag`.
    pub fn new(flag: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            flag: flag.into(),
            message: message.into(),
        }
    }
}

/// The exit code of a failed command, as the README gives them: 2 for bad
/// input (anywhere in the chain of causes), 1 for a failure to run.
pub fn exit_code(e: &anyhow::Error) -> u8 {
    let bad_input = e.chain().any(|cause| {
        cause.is::<BadInput>()
            || matches!(
                cause.downcast_ref::<faults::Error>(),
                Some(faults::Error::Invalid { .. })
            )
    });
    if bad_input {
        2
    } else {
        1
    }
}
