//! The backend of a link, and the choice `auto` makes.

use std::sync::OnceLock;

use serde::Serialize;

use crate::lab::host::Host;
use crate::lab::owner::{Building, Run};
use crate::{Error, Result};

/// Which link to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// netem where the kernel has it, else the wire.
    Auto,
    /// veth and the kernel's `sch_netem`.
    Netem,
    /// TUN devices and the userspace forwarder.
    Wire,
    /// A plain veth pair, no qdisc, no impairment: the baseline the
    /// benchmarks measure the others against.
    Veth,
}

impl std::str::FromStr for Backend {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Backend::ALL
            .into_iter()
            .find(|b| b.name() == s)
            .ok_or_else(|| Error::invalid("backend", s, "auto, netem, wire or veth"))
    }
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 4] = [Backend::Auto, Backend::Netem, Backend::Wire, Backend::Veth];

    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::Netem => "netem",
            Backend::Wire => "wire",
            Backend::Veth => "veth",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Picks the backend, with the reason.
pub fn resolve(backend: Backend) -> Result<(Backend, String)> {
    match backend {
        Backend::Wire => Ok((Backend::Wire, "wire: asked for".into())),
        Backend::Veth => Ok((Backend::Veth, "veth: asked for (no impairment)".into())),
        Backend::Netem => match netem_available() {
            Ok(()) => Ok((Backend::Netem, "netem: asked for".into())),
            Err(detail) => Err(Error::NoNetem { detail }),
        },
        Backend::Auto => Ok(match netem_available() {
            Ok(()) => (
                Backend::Netem,
                "auto picked netem: the kernel has sch_netem".into(),
            ),
            Err(detail) => (
                Backend::Wire,
                format!("auto picked wire: the kernel has no sch_netem ({detail})"),
            ),
        }),
    }
}

/// Whether the kernel has `sch_netem`, tried once per process in a
/// throwaway namespace.
pub fn netem_available() -> std::result::Result<(), String> {
    static PROBE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    PROBE.get_or_init(probe_netem).clone()
}

fn probe_netem() -> std::result::Result<(), String> {
    in_throwaway_host("probe", |host| {
        host.tc(&["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"])
            .map(drop)
    })
    .map_err(|e| match e {
        Error::Command { stderr, .. } => stderr,
        other => other.to_string(),
    })
}

/// Runs `f` in a namespace made for it under a run of its own, then
/// removes both; a failure to remove is reported when `f` succeeded.
pub(crate) fn in_throwaway_host<T>(role: &str, f: impl FnOnce(&Host) -> Result<T>) -> Result<T> {
    let _building = Building::start()?;
    let run = Run::start()?;
    let result = Host::create(&run.name(role)).and_then(|host| {
        let tried = f(&host);
        let removed = host.remove();
        tried.and_then(|t| removed.map(|()| t))
    });
    run.finish();
    result
}
