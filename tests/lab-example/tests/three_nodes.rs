//! Three nodes on one switch, as a crate with a replicated service would
//! test it: what one node sends the others receive; across a partition
//! they do not, inside a group they still do, and after `heal` every node
//! hears every other again. Needs root (network namespaces).

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use faults::{Backend, Lab, Topology};
use rstest::{fixture, rstest};

const PORT: u16 = 7000;

/// Three nodes, n1 to n3, on the wire where the kernel has no netem.
#[fixture]
fn lab() -> Lab {
    let nodes = Topology::named(["n1", "n2", "n3"]).expect("three names");
    Lab::builder(nodes)
        .backend(Backend::Auto)
        .seed(Some(2026))
        .build()
        .expect("a lab (run as root)")
}

/// A socket of node `name`, bound to its address.
fn socket(lab: &Lab, name: &str) -> UdpSocket {
    let addr = SocketAddr::from((lab.address(name).unwrap(), PORT));
    let s = lab
        .host(name)
        .unwrap()
        .run(|| UdpSocket::bind(addr))
        .unwrap()
        .unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    s
}

/// Sends one datagram from `from` to each of `to`, and says which of them
/// received it.
fn heard(lab: &Lab, sockets: &[(&str, UdpSocket)], from: &str) -> Vec<String> {
    let (_, sender) = sockets.iter().find(|(n, _)| *n == from).unwrap();
    let mut heard = Vec::new();
    for (name, socket) in sockets.iter().filter(|(n, _)| *n != from) {
        let to: Ipv4Addr = lab.address(name).unwrap();
        sender.send_to(from.as_bytes(), (to, PORT)).unwrap();
        let mut buf = [0u8; 16];
        if let Ok((n, _)) = socket.recv_from(&mut buf) {
            assert_eq!(&buf[..n], from.as_bytes());
            heard.push((*name).to_owned());
        }
    }
    heard
}

#[rstest]
fn a_partitioned_node_hears_nobody_and_heal_brings_it_back(lab: Lab) {
    let sockets: Vec<(&str, UdpSocket)> = ["n1", "n2", "n3"]
        .into_iter()
        .map(|n| (n, socket(&lab, n)))
        .collect();
    assert_eq!(heard(&lab, &sockets, "n1"), ["n2", "n3"]);

    lab.partition_groups(&[&["n1"], &["n2", "n3"]]).unwrap();
    assert!(heard(&lab, &sockets, "n1").is_empty());
    assert_eq!(heard(&lab, &sockets, "n2"), ["n3"]);
    // The switch counted what it dropped, per pair.
    let counts = lab.pair_counters().unwrap();
    assert_eq!(counts.get("n1", "n2").dropped, 1);
    assert_eq!(counts.get("n2", "n3").dropped, 0);

    lab.heal().unwrap();
    assert_eq!(heard(&lab, &sockets, "n1"), ["n2", "n3"]);
    lab.remove().unwrap();
}
