//! The impairment spec: `tc netem`'s vocabulary, validated before anything
//! touches the kernel, and printed back as the exact `tc` arguments.
//!
//! ```
//! use faults::Impairment;
//! let spec: Impairment = "delay 50ms 10ms distribution normal loss 5% duplicate 1%".parse().unwrap();
//! assert_eq!(spec.to_string(), "delay 50ms 10ms distribution normal loss random 5% duplicate 1%");
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::netem::units::{self, format_percent, format_rate, format_time};
use crate::Error;

/// The delay distribution of the jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Distribution {
    /// Uniform in `delay ± jitter` (netem's default without a table).
    #[default]
    Uniform,
    /// Normal with standard deviation `jitter`, cut at ±4 jitter.
    Normal,
    /// Pareto (shape 3), shifted to mean `delay`.
    Pareto,
    /// The mix of Pareto and normal that iproute2's table holds.
    Paretonormal,
}

impl Distribution {
    fn name(self) -> &'static str {
        match self {
            Distribution::Uniform => "uniform",
            Distribution::Normal => "normal",
            Distribution::Pareto => "pareto",
            Distribution::Paretonormal => "paretonormal",
        }
    }
}

/// How packets are lost. Percentages are in 0..=100.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(tag = "model", rename_all = "lowercase")]
pub enum Loss {
    /// No loss.
    #[default]
    None,
    /// Each packet is lost with probability `percent`; `correlation` ties
    /// each draw to the previous one, as netem does.
    Random { percent: f64, correlation: f64 },
    /// Gilbert-Elliott: `p` good-to-bad, `r` bad-to-good, `one_minus_h` loss
    /// in the bad state, `one_minus_k` loss in the good state (netem's
    /// `gemodel p r 1-h 1-k`).
    Gemodel {
        p: f64,
        r: f64,
        one_minus_h: f64,
        one_minus_k: f64,
    },
    /// The 4-state Markov model of netem's `state p13 p31 p32 p23 p14`.
    State {
        p13: f64,
        p31: f64,
        p32: f64,
        p23: f64,
        p14: f64,
    },
}

/// One direction's impairment, with netem's defaults for what is not given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Impairment {
    #[serde(rename = "delay_ms", serialize_with = "units::serialize_ms")]
    pub delay: Duration,
    #[serde(rename = "jitter_ms", serialize_with = "units::serialize_ms")]
    pub jitter: Duration,
    pub delay_correlation: f64,
    pub distribution: Distribution,
    pub loss: Loss,
    pub duplicate: f64,
    pub duplicate_correlation: f64,
    pub corrupt: f64,
    pub corrupt_correlation: f64,
    pub reorder: f64,
    pub reorder_correlation: f64,
    /// Reorder only every `gap`-th packet at most (0: not given).
    pub gap: u32,
    /// Bits per second.
    pub rate: Option<u64>,
    /// Packets the queue holds at most.
    pub limit: u32,
    /// Seed of the random draws, so a run can be repeated.
    pub seed: Option<u64>,
}

/// netem's default queue limit.
pub const DEFAULT_LIMIT: u32 = 1000;
/// The largest queue limit the userspace link accepts.
pub const MAX_LIMIT: u32 = 1_000_000;
const MAX_DELAY: Duration = Duration::from_secs(600);

impl Default for Impairment {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            delay_correlation: 0.0,
            distribution: Distribution::Uniform,
            loss: Loss::None,
            duplicate: 0.0,
            duplicate_correlation: 0.0,
            corrupt: 0.0,
            corrupt_correlation: 0.0,
            reorder: 0.0,
            reorder_correlation: 0.0,
            gap: 0,
            rate: None,
            limit: DEFAULT_LIMIT,
            seed: None,
        }
    }
}

impl Impairment {
    /// No impairment at all.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every packet lost: a partition.
    pub fn blackhole() -> Self {
        Self {
            loss: Loss::Random {
                percent: 100.0,
                correlation: 0.0,
            },
            ..Self::default()
        }
    }

    /// Whether this changes nothing.
    pub fn is_none(&self) -> bool {
        Self {
            seed: self.seed,
            ..Self::default()
        } == *self
    }

