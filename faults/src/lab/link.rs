//! The kinds of link between hosts: a veth pair, plain or shaped by the
//! kernel's netem, or TUN devices joined by the userspace [`Wire`].

use std::net::Ipv4Addr;
use std::time::Instant;

use crate::lab::backend::Backend;
use crate::lab::direction::Way;
use crate::lab::host::Host;
use crate::netem::counters::CounterSnapshot;
use crate::netem::impairment::Impairment;
use crate::wire::switch::Wire;
use crate::wire::tun;
use crate::{Error, Result};

/// Address of host A on every link (RFC 2544's benchmarking range).
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The address host A moves to when it is renumbered ([`crate::Lab::renumber_a`]).
pub const ADDR_A_RENUMBERED: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 3);
/// Address of host B on every link.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const MAC_A: &str = "02:62:6e:00:00:01";
const MAC_B: &str = "02:62:6e:00:00:02";
/// Queue length of every link device: a shorter TUN queue drops packets.
pub const TXQUEUELEN: &str = "5000";

/// A link between host A and host B.
#[derive(Debug)]
pub enum Link {
    /// A veth pair with netem on each end's egress.
    Netem { dev_a: String, dev_b: String },
    /// A plain veth pair that refuses any impairment (the benchmarks'
    /// baseline).
    Veth,
    /// TUN devices and the userspace forwarder.
    Wire(Wire),
}

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
        Ok(link)
    }

    /// Joins `a` and `b` with a TUN device in each and the userspace wire.
    ///
    /// Equivalent to `ip tuntap add dev DEV mode tun`, `ip addr add ADDR
    /// peer PEER dev DEV` and `ip link set dev DEV txqueuelen 5000 up` in
    /// each host, plus a forwarder. Requires CAP_NET_ADMIN.
    pub fn wire(
        a: &Host,
        b: &Host,
        dev_a: &str,
        dev_b: &str,
        forward: &Impairment,
        reverse: &Impairment,
        seed: u64,
    ) -> Result<Self> {
        let mut fds = Vec::new();
        for (host, dev, addr, peer) in [(a, dev_a, ADDR_A, ADDR_B), (b, dev_b, ADDR_B, ADDR_A)] {
            let fd = host.run(|| tun::open(dev))?.map_err(Error::sys(format!(
                "opening TUN device {dev} in {}",
                host.name()
            )))?;
            host.ip(&[
                "addr",
                "add",
                &addr.to_string(),
                "peer",
                &format!("{peer}/32"),
                "dev",
                dev,
            ])?;
            host.ip(&["link", "set", "dev", dev, "txqueuelen", TXQUEUELEN, "up"])?;
            fds.push(fd);
        }
        let b_fd = fds.pop().expect("two devices");
        let a_fd = fds.pop().expect("two devices");
        Ok(Link::Wire(Wire::start(a_fd, b_fd, forward, reverse, seed)?))
    }

    /// Sets one way's impairment (replacing any before it), and returns
    /// when it took effect: when the wire's forwarder took it, or when `tc`
    /// had replaced the qdisc; with the wire, also the way's counters at
    /// that moment.
    ///
    /// netem: equivalent to `ip netns exec HOST tc qdisc replace dev DEV
    /// root netem ARGS`, or `tc qdisc del dev DEV root` for none. Requires
    /// CAP_NET_ADMIN.
    pub fn set(
        &self,
        hosts: [&Host; 2],
        way: Way,
        spec: &Impairment,
    ) -> Result<(Instant, Option<CounterSnapshot>)> {
        match self {
            Link::Wire(w) => w.set(way, spec).map(|(at, c)| (at, Some(c))),
            Link::Veth => {
                if spec.is_none() {
                    Ok((Instant::now(), None))
                } else {
                    Err(Error::invalid(
                        "backend",
                        "veth",
                        "netem or wire: the veth backend is a plain pair and carries no impairment",
                    ))
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
                    .map_err(|e| match e {
                        Error::Command { stderr, .. }
                            if stderr.contains("qdisc kind is unknown") =>
                        {
                            Error::NoNetem { detail: stderr }
                        }
                        other => other,
                    })
            }
        }
    }

    /// Moves host A from `old` to `new` (in the run's /24) while traffic
    /// flows: the new address first, then B's way to it (a static
    /// neighbour on veth, a route on the wire's point-to-point devices),
    /// then the old address goes, and A's route to B takes the new source.
    /// Sockets bound to A's old address are left with an address that no
    /// longer exists, as on a host whose DHCP lease changed.
    pub fn renumber_a(
        &self,
        hosts: [&Host; 2],
        devs: [&str; 2],
        old: Ipv4Addr,
        new: Ipv4Addr,
    ) -> Result<()> {
        let ([a, b], [dev_a, dev_b]) = (hosts, devs);
        let (old_s, new_s, b_s) = (old.to_string(), new.to_string(), ADDR_B.to_string());
        let to_b = format!("{b_s}/32");
        a.ip(&["addr", "add", &format!("{new}/32"), "dev", dev_a])?;
        a.ip(&["route", "replace", &to_b, "dev", dev_a, "src", &new_s])?;
        match self {
            Link::Wire(_) => {
                b.ip(&["route", "replace", &format!("{new}/32"), "dev", dev_b])?;
                a.ip(&[
                    "addr",
                    "del",
                    &old_s,
                    "peer",
                    &format!("{ADDR_B}/32"),
                    "dev",
                    dev_a,
                ])?;
            }
            Link::Netem { .. } | Link::Veth => {
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
            }
        }
        // Deleting the old address may take the route with it.
        a.ip(&["route", "replace", &to_b, "dev", dev_a, "src", &new_s])?;
        Ok(())
    }

    /// What one way did so far.
    ///
    /// netem reports only what `tc -s qdisc` counts: packets sent and
    /// dropped (loss and queue drops together); the other counts stay 0, as
    /// do all of them where no netem qdisc is installed (no impairment).
    /// Counters that cannot be read are an error, never zeros.
    pub fn counters(&self, hosts: [&Host; 2], way: Way) -> Result<CounterSnapshot> {
        match self {
            Link::Wire(w) => Ok(w.counters(way)),
            Link::Netem { dev_a, dev_b } => {
                netem_counters(hosts[way.index()], way.pick(dev_a, dev_b))
            }
            Link::Veth => Ok(CounterSnapshot::default()),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Link::Netem { .. } => Backend::Netem,
            Link::Veth => Backend::Veth,
            Link::Wire(_) => Backend::Wire,
        }
    }
}

