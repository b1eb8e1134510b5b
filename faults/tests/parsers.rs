//! The impairment-spec parser and the userspace link's model against
//! arbitrary input: property tests (proptest; failures are kept in
//! `tests/parsers.proptest-regressions`) and a hand-kept corpus
//! (`tests/corpus/impairment.txt`).

use std::sync::Arc;

use faults::testing::{Counters, NetemModel};
use faults::Impairment;
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "delay",
    "latency",
    "distribution",
    "uniform",
    "normal",
    "pareto",
    "paretonormal",
    "loss",
    "drop",
    "random",
    "state",
    "gemodel",
    "gmodel",
    "duplicate",
    "corrupt",
    "reorder",
    "gap",
    "rate",
    "limit",
    "seed",
    "ecn",
    "slot",
    "none",
    "%",
    "",
];

/// What a netem command line is made of, and things near it.
fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        2 => (0.0f64..120.0).prop_map(|x| format!("{x}%")),
        1 => (0u32..200).prop_map(|n| format!("{n}%")),
        2 => (0u64..100_000, proptest::sample::select(&["us", "ms", "s", "usec", "msec", "sec", ""][..]))
            .prop_map(|(n, u)| format!("{n}{u}")),
        1 => (0u64..10_000, proptest::sample::select(&["bit", "kbit", "mbit", "gbit", "bps", "kbps", "mibit"][..]))
            .prop_map(|(n, u)| format!("{n}{u}")),
        1 => any::<u64>().prop_map(|n| n.to_string()),
        1 => proptest::sample::select(&["-1%", "nan%", "inf%", "1e308ms", "-0ms", "0x10", "1.5.5%", "%%", "100.0000001%"][..])
            .prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

/// A valid netem spec, knob by knob, with small queues so the limit bites.
fn spec_text() -> impl Strategy<Value = String> {
    let pct = || prop_oneof![Just(0.0), 0.0f64..100.0, Just(100.0)];
    (
        (
            0u64..50_000,
            0u64..20_000,
            prop::option::of(proptest::sample::select(
                &["normal", "pareto", "paretonormal"][..],
            )),
        ),
        (pct(), pct(), pct(), pct(), pct()),
        (
            prop::option::of(1u32..8),
            prop::option::of(1_000u64..100_000_000),
            1u32..40,
        ),
    )
        .prop_map(
            |((delay, jitter, dist), (loss, dup, corrupt, reorder, corr), (gap, rate, limit))| {
                let mut s = format!("delay {delay}us");
                if jitter > 0 && delay > 0 {
                    s += &format!(" {jitter}us {corr}%");
                    if let Some(d) = dist {
                        s += &format!(" distribution {d}");
                    }
                }
                s += &format!(" loss {loss}% {corr}% duplicate {dup}% corrupt {corrupt}%");
                if delay > 0 {
                    s += &format!(" reorder {reorder}% {corr}%");
                    match gap {
                        Some(g) if reorder > 0.0 => s += &format!(" gap {g}"),
                        _ => {}
                    }
                }
                if let Some(r) = rate {
                    s += &format!(" rate {r}bit");
                }
                s + &format!(" limit {limit}")
            },
        )
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 4096,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_text_is_parsed_or_refused_never_a_panic(text in "\\PC{0,80}") {
        let _ = text.parse::<Impairment>();
    }

    #[test]
    fn netem_like_input_parses_only_to_valid_specs_that_print_back(words in prop::collection::vec(word(), 0..14)) {
        if let Ok(spec) = words.join(" ").parse::<Impairment>() {
            prop_assert!(spec.validate().is_ok(), "{spec:?} parsed but is invalid");
            let printed = spec.to_string();
            if spec.is_none() {
                // Nothing to impair (a seed alone changes nothing): "none".
                prop_assert_eq!(printed, "none");
            } else {
                let again: Impairment = printed
                    .parse()
                    .map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
                prop_assert_eq!(again.to_string(), printed);
                prop_assert_eq!(again.tc_args(), spec.tc_args());
            }
        }
    }

    /// The model never panics, and accounts for every packet: what came in
    /// plus the copies it made is what left, was dropped or still waits.
    #[test]
    fn the_model_accounts_for_every_packet(
        text in spec_text(),
        arrivals in prop::collection::vec((0u64..5_000_000, 0usize..1600), 1..400),
        seed in any::<u64>(),
    ) {
        let spec: Impairment = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        let counters = Arc::new(Counters::default());
        let mut netem = NetemModel::new(&spec, seed, counters.clone());
        let mut now = 0u64;
        let mut out = 0u64;
        for (gap, len) in arrivals {
            now += gap;
            while netem.dequeue(now).is_some() {
                out += 1;
            }
            netem.enqueue(vec![0x45; len], now);
        }
        let c = counters.snapshot();
        prop_assert_eq!(out, c.passed);
        prop_assert_eq!(
            c.packets_in + c.duplicated,
            c.passed + c.dropped + c.queue_drops + netem.queued() as u64,
            "{:?}", c
        );
        prop_assert!(netem.queued() <= spec.limit as usize + 1);
        // Everything queued comes out once its time has come.
        while let Some(due) = netem.next_due() {
            prop_assert!(netem.dequeue(due).is_some());
        }
    }
}

/// Every line of the corpus: `ok SPEC` must parse (and print back the
/// same), `bad SPEC` must be refused with an error that names the field.
#[test]
fn the_corpus_parses_as_recorded() {
    let corpus = include_str!("corpus/impairment.txt");
    let mut checked = 0;
    for (n, line) in corpus.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (verdict, spec) = line.split_once(' ').unwrap_or((line, ""));
        let parsed = spec.parse::<Impairment>();
        match verdict {
            "ok" => {
                let spec_ok = parsed.unwrap_or_else(|e| panic!("line {}: `{spec}`: {e}", n + 1));
                assert!(spec_ok.validate().is_ok(), "line {}: `{spec}`", n + 1);
            }
            "bad" => {
                let err = parsed.expect_err(&format!("line {}: `{spec}` was accepted", n + 1));
                let faults::Error::Invalid { field, value, .. } = &err else {
                    panic!("line {}: `{spec}`: not a refusal of a field: {err}", n + 1);
                };
                // The field named is one the spec gave (its first word: "state
                // p13" for `loss state`), or an option netem does not have,
                // named by its value; and the message says it.
                let words: Vec<&str> = spec.split_whitespace().collect();
                let named = if *field == "netem option" {
                    words.contains(&value.as_str())
                } else {
                    words.contains(&field.split(' ').next().unwrap_or(field))
                };
                assert!(
                    named,
                    "line {}: `{spec}` was refused naming {field} '{value}'",
                    n + 1
                );
                assert!(err.to_string().contains(field), "line {}: {err}", n + 1);
            }
            other => panic!("line {}: verdict `{other}` is not ok or bad", n + 1),
        }
        checked += 1;
    }
    assert!(checked >= 40, "the corpus has only {checked} entries");
}
