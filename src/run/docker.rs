//! The Docker plumbing of container hosts: whether an engine answers and
//! an image is here, containers started by the docker CLI and removed when
//! dropped, and the sweep of what killed runs left.
//!
//! Every container of a run carries the label `io.badnet.run=<run id>`, so
//! what a killed run left is swept by the next run or `badnet cleanup`,
//! and `io.badnet.owner=<pid>:<start time>`, the process that removes it:
//! a container is swept when neither its run's record nor that process
//! lives (a run's record goes with its lab, a moment before its
//! containers).

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};

/// The services image: the container lane's programs, and the holders of
/// your own programs' containers.
pub const IMAGE: &str = "badnet/services";
/// Its tag: this version.
pub const TAG: &str = env!("CARGO_PKG_VERSION");

/// The label that marks a container as a run's.
pub const LABEL: &str = "io.badnet.run";
/// The label naming the process that removes a container
/// ([`faults::plumbing::owner_token`]): a lab's record goes before its holders do,
/// and a sweep in between must not take them for a dead run's.
pub const OWNER_LABEL: &str = "io.badnet.owner";

/// `docker ARGS` for its output, trimmed; its stderr on failure.
pub fn docker(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .context("running docker")?;
    if !out.status.success() {
        bail!(
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Fails unless a Docker engine answers, saying what to do.
pub fn engine() -> anyhow::Result<()> {
    let version = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    match version {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => bail!(
            "no Docker engine reachable ({}): container hosts need one; netns hosts do not",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => bail!("no docker command ({e}): container hosts need Docker; netns hosts do not"),
    }
}

/// Fails unless a Docker engine answers and the services image is built,
/// saying how to get each.
pub fn check() -> anyhow::Result<()> {
    engine()?;
    if !image_present(&format!("{IMAGE}:{TAG}")) {
        bail!("image {IMAGE}:{TAG} is not built: run `make images` (no registry needed)");
    }
    Ok(())
}

/// Whether `image` (`name[:tag]`) is here. Nothing is ever pulled.
pub fn image_present(image: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", image])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Removes the containers of runs whose owner is gone. Returns their ids.
pub fn sweep() -> anyhow::Result<Vec<String>> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            &format!("label={LABEL}"),
            "--format",
            &format!("{{{{.ID}}}} {{{{.Label \"{LABEL}\"}}}} {{{{.Label \"{OWNER_LABEL}\"}}}}"),
        ])
        .output()?;
    if !out.status.success() {
        return Ok(Vec::new());
    }
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let mut fields = line.split(' ');
        let (Some(id), Some(run)) = (fields.next(), fields.next()) else {
            continue;
        };
        let owner = fields.next().unwrap_or_default();
        if !faults::plumbing::is_alive(run) && !faults::plumbing::owner_alive(owner) {
            let rm = Command::new("docker").args(["rm", "-f", id]).output()?;
            if rm.status.success() {
                removed.push(id.to_owned());
            }
        }
    }
    Ok(removed)
}

/// Whether this process ever started a container.
static STARTED: AtomicBool = AtomicBool::new(false);

/// Removes every container this process started (by its owner label):
/// for a process about to exit on a signal. Asks Docker nothing if it
/// never started one.
pub fn remove_own() -> anyhow::Result<()> {
    if !STARTED.load(Ordering::SeqCst) {
        return Ok(());
    }
    let ids = docker(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={OWNER_LABEL}={}", faults::plumbing::owner_token()),
    ])?;
    let ids: Vec<&str> = ids.split_whitespace().collect();
    if !ids.is_empty() {
        let mut args = vec!["rm", "-f"];
        args.extend(ids);
        docker(&args)?;
    }
    Ok(())
}

/// The PID of a running container's first process.
pub fn pid(id: &str) -> anyhow::Result<u32> {
    let pid: u32 = docker(&["inspect", "-f", "{{.State.Pid}}", id])?
        .parse()
        .context("container PID")?;
    if pid == 0 {
        bail!("container {id} is not running");
    }
    Ok(pid)
}

