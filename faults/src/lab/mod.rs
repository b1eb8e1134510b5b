//! A lab: named hosts on one switch, faults between any two of them, and
//! the promise to leave nothing behind.
//!
//! A lab is built from a [`Topology`] (the hosts' names and the pairs'
//! impairments). Host `i` has address 198.18.0.(i+1) on the common network
//! 198.18.0.0/15. The classic lab is its case of two hosts: A (`a`, the
//! client side, 198.18.0.1) and B (`b`, the server side, 198.18.0.2), where
//! direction `Forward` is A to B and `Reverse` B to A.
//!
//! One lock holds the lab's state: what each pair is impaired with, the
//! grudge (the directed pairs cut), each host's address, which hosts are
//! down. Every change computes each sender's pairs anew from it and gives
//! the link only what changed.

pub mod backend;
pub mod cleanup;
pub mod counts;
pub mod direction;
pub mod fault;
pub mod host;
pub mod link;
pub mod owner;
pub mod topology;

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::lab::backend::{resolve, Backend};
use crate::lab::counts::PairCounters;
use crate::lab::direction::Direction;
use crate::lab::fault::Fault;
use crate::lab::host::Host;
use crate::lab::link::Link;
use crate::lab::owner::{Building, Run};
use crate::lab::topology::{address, Pairs, Topology, ADDRESSES};
use crate::netem::counters::CounterSnapshot;
use crate::netem::impairment::Impairment;
use crate::netem::rng::Rng;
use crate::wire::switch::PortSpec;
use crate::{Error, Result};

/// What the two-host link did, per direction.
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

    /// The first host to the second, and back.
    fn of(pairs: &PairCounters) -> Self {
        LinkCounters {
            forward: pairs.pair(0, 1),
            reverse: pairs.pair(1, 0),
        }
    }
}

/// A change of the network: when it took effect, and the links' counts
/// just before and just after it (on the wire one count, taken by each
/// port as it swapped models, so that what happened before and after the
/// change add up to the whole). `before` and `after` are the first two
/// hosts' link; `pairs_before` and `pairs_after` every pair.
#[derive(Debug, Clone)]
pub struct Change {
    pub at: Instant,
    pub before: LinkCounters,
    pub after: LinkCounters,
    pub pairs_before: PairCounters,
    pub pairs_after: PairCounters,
}

/// Which directed pairs a verb acts on: a [`Direction`] of the first two
/// hosts, [`Pairs`] by name, or its text (`"h1->h2"`).
pub trait Select {
    /// The pairs, by host index.
    fn select(&self, topology: &Topology) -> Result<Vec<(usize, usize)>>;
}

impl Select for Direction {
    fn select(&self, _: &Topology) -> Result<Vec<(usize, usize)>> {
        Ok(match self {
            Direction::Forward => vec![(0, 1)],
            Direction::Reverse => vec![(1, 0)],
            Direction::Both => vec![(0, 1), (1, 0)],
        })
    }
}

impl Select for Pairs {
    fn select(&self, topology: &Topology) -> Result<Vec<(usize, usize)>> {
        topology.resolve(self)
    }
}

impl Select for &str {
    fn select(&self, topology: &Topology) -> Result<Vec<(usize, usize)>> {
        topology.resolve(&self.parse()?)
    }
}

/// How to build a lab: its topology, backend and seed.
#[derive(Debug, Clone)]
#[must_use]
pub struct Builder {
    topology: Topology,
    backend: Backend,
    seed: Option<u64>,
}

impl Builder {
    /// The backend (default [`Backend::Auto`]).
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The seed every pair's draws derive from (default: one drawn, and
    /// reported by [`Lab::seed`]).
    pub fn seed(mut self, seed: Option<u64>) -> Self {
        self.seed = seed;
        self
    }

    /// Sweeps what dead runs left, then builds the hosts (network
    /// namespaces, made in one batch) on one switch with each pair's
    /// impairment in place before the first packet can cross. On any
    /// failure, removes what it had built.
    ///
    /// Requires CAP_NET_ADMIN and CAP_SYS_ADMIN.
    pub fn build(self) -> Result<Lab> {
        self.build_with(|run, names| {
            let names: Vec<String> = names.iter().map(|n| run.name(n)).collect();
            Host::create_many(&names)
        })
    }

