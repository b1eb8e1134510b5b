//! The container lane: the services image, and the core UDP and TCP
//! properties between two containers, with the same statistical bounds as
//! the netns suite (Clopper-Pearson at 1e-6 per assertion).
//!
//! Needs a Docker engine and the image (`make test` builds it). Without
//! them these tests fail, saying so; `make test-netns` runs everything else.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use badnet::run::docker::{self as containers, IMAGE, LABEL, TAG};
use badnet::run::{execute, Outcome, Request, Workload};
use badnet::scenario::{HostKind, Partition, Scenario, Transport};
use badnet::testing::{backend_from_env as backend, namespaces_of, require_root, run, seed};
use badnet::verdict::{self, assert_all};
use faults::Direction;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use support::{badnet, badnet_with_programs, on_backend};
use testcontainers::core::WaitFor;
use testcontainers::runners::SyncRunner;
use testcontainers::{GenericImage, ImageExt};

fn require_containers() {
    require_root();
    if let Err(e) = containers::check() {
        panic!("{e:#}");
    }
}

fn in_containers(transport: Transport) -> Scenario {
    require_containers();
    let mut s = Scenario::new(transport);
    s.backend = backend();
    s.hosts = HostKind::Containers;
    s.count = 3000;
    s.interval = Duration::from_micros(300);
    s.timeout = Duration::from_millis(500);
    s.bytes = 256 * 1024;
    if transport == Transport::Tcp {
        s.timeout = Duration::from_secs(90);
    }
    s.seed = Some(seed());
    s
}

