//! Running `ip` and `tc`: argv only, never a shell, each change logged at
//! debug level as the shell command it equals.

use std::process::{Command, Output};

use crate::{Error, Result};

/// How to show a command in logs and errors, quoted for a shell.
pub fn shell_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=%@+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` (shown as `shown`) and returns its standard output.
pub fn run(mut cmd: Command, shown: &[String]) -> Result<String> {
    let line = shell_line(shown);
    tracing::debug!(target: "badnet::net", "{line}");
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().map_err(|source| Error::Spawn {
        command: line.clone(),
        source,
    })?;
    if status.success() {
        return Ok(String::from_utf8_lossy(&stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&stderr).trim().to_owned();
    if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        return Err(Error::NoPermission {
            action: format!("`{line}`"),
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        });
    }
    Err(Error::Command {
        command: line,
        stderr,
    })
}

/// Runs `program ARGS -batch -` with `lines` on its standard input: many
/// commands for the cost of one process. Nothing runs for no lines.
pub fn run_batch(program: &str, args: &[&str], lines: &[String]) -> Result<String> {
    use std::io::Write;
    if lines.is_empty() {
        return Ok(String::new());
    }
    let mut shown: Vec<String> = std::iter::once(program)
        .chain(args.iter().copied())
        .chain(["-batch", "-"])
        .map(str::to_owned)
        .collect();
    for line in lines {
        tracing::debug!(target: "badnet::net", "{} {line}", shell_line(&shown[..1 + args.len()]));
    }
    let mut cmd = Command::new(program);
    cmd.args(args)
        .args(["-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let line = shell_line(&shown);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        command: line.clone(),
        source,
    })?;
    let mut input = child.stdin.take().expect("piped stdin");
    let text = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || input.write_all(text.as_bytes()));
    let out = child.wait_with_output().map_err(|source| Error::Spawn {
        command: line.clone(),
        source,
    })?;
    let _ = writer.join();
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    shown.push(format!(
        "<<< {} lines, the first '{}'",
        lines.len(),
        lines[0]
    ));
    Err(Error::Command {
        command: shell_line(&shown),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Runs a command of the root namespace (`ip netns add`, say).
pub fn run_argv(argv: &[&str]) -> Result<String> {
    let shown: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    run(cmd, &shown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_line_quotes_only_what_needs_it() {
        let argv: Vec<String> = [
            "tc", "qdisc", "replace", "dev", "bn1-a", "root", "netem", "loss", "20%", "it's",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            shell_line(&argv),
            r"tc qdisc replace dev bn1-a root netem loss 20% 'it'\''s'"
        );
    }

    #[test]
    fn a_failing_command_reports_its_line_and_stderr() {
        let err = run_argv(&["ip", "link", "show", "dev", "bn-does-not-exist"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ip link show dev bn-does-not-exist"), "{err}");
        assert!(
            err.contains("does not exist") || err.contains("Cannot find"),
            "{err}"
        );
    }
}
