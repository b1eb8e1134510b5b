//! Bad input, flag by flag: every flag of every command that takes a value,
//! given a negative, zero, huge, malformed or out-of-range one, is refused
//! with exit code 2 and a message that names the flag, before anything is
//! created.

use crate::common::*;

/// (the command and what it needs besides the flag, the flag, bad values)
const TABLE: &[(&[&str], &str, &[&str])] = &[
    (
        &["run", "udp"],
        "--loss",
        &["-5%", "0", "101%", "abc", "1e999%"],
    ),
    (
        &["run", "udp"],
        "--delay",
        &["-5ms", "abc", "601s", "99999999999999999999s", "50"],
    ),
    (
        &["run", "udp", "--delay", "10ms"],
        "--jitter",
        &["-1ms", "abc", "601s"],
    ),
    (&["run", "udp"], "--jitter", &["5ms"]),
    (
        &["run", "udp", "--delay", "10ms"],
        "--reorder",
        &["-1%", "101%", "x"],
    ),
    (&["run", "udp"], "--duplicate", &["-1%", "101%", "x", "5"]),
    (&["run", "udp"], "--corrupt", &["-1%", "101%", "x"]),
    (&["run", "udp"], "--rate", &["0kbit", "-1mbit", "fast", "0"]),
    (
        &["run", "udp"],
        "--netem",
        &["loss 300%", "bogus 1", "delay -1ms"],
    ),
    (
        &["run", "udp", "--partition-after", "1s"],
        "--partition-for",
        &["0s", "-1s", "x", "25h"],
    ),
    (
        &["run", "udp", "--partition-for", "1s"],
        "--partition-after",
        &["-1s", "x", "25h"],
    ),
    (&["run", "udp"], "--direction", &["sideways", ""]),
    (&["run", "udp"], "--backend", &["bogus", ""]),
    (&["run", "udp"], "--hosts", &["vm"]),
    (&["run", "udp"], "--count", &["0", "-1", "10000001", "x"]),
    (&["run", "udp"], "--interval", &["-1ms", "x", "25h", "1"]),
    (&["run", "udp"], "--size", &["0", "28", "65508", "-1"]),
    (
        &["run", "tcp"],
        "--bytes",
        &["0", "-1", "99999999999999999999", "x"],
    ),
    (&["run", "tcp"], "--timeout", &["0s", "-1s", "x", "2"]),
    (
        &["run", "udp"],
        "--seed",
        &["-1", "18446744073709551616", "x"],
    ),
    (&["demo"], "--backend", &["bogus"]),
    (
        &["run", "udp"],
        "--receiver-rate",
        &["0", "-5/s", "x/s", "0/s"],
    ),
    (
        &["run", "tcp"],
        "--receiver-rate",
        &["0MB/s", "-1MB/s", "fast"],
    ),
    (
        &["run", "udp"],
        "--receiver-buffer",
        &["0", "-1", "16XB", "2TB"],
    ),
    (
        &["run", "--client", "true"],
        "--server",
        &["", "'unclosed", "no-such-program-x"],
    ),
    (
        &["run", "--server", "true"],
        "--client",
        &["", "a 'b", "no-such-program-x"],
    ),
    (
        &["run", "--server", "true", "--client", "true"],
        "--ready",
        &["(", "[z-a]"],
    ),
    (
        &["run", "--server", "true", "--client", "true"],
        "--ready-port",
        &["0", "-1", "65536", "x"],
    ),
    (
        &["run", "--server", "true", "--client", "true"],
        "--ready-timeout",
        &["0s", "-1s", "x"],
    ),
    (
        &["run", "udp"],
        "--renumber-after",
        &["-1s", "x", "25h", "10s"],
    ),
    (
        &["run", "udp", "--duration", "1s"],
        "--messages",
        &["0/s", "-1/s", "x"],
    ),
    (
        &["run", "udp", "--messages", "10/s"],
        "--duration",
        &["0s", "-1s", "x"],
    ),
    (&["run", "udp"], "--at", &["1s"]),
    (&["test"], "--junit", &[""]),
    (&["share"], "--rate", &["fast", "0mbit", "-1mbit"]),
    (&["share"], "--tcp", &["65", "-1", "x"]),
    (&["share"], "--udp", &["fast", "0", "-5mbit"]),
    (&["share"], "--duration", &["0s", "-1s", "601s"]),
    (&["share"], "--limit", &["0", "x"]),
    (&["share", "--udp", "1mbit"], "--tcp", &["0x"]),
    (&["demo"], "--seed", &["-1", "x"]),
    (&["demo"], "--hosts", &["vm"]),
    (&["bench"], "--only", &["bogus", "link,bogus"]),
    (&["bench"], "--clients", &["0", "-1", "x", "1000001"]),
    (&["lab"], "--backend", &["bogus"]),
    (&["lab"], "--impair", &["loss 200%", "bogus 1", "delay x"]),
    (&["lab"], "--direction", &["up"]),
    (&["lab"], "--seed", &["-1", "x"]),
    // Each impairment flag takes its own value only.
    (
        &["run", "udp"],
        "--delay",
        &["1ms loss 100%", "50ms 10ms", ""],
    ),
    (
        &["run", "udp"],
        "--loss",
        &["5% delay 100ms", "5% 5% 5%", ""],
    ),
    (
        &["run", "udp", "--delay", "10ms"],
        "--jitter",
        &["; rm -rf /tmp/x", "", "10ms rate 1mbit"],
    ),
    (
        &["run", "udp", "--delay", "10ms"],
        "--reorder",
        &["25% duplicate 5%", ""],
    ),
    (&["run", "udp"], "--duplicate", &["5% corrupt 5%", ""]),
    (&["run", "udp"], "--corrupt", &["5% limit 5", ""]),
    (&["run", "udp"], "--rate", &["1mbit seed 1", ""]),
    // veth carries no impairment and no fault: refused before building.
    (&["run", "udp", "--loss", "5%"], "--backend", &["veth"]),
    (
        &[
            "run",
            "udp",
            "--at",
            "10ms",
            "partition",
            "--at",
            "20ms",
            "heal",
        ],
        "--backend",
        &["veth"],
    ),
    (
        &[
            "run",
            "udp",
            "--partition-after",
            "10ms",
            "--partition-for",
            "10ms",
        ],
        "--backend",
        &["veth"],
    ),
    (&["share"], "--backend", &["veth"]),
    (&["demo"], "--backend", &["veth"]),
    // Your programs' flags beside a probe's transport were ignored.
    (&["run", "udp"], "--client", &["true"]),
    (&["run", "tcp"], "--ready-timeout", &["5s"]),
    // Output paths.
    (&["demo"], "--out", &["/dev/null/x", ""]),
    (&["bench"], "--out", &["/dev/null/x", ""]),
    (&["manpage"], "--dir", &["/nonexistent/x", "/dev/null", ""]),
];

