//! A lab: two hosts, one link, impairments per direction, and the promise
//! to leave nothing behind.
//!
//! Host A is the client side (198.18.0.1), host B the server side
//! (198.18.0.2). Direction `Forward` is A to B, `Reverse` is B to A.

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::backend::{resolve, Backend};
use crate::counters::CounterSnapshot;
use crate::direction::{Direction, Way};
use crate::host::Host;
use crate::impairment::Impairment;
use crate::link::{Link, ADDR_A, ADDR_B};
use crate::owner::Run;
use crate::rng::Rng;
use crate::{cleanup, Result};

/// What a link did, per direction.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LinkCounters {
    pub forward: CounterSnapshot,
    pub reverse: CounterSnapshot,
}

impl LinkCounters {
    /// What each way counted between `earlier` and these
    /// ([`CounterSnapshot::since`]).
    pub fn since(&self, earlier: &LinkCounters) -> LinkCounters {
        LinkCounters {
            forward: self.forward.since(&earlier.forward),
            reverse: self.reverse.since(&earlier.reverse),
        }
    }
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
            backend = lab.backend().name(),
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

    /// The name of host B's link device.
    pub fn device_b(&self) -> String {
        self.run.as_ref().map_or_else(String::new, |r| r.name("b"))
    }

    /// A's address on the link.
    pub fn addr_a(&self) -> std::net::Ipv4Addr {
        ADDR_A
    }

    /// B's address on the link.
    pub fn addr_b(&self) -> std::net::Ipv4Addr {
        ADDR_B
    }

    /// The backend the link runs on: netem, wire or veth (never auto).
    pub fn backend(&self) -> Backend {
        self.link().backend()
    }

    /// Why this backend was picked.
    pub fn backend_reason(&self) -> &str {
        &self.backend_reason
    }

    fn link(&self) -> &Link {
        self.link.as_ref().expect("a live lab has a link")
    }

    /// Impairs `direction` with `spec`, replacing what was there, and
    /// returns when it took effect (the later way's moment; during a
    /// partition it takes effect at [`Lab::heal`], and this is now).
    /// Validates first: bad input changes nothing.
    pub fn impair(&self, direction: Direction, spec: &Impairment) -> Result<Instant> {
        spec.validate()?;
        let mut configured = self.configured.lock().expect("lab lock");
        let partitioned = *self.partitioned.lock().expect("lab lock");
        let mut applied = Instant::now();
        for &way in direction.ways() {
            if !partitioned {
                applied = applied.max(self.link().set([self.a(), self.b()], way, spec)?);
            }
            configured[way.index()] = spec.clone();
        }
        Ok(applied)
    }

    /// Removes `direction`'s impairment; returns when that took effect.
    pub fn clear(&self, direction: Direction) -> Result<Instant> {
        self.impair(direction, &Impairment::none())
    }

    /// Cuts the link both ways: every packet is lost until [`Lab::heal`].
    /// Returns when both ways were cut.
    pub fn partition(&self) -> Result<Instant> {
        let mut partitioned = self.partitioned.lock().expect("lab lock");
        let mut applied = Instant::now();
        for way in Way::BOTH {
            applied = applied.max(self.link().set(
                [self.a(), self.b()],
                way,
                &Impairment::blackhole(),
            )?);
        }
        *partitioned = true;
        Ok(applied)
    }

    /// Ends a partition: the configured impairments apply again. Returns
    /// when both ways had them back.
    pub fn heal(&self) -> Result<Instant> {
        let mut partitioned = self.partitioned.lock().expect("lab lock");
        let configured = self.configured.lock().expect("lab lock");
        let mut applied = Instant::now();
        for (way, spec) in Way::BOTH.into_iter().zip(configured.iter()) {
            applied = applied.max(self.link().set([self.a(), self.b()], way, spec)?);
        }
        *partitioned = false;
        Ok(applied)
    }

    /// What the link did so far. Counters that cannot be read (`tc -s`
    /// failed) are an error, never zeros.
    pub fn counters(&self) -> Result<LinkCounters> {
        let hosts = [self.a(), self.b()];
        Ok(LinkCounters {
            forward: self.link().counters(hosts, Way::AToB)?,
            reverse: self.link().counters(hosts, Way::BToA)?,
        })
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
