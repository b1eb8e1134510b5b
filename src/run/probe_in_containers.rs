//! The probes on container hosts: the same scenarios between two
//! containers of the services image, joined by the same links and backends
//! as netns hosts.
//!
//! Each container starts with `--network none`; its namespace (from
//! `State.Pid`) is attached by name and linked like any host. The server
//! runs as its container's command; the probe runs as the second
//! container's command, waits for the server to answer (its network does
//! not exist yet when it starts), and its report is read from its output.
//! Every container carries the label `io.badnet.run=<run id>`, so what a
//! killed run left is swept by the next run or `badnet cleanup`.

use std::io::Read;
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{bail, Context};
use faults::{Host, Lab};
use testcontainers::core::WaitFor;
use testcontainers::runners::SyncRunner;
use testcontainers::{Container, GenericImage, ImageExt};

use super::docker::{self, docker, IMAGE, LABEL, OWNER_LABEL, TAG};
use super::play::with_timeline;
use super::probe::ProbeOutcome;
use crate::scenario::{Scenario, PORT};

const WAIT_FOR_SERVER: Duration = Duration::from_secs(30);

fn start(
    run: &str,
    cmd: Vec<String>,
    ready: Option<&str>,
) -> anyhow::Result<Container<GenericImage>> {
    let mut image = GenericImage::new(IMAGE, TAG);
    if let Some(line) = ready {
        image = image.with_wait_for(WaitFor::message_on_stdout(line));
    }
    let container = image
        .with_cmd(cmd)
        .with_network("none")
        .with_label(LABEL, run)
        .with_label(OWNER_LABEL, faults::owner_token())
        .with_startup_timeout(Duration::from_secs(30))
        .start()
        .context("starting a container of the services image")?;
    Ok(container)
}

fn host_error(e: anyhow::Error) -> faults::Error {
    faults::Error::Hosts { source: e.into() }
}

/// Runs `s` between two containers.
pub fn run(s: &Scenario) -> anyhow::Result<ProbeOutcome> {
    s.impairment.validate()?;
    docker::check()?;
    if let Err(e) = docker::sweep() {
        tracing::warn!("sweeping dead runs' containers: {e:#}");
    }
    let [forward, reverse] = s.direction.split(&s.impairment);
    let server_bin = format!("/bin/{}", s.transport.server_program());
    let client_bin = format!("/bin/{}", s.transport.probe_program());
    let mut containers = None;
    let lab = Lab::build(s.backend, s.seed, [&forward, &reverse], |run| {
        let mut server_cmd = vec![server_bin, "--port".to_owned(), PORT.to_string()];
        server_cmd.extend(s.server_args());
        let server = start(run.id(), server_cmd, Some(services::READY_LINE)).map_err(host_error)?;
        let mut client_cmd = vec![client_bin];
        client_cmd.extend(s.probe_args(&faults::ADDR_B.to_string()));
        client_cmd.extend([
            "--wait-for-server".to_owned(),
            format!("{}s", WAIT_FOR_SERVER.as_secs()),
        ]);
        let client = start(run.id(), client_cmd, None).map_err(host_error)?;
        let hosts = (
            Host::attach(
                &run.name("ca"),
                docker::pid(client.id()).map_err(host_error)?,
            )?,
            Host::attach(
                &run.name("cb"),
                docker::pid(server.id()).map_err(host_error)?,
            )?,
        );
        containers = Some((server, client));
        Ok(hosts)
    })?;
    let (_server, client) = containers.as_ref().context("containers")?;
    // The probe's hellos (it waits for the server) are counted too.
    let before = lab.b().udp_counters()?;
    let limit = s.probe_limit() + WAIT_FOR_SERVER + Duration::from_secs(10);
    let steps = s.steps();
    let output = with_timeline(&lab, s.direction, &steps, |started| {
        // The probe's container runs already, waiting for the server.
        started.now();
        let mut stdout = client.stdout(true);
        let (tx, rx) = mpsc::channel();
        // Detached: a probe that never ends must not hold the run.
        std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stdout.read_to_string(&mut out);
            let _ = tx.send(out);
        });
        rx.recv_timeout(limit)
            .map_err(|_| anyhow::anyhow!("the probe container still runs after {limit:?}"))
    });
    let (output, timeline) = match output {
        Ok(played) => played,
        Err(e) => {
            let _ = client.stop_with_timeout(Some(0));
            return Err(e);
        }
    };
    // `docker wait` returns once the container has exited, with its code.
    let code = docker(&["wait", client.id()])?;
    if code != "0" {
        let stderr =
            String::from_utf8_lossy(&client.stderr_to_vec().unwrap_or_default()).into_owned();
        bail!("the probe container exited with {code}: {}", stderr.trim());
    }
    let report = services::report::Report::parse(&output)
        .with_context(|| format!("the probe printed no report: {output:?}"))?;
    let outcome = ProbeOutcome::new(s, &lab, report, before, timeline)?;
    lab.remove()?;
    Ok(outcome)
}