    /// Like [`Builder::build`], with the hosts made by `hosts` (given the
    /// run, for names, and the hosts' names): for hosts that are
    /// containers, or programs that start before their link exists.
    pub fn build_with(
        self,
        hosts: impl FnOnce(&Run, &[String]) -> Result<Vec<Host>>,
    ) -> Result<Lab> {
        let Builder {
            topology,
            backend,
            seed,
        } = self;
        let state = State::new(&topology)?;
        if backend == Backend::Veth && state.impaired() {
            return Err(veth_refuses());
        }
        if backend != Backend::Wire && topology.len() > crate::lab::link::BRIDGE_HOSTS {
            return Err(Error::invalid(
                "hosts",
                topology.len().to_string(),
                format!(
                    "at most {} hosts on a bridge (netem, veth); the wire takes more",
                    crate::lab::link::BRIDGE_HOSTS
                ),
            ));
        }
        let _building = Building::start()?;
        if let Err(e) = crate::lab::cleanup::sweep() {
            tracing::warn!("sweeping dead runs: {e}");
        }
        let (backend, reason) = resolve(backend)?;
        let run = Run::start()?;
        let names: Arc<[String]> = topology.names().into();
        let devs = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let dev = run.name(n);
                if dev.len() < libc::IFNAMSIZ {
                    dev
                } else {
                    run.name(&(i + 1).to_string())
                }
            })
            .collect();
        let mut lab = Lab {
            link: None,
            hosts: Vec::new(),
            switch: None,
            run: None,
            names,
            devs,
            seed: seed.unwrap_or_else(Rng::entropy_seed),
            state: Mutex::new(state),
            topology,
            backend_reason: reason,
        };
        let made = hosts(&run, lab.topology.names());
        lab.run = Some(run);
        lab.hosts = made?;
        lab.link = Some(lab.connect(backend)?);
        tracing::info!(
            run = lab.run_id(),
            backend = lab.backend().name(),
            hosts = lab.hosts.len(),
            "lab ready: {}",
            lab.backend_reason
        );
        Ok(lab)
    }
}

/// What the lab's lock holds.
#[derive(Debug, Clone)]
struct State {
    /// Every pair's impairment unless `pairs` names it.
    default: Impairment,
    pairs: HashMap<(usize, usize), Impairment>,
    /// The directed pairs cut.
    grudge: BTreeSet<(usize, usize)>,
    /// Each host's address now.
    addrs: Vec<Ipv4Addr>,
    /// The number of the next address a renumbered host gets.
    next_address: u32,
    /// What each sender's pairs are set to on the link.
    applied: Vec<PortSpec>,
}

impl State {
    fn new(topology: &Topology) -> Result<Self> {
        let n = topology.len();
        let mut state = State {
            default: topology.default_impairment().clone(),
            pairs: HashMap::new(),
            grudge: BTreeSet::new(),
            addrs: (1..=n as u32).map(address).collect(),
            next_address: n as u32 + 1,
            applied: vec![PortSpec::default(); n],
        };
        for (pairs, spec) in topology.pair_impairments() {
            for pair in topology.resolve(pairs)? {
                state.pairs.insert(pair, spec.clone());
            }
        }
        Ok(state)
    }

    /// Whether any pair is impaired or cut.
    fn impaired(&self) -> bool {
        !self.default.is_none()
            || !self.grudge.is_empty()
            || self.pairs.values().any(|s| !s.is_none())
    }

    /// What each sender's pairs should be set to: a cut pair loses every
    /// packet, the others have their impairment.
    fn ports(&self) -> Vec<PortSpec> {
        let mut ports: Vec<PortSpec> = (0..self.addrs.len())
            .map(|_| PortSpec {
                default: self.default.clone(),
                pairs: HashMap::new(),
            })
            .collect();
        for (&(s, d), spec) in &self.pairs {
            ports[s].pairs.insert(d, spec.clone());
        }
        for &(s, d) in &self.grudge {
            ports[s].pairs.insert(d, Impairment::blackhole());
        }
        ports
    }
}

