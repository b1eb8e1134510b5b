//! Many hosts on one switch: `badnet mesh` (every host probes every other)
//! and `badnet lab --hosts`, with faults between any two hosts and
//! partitions of groups.

use std::process::Output;

use faults::bounds::ProportionCheck;
use rstest::rstest;
use serde_json::Value;

use crate::common::{backend, badnet, count, json_ok, num, require_root, run_ok};

/// `badnet mesh --json ARGS` on this run's backend; its JSON.
fn mesh(args: &[&str]) -> Value {
    json_ok("mesh", args)
}

/// What the switch dropped on every pair over the whole run.
fn dropped_on_every_link(json: &Value) -> u64 {
    json["links"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| count(&c["dropped"]))
        .sum()
}

/// The probe from `from` to `to`.
fn pair<'a>(json: &'a Value, from: &str, to: &str) -> &'a Value {
    json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["from"] == from && p["to"] == to)
        .unwrap_or_else(|| panic!("no pair {from}->{to}: {json}"))
}

fn group(host: &str) -> usize {
    usize::from(!matches!(host, "h1" | "h2"))
}

/// A partition of 2 | 3 is exact: in its phase no packet crosses the cut
/// either way (each of the 12 pairs across it passes 0 of the packets it
/// was offered), none is dropped inside a group, and after `heal` every
/// pair passes again. Every probe a pair lost is one the switch dropped
/// (the request or its echo): the 8 pairs inside a group lose none, and
/// the probes' losses add up to the switch's drops exactly. A partition
/// that leaked one pair, or cut one inside a group, fails; so does a
/// switch that dropped a packet it did not count.
#[test]
fn a_partition_of_groups_is_exact_and_heal_restores_every_pair() {
    let json = mesh(&[
        "--hosts",
        "5",
        "--count",
        "400",
        "--interval",
        "2ms",
        "--at",
        "200ms",
        "partition h1,h2 | h3,h4,h5",
        "--at",
        "450ms",
        "heal",
    ]);
    let phases = json["phases"].as_array().unwrap();
    assert_eq!(phases.len(), 3, "{json}");
    let (cut, healed) = (&phases[1]["links"], &phases[2]["links"]);
    let names = ["h1", "h2", "h3", "h4", "h5"];
    for from in names {
        for to in names.iter().filter(|t| **t != from) {
            let key = format!("{from}->{to}");
            let c = &cut[&key];
            if group(from) == group(to) {
                assert_eq!(count(&c["dropped"]), 0, "{key} inside a group: {c}");
                assert!(count(&c["passed"]) > 0, "{key} inside a group: {c}");
            } else {
                assert_eq!(count(&c["passed"]), 0, "{key} crossed the cut: {c}");
                assert!(count(&c["packets_in"]) > 0, "{key} was not offered: {c}");
            }
            let h = &healed[&key];
            assert!(count(&h["passed"]) > 0, "{key} after heal: {h}");
            assert_eq!(count(&h["dropped"]), 0, "{key} after heal: {h}");
            let p = pair(&json, from, to);
            assert_eq!(count(&p["sent"]), 400, "{key}: {p}");
            if group(from) == group(to) {
                assert_eq!(count(&p["lost"]), 0, "{key} inside a group: {p}");
            } else {
                assert!(count(&p["lost"]) > 0, "{key} across the cut: {p}");
            }
        }
    }
    let lost: u64 = json["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| count(&p["lost"]))
        .sum();
    let dropped = dropped_on_every_link(&json);
    assert_eq!(lost, dropped, "probes lost vs packets dropped: {json}");
}

/// A fault stays on its pair: with `h1->h2 loss 20%` on 4 hosts, only that
/// directed pair drops, in the Clopper-Pearson interval of its count at
/// 1e-6 (about ±0.035 around 0.2 for its 2000 packets), and each of the
/// other 11 pairs drops nothing; of the probes, only h1's to h2 and h2's
/// to h1 (whose echoes cross h1->h2) lose any. An impairment put on the
/// wrong pair, or on every pair, fails.
#[test]
fn a_fault_between_two_hosts_stays_on_that_pair() {
    let json = mesh(&[
        "--hosts",
        "4",
        "--count",
        "1000",
        "--interval",
        "1ms",
        "--impair",
        "h1->h2 loss 20%",
    ]);
    let names = ["h1", "h2", "h3", "h4"];
    for from in names {
        for to in names.iter().filter(|t| **t != from) {
            let key = format!("{from}->{to}");
            let c = &json["links"][&key];
            if key == "h1->h2" {
                let check =
                    ProportionCheck::new(count(&c["dropped"]), count(&c["packets_in"]), 0.20);
                assert!(check.pass, "h1->h2 at 20%: {check}");
            } else {
                assert_eq!(count(&c["dropped"]), 0, "{key} is not impaired: {c}");
            }
            let lost = count(&pair(&json, from, to)["lost"]);
            if matches!(key.as_str(), "h1->h2" | "h2->h1") {
                assert!(lost > 0, "{key} lost nothing");
            } else {
                assert_eq!(lost, 0, "{key} crosses no impaired pair");
            }
        }
    }
}

/// `oneway h1->h2` drops what h1 sends h2 and nothing the other way: in
/// its phase h1->h2 passes 0 of what it was offered, while h2->h1 passes
/// everything (it carries h2's probes and nothing is dropped on it). A cut
/// of both ways, or of the wrong way, fails.
#[test]
fn oneway_cuts_one_direction_and_the_other_passes() {
    let json = mesh(&[
        "--hosts",
        "3",
        "--count",
        "300",
        "--interval",
        "2ms",
        "--at",
        "100ms",
        "oneway h1->h2",
        "--at",
        "300ms",
        "heal",
    ]);
    let cut = &json["phases"][1]["links"];
    assert_eq!(json["phases"][1]["action"], "oneway h1->h2", "{json}");
    let (fwd, rev) = (&cut["h1->h2"], &cut["h2->h1"]);
    assert_eq!(count(&fwd["passed"]), 0, "h1->h2: {fwd}");
    assert!(count(&fwd["packets_in"]) > 0, "h1->h2: {fwd}");
    assert!(count(&rev["passed"]) > 0, "h2->h1: {rev}");
    assert_eq!(count(&rev["dropped"]), 0, "h2->h1: {rev}");
    for other in ["h1->h3", "h3->h1", "h2->h3", "h3->h2"] {
        assert_eq!(count(&cut[other]["dropped"]), 0, "{other}: {}", cut[other]);
    }
}

/// TCP between every pair of 3 hosts over a lossy network: every stream
/// comes back whole and in order.
#[test]
fn tcp_streams_between_every_pair_arrive_intact_and_in_order() {
    let json = mesh(&[
        "--hosts", "3", "--tcp", "--bytes", "65536", "--netem", "loss 2%",
    ]);
    let pairs = json["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 6, "{json}");
    for p in pairs {
        assert_eq!(p["completed"], true, "{p}");
        assert_eq!(p["intact"], true, "{p}");
        assert_eq!(p["in_order"], true, "{p}");
        assert_eq!(count(&p["bytes_received"]), 65536, "{p}");
    }
}

fn refused(args: &[&str]) -> Output {
    require_root();
    badnet().args(args).output().unwrap()
}

/// Bad input to the N-host commands exits 2 naming the flag or the step,
/// before anything is created.
#[rstest]
#[case::unknown_host_in_a_step(&["mesh", "--hosts", "3", "--at", "1s", "isolate h9"], "--at")]
#[case::host_in_two_groups(&["mesh", "--at", "1s", "partition h1,h2 | h2,h3"], "in two")]
#[case::oneway_to_itself(&["mesh", "--at", "1s", "oneway h1->h1"], "itself")]
#[case::impairment_on_veth(&["mesh", "--backend", "veth", "--netem", "loss 5%"], "--backend")]
#[case::lab_impairment_on_veth(&["lab", "--hosts", "3", "--backend", "veth", "--impair", "loss 5%"], "--backend")]
#[case::more_hosts_than_addresses(&["lab", "--hosts", "131071", "--duration", "0s"], "--hosts")]
#[case::a_host_named_twice(&["lab", "--hosts", "n1,n2,n1", "--duration", "0s"], "named once")]
#[case::unknown_pair(&["lab", "--hosts", "3", "--impair", "h1->h4 loss 1%", "--duration", "0s"], "h4")]
#[case::mesh_too_big(&["mesh", "--hosts", "33"], "--hosts")]
fn bad_input_to_many_hosts_is_refused_before_anything_is_made(
    #[case] args: &[&str],
    #[case] says: &str,
) {
    let out = refused(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    // A lab that was built prints its hosts first.
    assert!(out.stdout.is_empty(), "{args:?} built something");
}

/// `badnet lab --hosts 64 --duration 0s --json` builds 64 hosts, each with
/// its name, its address in 198.18.0.0/15 and its namespace, and removes
/// every one of them.
#[test]
fn a_lab_of_64_hosts_is_built_listed_and_removed() {
    require_root();
    let out = badnet()
        .args(["lab", "--hosts", "64", "--duration", "0s", "--json"])
        .args(["--backend", backend().name()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let built: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let removed: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let hosts = built["hosts"].as_array().unwrap();
    assert_eq!(hosts.len(), 64);
    assert_eq!(hosts[63]["name"], "h64");
    assert_eq!(hosts[63]["address"], "198.18.0.64");
    let id = built["run_id"].as_str().unwrap();
    assert!(hosts
        .iter()
        .all(|h| h["netns"].as_str().unwrap().contains(id)));
    assert!(removed["remove_s"].as_f64().is_some(), "{removed}");
    assert!(
        crate::common::namespaces_of(id).is_empty(),
        "left behind: {:?}",
        crate::common::namespaces_of(id)
    );
}

/// `down h2` takes h2's interface down (an intermittently connected
/// peer): in that phase h2 sends nothing (its probes' sends fail), every
/// packet the switch offers it is refused by its device (write errors),
/// and after `up h2` every pair passes again. A phase's counts are read
/// while the ports run, so one packet per pair may straddle each
/// boundary (counted in before it, written after): the checks allow that
/// one, and no more.
#[test]
fn a_host_that_goes_down_sends_and_receives_nothing_until_it_comes_up() {
    let json = mesh(&[
        "--hosts",
        "3",
        "--count",
        "150",
        "--interval",
        "2ms",
        "--at",
        "100ms",
        "down h2",
        "--at",
        "250ms",
        "up h2",
    ]);
    let (down, up) = (&json["phases"][1]["links"], &json["phases"][2]["links"]);
    for to_h2 in ["h1->h2", "h3->h2"] {
        let c = &down[to_h2];
        assert!(count(&c["packets_in"]) > 0, "{to_h2}: {c}");
        assert!(
            count(&c["write_errors"]) + 1 >= count(&c["packets_in"]),
            "{to_h2}: {c}"
        );
    }
    for from_h2 in ["h2->h1", "h2->h3"] {
        assert!(
            count(&down[from_h2]["packets_in"]) <= 1,
            "{from_h2}: {}",
            down[from_h2]
        );
    }
    assert!(count(&pair(&json, "h2", "h1")["send_errors"]) > 0, "{json}");
    for (key, c) in up.as_object().unwrap() {
        assert!(count(&c["passed"]) > 0, "{key} after up: {c}");
        assert!(count(&c["write_errors"]) <= 1, "{key} after up: {c}");
    }
}

/// `renumber h3` moves h3 to the next free address (198.18.0.4 of three
/// hosts) while every pair probes: h3's own probes keep being answered
/// (the others reply to where its requests now come from), while probes to
/// its old address go unanswered: nothing routes there any more. Two
/// thirds of each pair's 150 probes go after the step (100 ms into 300
/// ms); with the probes' own start-up spread, at least half are lost.
#[test]
fn a_renumbered_peer_is_answered_at_its_new_address_and_lost_at_its_old() {
    let json = mesh(&[
        "--hosts",
        "3",
        "--count",
        "150",
        "--interval",
        "2ms",
        "--at",
        "100ms",
        "renumber h3",
    ]);
    let after = &json["phases"][1]["links"];
    assert_eq!(json["phases"][1]["action"], "renumber h3", "{json}");
    for key in ["h3->h1", "h1->h3"] {
        assert!(count(&after[key]["passed"]) > 0, "{key}: {}", after[key]);
    }
    for from in ["h1", "h2"] {
        let p = pair(&json, from, "h3");
        assert!(
            count(&p["lost"]) >= 75,
            "{from}->h3 at h3's old address: {p}"
        );
    }
    for to in ["h1", "h2"] {
        let p = pair(&json, "h3", to);
        assert!(
            count(&p["received"]) >= 140,
            "h3->{to} from its new address: {p}"
        );
    }
}

/// A lab held by `badnet lab` is changed from another shell: `badnet fault
/// RUN_ID STEP` applies the step and says when it took effect; a step
/// naming no host of the lab, or a lab that is not there, exits 2. What
/// one host sends another is dropped while they are partitioned (the lab's
/// own counts at its end say so) and passes after `heal`. A fault that
/// never reached the lab, or was applied to the wrong pair, fails.
#[test]
fn a_held_lab_is_changed_from_another_shell() {
    use std::io::{BufRead, BufReader};
    use std::net::UdpSocket;
    use std::process::Stdio;
    require_root();
    let mut lab = badnet()
        .args(["lab", "--hosts", "n1,n2,n3", "--duration", "4s", "--json"])
        .args(["--backend", backend().name()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(lab.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let built: Value = serde_json::from_str(&line).unwrap();
    let id = built["run_id"].as_str().unwrap().to_owned();
    let fault = |step: &str| badnet().args(["fault", &id, step]).output().unwrap();
    // The lab answers once its control socket is there.
    let mut partition = fault("partition n1 | n2,n3");
    for _ in 0..50 {
        if partition.status.success() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        partition = fault("partition n1 | n2,n3");
    }
    assert!(
        partition.status.success(),
        "{}",
        String::from_utf8_lossy(&partition.stderr)
    );
    assert!(String::from_utf8_lossy(&partition.stdout).contains("took effect"));
    let n1 = faults::Host::wrap(
        "n1",
        &std::path::Path::new("/run/netns").join(format!("bn{id}-n1")),
    )
    .unwrap();
    let socket = n1.run(|| UdpSocket::bind("198.18.0.1:0")).unwrap().unwrap();
    socket.send_to(b"cut", "198.18.0.2:9").unwrap();
    let unknown = fault("isolate n9");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("n9"));
    let nowhere = badnet().args(["fault", "ffffff", "heal"]).output().unwrap();
    assert_eq!(nowhere.status.code(), Some(2));
    assert!(fault("heal").status.success());
    socket.send_to(b"healed", "198.18.0.2:9").unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(lab.wait().unwrap().success());
    let steps: Vec<&Value> = lines.iter().filter(|l| l["step"].is_string()).collect();
    assert_eq!(steps.len(), 2, "{lines:?}");
    assert_eq!(steps[0]["step"], "partition n1 | n2,n3");
    assert!(
        num(&steps[1]["at_ms"]) > num(&steps[0]["at_ms"]),
        "{lines:?}"
    );
    let ended = lines.last().unwrap();
    let c = &ended["links"]["n1->n2"];
    assert_eq!(
        (count(&c["packets_in"]), count(&c["dropped"])),
        (2, 1),
        "{ended}"
    );
    assert_eq!(count(&ended["links"]["n1->n3"]["packets_in"]), 0, "{ended}");
}

/// Many clients, one server, UDP: each client's loss follows its own link.
/// With `c3->server loss 30%`, c3's probes are lost in the Clopper-Pearson
/// interval of 0.30 for its 2000 (1e-6: about ±0.045), and the other three
/// lose none; the clients are told apart by address and source port. Loss
/// on the wrong client's link, or on every link, fails.
#[test]
fn udp_loss_is_per_client_and_follows_its_own_link() {
    let json = run_ok(&[
        "udp",
        "--clients",
        "4",
        "--impair",
        "c3->server loss 30%",
        "--count",
        "2000",
        "--interval",
        "500us",
    ]);
    let clients = json["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 4, "{json}");
    let mut seen = std::collections::BTreeSet::new();
    for c in clients {
        let (host, lost, sent) = (
            c["host"].as_str().unwrap(),
            count(&c["lost"]),
            count(&c["sent"]),
        );
        assert!(
            seen.insert((c["address"].to_string(), count(&c["source_port"]))),
            "{json}"
        );
        if host == "c3" {
            let check = ProportionCheck::new(lost, sent, 0.30);
            assert!(check.pass, "c3 at 30%: {check}");
        } else {
            assert_eq!(lost, 0, "{host} is on a clean link: {c}");
        }
    }
    assert_eq!(json["server"]["address"], "198.18.0.1", "{json}");
}

/// Many clients, one server, TCP, on a lossy network: the server serves
/// the four at once (a socket per client) and every stream comes back
/// whole and in order, each from its own address and port.
#[test]
fn tcp_server_serves_many_clients_each_stream_intact_and_in_order() {
    let json = run_ok(&["tcp", "--clients", "4", "--loss", "2%", "--bytes", "262144"]);
    let clients = json["clients"].as_array().unwrap();
    assert_eq!(clients.len(), 4, "{json}");
    for c in clients {
        assert_eq!(c["completed"], true, "{c}");
        assert_eq!(c["intact"], true, "{c}");
        assert_eq!(c["in_order"], true, "{c}");
        assert_eq!(count(&c["bytes_received"]), 262144, "{c}");
        assert!(count(&c["source_port"]) > 0, "{c}");
    }
    assert!(
        dropped_on_every_link(&json) > 0,
        "the network lost nothing: {json}"
    );
}

/// The programs of a held lab take Jepsen's process faults: `kill n2`
/// (SIGKILL: the lecture's UDP server in n2 answers no more), `restart n2`
/// (it answers again), `stop n2` (SIGSTOP: a paused node answers nothing)
/// and `cont n2` (it answers again, the datagram it missed first). A host
/// with no program exits 2. A fault that never reached the program fails.
#[test]
fn a_held_labs_programs_are_killed_paused_and_restarted() {
    use std::io::{BufRead, BufReader};
    use std::net::UdpSocket;
    use std::process::Stdio;
    use std::time::Duration;
    require_root();
    let mut lab = badnet()
        .args(["lab", "--hosts", "n1,n2", "--duration", "5s", "--json"])
        .args(["--run", "n2=udp-server --bind {self} --port 7000"])
        .args(["--backend", backend().name()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(lab.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let built: Value = serde_json::from_str(&line).unwrap();
    let id = built["run_id"].as_str().unwrap().to_owned();
    let n1 = faults::Host::wrap(
        "n1",
        &std::path::Path::new("/run/netns").join(format!("bn{id}-n1")),
    )
    .unwrap();
    let socket = n1.run(|| UdpSocket::bind("198.18.0.1:0")).unwrap().unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(400)))
        .unwrap();
    let answered = |word: &str| {
        socket.send_to(word.as_bytes(), "198.18.0.2:7000").unwrap();
        let mut buf = [0u8; 64];
        socket
            .recv(&mut buf)
            .ok()
            .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    };
    let fault = |step: &str| {
        let out = badnet().args(["fault", &id, step]).output().unwrap();
        assert!(
            out.status.success(),
            "{step}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The server is ready once it answers.
    let mut first = None;
    for _ in 0..20 {
        first = answered("up");
        if first.is_some() {
            break;
        }
    }
    assert_eq!(first.as_deref(), Some("UP"));
    fault("kill n2");
    assert_eq!(answered("killed"), None);
    fault("restart n2");
    let mut again = None;
    for _ in 0..20 {
        again = answered("again");
        if again.is_some() {
            break;
        }
    }
    assert_eq!(again.as_deref(), Some("AGAIN"));
    fault("stop n2");
    assert_eq!(answered("paused"), None);
    fault("cont n2");
    assert_eq!(answered("back").as_deref(), Some("PAUSED"));
    let none = badnet().args(["fault", &id, "kill n1"]).output().unwrap();
    assert_eq!(none.status.code(), Some(2));
    assert!(lab.wait().unwrap().success());
}
