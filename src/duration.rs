//! The times badnet's own flags take (`--interval 1ms`, `--timeout 2s`,
//! `--at 1.5s …`, `--delay 50ms`): a number and its unit, always.
//!
//! One command line meets two readings of a bare number: `tc` reads a
//! bare time as microseconds (`delay 50` is 50 µs), and the services'
//! programs read their own flags' bare numbers as seconds. badnet's flags
//! take neither: a bare number other than 0 is refused, naming both
//! readings, as `faults` requires the `%` of a percentage. netem's own
//! text (`--netem`, the actions of `--at`, `lab --impair`) keeps `tc`'s
//! grammar.

use std::time::Duration;

/// A duration with its unit (`500us`, `1ms`, `1.5s`, `2m`; a bare `0`).
pub fn parse(text: &str) -> Result<Duration, String> {
    with_unit(text)?;
    services::cli::parse_duration(text)
}

/// [`parse`], refusing zero: for timeouts and spans that must last.
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    with_unit(text)?;
    services::cli::parse_positive_duration(text)
}

/// A flag's value that goes into netem's words (`--delay`, `--jitter`),
/// as given, once every time in it has a unit: netem reads it with `tc`'s
/// grammar.
pub fn netem_time(text: &str) -> Result<String, String> {
    text.split_whitespace().try_for_each(with_unit)?;
    Ok(text.to_owned())
}

/// Refuses a bare number other than 0.
fn with_unit(text: &str) -> Result<(), String> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(v) if v != 0.0 => Err(format!(
            "'{t}' has no unit (tc reads a bare time as microseconds, the services' programs as seconds): write {t}us, {t}ms or {t}s"
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_needs_its_unit_but_zero_does_not() {
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("500us"), Ok(Duration::from_micros(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        for bare in ["1", "50", "0.5", " 2 "] {
            let e = parse(bare).unwrap_err();
            assert!(e.contains("has no unit"), "{bare}: {e}");
        }
        assert!(parse_positive("0").is_err());
        assert_eq!(netem_time("50ms"), Ok("50ms".into()));
        assert!(netem_time("50").is_err());
        assert!(netem_time("50ms 10").is_err());
    }
}