/// Hosts on one switch, with faults between them. Removed on
/// [`Lab::remove`], or (logged, best effort) on drop; `BADNET_KEEP=1` keeps
/// it for debugging.
#[must_use = "a lab is torn down when dropped"]
#[derive(Debug)]
pub struct Lab {
    // Field order is drop order: the link (the switch's threads, TUN fds)
    // goes first, then the hosts, then the run record.
    link: Option<Link>,
    hosts: Vec<Host>,
    /// The bridge's namespace, for three or more hosts on veth.
    switch: Option<Host>,
    run: Option<Run>,
    topology: Topology,
    names: Arc<[String]>,
    devs: Vec<String>,
    state: Mutex<State>,
    backend_reason: String,
    seed: u64,
}

impl Lab {
    /// How to build a lab of `topology`.
    pub fn builder(topology: Topology) -> Builder {
        Builder {
            topology,
            backend: Backend::Auto,
            seed: None,
        }
    }

    /// Sweeps what dead runs left, then builds the two hosts A and B and a
    /// clean link of the chosen backend. On any failure, removes what it
    /// had built.
    ///
    /// Requires CAP_NET_ADMIN and CAP_SYS_ADMIN.
    pub fn new(backend: Backend, seed: Option<u64>) -> Result<Self> {
        Self::builder(Topology::two())
            .backend(backend)
            .seed(seed)
            .build()
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
        let topology = Topology::two()
            .impair(Pairs::One("a".into(), "b".into()), initial[0].clone())?
            .impair(Pairs::One("b".into(), "a".into()), initial[1].clone())?;
        Self::builder(topology)
            .backend(backend)
            .seed(seed)
            .build_with(|run, _| hosts(run).map(|(a, b)| vec![a, b]))
    }

    /// Joins the hosts with the backend's link, each pair's impairment in
    /// place.
    fn connect(&mut self, backend: Backend) -> Result<Link> {
        let run = self.run.as_ref().expect("a run");
        let hosts: Vec<&Host> = self.hosts.iter().collect();
        let mut state = self.state.lock().expect("lab lock");
        let ports = state.ports();
        let link = match (backend, hosts.len()) {
            (Backend::Wire, _) => {
                Link::wire(&hosts, &self.devs, &state.addrs, ports.clone(), self.seed)?
            }
            (_, 2) => Link::veth(
                hosts[0],
                hosts[1],
                &self.devs[0],
                &self.devs[1],
                [ports[0].of(1), ports[1].of(0)],
                backend == Backend::Netem,
            )?,
            (_, n) => {
                let switch = Host::create(&run.name("sw"))?;
                let link_ports: Vec<String> = (0..n).map(|i| run.name(&format!("p{i}"))).collect();
                let made = Link::bridge(
                    &switch,
                    &run.name("br"),
                    &hosts,
                    &self.devs,
                    &link_ports,
                    &state.addrs,
                    backend == Backend::Netem,
                );
                self.switch = Some(switch);
                let link = made?;
                for (from, new) in ports.iter().enumerate() {
                    link.set_port(&hosts, &state.addrs, from, &PortSpec::default(), new)?;
                }
                link
            }
        };
        state.applied = ports;
        Ok(link)
    }

    /// The run id in every name of this lab.
    pub fn run_id(&self) -> &str {
        self.run.as_ref().map_or("", Run::id)
    }

    /// The seed every pair's draws derive from (given, or drawn): build
    /// with it again to replay the run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The lab's topology as built (its hosts' names and first
    /// impairments).
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// Every host, in the topology's order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The hosts' names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Host `name`.
    pub fn host(&self, name: &str) -> Result<&Host> {
        Ok(&self.hosts[self.topology.index(name)?])
    }

    /// Host `name`'s address now.
    pub fn address(&self, name: &str) -> Result<Ipv4Addr> {
        let i = self.topology.index(name)?;
        Ok(self.state.lock().expect("lab lock").addrs[i])
    }

    /// Host `name`'s device on the switch (where to capture).
    pub fn device(&self, name: &str) -> Result<&str> {
        Ok(&self.devs[self.topology.index(name)?])
    }

    /// Host A (client side): the first host.
    pub fn a(&self) -> &Host {
        &self.hosts[0]
    }

    /// Host B (server side): the second host.
    pub fn b(&self) -> &Host {
        &self.hosts[1]
    }

    /// The name of host A's link device (where to capture).
    pub fn device_a(&self) -> String {
        self.devs[0].clone()
    }

