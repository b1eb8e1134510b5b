//! The values of `badnet run`'s impairment flags: each takes its own
//! netem value only (`--loss 5%`, `--loss '5% 25%'` with its correlation),
//! never another option's words, which belong to their own flag or to
//! `--netem`.

use faults::Impairment;

/// netem's option words (`man tc-netem`): none belongs in another
/// option's value.
const OPTIONS: [&str; 12] = [
    "delay",
    "latency",
    "distribution",
    "loss",
    "drop",
    "duplicate",
    "corrupt",
    "reorder",
    "gap",
    "rate",
    "limit",
    "seed",
];

/// `--loss`: a percentage and its optional correlation.
pub fn loss(text: &str) -> Result<String, String> {
    own("loss", text, 2, "5% or, with its correlation, '5% 25%'")
}

/// `--delay`: one time, with its unit (the jitter is `--jitter`).
pub fn delay(text: &str) -> Result<String, String> {
    own(
        "delay",
        text,
        1,
        "a time such as 50ms (the jitter is --jitter)",
    )
}

/// `--jitter`: a time and its optional correlation.
pub fn jitter(text: &str) -> Result<String, String> {
    own(
        "jitter",
        text,
        2,
        "a time such as 10ms or, with its correlation, '10ms 25%'",
    )
}

/// `--reorder`: a percentage, its optional correlation and gap.
pub fn reorder(text: &str) -> Result<String, String> {
    own("reorder", text, 4, "25%, '25% 50%' or '25% 50% gap 5'")
}

/// `--duplicate`: a percentage and its optional correlation.
pub fn duplicate(text: &str) -> Result<String, String> {
    own(
        "duplicate",
        text,
        2,
        "5% or, with its correlation, '5% 25%'",
    )
}

/// `--corrupt`: a percentage and its optional correlation.
pub fn corrupt(text: &str) -> Result<String, String> {
    own("corrupt", text, 2, "2% or, with its correlation, '2% 25%'")
}

/// `--rate`: one rate.
pub fn rate(text: &str) -> Result<String, String> {
    own("rate", text, 1, "a rate such as 10mbit, 500kbit or 1gbit")
}

/// `text` as the value of netem's option `word`, at most `most` words, no
/// other option's words, and valid as netem reads it.
fn own(word: &str, text: &str, most: usize, takes: &str) -> Result<String, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(format!("empty: it takes {takes}"));
    }
    if let Some(other) = words
        .iter()
        .find(|w| OPTIONS.contains(w) && !(word == "reorder" && **w == "gap"))
    {
        return Err(format!(
            "'{other}' is another netem option: give it its own flag or --netem; this flag takes {takes}"
        ));
    }
    if words.len() > most {
        return Err(format!("'{}': it takes {takes}", words.join(" ")));
    }
    if matches!(word, "delay" | "jitter") {
        crate::duration::netem_time(words[0])?;
    }
    // The options that need a delay are read beside one.
    let spec = match word {
        "jitter" => format!("delay 1s {}", words.join(" ")),
        "reorder" => format!("delay 1s reorder {}", words.join(" ")),
        _ => format!("{word} {}", words.join(" ")),
    };
    spec.parse::<Impairment>().map_err(|e| e.to_string())?;
    Ok(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_takes_its_own_value_only() {
        assert_eq!(loss("5%"), Ok("5%".into()));
        assert_eq!(loss("5%  25%"), Ok("5% 25%".into()));
        assert_eq!(jitter("10ms 25%"), Ok("10ms 25%".into()));
        assert_eq!(reorder("25% 50% gap 5"), Ok("25% 50% gap 5".into()));
        assert_eq!(reorder("25% gap 5"), Ok("25% gap 5".into()));
        assert_eq!(rate("10mbit"), Ok("10mbit".into()));
        for (parse, bad) in [
            (delay as fn(&str) -> Result<String, String>, "1ms loss 100%"),
            (delay, "50ms 10ms"),
            (loss, "5% delay 100ms"),
            (loss, "5% 5% 5%"),
            (jitter, "; rm -rf /tmp/x"),
            (jitter, ""),
            (jitter, "10"),
            (rate, "10mbit limit 5"),
            (duplicate, "5% seed 1"),
            (corrupt, "x"),
        ] {
            assert!(parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