#[test]
fn every_bad_flag_value_is_refused_with_exit_2_naming_the_flag_and_nothing_is_created() {
    require_root();
    let mut pids = Vec::new();
    let mut failures = Vec::new();
    let mut tried = 0;
    for (command, flag, values) in TABLE {
        for value in *values {
            let child = badnet()
                .args(*command)
                .args([flag, value])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            pids.push(child.id());
            let out = child.wait_with_output().unwrap();
            tried += 1;
            let stderr = String::from_utf8_lossy(&out.stderr);
            if out.status.code() != Some(2) || !stderr.contains(flag) {
                failures.push(format!(
                    "badnet {} {flag} {value:?}: exit {:?}: {}",
                    command.join(" "),
                    out.status.code(),
                    stderr.trim()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried}:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Other suites build labs meanwhile: what counts is what these
    // commands own. A run of theirs would be recorded with their PID; a
    // namespace left without its record would be an orphan, which a live
    // suite's run never is.
    let ours: Vec<String> = faults::plumbing::recorded_runs()
        .into_iter()
        .filter(|id| faults::plumbing::owner_pid(id).is_some_and(|p| pids.contains(&p)))
        .collect();
    assert!(ours.is_empty(), "refused commands recorded runs {ours:?}");
    let orphans: Vec<String> = faults::plumbing::netns_names()
        .into_iter()
        .filter(|n| {
            faults::plumbing::run_id_of(n)
                .is_some_and(|id| faults::plumbing::owner_pid(id).is_none_or(|p| pids.contains(&p)))
        })
        .collect();
    assert!(
        orphans.is_empty(),
        "refused commands left namespaces {orphans:?}"
    );
}