    /// The name of host B's link device.
    pub fn device_b(&self) -> String {
        self.devs[1].clone()
    }

    /// A's address (after [`Lab::renumber_a`], the new one).
    pub fn addr_a(&self) -> Ipv4Addr {
        self.state.lock().expect("lab lock").addrs[0]
    }

    /// B's address.
    pub fn addr_b(&self) -> Ipv4Addr {
        self.state.lock().expect("lab lock").addrs[1]
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

    fn host_refs(&self) -> Vec<&Host> {
        self.hosts.iter().collect()
    }

    /// Impairs the pairs `pairs` selects with `spec`, replacing what they
    /// had (a [`Direction`], or pairs by name: `"h1->h2"`, `"h1<->h2"`,
    /// `"h1->*"`, `"*->h1"`, `"*"`). A pair that is cut takes it when
    /// healed. Validates first: bad input changes nothing.
    pub fn impair(&self, pairs: impl Select, spec: &Impairment) -> Result<Change> {
        spec.validate()?;
        let pairs = pairs.select(&self.topology)?;
        self.change(|state| {
            if pairs.len() == self.names.len() * (self.names.len() - 1) {
                state.default = spec.clone();
                state.pairs.clear();
            } else {
                for p in pairs {
                    state.pairs.insert(p, spec.clone());
                }
            }
            Ok(())
        })
    }

    /// Removes the impairment of the pairs `pairs` selects.
    pub fn clear(&self, pairs: impl Select) -> Result<Change> {
        self.impair(pairs, &Impairment::none())
    }

    /// Cuts every pair, both ways, until [`Lab::heal`].
    pub fn partition(&self) -> Result<Change> {
        self.apply(&Fault::Partition(Vec::new()))
    }

    /// Cuts each group from the others, both ways (hosts no group names
    /// keep every link), until [`Lab::heal`].
    pub fn partition_groups(&self, groups: &[&[&str]]) -> Result<Change> {
        self.apply(&Fault::Partition(
            groups
                .iter()
                .map(|g| g.iter().map(|h| (*h).to_owned()).collect())
                .collect(),
        ))
    }

    /// Cuts `host` from every other host, both ways.
    pub fn isolate(&self, host: &str) -> Result<Change> {
        self.apply(&Fault::Isolate(host.to_owned()))
    }

    /// Drops what `from` sends to `to`; what `to` sends `from` passes.
    pub fn oneway(&self, from: &str, to: &str) -> Result<Change> {
        self.apply(&Fault::Oneway(from.to_owned(), to.to_owned()))
    }

    /// Ends every cut: each pair has its impairment again.
    pub fn heal(&self) -> Result<Change> {
        self.apply(&Fault::Heal)
    }

    /// Takes `host`'s device down: it sends and receives nothing (packets
    /// to it are counted as the switch's failed writes on the wire).
    pub fn down(&self, host: &str) -> Result<Change> {
        self.apply(&Fault::Down(host.to_owned()))
    }

    /// Brings `host`'s device back up.
    pub fn up(&self, host: &str) -> Result<Change> {
        self.apply(&Fault::Up(host.to_owned()))
    }

    /// Gives `host` the next free address of the range while traffic flows,
    /// as a client whose address changes (a new DHCP lease, a move between
    /// networks); routes follow.
    pub fn renumber(&self, host: &str) -> Result<Change> {
        self.apply(&Fault::Renumber(host.to_owned()))
    }

    /// Renumbers host A ([`Lab::renumber`]): with two hosts it moves to
    /// [`crate::ADDR_A_RENUMBERED`].
    pub fn renumber_a(&self) -> Result<Change> {
        let a = self.names[0].clone();
        self.renumber(&a)
    }

    /// Applies one step of the fault vocabulary, checked against the lab's
    /// hosts first: a step that fails the check changes nothing.
    pub fn apply(&self, fault: &Fault) -> Result<Change> {
        fault.check(&self.topology)?;
        match fault {
            Fault::Impair(pairs, spec) => self.impair(pairs.clone(), spec),
            Fault::Clear(pairs) => self.clear(pairs.clone()),
            Fault::Partition(_) | Fault::Isolate(_) | Fault::Oneway(..) => {
                let cuts = fault.cuts(&self.topology)?;
                self.change(|state| {
                    state.grudge.extend(cuts);
                    Ok(())
                })
            }
            Fault::Heal => self.change(|state| {
                state.grudge.clear();
                Ok(())
            }),
            Fault::Down(h) | Fault::Up(h) => {
                let i = self.topology.index(h)?;
                let up = matches!(fault, Fault::Up(_));
                self.change(|_| Link::set_up(&self.host_refs(), &self.devs, i, up))
            }
            Fault::Renumber(h) => {
                let i = self.topology.index(h)?;
                self.change(|state| {
                    if state.next_address as usize > ADDRESSES {
                        return Err(Error::invalid(
                            "renumber",
                            h.clone(),
                            "a free address of 198.18.0.0/15: every one has been used",
                        ));
                    }
                    let (old, new) = (state.addrs[i], address(state.next_address));
                    self.link()
                        .renumber(&self.host_refs(), &self.devs, i, old, new)?;
                    if let Link::Bridge(b) = self.link() {
                        b.readdress(&self.host_refs(), i, new)?;
                    }
                    state.addrs[i] = new;
                    state.next_address += 1;
                    Ok(())
                })
            }
        }
    }

    /// Changes the state under the lab's one lock, gives the link each
    /// sender whose pairs changed, and says when and with which counts. The
    /// wire's ports report their counts at the moment they swap models
    /// (exact); for netem they are read before `tc` runs and after it (a
    /// qdisc that is replaced may start its counts again).
    fn change(&self, edit: impl FnOnce(&mut State) -> Result<()>) -> Result<Change> {
        let mut state = self.state.lock().expect("lab lock");
        let hosts = self.host_refs();
        let exact = matches!(self.link(), Link::Wire(_));
        let before = if exact {
            None
        } else {
            Some(self.pair_counters()?)
        };
        let mut at = Instant::now();
        let mut next = state.clone();
        edit(&mut next)?;
        if self.backend() == Backend::Veth && next.impaired() {
            return Err(veth_refuses());
        }
        let ports = next.ports();
        let mut taken = HashMap::new();
        for (from, new) in ports.iter().enumerate() {
            if *new == next.applied[from] {
                continue;
            }
            let (t, counts) =
                self.link()
                    .set_port(&hosts, &next.addrs, from, &next.applied[from], new)?;
            next.applied[from] = new.clone();
            at = at.max(t);
            taken.extend(counts.into_iter().flat_map(|(_, c)| c));
        }
        *state = next;
        let now = self.pair_counters()?;
        let at_swap = if exact {
            let mut counts: std::collections::BTreeMap<_, _> = self.link().counters(&hosts)?;
            counts.extend(taken);
            PairCounters::new(self.names.clone(), counts)
        } else {
            now.clone()
        };
        let before = before.unwrap_or_else(|| at_swap.clone());
        Ok(Change {
            at,
            before: LinkCounters::of(&before),
            after: LinkCounters::of(&at_swap),
            pairs_before: before,
            pairs_after: at_swap,
        })
    }

    /// What the first two hosts' link did so far. Counters that cannot be
    /// read (`tc -s` failed) are an error, never zeros.
    pub fn counters(&self) -> Result<LinkCounters> {
        Ok(LinkCounters::of(&self.pair_counters()?))
    }

    /// What every directed pair did so far.
    pub fn pair_counters(&self) -> Result<PairCounters> {
        Ok(PairCounters::new(
            self.names.clone(),
            self.link().counters(&self.host_refs())?,
        ))
    }

    /// Tears everything down and reports the first failure: the link, then
    /// every process left in the hosts, then the hosts, then the run record.
    pub fn remove(mut self) -> Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> Result<()> {
        // The namespaces go first (their processes killed), then the link.
        let mut hosts = std::mem::take(&mut self.hosts);
        hosts.extend(self.switch.take());
        let removed = Host::remove_many(hosts);
        drop(self.link.take());
        removed?;
        if let Some(run) = self.run.take() {
            run.finish();
        }
        Ok(())
    }
}

fn veth_refuses() -> Error {
    Error::invalid(
        "backend",
        "veth",
        "netem or wire: the veth backend is a plain pair and carries no impairment",
    )
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
            std::mem::forget(std::mem::take(&mut self.hosts));
            std::mem::forget(self.switch.take());
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
