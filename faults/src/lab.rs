//! A lab: two hosts, one link, impairments per direction, and the promise
//! to leave nothing behind.
//!
//! Host A is the client side (198.18.0.1), host B the server side
//! (198.18.0.2). Direction `Forward` is A to B, `Reverse` is B to A.

use std::sync::{Mutex, OnceLock};

use serde::Serialize;

use crate::counters::CounterSnapshot;
use crate::host::Host;
use crate::impairment::Impairment;
use crate::link::{Link, ADDR_A, ADDR_B};
use crate::owner::Run;
use crate::rng::Rng;
use crate::{cleanup, Error, Result};

/// Which link to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
        match s {
            "auto" => Ok(Backend::Auto),
            "netem" => Ok(Backend::Netem),
            "wire" => Ok(Backend::Wire),
            "veth" => Ok(Backend::Veth),
            other => Err(Error::invalid(
                "backend",
                other,
                "auto, netem, wire or veth (no impairment)",
            )),
        }
    }
}

/// Which way across the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A to B (client to server).
    Forward,
    /// B to A (server to client).
    Reverse,
    /// Both ways, each with the same spec (netem shapes egress only, so this
    /// is one qdisc on each end).
    Both,
}

impl Direction {
    /// The spec of each direction (A to B, B to A) when `spec` is applied in
    /// this direction.
    pub fn split(self, spec: &Impairment) -> [Impairment; 2] {
        let none = Impairment::none();
        match self {
            Direction::Forward => [spec.clone(), none],
            Direction::Reverse => [none, spec.clone()],
            Direction::Both => [spec.clone(), spec.clone()],
        }
    }

    fn indices(self) -> &'static [usize] {
        match self {
            Direction::Forward => &[0],
            Direction::Reverse => &[1],
            Direction::Both => &[0, 1],
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "forward" => Ok(Direction::Forward),
            "reverse" => Ok(Direction::Reverse),
            "both" => Ok(Direction::Both),
            other => Err(Error::invalid(
                "direction",
                other,
                "both, forward or reverse",
            )),
        }
    }
}

/// What a link did, per direction.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LinkCounters {
    pub forward: CounterSnapshot,
    pub reverse: CounterSnapshot,
}

/// Two hosts joined by an impaired link. Removed on [`Lab::remove`], or
/// (logged, best effort) on drop; `BADNET_KEEP=1` keeps it for debugging.
#[must_use = "a lab is torn down when dropped"]
#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: the link (forwarder threads, TUN fds)
    // goes first, then the hosts, then the run record.
    link: Option<Link>,
    a: Option<Host>,
    b: Option<Host>,
    run: Option<Run>,
    configured: Mutex<[Impairment; 2]>,
    partitioned: Mutex<bool>,
    backend_reason: String,
}

impl Lab {
    /// Sweeps what dead runs left, then builds two network-namespace hosts
    /// and a clean link of the chosen backend. On any failure, removes what
    /// it had built.
    ///
    /// Requires CAP_NET_ADMIN and CAP_SYS_ADMIN.
    pub fn new(backend: Backend, seed: Option<u64>) -> Result<Self> {
        let none = Impairment::none();
        Self::build(backend, seed, [&none, &none], |run| {
            Ok((Host::create(&run.name("a"))?, Host::create(&run.name("b"))?))
        })
    }

    /// Like [`Lab::new`], with hosts made by `hosts` (given the run, for
    /// names) and each direction's impairment in place before the first
    /// packet can cross: for programs that start before their link exists.
    pub fn build(
        backend: Backend,
        seed: Option<u64>,
        initial: [&Impairment; 2],
        hosts: impl FnOnce(&Run) -> Result<(Host, Host)>,
    ) -> Result<Self> {
        for spec in initial {
            spec.validate()?;
        }
        if let Err(e) = cleanup::sweep() {
            tracing::warn!("sweeping dead runs: {e}");
        }
        let (backend, reason) = resolve(backend)?;
        let run = Run::start()?;
        let mut lab = Lab {
            link: None,
            a: None,
            b: None,
            configured: Mutex::new([initial[0].clone(), initial[1].clone()]),
            partitioned: Mutex::new(false),
            backend_reason: reason,
            run: None,
        };
        let (dev_a, dev_b) = (run.name("a"), run.name("b"));
        let made = hosts(&run);
        lab.run = Some(run);
        let (a, b) = made?;
        lab.a = Some(a);
        lab.b = Some(b);
        let (a, b) = (lab.a(), lab.b());
        let link = match backend {
            Backend::Wire => Link::wire(
                a,
                b,
                &dev_a,
                &dev_b,
                initial[0],
                initial[1],
                seed.unwrap_or_else(Rng::entropy_seed),
            )?,
            _ => Link::veth(a, b, &dev_a, &dev_b, initial, backend == Backend::Netem)?,
        };
        lab.link = Some(link);
        tracing::info!(
            run = lab.run_id(),
            backend = lab.backend(),
            "lab ready: {}",
            lab.backend_reason
        );
        Ok(lab)
    }

