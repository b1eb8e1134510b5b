//! Scenario files: the lecture's UDP-versus-TCP properties, written as
//! tests/scenarios/*.toml and run by `badnet test`, as a user would.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::common::*;

fn scenarios_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios")
}

/// `badnet test ARGS` with the services' programs on PATH (as after make
/// install), for the scenarios that run them by name.
fn badnet_test(args: &[&Path]) -> Output {
    require_root();
    badnet_with_programs()
        .arg("test")
        .args(args)
        .output()
        .unwrap()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("badnet-scenarios-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_lectures_properties_hold_as_scenario_files() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenarios_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    let dir = temp("ok");
    let junit = dir.join("junit.xml");
    let mut args: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    args.extend([Path::new("--junit"), junit.as_path()]);
    let out = badnet_test(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("pass ")).collect();
    let declared: usize = files
        .iter()
        .map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .matches("[[scenario]]")
                .count()
        })
        .sum();
    assert_eq!(lines.len(), declared, "{stdout}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains(&format!("tests=\"{}\" failures=\"0\"", lines.len())),
        "{xml}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A scenario whose expectation is false (UDP under 10% loss losing
/// nothing) fails, with the reason, exit 1 and a JUnit failure; the
/// other scenario of the file still runs and passes.
#[test]
fn a_false_expectation_fails_with_its_reason_in_the_line_and_the_junit() {
    let dir = temp("fail");
    let file = dir.join("lies.toml");
    std::fs::write(
        &file,
        r#"
[[scenario]]
name = "UDP is reliable (it is not)"
transport = "udp"
loss = "10%"
count = 500
interval = "200us"
timeout = "1s"
[scenario.expect.fields]
lost = 0

[[scenario]]
name = "UDP loses about a tenth each way"
transport = "udp"
loss = "10%"
direction = "forward"
count = 500
interval = "200us"
timeout = "1s"
[scenario.expect.fields]
lost = { proportion_of = "sent", expected = 0.10 }
"#,
    )
    .unwrap();
    let junit = dir.join("junit.xml");
    let out = badnet_test(&[&file, Path::new("--junit"), &junit]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL ") && stdout.contains("lies.toml:2 UDP is reliable"),
        "{stdout}"
    );
    assert!(
        stdout.contains("lost = ") && stdout.contains("expected 0"),
        "{stdout}"
    );
    assert!(
        stdout.contains("pass ") && stdout.contains("lies.toml:12"),
        "{stdout}"
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
    assert!(xml.contains("<failure message=\"lost = "), "{xml}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// A file with a bad key is refused whole, naming the file, the line and
/// the key, with exit 2, before any scenario (even a good one before it)
/// runs.
#[test]
fn a_bad_file_is_refused_before_anything_runs() {
    let dir = temp("bad");
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "[[scenario]]\nname = \"fine\"\ntransport = \"udp\"\n",
    )
    .unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[scenario]]\nname = \"typo\"\ntransport = \"udp\"\nlose = \"5%\"\n",
    )
    .unwrap();
    let out = badnet_test(&[&good, &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("bad.toml:4: lose"), "{stderr}");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("pass"),
        "a scenario ran"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// A scenario's `timeout` bounds its client whatever it detaches: the
/// scenario fails at the limit, saying the client was killed there.
#[test]
fn a_client_that_detaches_fails_its_scenario_at_the_limit() {
    let dir = temp("setsid");
    let file = dir.join("detach.toml");
    std::fs::write(
        &file,
        "[[scenario]]\nname = \"detaches\"\nserver = \"sleep 60\"\nclient = \"setsid sleep 31.8\"\ntimeout = \"2s\"\n",
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = badnet_test(&[&file]);
    let took = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(took < 10.0, "took {took:.1} s: {stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("killed at its limit"), "{stdout}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// `{dir}` is the file's folder, absolute, also for a file named without
/// one (`cd tests/scenarios && badnet test programs.toml`).
#[test]
fn a_file_named_without_its_folder_knows_its_folder() {
    require_root();
    let out = badnet_with_programs()
        .args(["test", "programs.toml"])
        .current_dir(scenarios_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `{dir}` stays one word in a folder whose name has a space.
#[test]
fn a_file_in_a_folder_with_a_space_runs_its_programs_from_there() {
    let dir = temp("spaced").join("dir with space");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("client.sh"), "echo from the folder\n").unwrap();
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "[[scenario]]\nname = \"spaced\"\nserver = \"sleep 60\"\nclient = \"sh {dir}/client.sh\"\n[scenario.expect.fields]\n\"client.stdout\" = \"from the folder\\n\"\n",
    )
    .unwrap();
    let out = badnet_test(&[&file]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

/// A `--junit` file that could not be written is refused, naming the flag,
/// before any scenario runs.
#[test]
fn an_unwritable_junit_file_is_refused_before_anything_runs() {
    let dir = temp("junit");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "[[scenario]]\nname = \"would run\"\nserver = \"sleep 60\"\nclient = \"true\"\n",
    )
    .unwrap();
    for junit in [
        "/nonexistent/dir/x.xml",
        "/dev/null/x.xml",
        dir.to_str().unwrap(),
    ] {
        let out = badnet_test(&[&file, Path::new("--junit"), Path::new(junit)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{junit}: {stderr}");
        assert!(
            stderr.contains("--junit") && stderr.contains(junit),
            "{stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("would run"),
            "a scenario ran"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
