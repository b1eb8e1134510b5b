//! What `badnet run` prints without `--json`: a summary per workload, the
//! link's counts, the timeline as played.

use crate::run::play::Timeline;
use crate::run::programs::ProgramsOutcome;
use crate::run::timeliness::TimelinessOutcome;
use crate::run::{Outcome, ProbeOutcome};
use crate::scenario::Scenario;

/// The summary of `outcome`, a run of `s`; `client` is your client's
/// command line, as given.
pub fn summary(outcome: &Outcome, s: &Scenario, client: &str) -> String {
    match outcome {
        Outcome::Probe(o) => probe_summary(o),
        Outcome::Programs(o) => programs_summary(o, s, client),
        Outcome::Timeliness(o) => timeliness_summary(o, s),
        Outcome::Clients(o) => o.summary(),
        Outcome::Cluster(o) => o.summary(),
        Outcome::Share(_) | Outcome::Mesh(_) => {
            unreachable!("badnet run has no share or mesh workload")
        }
    }
}

fn probe_summary(o: &ProbeOutcome) -> String {
    let mut s = format!(
        "{} over {} ({:?}), backend {} ({}), hosts {}, seed {}\n",
        o.report.transport().to_uppercase(),
        o.scenario.impairment,
        o.scenario.direction,
        o.backend,
        o.backend_reason,
        o.hosts,
        o.seed,
    );
    if let Some(p) = o.scenario.partition {
        s.push_str(&format!(
            "partition: {:?} after {:?}\n",
            p.duration, p.after
        ));
    }
    s.push_str(&o.report.summary());
    if let Some(unread) = o.unread_at_end {
        let b = &o.server_udp;
        s.push_str(&format!(
            "host B: server read {}, receive-buffer drops {}, unread at the end {unread}\n",
            b.in_datagrams, b.rcvbuf_errors
        ));
    }
    for (dir, c) in [("A->B", o.link.forward), ("B->A", o.link.reverse)] {
        s.push_str(&format!(
            "link {dir}: in {} passed {} dropped {} duplicated {} corrupted {} reordered {} queue drops {} coalesced {} write errors {}, late p50/p99/max {}/{}/{} us\n",
            c.packets_in, c.passed, c.dropped, c.duplicated, c.corrupted, c.reordered, c.queue_drops, c.coalesced, c.write_errors, c.late_p50_us, c.late_p99_us, c.late_max_us
        ));
    }
    s.push_str(&phases(&o.timeline));
    s
}

/// `badnet run --server ... --client ...`: what your client printed and
/// how it exited.
fn programs_summary(o: &ProgramsOutcome, s: &Scenario, client: &str) -> String {
    let mut text = format!(
        "client {:?} over {} ({:?}), backend {}{}: exit {}, {:.3} s\n",
        client,
        s.impairment,
        s.direction,
        o.backend,
        seed(s),
        match (o.client.exit_code, o.client.killed_at_limit) {
            (Some(c), _) => c.to_string(),
            (None, true) => "killed at its limit".into(),
            (None, false) => "killed".into(),
        },
        o.client.duration_s
    );
    text.push_str(&o.client.stdout);
    if !o.client.stdout.is_empty() && !o.client.stdout.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&link_lines(&o.link));
    text.push_str(&phases(&o.timeline));
    text
}

/// `badnet run udp|tcp --messages RATE --duration D`.
fn timeliness_summary(o: &TimelinessOutcome, s: &Scenario) -> String {
    let r = &o.report;
    let mut text = format!(
        "{} messages over {} ({:?}), backend {}{}: sent {} delivered {} ({} duplicates, {} out of order)\n",
        s.transport.probe_program().trim_end_matches("-client").to_uppercase(),
        s.impairment,
        s.direction,
        o.backend,
        seed(s),
        r.messages_sent,
        r.messages_delivered,
        r.duplicates,
        r.out_of_order
    );
    text.push_str(&format!(
        "one-way latency min {:.3} / p50 {:.3} / p99 {:.3} / max {:.3} ms{}\n",
        r.latency_ms.min,
        r.latency_ms.p50,
        r.latency_ms.p99,
        r.latency_ms.max,
        match (r.retransmits, r.srtt_ms) {
            (Some(n), Some(rtt)) => format!(", {n} retransmits, srtt {rtt:.3} ms"),
            _ => String::new(),
        }
    ));
    text.push_str(&link_lines(&o.link));
    text.push_str(&phases(&o.timeline));
    text
}

/// `, seed N`: the seed of the link's draws (`badnet run` always has one,
/// given or drawn).
fn seed(s: &Scenario) -> String {
    s.seed.map_or(String::new(), |n| format!(", seed {n}"))
}

/// What the link did, a line per direction (the counts a reader of your
/// programs' or the messages' runs needs; the probes' summary has more).
fn link_lines(link: &faults::LinkCounters) -> String {
    let mut s = String::new();
    for (dir, c) in [("A->B", link.forward), ("B->A", link.reverse)] {
        s.push_str(&format!(
            "link {dir}: in {} passed {} dropped {} duplicated {} corrupted {}\n",
            c.packets_in, c.passed, c.dropped, c.duplicated, c.corrupted
        ));
    }
    s
}

/// One line per step of the timeline (due, applied) and per phase (what
/// the link counted).
fn phases(t: &Timeline) -> String {
    let mut s = String::new();
    for p in &t.timeline {
        match p.applied_ms {
            Some(at) => s.push_str(&format!(
                "step '{}' due at {:.0} ms, applied at {:.1} ms\n",
                p.step.action,
                p.step.at.as_secs_f64() * 1e3,
                at
            )),
            None => s.push_str(&format!(
                "step '{}' due at {:.0} ms: not applied, the client had ended\n",
                p.step.action,
                p.step.at.as_secs_f64() * 1e3
            )),
        }
    }
    for p in &t.phases {
        let (f, r) = (&p.link.forward, &p.link.reverse);
        s.push_str(&format!(
            "phase {:>8.1}..{:<8.1} ms {:<20} A->B in {} passed {} dropped {}; B->A in {} passed {} dropped {}\n",
            p.from_ms, p.to_ms, format!("'{}'", p.action), f.packets_in, f.passed, f.dropped, r.packets_in, r.passed, r.dropped
        ));
    }
    s
}