    /// The run id in every name of this lab.
    pub fn run_id(&self) -> &str {
        self.run.as_ref().map_or("", Run::id)
    }

    /// Host A (client side).
    pub fn a(&self) -> &Host {
        self.a.as_ref().expect("a live lab has host a")
    }

    /// Host B (server side).
    pub fn b(&self) -> &Host {
        self.b.as_ref().expect("a live lab has host b")
    }

    /// The name of host A's link device (where to capture).
    pub fn device_a(&self) -> String {
        self.run.as_ref().map_or_else(String::new, |r| r.name("a"))
    }

    /// A's address on the link.
    pub fn addr_a(&self) -> std::net::Ipv4Addr {
        ADDR_A
    }

    /// B's address on the link.
    pub fn addr_b(&self) -> std::net::Ipv4Addr {
        ADDR_B
    }

    /// `netem`, `wire` or `veth`.
    pub fn backend(&self) -> &'static str {
        self.link.as_ref().map_or("none", Link::kind)
    }

    /// Why this backend was picked.
    pub fn backend_reason(&self) -> &str {
        &self.backend_reason
    }

    fn link(&self) -> &Link {
        self.link.as_ref().expect("a live lab has a link")
    }

    /// Impairs `direction` with `spec`, replacing what was there. Validates
    /// first: bad input changes nothing.
    pub fn impair(&self, direction: Direction, spec: &Impairment) -> Result<()> {
        spec.validate()?;
        let mut configured = self.configured.lock().expect("lab lock");
        let partitioned = *self.partitioned.lock().expect("lab lock");
        for &d in direction.indices() {
            if !partitioned {
                self.link().set([self.a(), self.b()], d, spec)?;
            }
            configured[d] = spec.clone();
        }
        Ok(())
    }

    /// Removes `direction`'s impairment.
    pub fn clear(&self, direction: Direction) -> Result<()> {
        self.impair(direction, &Impairment::none())
    }

    /// Cuts the link both ways: every packet is lost until [`Lab::heal`].
    pub fn partition(&self) -> Result<()> {
        let mut partitioned = self.partitioned.lock().expect("lab lock");
        for d in 0..2 {
            self.link()
                .set([self.a(), self.b()], d, &Impairment::blackhole())?;
        }
        *partitioned = true;
        Ok(())
    }

    /// Ends a partition: the configured impairments apply again.
    pub fn heal(&self) -> Result<()> {
        let mut partitioned = self.partitioned.lock().expect("lab lock");
        let configured = self.configured.lock().expect("lab lock");
        for (d, spec) in configured.iter().enumerate() {
            self.link().set([self.a(), self.b()], d, spec)?;
        }
        *partitioned = false;
        Ok(())
    }

    /// What the link did so far.
    pub fn counters(&self) -> LinkCounters {
        let hosts = [self.a(), self.b()];
        LinkCounters {
            forward: self.link().counters(hosts, 0),
            reverse: self.link().counters(hosts, 1),
        }
    }

    /// Tears everything down and reports the first failure: the link, then
    /// every process left in the hosts, then the hosts, then the run record.
    pub fn remove(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        drop(self.link.take());
        let mut first_error = None;
        for host in [self.a.take(), self.b.take()].into_iter().flatten() {
            for pid in host.pids() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if let Err(e) = host.remove() {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            None => {
                if let Some(run) = self.run.take() {
                    run.finish();
                }
                Ok(())
            }
            Some(e) => Err(e),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if self.run.is_none() {
            return;
        }
        if std::env::var_os("BADNET_KEEP").is_some() {
            tracing::warn!(
                run = self.run_id(),
                "BADNET_KEEP: keeping the lab; `badnet cleanup` removes it"
            );
            std::mem::forget(self.a.take());
            std::mem::forget(self.b.take());
            std::mem::forget(self.run.take());
            return;
        }
        if let Err(e) = self.teardown() {
            tracing::warn!(
                run = self.run_id(),
                "tearing the lab down: {e}; `badnet cleanup` will sweep it"
            );
        }
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
    let run = Run::start()?;
    let result = Host::create(&run.name(role)).and_then(|host| {
        let tried = f(&host);
        let removed = host.remove();
        tried.and_then(|t| removed.map(|()| t))
    });
    run.finish();
    result
}
