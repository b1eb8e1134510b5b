//! The four programs of the socket-programming lecture (an UDP and a TCP
//! "uppercase" server, each with its client), and the probe clients that
//! measure what a transport did to the traffic that crossed it.
//!
//! Libraries do the work, binaries are thin: each server is an
//! `async fn run(socket, .., shutdown)` that a test can call in-process on
//! `127.0.0.1:0`, and each probe is a plain function over a socket.
//!
//! Module map:
//! - [`udp_server`], [`tcp_server`]: the servers. They uppercase what they
//!   get as the lecture's servers do ([`upper`]: Python's `str.upper()`),
//!   and send it back.
//! - [`pace`]: a slow reader's schedule (`--receiver-rate`).
//! - [`interactive`]: the lecture's clients: prompt, send one line, print
//!   the answer.
//! - [`probe`]: the probe line format (sequence number, send time, lowercase
//!   tail), encoded and checked.
//! - [`stats`]: sequence accounting (loss, RFC 4737 reordering, duplicates),
//!   RTT percentiles and RFC 3550 jitter.
//! - [`udp_probe`], [`tcp_probe`]: the measuring clients.
//! - [`report`]: the JSON reports the probes print.
//! - [`sys`]: receive buffers, `TCP_INFO`, `TCP_CONGESTION` and the
//!   descriptor limit. Its one function that reads `TCP_INFO` is the
//!   crate's only unsafe code.
//! - [`child`]: child processes killed on drop, bounded waits on output.
//! - [`cli`]: flags, address resolution, logging and signals shared by the
//!   binaries.
//! - [`error`]: the crate's error type.

#![deny(unsafe_code)]

pub mod child;
pub mod cli;
pub mod error;
pub mod interactive;
pub mod pace;
pub mod probe;
pub mod report;
pub mod stats;
pub mod sys;
pub mod tcp_probe;
pub mod tcp_server;
pub mod udp_probe;
pub mod udp_server;
pub mod upper;

pub use error::{Error, Result};

/// The port of the lecture's programs.
pub const DEFAULT_PORT: u16 = 12000;

/// The line every server prints once it is bound, as the lecture's do.
pub const READY_LINE: &str = "The server is ready to receive";
