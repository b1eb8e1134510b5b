//! The unit forms `tc` accepts: percentages, times, rates.

use std::time::Duration;

/// Parses `20%` or `0.5%` to a percentage in 0..=100 (the `%` is required,
/// so `0.2` can never be read as 20% by one tool and 0.2% by another).
pub fn percent(text: &str) -> Option<f64> {
    let v: f64 = text.strip_suffix('%')?.parse().ok()?;
    (v.is_finite() && (0.0..=100.0).contains(&v)).then_some(v)
}

/// Parses a time as `tc` does: `50ms`, `1.5s`, `100us`; a bare number is
/// microseconds.
pub fn time(text: &str) -> Option<Duration> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit {
        "s" | "sec" | "secs" => 1.0,
        "ms" | "msec" | "msecs" => 1e-3,
        "" | "us" | "usec" | "usecs" => 1e-6,
        "ns" | "nsec" | "nsecs" => 1e-9,
        _ => return None,
    };
    let secs = value * scale;
    (secs.is_finite() && secs <= 3600.0).then(|| Duration::from_secs_f64(secs))
}

/// Parses a rate as `tc` does, to bits per second: `10mbit`, `1gbit`,
/// `500kbit`, `1mibit`, `100kbps` (bytes); a bare number is bits per second.
pub fn rate(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let scale = match unit.to_ascii_lowercase().as_str() {
        "" | "bit" => 1.0,
        "kbit" => 1e3,
        "mbit" => 1e6,
        "gbit" => 1e9,
        "tbit" => 1e12,
        "kibit" => 1024.0,
        "mibit" => 1024.0 * 1024.0,
        "gibit" => 1024.0 * 1024.0 * 1024.0,
        "bps" => 8.0,
        "kbps" => 8e3,
        "mbps" => 8e6,
        "gbps" => 8e9,
        _ => return None,
    };
    let bits = value * scale;
    (bits.is_finite() && (1.0..=1e13).contains(&bits)).then_some(bits.round() as u64)
}

/// Formats a duration the way `tc` prints one: `50ms`, `2s`, `250us`.
pub fn format_time(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => "0us".to_owned(),
        _ if ns % 1_000_000_000 == 0 => format!("{}s", ns / 1_000_000_000),
        _ if ns % 1_000_000 == 0 => format!("{}ms", ns / 1_000_000),
        _ if ns % 1_000 == 0 => format!("{}us", ns / 1_000),
        _ => format!("{}us", trim(ns as f64 / 1e3)),
    }
}

/// Serializes a duration as milliseconds (a float), for JSON reports.
pub fn serialize_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1e3)
}

/// Formats bits per second with the largest exact unit: `10mbit`.
pub fn format_rate(bits: u64) -> String {
    for (unit, scale) in [
        ("gbit", 1_000_000_000),
        ("mbit", 1_000_000),
        ("kbit", 1_000),
    ] {
        if bits >= scale && bits % scale == 0 {
            return format!("{}{unit}", bits / scale);
        }
    }
    format!("{bits}bit")
}

/// Formats a percentage: `20%`, `0.5%`.
pub fn format_percent(p: f64) -> String {
    format!("{}%", trim(p))
}

fn trim(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_need_their_sign_and_stay_in_range() {
        assert_eq!(percent("20%"), Some(20.0));
        assert_eq!(percent("0.5%"), Some(0.5));
        assert_eq!(percent("100%"), Some(100.0));
        for bad in ["20", "150%", "-1%", "x%", "nan%", ""] {
            assert_eq!(percent(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_parse_like_tc() {
        assert_eq!(time("50ms"), Some(Duration::from_millis(50)));
        assert_eq!(time("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(time("100us"), Some(Duration::from_micros(100)));
        assert_eq!(time("100"), Some(Duration::from_micros(100)));
        for bad in ["-5ms", "5 ms", "5h", "ms", "2h"] {
            assert_eq!(time(bad), None, "{bad}");
        }
    }

    #[test]
    fn rates_parse_like_tc() {
        assert_eq!(rate("10mbit"), Some(10_000_000));
        assert_eq!(rate("1gbit"), Some(1_000_000_000));
        assert_eq!(rate("1.5mbit"), Some(1_500_000));
        assert_eq!(rate("100kbps"), Some(800_000));
        assert_eq!(rate("1mibit"), Some(1_048_576));
        for bad in ["0bit", "fast", "-1mbit", "10mb"] {
            assert_eq!(rate(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatted_values_parse_back_to_themselves() {
        for d in [
            Duration::from_millis(50),
            Duration::from_micros(1500),
            Duration::from_micros(250),
            Duration::from_secs(2),
            Duration::from_millis(2500),
            Duration::from_micros(12_345),
        ] {
            assert_eq!(time(&format_time(d)), Some(d), "{}", format_time(d));
        }
        for r in [10_000_000, 1_500_000, 1_000_000_000, 123] {
            assert_eq!(rate(&format_rate(r)), Some(r));
        }
        for p in [20.0, 0.5, 0.01, 100.0] {
            assert_eq!(percent(&format_percent(p)), Some(p));
        }
    }
}