    /// Checks every field against its range and the rules between fields.
    pub fn validate(&self) -> Result<(), Error> {
        let pct = |field: &'static str, v: f64| {
            check(
                field,
                (0.0..=100.0).contains(&v),
                format_percent(v),
                "0%..=100%",
            )
        };
        check(
            "delay",
            self.delay <= MAX_DELAY,
            format_time(self.delay),
            "0..=600s",
        )?;
        check(
            "jitter",
            self.jitter <= MAX_DELAY,
            format_time(self.jitter),
            "0..=600s",
        )?;
        if !self.jitter.is_zero() && self.delay.is_zero() {
            return Err(Error::invalid(
                "jitter",
                format_time(self.jitter),
                "a delay as well (netem jitters around the delay)",
            ));
        }
        if self.distribution != Distribution::Uniform && self.jitter.is_zero() {
            return Err(Error::invalid(
                "distribution",
                self.distribution.name(),
                "a jitter as well (the distribution shapes the jitter)",
            ));
        }
        pct("delay correlation", self.delay_correlation)?;
        match self.loss {
            Loss::None => {}
            Loss::Random {
                percent,
                correlation,
            } => {
                pct("loss", percent)?;
                pct("loss correlation", correlation)?;
            }
            Loss::Gemodel {
                p,
                r,
                one_minus_h,
                one_minus_k,
            } => {
                for (f, v) in [
                    ("gemodel p", p),
                    ("gemodel r", r),
                    ("gemodel 1-h", one_minus_h),
                    ("gemodel 1-k", one_minus_k),
                ] {
                    pct(f, v)?;
                }
            }
            Loss::State {
                p13,
                p31,
                p32,
                p23,
                p14,
            } => {
                for (f, v) in [
                    ("state p13", p13),
                    ("state p31", p31),
                    ("state p32", p32),
                    ("state p23", p23),
                    ("state p14", p14),
                ] {
                    pct(f, v)?;
                }
                check(
                    "state p13 + p14",
                    p13 + p14 <= 100.0,
                    format_percent(p13 + p14),
                    "0%..=100% (they leave one state)",
                )?;
                check(
                    "state p31 + p32",
                    p31 + p32 <= 100.0,
                    format_percent(p31 + p32),
                    "0%..=100% (they leave one state)",
                )?;
            }
        }
        pct("duplicate", self.duplicate)?;
        pct("duplicate correlation", self.duplicate_correlation)?;
        pct("corrupt", self.corrupt)?;
        pct("corrupt correlation", self.corrupt_correlation)?;
        pct("reorder", self.reorder)?;
        pct("reorder correlation", self.reorder_correlation)?;
        if (self.reorder > 0.0 || self.gap > 0) && self.delay.is_zero() {
            return Err(Error::invalid(
                "reorder",
                format_percent(self.reorder),
                "a delay as well (reordered packets skip it)",
            ));
        }
        if self.gap > 0 && self.reorder == 0.0 {
            return Err(Error::invalid(
                "gap",
                self.gap.to_string(),
                "reorder as well",
            ));
        }
        if let Some(rate) = self.rate {
            check(
                "rate",
                (8..=10_000_000_000_000).contains(&rate),
                format_rate(rate),
                "8bit..=10tbit",
            )?;
        }
        check(
            "limit",
            (1..=MAX_LIMIT).contains(&self.limit),
            self.limit.to_string(),
            "1..=1000000",
        )
    }

    /// The arguments after `tc qdisc replace dev DEV root netem`.
    pub fn tc_args(&self) -> Vec<String> {
        let mut a: Vec<String> = Vec::new();
        let mut push = |words: &[&str]| a.extend(words.iter().map(|w| (*w).to_owned()));
        if self.limit != DEFAULT_LIMIT {
            push(&["limit", &self.limit.to_string()]);
        }
        if !self.delay.is_zero() {
            push(&["delay", &format_time(self.delay)]);
            if !self.jitter.is_zero() {
                push(&[&format_time(self.jitter)]);
                if self.delay_correlation > 0.0 {
                    push(&[&format_percent(self.delay_correlation)]);
                }
                if self.distribution != Distribution::Uniform {
                    push(&["distribution", self.distribution.name()]);
                }
            }
        }
        match self.loss {
            Loss::None => {}
            Loss::Random {
                percent,
                correlation,
            } => {
                push(&["loss", "random", &format_percent(percent)]);
                if correlation > 0.0 {
                    push(&[&format_percent(correlation)]);
                }
            }
            Loss::Gemodel {
                p,
                r,
                one_minus_h,
                one_minus_k,
            } => {
                push(&["loss", "gemodel"]);
                for v in [p, r, one_minus_h, one_minus_k] {
                    push(&[&format_percent(v)]);
                }
            }
            Loss::State {
                p13,
                p31,
                p32,
                p23,
                p14,
            } => {
                push(&["loss", "state"]);
                for v in [p13, p31, p32, p23, p14] {
                    push(&[&format_percent(v)]);
                }
            }
        }
        for (word, p, corr) in [
            ("duplicate", self.duplicate, self.duplicate_correlation),
            ("corrupt", self.corrupt, self.corrupt_correlation),
            ("reorder", self.reorder, self.reorder_correlation),
        ] {
            if p > 0.0 {
                push(&[word, &format_percent(p)]);
                if corr > 0.0 {
                    push(&[&format_percent(corr)]);
                }
            }
        }
        if self.gap > 0 {
            push(&["gap", &self.gap.to_string()]);
        }
        if let Some(rate) = self.rate {
            push(&["rate", &format_rate(rate)]);
        }
        if let Some(seed) = self.seed {
            push(&["seed", &seed.to_string()]);
        }
        a
    }

    /// Parses netem's arguments, as one would type them after `netem`.
    pub fn parse_args<S: AsRef<str>>(words: &[S]) -> Result<Self, Error> {
        let mut p = Parser {
            words: words.iter().map(AsRef::as_ref).collect(),
            at: 0,
        };
        let mut s = Impairment::default();
        while let Some(word) = p.next() {
            match word {
                "delay" | "latency" => {
                    s.delay = p.time("delay")?;
                    if let Some(j) = p.optional(units::time) {
                        s.jitter = j;
                        if let Some(c) = p.optional(units::percent) {
                            s.delay_correlation = c;
                        }
                    }
                }
                "distribution" => {
                    s.distribution = match p.next() {
                        Some("uniform") => Distribution::Uniform,
                        Some("normal") => Distribution::Normal,
                        Some("pareto") => Distribution::Pareto,
                        Some("paretonormal") => Distribution::Paretonormal,
                        other => return Err(Error::invalid("distribution", other.unwrap_or(""), "uniform, normal, pareto or paretonormal")),
                    }
                }
                "loss" | "drop" => s.loss = p.loss()?,
                "duplicate" => (s.duplicate, s.duplicate_correlation) = p.percent_and_correlation("duplicate")?,
                "corrupt" => (s.corrupt, s.corrupt_correlation) = p.percent_and_correlation("corrupt")?,
                "reorder" => (s.reorder, s.reorder_correlation) = p.percent_and_correlation("reorder")?,
                "gap" => s.gap = p.number("gap", 1, u32::MAX as u64)? as u32,
                "rate" => {
                    let w = p.next().unwrap_or("");
                    s.rate = Some(units::rate(w).ok_or_else(|| Error::invalid("rate", w, "a rate such as 10mbit, 1gbit, 500kbit"))?);
                }
                "limit" => s.limit = p.number("limit", 1, MAX_LIMIT as u64)? as u32,
                "seed" => s.seed = Some(p.number("seed", 0, u64::MAX)?),
                other => {
                    return Err(Error::invalid(
                        "netem option",
                        other,
                        "delay, distribution, loss, duplicate, corrupt, reorder, gap, rate, limit or seed",
                    ))
                }
            }
        }
        s.validate()?;
        Ok(s)
    }
}