fn labelled(run: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("label={LABEL}={run}")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[test]
fn image_is_small_unprivileged_labelled_and_serves_udp_by_default() {
    require_containers();
    let out = Command::new("docker")
        .args(["image", "inspect", "-f", "{{.Size}} {{.Config.User}} {{json .Config.Cmd}} {{index .Config.Labels \"org.opencontainers.image.version\"}}", &format!("{IMAGE}:{TAG}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text.split_whitespace().collect();
    let size: u64 = fields[0].parse().unwrap();
    assert!(size < 10_000_000, "image is {size} bytes");
    assert_eq!(fields[1], "65534:65534");
    assert_eq!(fields[2], r#"["/bin/udp-server"]"#);
    assert_eq!(fields[3], TAG);
    // The default command is the UDP server, and it announces itself.
    let container = GenericImage::new(IMAGE, TAG)
        .with_wait_for(WaitFor::message_on_stdout(services::READY_LINE))
        .with_network("none")
        .start()
        .expect("the default command prints the readiness line");
    let state = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", container.id()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&state.stdout).trim(), "true");
}

#[test]
fn containers_udp_on_a_clean_link_loses_nothing() {
    let o = run(&in_containers(Transport::Udp));
    assert_eq!(o.hosts, HostKind::Containers);
    assert_all(&verdict::udp_clean(
        o.report.as_udp().expect("a UDP report"),
    ));
}

/// 10% loss each way between containers: round-trip loss consistent with
/// 1-(0.9)^2 = 0.19 over 3000 probes.
#[test]
fn containers_udp_loses_about_the_configured_fraction() {
    let s = in_containers(Transport::Udp).impaired("loss 10%", Direction::Both);
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert_all(&[
        verdict::udp_loss(r, 0.10, 2),
        verdict::udp_uncorrupted(r),
        verdict::udp_boundaries(r),
    ]);
}

/// `duplicate 10%` client to server: duplicates are Binomial(3000, 0.10).
#[test]
fn containers_udp_duplicates_arrive_as_extra_copies() {
    let o = run(&in_containers(Transport::Udp).impaired("duplicate 10%", Direction::Forward));
    let r = o.report.as_udp().expect("a UDP report");
    assert_eq!(r.lost, 0);
    assert_all(&[verdict::proportion(
        "duplicates",
        r.duplicates,
        r.sent,
        0.10,
    )]);
}

#[test]
fn containers_tcp_delivers_every_byte_in_order_under_loss_and_reordering() {
    let s = in_containers(Transport::Tcp)
        .impaired("delay 5ms 2ms loss 10% reorder 10%", Direction::Both);
    let o = run(&s);
    let r = o.report.as_tcp().expect("a TCP report");
    let mut checks = verdict::tcp_reliable(r);
    checks.push(verdict::tcp_retransmitted(r));
    assert_all(&checks);
}

#[test]
fn containers_tcp_stalls_through_a_partition_and_completes_intact() {
    let mut s = in_containers(Transport::Tcp).impaired("rate 4mbit", Direction::Both);
    s.bytes = 512 * 1024;
    s.partition = Some(Partition {
        after: Duration::from_millis(300),
        duration: Duration::from_secs(2),
    });
    let o = run(&s);
    let r = o.report.as_tcp().expect("a TCP report");
    assert_all(&verdict::tcp_reliable(r));
    assert!(r.duration_s > 2.0, "{} s", r.duration_s);
    assert!(
        labelled(&o.run_id).is_empty(),
        "containers left: {:?}",
        labelled(&o.run_id)
    );
    assert!(namespaces_of(&o.run_id).is_empty());
}

/// A timeline between containers: the link lost forward for 300 ms of a
/// 900 ms schedule; what the probe lost is what the link dropped in that
/// phase, and nothing was dropped in the others.
#[test]
fn containers_play_a_timeline_and_count_each_phase() {
    let mut s = in_containers(Transport::Udp);
    s.direction = Direction::Forward;
    s.count = 900;
    s.interval = Duration::from_millis(1);
    s.timeline = vec![
        badnet::timeline::Step::parse("300ms", "loss 100%").unwrap(),
        badnet::timeline::Step::parse("600ms", "clear").unwrap(),
    ];
    let o = run(&s);
    let phases = &o.timeline.phases;
    assert_eq!(phases.len(), 3, "{phases:?}");
    let lost = o.report.as_udp().unwrap().lost;
    let cut = &phases[1].link.forward;
    assert_eq!(cut.dropped, cut.packets_in, "{phases:?}");
    // Each probe the link dropped is lost. (Once, with a build running
    // beside the suite, two more never reached the link from the probe's
    // container: the link cannot count what it never saw.)
    assert!(lost >= cut.dropped, "{phases:?}");
    assert!(lost - cut.dropped <= 900 / 200, "{lost} lost: {phases:?}");
    assert!(lost > 0, "{phases:?}");
    for p in [&phases[0], &phases[2]] {
        assert_eq!(p.link.forward.dropped + p.link.reverse.dropped, 0, "{p:?}");
    }
    assert!(labelled(&o.run_id).is_empty());
}

/// `badnet run udp --hosts containers` for a minute.
fn a_run_in_containers() -> std::process::Child {
    require_containers();
    badnet()
        .args([
            "run",
            "udp",
            "--hosts",
            "containers",
            "--count",
            "60000",
            "--interval",
            "1ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// The run of `child`, once its four containers run (the two hosts'
/// holders, the server and the probe).
fn its_run(child: &mut std::process::Child) -> String {
    let started = Instant::now();
    loop {
        let mine = faults::plumbing::recorded_runs()
            .into_iter()
            .find(|r| faults::plumbing::owner_pid(r) == Some(child.id()));
        if let Some(run) = mine.filter(|r| labelled(r).len() == 4) {
            return run;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the run's containers did not appear");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stopped by SIGTERM, a run removes its containers itself (by their owner
/// label) and exits 143: nothing is left for a sweep.
#[test]
fn containers_of_a_stopped_run_are_removed_by_it() {
    let mut child = a_run_in_containers();
    let run = its_run(&mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(
        labelled(&run).is_empty(),
        "containers of run {run} left: {:?}",
        labelled(&run)
    );
    assert!(namespaces_of(&run).is_empty(), "{:?}", namespaces_of(&run));
    assert!(!faults::plumbing::recorded_runs().contains(&run));
}

#[test]
fn containers_of_a_killed_run_are_swept_by_cleanup() {
    let mut child = a_run_in_containers();
    let run = its_run(&mut child);
    kill(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let mut out = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut out);
    let cleanup = badnet().arg("cleanup").output().unwrap();
    assert!(
        cleanup.status.success(),
        "{}",
        String::from_utf8_lossy(&cleanup.stderr)
    );
    assert!(
        labelled(&run).is_empty(),
        "containers of run {run} left: {:?}",
        labelled(&run)
    );
    assert!(
        namespaces_of(&run).is_empty(),
        "names of run {run} left: {:?}",
        namespaces_of(&run)
    );
}

/// Flow control between containers: the slow reader's kernel drops what
/// its buffer cannot hold, and every probe lost is one it counted as
/// dropped, or one still unread in its queue at the end.
#[test]
fn containers_udp_loses_to_a_slow_readers_full_buffer_what_its_kernel_counts() {
    let mut s = in_containers(Transport::Udp);
    s.count = 2000;
    s.interval = Duration::from_millis(1);
    s.timeout = Duration::from_secs(1);
    s.receiver_rate = Some(500.0);
    s.receiver_buffer = Some(16_000);
    let o = run(&s);
    let r = o.report.as_udp().expect("a UDP report");
    assert!(o.server_udp.rcvbuf_errors > 0, "{:?}", o.server_udp);
    assert_eq!(
        r.lost,
        o.server_udp.rcvbuf_errors + o.unread_at_end.expect("a UDP probe's unread"),
        "{r:?} {:?} unread {:?}",
        o.server_udp,
        o.unread_at_end
    );
}

/// An image nobody here named: built in the test from a Dockerfile `FROM
/// scratch` holding the static server and probe under other names. Your
/// own programs run in it: clean, under a one-way outage as timeline
/// steps, and with badnet killed mid-run, after which `badnet cleanup`
/// leaves none of the run's containers.
#[test]
fn your_own_image_from_scratch_runs_clean_impaired_and_is_cleaned_after_sigkill() {
    require_containers();
    let bins = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/static/x86_64-unknown-linux-gnu/image");
    let dir = std::env::temp_dir().join(format!("badnet-image-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (from, to) in [("udp-server", "upper"), ("udp-client", "probe")] {
        std::fs::copy(bins.join(from), dir.join(to))
            .unwrap_or_else(|e| panic!("{from} ({e}): `make images` builds it"));
    }
    std::fs::write(
        dir.join("Dockerfile"),
        "FROM scratch\nCOPY upper probe /\nUSER 65534:65534\n",
    )
    .unwrap();
    let image = format!("badnet-test/other:{}", std::process::id());
    let built = Command::new("docker")
        .args(["build", "-q", "-t", &image])
        .arg(&dir)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let probe = "/probe --server {server} --port 7000 --probe --interval 1ms --timeout 1s --json";
    let args = |count: u32, extra: &[&str]| -> Vec<String> {
        let client = format!("{probe} --count {count}");
        let mut a: Vec<String> = ["run", "--json", "--hosts", "containers"]
            .into_iter()
            .chain(on_backend())
            .map(String::from)
            .collect();
        a.extend(
            [
                "--server-image",
                &image,
                "--server",
                "/upper --port 7000",
                "--ready-port",
                "7000",
                "--client-image",
                &image,
                "--client",
                &client,
            ]
            .map(String::from),
        );
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let report = |out: &std::process::Output| -> (serde_json::Value, serde_json::Value) {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let probe = serde_json::from_str(json["client"]["stdout"].as_str().unwrap()).unwrap();
        (json, probe)
    };
    let (_, clean) = report(&badnet().args(args(400, &[])).output().unwrap());
    assert_eq!(clean["lost"], 0, "{clean}");
    assert_eq!(clean["not_uppercased"], 0, "{clean}");
    let (json, cut) = report(
        &badnet()
            .args(args(
                400,
                &[
                    "--direction",
                    "forward",
                    "--at",
                    "250ms",
                    "loss 100%",
                    "--at",
                    "350ms",
                    "clear",
                ],
            ))
            .output()
            .unwrap(),
    );
    for step in json["timeline"].as_array().unwrap() {
        let late = step["applied_ms"].as_f64().unwrap() - step["at_ms"].as_f64().unwrap();
        assert!((0.0..=10.0).contains(&late), "{step}");
    }
    let dropped = json["phases"][1]["link"]["forward"]["dropped"]
        .as_u64()
        .unwrap();
    assert_eq!(cut["lost"].as_u64().unwrap(), dropped, "{json}");
    assert!(dropped > 0, "{json}");
    // Killed mid-run: its containers stay until cleanup sweeps them.
    let mut child = badnet()
        .args(args(30000, &[]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    let run = loop {
        let runs: Vec<String> = faults::plumbing::recorded_runs()
            .into_iter()
            .filter(|id| faults::plumbing::owner_pid(id) == Some(pid))
            .collect();
        if let Some(id) = runs.first() {
            if labelled(id).len() >= 4 {
                break id.clone();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the run's four containers never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    kill(Pid::from_raw(pid as i32), Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    let out = badnet().arg("cleanup").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(labelled(&run).is_empty(), "left: {:?}", labelled(&run));
    assert!(namespaces_of(&run).is_empty());
    let _ = Command::new("docker").args(["rmi", "-f", &image]).output();
    std::fs::remove_dir_all(dir).unwrap();
}

/// Timestamped messages between containers: sockets opened in holder
/// containers; UDP delivers what the link passed, TCP every one.
#[test]
fn containers_carry_timestamped_messages() {
    use badnet::run::timeliness::Messages;
    let m = Messages {
        rate: 200.0,
        duration: Duration::from_secs(1),
    };
    for transport in [Transport::Udp, Transport::Tcp] {
        let mut s = in_containers(transport).impaired("delay 5ms loss 5%", Direction::Both);
        s.timeout = Duration::from_secs(20);
        let r = Request {
            scenario: s,
            workload: Workload::Timeliness(m),
        };
        let Outcome::Timeliness(o) = execute(&r).unwrap() else {
            panic!("a timeliness request has a timeliness outcome")
        };
        let r = &o.report;
        assert_eq!(r.messages_sent, 200, "{r:?}");
        match transport {
            Transport::Udp => {
                assert_eq!(r.messages_delivered, 200 - o.link.forward.dropped, "{r:?}")
            }
            Transport::Tcp => assert_eq!(r.messages_delivered, 200, "{r:?}"),
        }
        assert!(r.latency_ms.min >= 5.0, "{r:?}");
        assert!(labelled(&o.run_id).is_empty());
    }
}

/// Flows through one bottleneck between holder containers: the flood
/// keeps its rate and TCP backs off, as between namespaces.
#[test]
fn containers_share_a_bottleneck_with_a_flood() {
    require_containers();
    let mut s = Scenario::new(Transport::Tcp);
    s.backend = backend();
    s.seed = Some(seed());
    s.hosts = HostKind::Containers;
    let share = badnet::run::share::Share {
        rate: "20mbit".into(),
        limit: 100,
        tcp: 1,
        udp_bps: Some(40e6),
        duration: Duration::from_secs(2),
    };
    let Outcome::Share(r) = execute(&Request::share(s, share).unwrap()).unwrap() else {
        panic!("a share request has a share outcome")
    };
    let udp = r.udp.as_ref().unwrap();
    assert!(udp.sent_mbps >= 38.0 && udp.delivered_mbps <= 20.4, "{r:?}");
    assert!(r.flows[0].goodput_mbps < 5.0, "{r:?}");
    assert!(labelled(&r.run_id).is_empty());
}

/// A client container renumbered mid-run: the server answers its new
/// address (at most 20 probes lost or refused across the change).
#[test]
fn containers_udp_answers_a_renumbered_client() {
    let mut s = in_containers(Transport::Udp);
    s.count = 2000;
    s.interval = Duration::from_millis(1);
    s.renumber_after = Some(Duration::from_secs(1));
    let o = run(&s);
    let r = o.report.as_udp().unwrap();
    assert!(r.received_after_renumber.unwrap() >= 980, "{r:?}");
    assert!(r.lost + r.send_errors <= 20, "{r:?}");
    assert_eq!(o.timeline.timeline[0].step.action.to_string(), "renumber");
}

/// A TCP client container renumbered mid-stream: without reconnecting the
/// stream cannot complete; with it, it completes intact.
#[test]
fn containers_tcp_reconnects_after_a_renumbering() {
    for reconnect in [None, Some(Duration::from_secs(1))] {
        let mut s = in_containers(Transport::Tcp).impaired("rate 20mbit", Direction::Both);
        s.bytes = 2_000_000;
        s.timeout = Duration::from_secs(4);
        s.renumber_after = Some(Duration::from_millis(300));
        s.reconnect = reconnect;
        let o = run(&s);
        let r = o.report.as_tcp().unwrap();
        match reconnect {
            None => assert!(!r.completed && r.error.is_some(), "{r:?}"),
            Some(_) => {
                assert!(r.completed && r.intact && r.reconnects >= 1, "{r:?}");
            }
        }
    }
}

/// The example cluster's checks with every node a container of the
/// services image (its UDP server) joined to its host's holder, and the
/// client a process in its host: the partition cuts the containers' pairs
/// alone, `stop` pauses a container and `cont` resumes it, `kill` kills
/// it and `restart` starts a new one, waited for until it listens.
#[test]
fn a_cluster_of_containers_takes_the_partition_and_the_process_faults() {
    require_containers();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = root.join("tests/scenarios/cluster/check.sh");
    let dir =
        std::env::temp_dir().join(format!("badnet-cluster-containers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let node = |name: &str| {
        format!(
            "[[scenario.host]]\nname = \"{name}\"\nrun = \"/bin/udp-server --bind {{self}} --port 7000\"\nimage = \"{IMAGE}:{TAG}\"\nready_port = 7000\n\n"
        )
    };
    let text = format!(
        "[[scenario]]\nname = \"containers\"\nhosts = [\"n1\", \"n2\", \"n3\", \"cli\"]\nat = [[\"1s\", \"partition n1 | n2,n3\"], [\"1.1s\", \"stop n3\"], [\"2s\", \"heal\"], [\"2.3s\", \"cont n3\"], [\"2.5s\", \"kill n2\"], [\"3.5s\", \"restart n2\"]]\n\n{}{}{}[scenario.client]\nhost = \"cli\"\nrun = \"sh {} {{n1}} {{n2}} {{n3}}\"\ntimeout = \"20s\"\n",
        node("n1"),
        node("n2"),
        node("n3"),
        check.display()
    );
    let file = dir.join("s.toml");
    std::fs::write(&file, text).unwrap();
    let out = badnet_with_programs()
        .arg("test")
        .arg(&file)
        .arg("--reports")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    let report = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{json:#}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts = json["hosts"].as_array().unwrap();
    for (h, starts) in hosts[..3].iter().zip([1, 2, 1]) {
        assert_eq!(h["program"]["starts"], starts, "{h}");
        assert_eq!(h["program"]["exited_early"], false, "{h}");
        assert!(
            h["netns"]
                .as_str()
                .unwrap()
                .contains(&format!("-c{}", h["name"].as_str().unwrap())),
            "{h}"
        );
    }
    assert_eq!(json["client"]["exit_code"], 0);
    let run = json["run_id"].as_str().unwrap();
    assert!(labelled(run).is_empty(), "containers of run {run} are left");
    assert!(
        namespaces_of(run).is_empty(),
        "namespaces of run {run} are left"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
