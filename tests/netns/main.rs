//! The driver's suites on network-namespace hosts, one binary: each module
//! is a suite, `common` their helpers.

#[path = "../support/mod.rs"]
mod support;

mod common;

mod capture;
mod cluster;
mod demo;
mod driver;
mod flags;
mod lab;
mod mesh;
mod others;
mod programs;
mod renumber;
mod scenarios;
mod share;
mod signals;
mod sweep;
mod tcp;
mod timeline;
mod timeliness;
mod udp;
mod wire_fidelity;
