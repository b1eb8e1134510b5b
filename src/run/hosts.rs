//! Where a run's hosts come from: network namespaces this run creates, or
//! holder containers. The one place that chooses, and the one place that
//! builds a new lab and then impairs it.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use anyhow::Context;
use faults::{Backend, Direction, Impairment, Lab};

use super::docker::{self, Running};
use crate::scenario::HostKind;

/// The network a run builds: what the hosts are, what joins them, and the
/// impairment the link starts with.
#[derive(Debug, Clone, Copy)]
pub struct Network<'a> {
    pub hosts: HostKind,
    pub backend: Backend,
    pub seed: Option<u64>,
    pub impairment: &'a Impairment,
    pub direction: Direction,
}

/// A built lab, and with container hosts the holders that keep its
/// namespaces alive (they must outlive the lab).
pub struct Hosts {
    pub lab: Lab,
    holders: Option<[Running; 2]>,
}

impl Hosts {
    /// A new lab as `net` says, impaired as it says. Holders are
    /// containers of the services image with no network but the link:
    /// sockets opened in their hosts and containers that join them
    /// (`--network container:ID`) are in them.
    pub fn build(net: Network) -> anyhow::Result<Self> {
        net.impairment.validate()?;
        if net.backend == Backend::Veth && !net.impairment.is_none() {
            return Err(crate::error::BadInput::new(
                "--backend",
                "veth is a plain pair and carries no impairment: use netem, wire or auto",
            )
            .into());
        }
        match net.hosts {
            HostKind::Netns => {
                let lab = Lab::new(net.backend, net.seed)?;
                lab.impair(net.direction, net.impairment)?;
                Ok(Self { lab, holders: None })
            }
            HostKind::Containers => {
                let [forward, reverse] = net.direction.split(net.impairment);
                let (lab, holders) =
                    docker::holder_lab(net.backend, net.seed, [&forward, &reverse])?;
                Ok(Self {
                    lab,
                    holders: Some(holders),
                })
            }
        }
    }

    /// The holder containers of hosts A and B, when the hosts are
    /// containers.
    pub fn holders(&self) -> Option<&[Running; 2]> {
        self.holders.as_ref()
    }

    /// Removes the lab, then the holders.
    pub fn remove(self) -> anyhow::Result<()> {
        self.lab.remove()?;
        drop(self.holders);
        Ok(())
    }
}

/// A TCP connection from host A to `to` in host B: the sending end (in A)
/// and the accepted one (in B). Sockets keep their host's namespace
/// wherever they are used.
pub fn connect_across(lab: &Lab, to: SocketAddr) -> anyhow::Result<(TcpStream, TcpStream)> {
    let listener = lab.b().run(|| TcpListener::bind(to))??;
    let (tx, rx) = lab.a().run(|| {
        std::thread::scope(|sc| {
            let accept = sc.spawn(|| listener.accept());
            let tx = TcpStream::connect_timeout(&to, Duration::from_secs(10));
            (tx, accept.join().expect("the accepting thread"))
        })
    })?;
    let tx = tx.with_context(|| format!("connecting to {to} in host B"))?;
    let (rx, _) = rx.with_context(|| format!("accepting on {to} in host B"))?;
    Ok((tx, rx))
}
