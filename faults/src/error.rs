//! The error type of the `faults` crate.

use std::io;

/// What failed while building, impairing or removing a lab.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value given by the user is outside its range; nothing was changed.
    #[error("invalid {field} '{value}': expected {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: String,
    },
    /// The process lacks CAP_NET_ADMIN (or CAP_SYS_ADMIN for namespaces).
    #[error("{action} needs CAP_NET_ADMIN: run as root (sudo), or rootless inside `unshare -rn` (wire backend only)")]
    NoPermission {
        action: String,
        #[source]
        source: io::Error,
    },
    /// A command (`ip`, `tc`) could not be started.
    #[error("cannot run `{command}`: is iproute2 installed?")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    /// The kernel has no `sch_netem`.
    #[error("this kernel has no sch_netem (tc: {detail}); use --backend wire, or --backend auto to pick it")]
    NoNetem { detail: String },
    /// The hosts handed to [`crate::Lab::build`] could not be made.
    #[error("making the hosts")]
    Hosts {
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The process is stopping (a signal came): it builds nothing more.
    #[error("stopping: no new lab is built")]
    Stopping,
    /// A system call failed.
    #[error("{op} failed")]
    Sys {
        op: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    /// An out-of-range value.
    pub fn invalid(
        field: &'static str,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            field,
            value: value.into(),
            expected: expected.into(),
        }
    }

    /// A failed system call, mapped to [`Error::NoPermission`] on EPERM/EACCES.
    pub fn sys(op: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let op = op.into();
        move |source| {
            if matches!(
                source.raw_os_error(),
                Some(libc::EPERM) | Some(libc::EACCES)
            ) {
                Error::NoPermission { action: op, source }
            } else {
                Error::Sys { op, source }
            }
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
