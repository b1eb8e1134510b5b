//! JUnit XML of judged scenarios, for CI.

use std::fmt::Write as _;
use std::path::Path;

use super::judge::Judged;
use crate::error::BadInput;
use crate::markup::escape as xml;

/// Refuses a `--junit` path that could not be written once the scenarios
/// have run: a folder, or a file whose folder is missing or not writable.
/// Leaves nothing behind.
pub fn check_writable(path: &Path) -> Result<(), BadInput> {
    let bad = |m: String| BadInput::new("--junit", format!("{}: {m}", path.display()));
    if path.is_dir() {
        return Err(bad("is a folder; give a file to write".into()));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(bad(format!("{} is not a folder", folder.display())));
    }
    let opened = if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map(drop)
    } else {
        // A file of this process's own, made there and removed at once.
        let probe = folder.join(format!(".badnet-junit-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map(|_| {
                let _ = std::fs::remove_file(&probe);
            })
    };
    opened.map_err(|e| bad(format!("cannot be written: {e}")))
}

/// JUnit XML of `verdicts`: one testsuite per file, one testcase per
/// scenario, a failure element with the reasons, the command that
/// reproduces it and the run's JSON as system-out.
pub fn junit(verdicts: &[Judged]) -> String {
    let mut files: Vec<&Path> = verdicts.iter().map(|v| v.scenario.file.as_path()).collect();
    files.dedup();
    let failed = verdicts.iter().filter(|v| !v.passed()).count();
    let total: f64 = verdicts.iter().map(|v| v.duration.as_secs_f64()).sum();
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"badnet test\" tests=\"{}\" failures=\"{failed}\" errors=\"0\" time=\"{total:.3}\">\n",
        verdicts.len()
    );
    for file in files {
        let of: Vec<&Judged> = verdicts
            .iter()
            .filter(|v| v.scenario.file == file)
            .collect();
        let _ = writeln!(
            s,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{:.3}\">",
            xml(&file.display().to_string()),
            of.len(),
            of.iter().filter(|v| !v.passed()).count(),
            of.iter().map(|v| v.duration.as_secs_f64()).sum::<f64>()
        );
        for v in of {
            let _ = write!(
                s,
                "    <testcase name=\"{}\" classname=\"{}\" time=\"{:.3}\">",
                xml(&v.scenario.name),
                xml(&file.display().to_string()),
                v.duration.as_secs_f64()
            );
            if !v.passed() {
                let _ = write!(
                    s,
                    "\n      <failure message=\"{}\">badnet {}</failure>\n    ",
                    xml(&v.failures.join("; ")),
                    xml(&v.scenario.argv.join(" "))
                );
            }
            let _ = writeln!(
                s,
                "<system-out>{}</system-out></testcase>",
                xml(&v.json.to_string())
            );
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::{Args, FromArgMatches};

    use super::*;
    use crate::cli::run::RunArgs;
    use crate::cli::test::file::{Declared, Expect};

    #[test]
    fn junit_escapes_and_counts() {
        let s = Declared {
            file: "a.toml".into(),
            line: 1,
            name: "<x> & \"y\"".into(),
            args: RunArgs::from_arg_matches(
                &RunArgs::augment_args(clap::Command::new("r").no_binary_name(true))
                    .try_get_matches_from(["udp"])
                    .unwrap(),
            )
            .unwrap(),
            argv: vec!["run".into(), "udp".into()],
            cluster: None,
            expect: Expect::default(),
        };
        let v = [
            Judged {
                scenario: s.clone(),
                duration: Duration::from_millis(1500),
                failures: vec![],
                json: serde_json::json!({}),
            },
            Judged {
                scenario: s,
                duration: Duration::from_millis(500),
                failures: vec!["lost = 0 < 1".into()],
                json: serde_json::Value::Null,
            },
        ];
        let x = junit(&v);
        assert!(x.contains("tests=\"2\" failures=\"1\""), "{x}");
        assert!(x.contains("&lt;x&gt; &amp; &quot;y&quot;"), "{x}");
        assert!(
            x.contains("<failure message=\"lost = 0 &lt; 1\">badnet run udp</failure>"),
            "{x}"
        );
    }
}
