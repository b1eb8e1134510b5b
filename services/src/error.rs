//! The error type of the `services` crate.

use std::io;

/// What failed in a server, client or probe.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server name did not resolve.
    #[error("cannot resolve server {host}:{port}")]
    Resolve {
        host: String,
        port: u16,
        #[source]
        source: io::Error,
    },
    /// The server name resolved to no address at all.
    #[error("server {host} has no address")]
    NoAddress { host: String },
    /// A socket operation failed.
    #[error("{op} failed")]
    Socket {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A probe parameter is outside the range the probe format allows.
    #[error("{field} = {value} is out of range {min}..={max}")]
    OutOfRange {
        field: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    /// The server did not answer within the wait.
    #[error("server {server} did not answer within {waited:?}")]
    NoServer {
        server: std::net::SocketAddr,
        waited: std::time::Duration,
    },
    /// Standard input ended before a line was read.
    #[error("no input line on standard input")]
    NoInput,
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the name of the operation that failed.
    pub fn socket(op: &'static str) -> impl FnOnce(io::Error) -> Error {
        move |source| Error::Socket { op, source }
    }
}
