//! Hosts, links and their cleanup on every path: success, error, panic,
//! Ctrl-C, SIGKILL.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use faults::{Backend, Direction, Impairment, Lab};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const PORT: u16 = 7000;

fn addr(lab: &Lab, b_side: bool) -> SocketAddr {
    SocketAddr::new(
        if b_side { lab.addr_b() } else { lab.addr_a() }.into(),
        PORT,
    )
}

/// Sends `n` datagrams from A to B and returns how many arrived.
fn send_a_to_b(lab: &Lab, n: usize) -> usize {
    let rx = udp_in(lab.b(), addr(lab, true));
    let tx = udp_in(lab.a(), addr(lab, false));
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for i in 0..n {
        tx.send_to(&(i as u32).to_be_bytes(), addr(lab, true))
            .unwrap();
    }
    let mut got = 0;
    let mut buf = [0u8; 64];
    while rx.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    got
}

#[test]
fn wire_link_carries_datagrams_both_ways() {
    let lab = lab(Backend::Wire);
    assert_eq!(send_a_to_b(&lab, 50), 50);
    let b = udp_in(lab.b(), addr(&lab, true));
    let a = udp_in(lab.a(), addr(&lab, false));
    b.send_to(b"pong", addr(&lab, false)).unwrap();
    let mut buf = [0u8; 8];
    let (n, from) = a.recv_from(&mut buf).unwrap();
    assert_eq!((&buf[..n], from), (&b"pong"[..], addr(&lab, true)));
    let c = lab.counters().unwrap();
    assert_eq!(c.forward.passed, 50);
    assert_eq!(c.reverse.passed, 1);
    let id = lab.run_id().to_owned();
    lab.remove().unwrap();
    assert!(namespaces_of(&id).is_empty());
}

/// The wire counts what the receiving device refused, instead of counting
/// it as passed and logging it: a device that is down refuses every write.
#[test]
fn wire_counts_the_writes_the_receiving_device_refuses() {
    let lab = lab(Backend::Wire);
    lab.b()
        .ip(&["link", "set", "dev", &lab.device_b(), "down"])
        .unwrap();
    let tx = udp_in(lab.a(), addr(&lab, false));
    for i in 0..10u32 {
        tx.send_to(&i.to_be_bytes(), addr(&lab, true)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(200));
    let c = lab.counters().unwrap().forward;
    assert_eq!((c.passed, c.write_errors), (10, 10), "{c:?}");
    lab.remove().unwrap();
}

#[test]
fn partition_stops_every_packet_and_heal_restores_the_link() {
    let lab = lab(Backend::Wire);
    lab.impair(Direction::Both, &"delay 1ms".parse().unwrap())
        .unwrap();
    lab.partition().unwrap();
    assert_eq!(send_a_to_b(&lab, 20), 0);
    lab.heal().unwrap();
    assert_eq!(send_a_to_b(&lab, 20), 20);
    assert_eq!(lab.counters().unwrap().forward.dropped, 20);
}

#[test]
fn impairment_changes_while_traffic_flows() {
    let lab = lab(Backend::Wire);
    assert_eq!(send_a_to_b(&lab, 20), 20);
    lab.impair(Direction::Forward, &"loss 100%".parse().unwrap())
        .unwrap();
    assert_eq!(send_a_to_b(&lab, 20), 0);
    lab.clear(Direction::Forward).unwrap();
    assert_eq!(send_a_to_b(&lab, 20), 20);
}

#[test]
fn invalid_impairment_changes_nothing() {
    let lab = lab(Backend::Wire);
    let bad = Impairment {
        jitter: Duration::from_millis(5),
        ..Impairment::none()
    };
    let err = lab.impair(Direction::Both, &bad).unwrap_err().to_string();
    assert!(err.contains("jitter"), "{err}");
    assert_eq!(send_a_to_b(&lab, 10), 10);
}

#[test]
fn lab_is_removed_when_dropped() {
    let lab = lab(Backend::Wire);
    let id = lab.run_id().to_owned();
    assert_eq!(namespaces_of(&id).len(), 2);
    drop(lab);
    assert!(namespaces_of(&id).is_empty());
}

#[test]
fn lab_is_removed_when_its_owner_panics() {
    let mut id = String::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let lab = lab(Backend::Wire);
        id = lab.run_id().to_owned();
        panic!("a test failed while the lab was up");
    }));
    assert!(result.is_err());
    assert!(!id.is_empty());
    assert!(
        namespaces_of(&id).is_empty(),
        "left behind: {:?}",
        namespaces_of(&id)
    );
}

