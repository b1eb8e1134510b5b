//! A lab: two hosts, one link, impairments per direction, and the promise
//! to leave nothing behind.
//!
//! Host A is the client side (198.18.0.1), host B the server side
//! (198.18.0.2). Direction `Forward` is A to B, `Reverse` is B to A.

pub mod backend;
pub mod cleanup;
pub mod direction;
pub mod host;
pub mod link;
pub mod owner;

use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::lab::backend::{resolve, Backend};
use crate::lab::direction::{Direction, Way};
use crate::lab::host::Host;
use crate::lab::link::{Link, ADDR_A, ADDR_B};
use crate::lab::owner::Run;
use crate::netem::counters::CounterSnapshot;
use crate::netem::impairment::Impairment;
use crate::netem::rng::Rng;
use crate::Result;

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

/// A change of the link: when it took effect, and the link's counts
/// just before and just after it (on the wire one count, taken by each
/// forwarder as it swapped models, so that what happened before and after
/// the change add up to the whole).
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub at: Instant,
    pub before: LinkCounters,
    pub after: LinkCounters,
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
    /// A's address now (it changes with [`Lab::renumber_a`]).
    addr_a: Mutex<std::net::Ipv4Addr>,
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
            addr_a: Mutex::new(ADDR_A),
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

    /// A's address on the link (after [`Lab::renumber_a`], the new one).
    pub fn addr_a(&self) -> std::net::Ipv4Addr {
        *self.addr_a.lock().expect("lab lock")
    }

    /// Gives host A another address in the run's range,
    /// [`crate::ADDR_A_RENUMBERED`], while traffic flows, as a client whose
    /// address changes (a new DHCP lease, a move between networks). Routes
    /// follow: B reaches A at the new address, A's packets to B leave from
    /// it. Returns when it was done, with the link's counts around it. A
    /// host renumbered once is refused a second time.
    pub fn renumber_a(&self) -> Result<Change> {
        let mut addr = self.addr_a.lock().expect("lab lock");
        let new = crate::lab::link::ADDR_A_RENUMBERED;
        if *addr == new {
            return Err(crate::Error::invalid(
                "renumber",
                new.to_string(),
                "one renumbering per run",
            ));
        }
        let (dev_a, dev_b) = (self.device_a(), self.device_b());
        self.link()
            .renumber_a([self.a(), self.b()], [&dev_a, &dev_b], *addr, new)?;
        let at = Instant::now();
        *addr = new;
        // One count for both sides: what crossed during the few
        // milliseconds of the change counts before it.
        let counts = self.counters()?;
        Ok(Change {
            at,
            before: counts,
            after: counts,
        })
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
    /// returns the [`Change`]. During a partition it takes effect at
    /// [`Lab::heal`]. Validates first: bad input changes nothing.
    pub fn impair(&self, direction: Direction, spec: &Impairment) -> Result<Change> {
        spec.validate()?;
        let mut configured = self.configured.lock().expect("lab lock");
        let partitioned = *self.partitioned.lock().expect("lab lock");
        let ways: Vec<(Way, Impairment)> = direction
            .ways()
            .iter()
            .map(|&way| (way, spec.clone()))
            .collect();
        let change = if partitioned {
            let now = self.counters()?;
            Ok(Change {
                at: Instant::now(),
                before: now,
                after: now,
            })
        } else {
            self.change(&ways)
        };
        for (way, spec) in ways {
            configured[way.index()] = spec;
        }
        change
    }

    /// Removes `direction`'s impairment; returns the [`Change`].
    pub fn clear(&self, direction: Direction) -> Result<Change> {
        self.impair(direction, &Impairment::none())
    }

    /// Cuts the link both ways: every packet is lost until [`Lab::heal`].
    pub fn partition(&self) -> Result<Change> {
        let mut partitioned = self.partitioned.lock().expect("lab lock");
        let change = self.change(&Way::BOTH.map(|w| (w, Impairment::blackhole())))?;
        *partitioned = true;
        Ok(change)
    }

    /// Ends a partition: the configured impairments apply again.
    pub fn heal(&self) -> Result<Change> {
        let mut partitioned = self.partitioned.lock().expect("lab lock");
        let configured = self.configured.lock().expect("lab lock").clone();
        let change = self.change(&[
            (Way::AToB, configured[0].clone()),
            (Way::BToA, configured[1].clone()),
        ])?;
        *partitioned = false;
        Ok(change)
    }

    /// Sets each way's spec, and says when and with which counts. The
    /// wire's forwarders report their counts at the moment they swap
    /// models (exact); for netem they are read before `tc` runs and after
    /// it (a qdisc that is replaced may start its counts again).
    fn change(&self, ways: &[(Way, Impairment)]) -> Result<Change> {
        let hosts = [self.a(), self.b()];
        let exact = matches!(self.link(), Link::Wire(_));
        let before = if exact { None } else { Some(self.counters()?) };
        let mut at = Instant::now();
        let mut taken: [Option<CounterSnapshot>; 2] = [None, None];
        for (way, spec) in ways {
            let (t, counts) = self.link().set(hosts, *way, spec)?;
            at = at.max(t);
            taken[way.index()] = counts;
        }
        let now = self.counters()?;
        let at_swap = LinkCounters {
            forward: taken[0].unwrap_or(now.forward),
            reverse: taken[1].unwrap_or(now.reverse),
        };
        Ok(Change {
            at,
            before: before.unwrap_or(at_swap),
            after: if exact { at_swap } else { now },
        })
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