fn check(field: &'static str, ok: bool, value: String, range: &'static str) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(field, value, range))
    }
}

impl FromStr for Impairment {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse_args(&s.split_whitespace().collect::<Vec<_>>())
    }
}

impl fmt::Display for Impairment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        f.write_str(&self.tc_args().join(" "))
    }
}

struct Parser<'a> {
    words: Vec<&'a str>,
    at: usize,
}

impl<'a> Parser<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.at).copied();
        self.at += usize::from(w.is_some());
        w
    }

    fn optional<T>(&mut self, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let v = self.words.get(self.at).and_then(|w| parse(w));
        self.at += usize::from(v.is_some());
        v
    }

    fn time(&mut self, field: &'static str) -> Result<Duration, Error> {
        let w = self.next().unwrap_or("");
        units::time(w)
            .ok_or_else(|| Error::invalid(field, w, "a time in 0..=600s such as 50ms, 1.5s, 200us"))
    }

    fn percent(&mut self, field: &'static str) -> Result<f64, Error> {
        let w = self.next().unwrap_or("");
        units::percent(w).ok_or_else(|| Error::invalid(field, w, "0%..=100% (with the % sign)"))
    }

    fn percent_and_correlation(&mut self, field: &'static str) -> Result<(f64, f64), Error> {
        let p = self.percent(field)?;
        Ok((p, self.optional(units::percent).unwrap_or(0.0)))
    }

    fn number(&mut self, field: &'static str, min: u64, max: u64) -> Result<u64, Error> {
        let w = self.next().unwrap_or("");
        w.parse()
            .ok()
            .filter(|v| (min..=max).contains(v))
            .ok_or_else(|| {
                Error::invalid(
                    field,
                    w,
                    if max == u64::MAX {
                        "a whole number"
                    } else {
                        "a whole number in range"
                    },
                )
            })
    }

    fn loss(&mut self) -> Result<Loss, Error> {
        match self.words.get(self.at).copied() {
            Some("random") => {
                self.at += 1;
                self.random_loss()
            }
            Some("gemodel") => {
                self.at += 1;
                let p = self.percent("gemodel p")?;
                // tc's defaults: r = 100%, 1-h = 100%, 1-k = 0%.
                let r = self.optional(units::percent).unwrap_or(100.0);
                let one_minus_h = self.optional(units::percent).unwrap_or(100.0);
                let one_minus_k = self.optional(units::percent).unwrap_or(0.0);
                Ok(Loss::Gemodel {
                    p,
                    r,
                    one_minus_h,
                    one_minus_k,
                })
            }
            Some("state") => {
                self.at += 1;
                let p13 = self.percent("state p13")?;
                // tc's defaults: p31 = 100% - p13, p32 = 0, p23 = 100%, p14 = 0.
                let p31 = self.optional(units::percent).unwrap_or(100.0 - p13);
                let p32 = self.optional(units::percent).unwrap_or(0.0);
                let p23 = self.optional(units::percent).unwrap_or(100.0);
                let p14 = self.optional(units::percent).unwrap_or(0.0);
                Ok(Loss::State {
                    p13,
                    p31,
                    p32,
                    p23,
                    p14,
                })
            }
            _ => self.random_loss(),
        }
    }

    fn random_loss(&mut self) -> Result<Loss, Error> {
        let (percent, correlation) = self.percent_and_correlation("loss")?;
        Ok(if percent == 0.0 {
            Loss::None
        } else {
            Loss::Random {
                percent,
                correlation,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::loss("loss 20%", "loss random 20%")]
    #[case::loss_correlated("loss 0.5% 25%", "loss random 0.5% 25%")]
    #[case::delay_jitter("delay 50ms 10ms", "delay 50ms 10ms")]
    #[case::delay_all(
        "delay 1.5s 100ms 25% distribution pareto",
        "delay 1500ms 100ms 25% distribution pareto"
    )]
    #[case::gemodel_defaults("loss gemodel 1%", "loss gemodel 1% 100% 100% 0%")]
    #[case::state_defaults("loss state 1%", "loss state 1% 99% 0% 100% 0%")]
    #[case::reorder("delay 10ms reorder 25% 50% gap 5", "delay 10ms reorder 25% 50% gap 5")]
    #[case::rate_limit("rate 10mbit limit 50", "limit 50 rate 10mbit")]
    #[case::everything(
        "delay 20ms 5ms distribution normal loss 1% duplicate 2% corrupt 0.1% reorder 3% rate 1gbit seed 7",
        "delay 20ms 5ms distribution normal loss random 1% duplicate 2% corrupt 0.1% reorder 3% rate 1gbit seed 7"
    )]
    fn spec_prints_back_as_tc_arguments(#[case] input: &str, #[case] tc: &str) {
        let spec: Impairment = input.parse().unwrap();
        assert_eq!(spec.tc_args().join(" "), tc);
        let again: Impairment = tc.parse().unwrap();
        assert_eq!(again, spec, "tc arguments parse back to the same spec");
    }

    #[rstest]
    #[case::loss_over_100("loss 150%", "loss")]
    #[case::loss_without_sign("loss 20", "loss")]
    #[case::negative_delay("delay -5ms", "delay")]
    #[case::jitter_without_delay("delay 0ms 10ms", "jitter")]
    #[case::reorder_without_delay("reorder 25%", "reorder")]
    #[case::gap_without_reorder("delay 10ms gap 5", "gap")]
    #[case::zero_rate("rate 0mbit", "rate")]
    #[case::zero_limit("limit 0", "limit")]
    #[case::unknown_word("lose 5%", "netem option")]
    #[case::bad_distribution("delay 1ms 1ms distribution zipf", "distribution")]
    #[case::state_leaves_twice("loss state 60% 1% 0% 1% 50%", "state p13 + p14")]
    fn bad_spec_names_the_field(#[case] input: &str, #[case] field: &str) {
        let err = input.parse::<Impairment>().unwrap_err();
        match &err {
            Error::Invalid { field: f, .. } => assert_eq!(*f, field, "{err}"),
            other => panic!("unexpected error {other}"),
        }
    }

    #[test]
    fn error_message_names_field_value_and_range() {
        let err = "loss 150%".parse::<Impairment>().unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid loss '150%': expected 0%..=100% (with the % sign)"
        );
    }

    #[test]
    fn empty_spec_is_none_and_says_so() {
        let spec: Impairment = "".parse().unwrap();
        assert!(spec.is_none());
        assert_eq!(spec.to_string(), "none");
        assert!(!Impairment::blackhole().is_none());
    }
}