#[test]
fn processes_in_a_host_die_with_the_lab() {
    let lab = lab(Backend::Wire);
    let mut child = lab.b().command("sleep").arg("30").spawn().unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    assert!(lab.b().pids().contains(&pid.as_raw()));
    lab.remove().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
}

#[test]
fn netem_backend_works_where_the_kernel_has_it_and_fails_cleanly_where_not() {
    require_root();
    match faults::netem_available() {
        Ok(()) => {
            let lab = lab(Backend::Netem);
            assert_eq!(lab.backend(), Backend::Netem);
            assert_eq!(send_a_to_b(&lab, 20), 20);
            lab.impair(Direction::Forward, &"loss 100%".parse().unwrap())
                .unwrap();
            assert_eq!(send_a_to_b(&lab, 20), 0);
            assert!(lab.counters().unwrap().forward.dropped >= 20);
        }
        Err(detail) => {
            let before = faults::plumbing::netns_names();
            let err = Lab::new(Backend::Netem, None).unwrap_err();
            assert!(matches!(err, faults::Error::NoNetem { .. }), "{err}");
            assert!(err.to_string().contains("--backend wire"), "{err}");
            let after = faults::plumbing::netns_names();
            let leftover = |n: &String| {
                !before.contains(n)
                    && faults::plumbing::run_id_of(n)
                        .is_some_and(|id| !faults::plumbing::is_alive(id))
            };
            assert!(!after.iter().any(leftover), "{detail}: left {after:?}");
        }
    }
}

#[test]
fn auto_backend_says_what_it_picked_and_why() {
    let lab = lab(Backend::Auto);
    let expected = if faults::netem_available().is_ok() {
        Backend::Netem
    } else {
        Backend::Wire
    };
    assert_eq!(lab.backend(), expected);
    assert!(
        lab.backend_reason()
            .starts_with(&format!("auto picked {expected}")),
        "{}",
        lab.backend_reason()
    );
}

#[test]
fn a_wrapped_namespace_is_never_deleted() {
    let lab = lab(Backend::Wire);
    let wrapped = faults::Host::wrap("borrowed", lab.b().path()).unwrap();
    drop(wrapped);
    assert_eq!(namespaces_of(lab.run_id()).len(), 2);
}

/// Starts `badnet lab` and returns it with its run id, once it is ready.
fn start_badnet_lab() -> (std::process::Child, String) {
    require_root();
    let mut child = badnet()
        .args(["lab", "--backend", "wire", "--impair", "delay 1ms"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    let id = first
        .split_whitespace()
        .nth(1)
        .expect("lab <id> ready")
        .to_owned();
    assert_eq!(namespaces_of(&id).len(), 2, "{first}");
    (child, id)
}

fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "badnet did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ctrl_c_removes_the_lab_of_a_running_badnet() {
    for signal in [Signal::SIGINT, Signal::SIGTERM] {
        let (mut child, id) = start_badnet_lab();
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        assert!(wait_exit(&mut child).success());
        assert!(
            namespaces_of(&id).is_empty(),
            "{signal}: left {:?}",
            namespaces_of(&id)
        );
        assert!(!faults::plumbing::recorded_runs().contains(&id));
    }
}

#[test]
fn sigkill_leaves_only_what_the_next_sweep_removes() {
    let (mut child, id) = start_badnet_lab();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    wait_exit(&mut child);
    assert!(!faults::plumbing::is_alive(&id));
    // Another test's lab may sweep first; either way, after `badnet
    // cleanup` nothing of the killed run is left.
    let out = badnet().arg("cleanup").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        namespaces_of(&id).is_empty(),
        "left {:?}",
        namespaces_of(&id)
    );
    assert!(!faults::plumbing::recorded_runs().contains(&id));
}

