//! `badnet fault RUN_ID STEP`: changes a lab that `badnet lab` holds, from
//! another shell. The lab listens on a Unix socket of its run
//! (`/run/badnet/.<run id>.sock`); a change is one line, the step, and the
//! answer one line of JSON: when it took effect, or why it was refused.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use faults::{Fault, Lab};
use serde_json::{json, Value};

use crate::error::BadInput;

/// How long a lab may take to answer.
const ANSWER_LIMIT: Duration = Duration::from_secs(10);

/// Sends `step` to the lab of run `id` and prints when it took effect.
/// A lab that is not there, or a step it refuses, is bad input (exit 2).
pub fn run(id: &str, step: &str) -> anyhow::Result<()> {
    let path = faults::plumbing::control_socket(id);
    let mut stream = UnixStream::connect(&path).map_err(|_| {
        BadInput::new(
            "RUN_ID",
            format!("no lab of run '{id}' is held here (badnet lab prints its run id)"),
        )
    })?;
    stream.set_read_timeout(Some(ANSWER_LIMIT))?;
    writeln!(stream, "{}", step.replace('\n', " "))?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    let answer: Value = serde_json::from_str(&answer)
        .map_err(|e| anyhow::anyhow!("the lab answered {answer:?}: {e}"))?;
    match answer["error"].as_str() {
        None => {
            println!(
                "{}: took effect {:.1} ms after the lab was ready",
                answer["step"].as_str().unwrap_or(step),
                answer["at_ms"].as_f64().unwrap_or_default()
            );
            Ok(())
        }
        Some(e) if answer["bad_input"] == true => Err(BadInput::new("STEP", e).into()),
        Some(e) => anyhow::bail!("{e}"),
    }
}

/// Answers the changes sent to the lab of this run until `stop` is set:
/// each step checked against the lab's hosts and applied, and printed
/// with the moment it took effect (from `ready`), as a line of JSON with
/// `json`.
/// `process` takes the steps that act on the hosts' programs (`kill H`,
/// `stop H`, `cont H`, `restart H`): None for a step of the network's.
pub fn serve(
    lab: &Lab,
    ready: Instant,
    stop: &AtomicBool,
    json: bool,
    process: &(dyn Fn(&str) -> Option<Result<(), String>> + Sync),
) -> anyhow::Result<()> {
    let path = faults::plumbing::control_socket(lab.run_id());
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    listener.set_nonblocking(true)?;
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Err(e) = answer(lab, ready, stream, json, process) {
                    tracing::warn!("answering a change: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn answer(
    lab: &Lab,
    ready: Instant,
    stream: UnixStream,
    json: bool,
    process: &(dyn Fn(&str) -> Option<Result<(), String>> + Sync),
) -> anyhow::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(ANSWER_LIMIT))?;
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line)?;
    let step = line.trim();
    let applied = match process(step) {
        Some(done) => done
            .map(|()| (step.to_owned(), Instant::now()))
            .map_err(|e| (e, true)),
        None => step
            .parse::<Fault>()
            .and_then(|f| lab.apply(&f).map(|c| (f.to_string(), c.at)))
            .map_err(|e| {
                let bad = matches!(e, faults::Error::Invalid { .. });
                (e.to_string(), bad)
            }),
    };
    let reply = match applied {
        Ok((fault, at)) => {
            let at_ms = at.saturating_duration_since(ready).as_secs_f64() * 1e3;
            let took = json!({"step": fault, "at_ms": (at_ms * 1e3).round() / 1e3});
            if json {
                println!("{took}");
            } else {
                println!("{fault}: took effect {at_ms:.1} ms after the lab was ready");
            }
            took
        }
        Err((e, bad_input)) => json!({
            "step": step,
            "error": e,
            "bad_input": bad_input,
        }),
    };
    writeln!(&stream, "{reply}")?;
    Ok(())
}