/// A container started with `docker run -d`, removed (with `docker rm
/// -f`) when dropped.
#[derive(Debug)]
pub struct Running {
    pub id: String,
}

impl Running {
    /// `docker run -d --label LABEL=run --network NETWORK --entrypoint
    /// ARGV[0] IMAGE ARGV[1..]`: `argv` runs as given, whatever the
    /// image's own entrypoint.
    pub fn start(run: &str, image: &str, network: &str, argv: &[String]) -> anyhow::Result<Self> {
        let _building = faults::plumbing::Building::start()?;
        STARTED.store(true, Ordering::SeqCst);
        let label = format!("{LABEL}={run}");
        let owner = format!("{OWNER_LABEL}={}", faults::plumbing::owner_token());
        let mut args = vec![
            "run",
            "-d",
            "--label",
            &label,
            "--label",
            &owner,
            "--network",
            network,
            "--entrypoint",
            &argv[0],
            image,
        ];
        args.extend(argv[1..].iter().map(String::as_str));
        let id = docker(&args).with_context(|| format!("starting {:?} in {image}", argv[0]))?;
        Ok(Self { id })
    }

    /// Whether it still runs.
    pub fn running(&self) -> bool {
        docker(&["inspect", "-f", "{{.State.Running}}", &self.id]).is_ok_and(|s| s == "true")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(e) = docker(&["rm", "-f", &self.id]) {
            tracing::warn!("removing container {}: {e:#}", self.id);
        }
    }
}

/// A lab of `topology` whose hosts are holders (see [`holder_lab`]), one
/// per host in the topology's order, with its impairments in place before
/// the first packet can cross. The holders must outlive the lab.
pub fn holder_lab_of(
    topology: faults::Topology,
    backend: faults::Backend,
    seed: Option<u64>,
) -> anyhow::Result<(faults::Lab, Vec<Running>)> {
    check()?;
    let image = format!("{IMAGE}:{TAG}");
    if let Err(e) = sweep() {
        tracing::warn!("sweeping dead runs' containers: {e:#}");
    }
    let hold: Vec<String> = ["/bin/udp-server", "--bind", "127.0.0.1", "--port", "9"]
        .map(String::from)
        .to_vec();
    let host_error = |e: anyhow::Error| faults::Error::Hosts { source: e.into() };
    let mut holders = Vec::new();
    let lab = faults::Lab::builder(topology)
        .backend(backend)
        .seed(seed)
        .build_with(|run, names| {
            let mut hosts = Vec::new();
            for name in names {
                let c = Running::start(run.id(), &image, "none", &hold).map_err(host_error)?;
                let pid = pid(&c.id).map_err(host_error);
                holders.push(c);
                hosts.push(faults::Host::attach(&run.name(&format!("c{name}")), pid?)?);
            }
            Ok(hosts)
        })?;
    Ok((lab, holders))
}

/// A lab whose hosts are holders: containers of the services image with no
/// network but the link, whose one process (a UDP server bound to
/// 127.0.0.1:9) only keeps the namespace alive. Containers of any image
/// join a holder's namespace with `--network container:ID`, and sockets
/// opened in its host are in it too. The holders must outlive the lab.
pub fn holder_lab(
    backend: faults::Backend,
    seed: Option<u64>,
    initial: [&faults::Impairment; 2],
) -> anyhow::Result<(faults::Lab, [Running; 2])> {
    let topology = faults::Topology::two()
        .impair(
            faults::Pairs::One("a".into(), "b".into()),
            initial[0].clone(),
        )?
        .impair(
            faults::Pairs::One("b".into(), "a".into()),
            initial[1].clone(),
        )?;
    let (lab, holders) = holder_lab_of(topology, backend, seed)?;
    let holders: [Running; 2] = holders
        .try_into()
        .map_err(|_| anyhow::anyhow!("two hosts, two holders"))?;
    Ok((lab, holders))
}