fn is_absent(stderr: &str) -> bool {
    stderr.contains("handle of zero")
        || stderr.contains("No such file")
        || stderr.contains("Invalid handle")
}

/// The netem qdisc's counters on `dev`: zeros where there is none.
fn netem_counters(host: &Host, dev: &str) -> Result<CounterSnapshot> {
    let out = host.tc(&["-s", "-j", "qdisc", "show", "dev", dev])?;
    let unreadable = |why: &str| Error::Command {
        command: format!("tc -s -j qdisc show dev {dev}"),
        stderr: format!("{why}: {out}"),
    };
    let qdiscs: serde_json::Value =
        serde_json::from_str(&out).map_err(|_| unreadable("not JSON"))?;
    let qdiscs = qdiscs.as_array().ok_or_else(|| unreadable("not a list"))?;
    let Some(q) = qdiscs.iter().find(|q| q["kind"] == "netem") else {
        return Ok(CounterSnapshot::default());
    };
    let passed = q["packets"]
        .as_u64()
        .ok_or_else(|| unreadable("no packet count"))?;
    let dropped = q["drops"]
        .as_u64()
        .ok_or_else(|| unreadable("no drop count"))?;
    Ok(CounterSnapshot {
        packets_in: passed + dropped,
        passed,
        dropped,
        ..CounterSnapshot::default()
    })
}
