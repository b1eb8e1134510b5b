//! The kinds of link between hosts: for two hosts a veth pair, plain or
//! shaped by the kernel's netem; for more, each host's veth on a bridge,
//! plain or with a netem per destination on each host's egress; for any
//! number, TUN devices joined by the userspace [`Switch`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::time::Instant;

use crate::lab::backend::Backend;
use crate::lab::direction::Way;
use crate::lab::host::control_socket;
use crate::lab::host::Host;
use crate::lab::topology::PREFIX_LEN;
use crate::netem::counters::CounterSnapshot;
use crate::netem::impairment::Impairment;
use crate::wire::switch::{PortSpec, Switch, Taken};
use crate::wire::tun;
use crate::{cmd, sys};
use crate::{Error, Result};

/// Address of host A on every link (RFC 2544's benchmarking range).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The address host A moves to when it is renumbered ([`crate::Lab::renumber_a`]).
pub const ADDR_A_RENUMBERED: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// Address of host B on every link.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const MAC_A: &str = "02:62:6e:00:00:01";
const MAC_B: &str = "02:62:6e:00:00:02";
/// Waits until `dev` in `host` is running: a veth's carrier and its queue
/// come up in the kernel's link watch, which a busy machine can delay by
/// up to a second, and until then what is sent is dropped.
fn wait_running(host: &Host, dev: &str) -> Result<()> {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
    host.run(|| {
        let sock = control_socket()?;
        let start = Instant::now();
        while !sys::if_running(sock.as_fd(), dev)? {
            if start.elapsed() > LIMIT {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{dev} not running after {LIMIT:?}"),
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    })?
    .map_err(Error::sys(format!("waiting for {dev} in {}", host.name())))
}

/// Queue length of every link device: a shorter TUN queue drops packets.
pub const TXQUEUELEN: &str = "5000";
const TXQUEUELEN_N: u32 = 5000;

/// A link between host A and host B.
#[derive(Debug)]
pub enum Link {
    /// A veth pair with netem on each end's egress.
    Netem { dev_a: String, dev_b: String },
    /// A plain veth pair that refuses any impairment (the benchmarks'
    /// baseline).
    Veth,
    /// TUN devices and the userspace switch.
    Wire(Switch),
    /// Three or more hosts, each one's veth on a bridge.
    Bridge(Bridge),
}

/// Three or more hosts on a bridge of their own namespace (the switch
/// host): each host's device is a veth whose other end is a port of the
/// bridge. Shaped, each host's egress gets an HTB root when it is built
/// (unclassified packets pass it directly) and, for each destination
/// impaired, a class
/// with a netem leaf and a filter on the destination's address: netem
/// shapes egress only, so a pair's impairment is on its sender.
#[derive(Debug)]
pub struct Bridge {
    devs: Vec<String>,
    shaped: bool,
    /// Per sender: the destinations that have a leaf.
    leaves: Mutex<Vec<BTreeSet<usize>>>,
}

/// A class (and its filter's priority) per destination: the destination's
/// index plus one.
fn class_of(to: usize) -> u32 {
    to as u32 + 1
}

/// The handle of a destination's netem leaf: above the root's (`1:`).
fn leaf_of(to: usize) -> u32 {
    to as u32 + 2
}

/// The most hosts a bridge takes: classes, leaves and filter priorities
/// are 16-bit numbers.
pub const BRIDGE_HOSTS: usize = 65_533;

impl Link {
    /// Joins `a` and `b` with a veth pair named `dev_a`/`dev_b`, addresses
    /// and static neighbours (netem drops ARP too, so none is needed), with
    /// each direction's impairment in place before the link comes up.
    ///
    /// Equivalent to `ip -n A link add DEV_A type veth peer name DEV_B netns
    /// B`, then `ip addr add`, `ip neigh replace ... nud permanent`, `tc
    /// qdisc replace ... netem` and `ip link set up` on each end. Requires
    /// CAP_NET_ADMIN. Without `shaped` the pair stays plain (no qdisc) and
    /// every impairment, `initial` ones included, is refused.
    pub fn veth(
        a: &Host,
        b: &Host,
        dev_a: &str,
        dev_b: &str,
        initial: [&Impairment; 2],
        shaped: bool,
    ) -> Result<Self> {
        a.ip(&[
            "link",
            "add",
            dev_a,
            "address",
            MAC_A,
            "txqueuelen",
            TXQUEUELEN,
            "type",
            "veth",
            "peer",
            "name",
            dev_b,
            "address",
            MAC_B,
            "txqueuelen",
            TXQUEUELEN,
            "netns",
            b.name(),
        ])?;
        let link = if shaped {
            Link::Netem {
                dev_a: dev_a.to_owned(),
                dev_b: dev_b.to_owned(),
            }
        } else {
            Link::Veth
        };
        let ends = [
            (a, dev_a, ADDR_A, ADDR_B, MAC_B),
            (b, dev_b, ADDR_B, ADDR_A, MAC_A),
        ];
        for (way, (host, dev, addr, peer, peer_mac)) in Way::BOTH.into_iter().zip(ends) {
            host.ip(&["addr", "add", &format!("{addr}/24"), "dev", dev])?;
            host.ip(&[
                "neigh",
                "replace",
                &peer.to_string(),
                "lladdr",
                peer_mac,
                "dev",
                dev,
                "nud",
                "permanent",
            ])?;
            link.set([a, b], way, initial[way.index()])?;
        }
        for (host, dev) in [(a, dev_a), (b, dev_b)] {
            host.ip(&["link", "set", "dev", dev, "up"])?;
        }
        for (host, dev) in [(a, dev_a), (b, dev_b)] {
            wait_running(host, dev)?;
        }
        Ok(link)
    }

    /// Gives each host a TUN device `devs[i]` with address `addrs[i]` on
    /// the hosts' common network, and starts the userspace switch between
    /// them, each port's pairs impaired as `specs` says.
    ///
    /// Equivalent to `ip tuntap add dev DEV mode tun`, `ip addr add
    /// ADDR/15 dev DEV` and `ip link set dev DEV txqueuelen 5000 up` in
    /// each host (done from a thread inside it, not by processes), plus the
    /// switch. Requires CAP_NET_ADMIN.
    pub fn wire(
        hosts: &[&Host],
        devs: &[String],
        addrs: &[Ipv4Addr],
        specs: Vec<PortSpec>,
        seed: u64,
    ) -> Result<Self> {
        let mut fds = Vec::with_capacity(hosts.len());
        for ((host, dev), &addr) in hosts.iter().zip(devs).zip(addrs) {
            let fd = host
                .run(|| {
                    let fd = tun::open(dev)?;
                    let sock = control_socket()?;
                    sys::if_set_addr(sock.as_fd(), dev, addr, PREFIX_LEN)?;
                    sys::if_set_txqueuelen(sock.as_fd(), dev, TXQUEUELEN_N)?;
                    sys::if_set_up(sock.as_fd(), dev, true)?;
                    Ok::<_, std::io::Error>(fd)
                })?
                .map_err(Error::sys(format!(
                    "making TUN device {dev} in {}",
                    host.name()
                )))?;
            fds.push(fd);
        }
        let count_every_pair = hosts.len() <= 64;
        Ok(Link::Wire(Switch::start(
            fds,
            addrs,
            specs,
            seed,
            count_every_pair,
        )?))
    }

    /// Puts every host on a bridge in `switch` (a namespace of the run's):
    /// a veth `devs[i]` in host `i` with address `addrs[i]`, its other end
    /// a port of the bridge. Shaped, each pair can be impaired
    /// ([`Link::set_port`]); plain, none can.
    ///
    /// Equivalent to `ip -n SWITCH -batch -` of `link add BR type bridge`,
    /// `link add PORT type veth peer name DEV netns HOST` and `link set
    /// PORT master BR up` lines, then `ip addr add ADDR/15 dev DEV` and
    /// `ip link set DEV up` in each host (from a thread inside it).
    /// Requires CAP_NET_ADMIN.
    pub fn bridge(
        switch: &Host,
        bridge: &str,
        hosts: &[&Host],
        devs: &[String],
        ports: &[String],
        addrs: &[Ipv4Addr],
        shaped: bool,
    ) -> Result<Self> {
        let mut lines = vec![
            format!("link add {bridge} type bridge"),
            format!("link set {bridge} up"),
        ];
        for ((host, dev), port) in hosts.iter().zip(devs).zip(ports) {
            lines.push(format!(
                "link add {port} txqueuelen {TXQUEUELEN} type veth peer name {dev} txqueuelen {TXQUEUELEN} netns {}",
                host.name()
            ));
            lines.push(format!("link set {port} master {bridge} up"));
        }
        cmd::run_batch("ip", &["-n", switch.name()], &lines)?;
        for ((host, dev), &addr) in hosts.iter().zip(devs).zip(addrs) {
            host.run(|| {
                let sock = control_socket()?;
                sys::if_set_addr(sock.as_fd(), dev, addr, PREFIX_LEN)?;
                sys::if_set_up(sock.as_fd(), dev, true)
            })?
            .map_err(Error::sys(format!("setting {dev} up in {}", host.name())))?;
            // Shaped, every sender gets its root before any packet flows:
            // a root put in later would discard what the one before it
            // held, uncounted.
            if shaped {
                host.tc(&[
                    "qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb",
                ])?;
            }
        }
        for (host, dev) in hosts.iter().zip(devs) {
            wait_running(host, dev)?;
        }
        for port in ports {
            wait_running(switch, port)?;
        }
        Ok(Link::Bridge(Bridge {
            devs: devs.to_vec(),
            shaped,
            leaves: Mutex::new(vec![BTreeSet::new(); hosts.len()]),
        }))
    }

    /// Gives sender `from` the spec `new` for each of its pairs (it had
    /// `old`), and returns when it took effect, with the sender's pairs'
    /// counts at that moment where the link can tell them exactly (the
    /// wire's port reports them as it swaps models).
    ///
    /// netem: equivalent to `tc qdisc replace dev DEV root netem ARGS` for
    /// two hosts; for more, `tc -n HOST -batch -` of `class replace`,
    /// `qdisc replace ... netem ARGS` and `filter replace ... match ip dst
    /// ADDR` lines for each destination whose spec changed. Requires
    /// CAP_NET_ADMIN.
    pub fn set_port(
        &self,
        hosts: &[&Host],
        addrs: &[Ipv4Addr],
        from: usize,
        old: &PortSpec,
        new: &PortSpec,
    ) -> Result<(Instant, Option<Taken>)> {
        match self {
            Link::Wire(w) => w.set(from, new.clone()).map(|t| (t.0, Some(t))),
            Link::Netem { .. } | Link::Veth => {
                let way = if from == 0 { Way::AToB } else { Way::BToA };
                self.set([hosts[0], hosts[1]], way, new.of(1 - from))
                    .map(|(at, _)| (at, None))
            }
            Link::Bridge(b) => b
                .set(hosts[from], addrs, from, old, new)
                .map(|at| (at, None)),
        }
    }

    /// Sets one way of a two-host veth pair (replacing what it had), and
    /// returns when `tc` had replaced the qdisc.
    ///
    /// netem: equivalent to `ip netns exec HOST tc qdisc replace dev DEV
    /// root netem ARGS`, or `tc qdisc del dev DEV root` for none. Requires
    /// CAP_NET_ADMIN.
    fn set(
        &self,
        hosts: [&Host; 2],
        way: Way,
        spec: &Impairment,
    ) -> Result<(Instant, Option<CounterSnapshot>)> {
        match self {
            Link::Wire(_) | Link::Bridge(_) => {
                unreachable!("the wire and the bridge are set per port")
            }
            Link::Veth => {
                if spec.is_none() {
                    Ok((Instant::now(), None))
                } else {
                    Err(veth_refuses())
                }
            }
            Link::Netem { dev_a, dev_b } => {
                let dev = way.pick(dev_a, dev_b);
                let host = hosts[way.index()];
                if spec.is_none() {
                    return match host.tc(&["qdisc", "del", "dev", dev, "root"]) {
                        Err(Error::Command { stderr, .. }) if is_absent(&stderr) => Ok(()),
                        other => other.map(drop),
                    }
                    .map(|()| (Instant::now(), None));
                }
                let args = spec.tc_args();
                let mut argv = vec!["qdisc", "replace", "dev", dev.as_str(), "root", "netem"];
                argv.extend(args.iter().map(String::as_str));
                host.tc(&argv)
                    .map(|_| (Instant::now(), None))
                    .map_err(no_netem)
            }
        }
    }

    /// Moves host `i` from `old` to `new` while traffic flows, routes
    /// following. Sockets bound to the old address are left with an
    /// address that no longer exists, as on a host whose DHCP lease
    /// changed.
    ///
    /// Two hosts on a veth pair: the new address first, then B's way to it
    /// (a static neighbour), then the old address goes, and A's route to B
    /// takes the new source. On the common network (the wire, the
    /// bridge): the new address as a /32, the old one (and its network
    /// route) goes, the network's route comes back from the new source; the
    /// wire's switch routes the new address to the host from then on.
    ///
    /// Equivalent to `ip addr add NEW/32 dev DEV`, `ip addr del OLD/15 dev
    /// DEV` and `ip route replace 198.18.0.0/15 dev DEV src NEW` in the host.
    /// Requires CAP_NET_ADMIN.
    pub fn renumber(
        &self,
        hosts: &[&Host],
        devs: &[String],
        i: usize,
        old: Ipv4Addr,
        new: Ipv4Addr,
    ) -> Result<()> {
        let (host, dev) = (hosts[i], devs[i].as_str());
        let new_s = new.to_string();
        if let Link::Netem { .. } | Link::Veth = self {
            let (a, b) = (hosts[0], hosts[1]);
            let (dev_a, dev_b) = (devs[0].as_str(), devs[1].as_str());
            let to_b = format!("{ADDR_B}/32");
            a.ip(&["addr", "add", &format!("{new}/32"), "dev", dev_a])?;
            a.ip(&["route", "replace", &to_b, "dev", dev_a, "src", &new_s])?;
            b.ip(&[
                "neigh",
                "replace",
                &new_s,
                "lladdr",
                MAC_A,
                "dev",
                dev_b,
                "nud",
                "permanent",
            ])?;
            a.ip(&["addr", "del", &format!("{old}/24"), "dev", dev_a])?;
            // Deleting the old address may take the route with it.
            a.ip(&["route", "replace", &to_b, "dev", dev_a, "src", &new_s])?;
            return Ok(());
        }
        let network = format!("{}/{PREFIX_LEN}", crate::lab::topology::address(0));
        host.ip(&["addr", "add", &format!("{new}/32"), "dev", dev])?;
        if let Link::Wire(w) = self {
            w.readdress(i, old, new);
        }
        host.ip(&["addr", "del", &format!("{old}/{PREFIX_LEN}"), "dev", dev])?;
        host.ip(&["route", "replace", &network, "dev", dev, "src", &new_s])?;
        Ok(())
    }

    /// Takes host `i`'s device down (`up` false) or brings it back.
    ///
    /// Equivalent to `ip link set dev DEV down` (or `up`) in the host.
    /// Requires CAP_NET_ADMIN.
    pub fn set_up(hosts: &[&Host], devs: &[String], i: usize, up: bool) -> Result<()> {
        let dev = devs[i].as_str();
        hosts[i]
            .run(|| {
                let sock = control_socket()?;
                sys::if_set_up(sock.as_fd(), dev, up)
            })?
            .map_err(Error::sys(format!(
                "setting {dev} {} in {}",
                if up { "up" } else { "down" },
                hosts[i].name()
            )))?;
        Ok(())
    }

    /// What every directed pair did so far, by host index.
    ///
    /// netem reports only what `tc -s qdisc` counts: packets sent and
    /// dropped (loss and queue drops together); the other counts stay 0,
    /// and a pair with no netem of its own (never impaired) is not counted.
    /// Counters that cannot be read are an error, never zeros.
    pub fn counters(&self, hosts: &[&Host]) -> Result<BTreeMap<(usize, usize), CounterSnapshot>> {
        match self {
            Link::Wire(w) => Ok(w.counters()),
            Link::Netem { dev_a, dev_b } => Ok([
                ((0, 1), netem_counters(hosts[0], dev_a)?),
                ((1, 0), netem_counters(hosts[1], dev_b)?),
            ]
            .into()),
            Link::Veth => Ok([
                ((0, 1), CounterSnapshot::default()),
                ((1, 0), CounterSnapshot::default()),
            ]
            .into()),
            Link::Bridge(b) => b.counters(hosts),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Link::Netem { .. } => Backend::Netem,
            Link::Veth => Backend::Veth,
            Link::Wire(_) => Backend::Wire,
            Link::Bridge(b) if b.shaped => Backend::Netem,
            Link::Bridge(_) => Backend::Veth,
        }
    }
}

impl Bridge {
    /// Sets each destination of sender `from` whose spec changed.
    fn set(
        &self,
        host: &Host,
        addrs: &[Ipv4Addr],
        from: usize,
        old: &PortSpec,
        new: &PortSpec,
    ) -> Result<Instant> {
        let changed: Vec<usize> = (0..addrs.len())
            .filter(|&to| to != from && old.of(to) != new.of(to))
            .collect();
        if changed.is_empty() {
            return Ok(Instant::now());
        }
        if !self.shaped {
            return Err(veth_refuses());
        }
        let dev = &self.devs[from];
        let mut leaves = self.leaves.lock().expect("bridge lock");
        let mine = &mut leaves[from];
        let mut lines = Vec::new();
        for to in changed {
            let k = class_of(to);
            // The class, then its netem, then the filter that steers
            // packets to it: a packet steered before its netem is there
            // would wait in the class's default queue, which the netem
            // then replaces, uncounted.
            let steer = mine.insert(to);
            if steer {
                lines.push(format!(
                    "class replace dev {dev} parent 1: classid 1:{k:x} htb rate 1000gbit quantum 60000"
                ));
            }
            lines.push(format!(
                "qdisc replace dev {dev} parent 1:{k:x} handle {:x}: netem {}",
                leaf_of(to),
                new.of(to).tc_args().join(" ")
            ));
            if steer {
                lines.push(format!(
                    "filter replace dev {dev} parent 1: protocol ip prio {k} u32 match ip dst {}/32 flowid 1:{k:x}",
                    addrs[to]
                ));
            }
        }
        cmd::run_batch("tc", &["-n", host.name()], &lines).map_err(no_netem)?;
        Ok(Instant::now())
    }

    /// Each sender's netem leaves' counts, by destination.
    fn counters(&self, hosts: &[&Host]) -> Result<BTreeMap<(usize, usize), CounterSnapshot>> {
        let leaves = self.leaves.lock().expect("bridge lock").clone();
        let mut all = BTreeMap::new();
        for (from, dsts) in leaves.iter().enumerate().filter(|(_, d)| !d.is_empty()) {
            let dev = &self.devs[from];
            for (parent, counts) in netem_leaves(hosts[from], dev)? {
                if let Some(&to) = dsts
                    .iter()
                    .find(|&&to| parent == format!("1:{:x}", class_of(to)))
                {
                    all.insert((from, to), counts);
                }
            }
        }
        Ok(all)
    }

    /// Re-points the filters that select destination `to` (renumbered) at
    /// its new address.
    pub fn readdress(&self, hosts: &[&Host], to: usize, new: Ipv4Addr) -> Result<()> {
        let leaves = self.leaves.lock().expect("bridge lock").clone();
        for (from, dsts) in leaves.iter().enumerate() {
            if dsts.contains(&to) {
                let k = class_of(to);
                cmd::run_batch(
                    "tc",
                    &["-n", hosts[from].name()],
                    &[
                        format!("filter del dev {} parent 1: prio {k}", self.devs[from]),
                        format!(
                            "filter replace dev {} parent 1: protocol ip prio {k} u32 match ip dst {new}/32 flowid 1:{k:x}",
                            self.devs[from]
                        ),
                    ],
                )?;
            }
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

fn no_netem(e: Error) -> Error {
    match e {
        Error::Command { stderr, .. } if stderr.contains("qdisc kind is unknown") => {
            Error::NoNetem { detail: stderr }
        }
        other => other,
    }
}

fn is_absent(stderr: &str) -> bool {
    stderr.contains("handle of zero")
        || stderr.contains("No such file")
        || stderr.contains("Invalid handle")
}

/// The netem qdisc's counters on `dev`: zeros where there is none.
fn netem_counters(host: &Host, dev: &str) -> Result<CounterSnapshot> {
    Ok(netem_leaves(host, dev)?
        .into_iter()
        .next()
        .map(|(_, c)| c)
        .unwrap_or_default())
}

/// Every netem qdisc on `dev`, with its parent (`root`, or `1:K`) and its
/// counts.
fn netem_leaves(host: &Host, dev: &str) -> Result<Vec<(String, CounterSnapshot)>> {
    let out = host.tc(&["-s", "-j", "qdisc", "show", "dev", dev])?;
    let unreadable = |why: &str| Error::Command {
        command: format!("tc -s -j qdisc show dev {dev}"),
        stderr: format!("{why}: {out}"),
    };
    let qdiscs: serde_json::Value =
        serde_json::from_str(&out).map_err(|_| unreadable("not JSON"))?;
    let qdiscs = qdiscs.as_array().ok_or_else(|| unreadable("not a list"))?;
    qdiscs
        .iter()
        .filter(|q| q["kind"] == "netem")
        .map(|q| {
            let passed = q["packets"]
                .as_u64()
                .ok_or_else(|| unreadable("no packet count"))?;
            let dropped = q["drops"]
                .as_u64()
                .ok_or_else(|| unreadable("no drop count"))?;
            let parent = if q["root"] == true {
                "root".to_owned()
            } else {
                q["parent"].as_str().unwrap_or_default().to_owned()
            };
            Ok((
                parent,
                CounterSnapshot {
                    packets_in: passed + dropped,
                    passed,
                    dropped,
                    ..CounterSnapshot::default()
                },
            ))
        })
        .collect()
}