#[test]
fn bad_impairment_is_refused_with_exit_code_2() {
    let out = badnet()
        .args(["lab", "--impair", "loss 150%"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid loss '150%'"), "{stderr}");
}

#[test]
fn doctor_json_has_the_documented_keys() {
    require_root();
    let out = badnet().args(["doctor", "--json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["root", "netem", "tun", "userns", "docker"] {
        assert!(report[key].is_boolean(), "{key} in {report}");
    }
    assert_eq!(report["root"], true);
    assert_eq!(report["tun"], true, "the wire backend needs TUN: {report}");
}

/// A TCP stream over the wire, clean and then with 2% loss: it arrives
/// byte for byte, and the wire hands bursts of its segments to B
/// coalesced (GRO) — after impairing each on its own, as the loss count
/// shows.
#[test]
fn wire_coalesces_tcp_segments_and_the_stream_arrives_intact() {
    use std::io::{Read, Write};
    let lab = lab(Backend::Wire);
    for (round, spec) in ["", "loss 2%"].into_iter().enumerate() {
        if !spec.is_empty() {
            lab.impair(Direction::Forward, &spec.parse().unwrap())
                .unwrap();
        }
        let port = PORT + 1 + round as u16;
        let listener = lab
            .b()
            .run(|| std::net::TcpListener::bind((lab.addr_b(), port)))
            .unwrap()
            .unwrap();
        let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        let got = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let (mut conn, _) = listener.accept().unwrap();
                conn.set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut got = Vec::new();
                conn.read_to_end(&mut got).unwrap();
                got
            });
            let mut conn = lab
                .a()
                .run(|| std::net::TcpStream::connect((lab.addr_b(), port)))
                .unwrap()
                .unwrap();
            conn.write_all(&data).unwrap();
            drop(conn);
            reader.join().unwrap()
        });
        assert!(
            got == data,
            "{spec:?}: the stream arrived damaged ({} of {} bytes)",
            got.len(),
            data.len()
        );
        let c = lab.counters().unwrap().forward;
        assert!(c.coalesced > 0, "{spec:?}: nothing coalesced: {c:?}");
        if !spec.is_empty() {
            assert!(c.dropped > 0, "{spec:?}: no segment lost: {c:?}");
        }
    }
    lab.remove().unwrap();
}

/// The veth backend is a plain pair: it carries traffic, and refuses every
/// impairment and partition, through the library and the command line
/// (exit code 2), even one asked for in the middle of a run.
#[test]
fn veth_backend_carries_traffic_and_refuses_every_impairment() {
    let lab = lab(Backend::Veth);
    assert_eq!(lab.backend(), Backend::Veth);
    assert_eq!(send_a_to_b(&lab, 20), 20);
    let loss: Impairment = "loss 10%".parse().unwrap();
    assert!(matches!(
        lab.impair(Direction::Both, &loss),
        Err(faults::Error::Invalid { .. })
    ));
    assert!(matches!(
        lab.partition(),
        Err(faults::Error::Invalid { .. })
    ));
    lab.clear(Direction::Both).unwrap();
    assert_eq!(
        send_a_to_b(&lab, 20),
        20,
        "a refused impairment changed the link"
    );
    lab.remove().unwrap();
    for args in [
        &[
            "run",
            "udp",
            "--backend",
            "veth",
            "--loss",
            "1%",
            "--count",
            "10",
        ][..],
        &[
            "run",
            "udp",
            "--backend",
            "veth",
            "--partition-after",
            "50ms",
            "--partition-for",
            "50ms",
            "--count",
            "100",
        ][..],
    ] {
        let out = badnet().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("carries no impairment"),
            "{args:?}: {stderr}"
        );
    }
}
