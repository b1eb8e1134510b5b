//! Your own programs on the bad network: any server in host B, any client
//! in host A, run as argv (never through a shell), with what the client
//! printed and how it exited beside the link's counters.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Host, Lab, LinkCounters, UdpCounters};
use serde::Serialize;
use services::child::KillOnDrop;

use super::docker::{self, Running};
use super::hosts::Hosts;
use super::output::{Readiness, Streams};
use super::play::{with_timeline, Started, Timeline};
use super::process::{ended, listening, run_client_container, wait_ready_container};
pub use super::process::{ClientResult, Ready};
use crate::error::BadInput;
use crate::timeline::Step;

/// The programs, as the user gave them.
#[derive(Debug, Clone)]
pub struct Programs {
    pub server: String,
    pub client: String,
    pub ready: Ready,
    /// How long the server may take to be ready.
    pub ready_limit: Duration,
    /// How long the client may run before it is killed.
    pub client_limit: Duration,
    /// How the link changes while the client runs (`--at`).
    pub steps: Vec<Step>,
    /// Container hosts: the images the server and the client run in.
    pub images: Option<Images>,
}

/// The local images your programs run in, with `--hosts containers`.
#[derive(Debug, Clone)]
pub struct Images {
    pub server: String,
    pub client: String,
}

/// What a run of your programs measured.
#[derive(Debug, Clone, Serialize)]
pub struct ProgramsOutcome {
    pub backend: Backend,
    pub backend_reason: String,
    pub run_id: String,
    pub client: ClientResult,
    pub link: LinkCounters,
    pub server_udp: UdpCounters,
    /// When each `--at` step took effect, and each phase's counts.
    #[serde(flatten)]
    pub timeline: Timeline,
}

/// Splits `line` into words as a shell would (single and double quotes,
/// backslash escapes), but runs nothing through a shell.
pub fn split(line: &str, flag: &str) -> Result<Vec<String>, BadInput> {
    let (mut words, mut word, mut any) = (Vec::new(), String::new(), false);
    let mut chars = line.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => match chars.next() {
                Some(n) => word.push(n),
                None => return Err(BadInput::new(flag, "ends with a lone backslash")),
            },
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            (None, c) => word.push(c),
        }
    }
    if quote.is_some() {
        return Err(BadInput::new(flag, "has an unclosed quote"));
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    if words.is_empty() {
        return Err(BadInput::new(flag, "names no program"));
    }
    Ok(words)
}

/// `line` with each `placeholder` replaced by `value` written so that
/// [`split`] gives `value` back whole, whatever it holds (spaces, quotes,
/// backslashes) and wherever it stands: outside quotes each special
/// character is escaped, inside double quotes `"` and `\` are, inside single
/// quotes a `'` is closed, given in double quotes, and reopened.
pub fn substitute(line: &str, placeholder: &str, value: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut quote: Option<char> = None;
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        if rest.starts_with(placeholder) {
            out.push_str(&escaped(value, quote));
            rest = &rest[placeholder.len()..];
            continue;
        }
        rest = &rest[c.len_utf8()..];
        out.push(c);
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                if let Some(n) = rest.chars().next() {
                    out.push(n);
                    rest = &rest[n.len_utf8()..];
                }
            }
            (None, '\'' | '"') => quote = Some(c),
            _ => {}
        }
    }
    out
}

/// `value` as [`split`] reads it back inside `quote` (or none).
fn escaped(value: &str, quote: Option<char>) -> String {
    let escape = |special: &dyn Fn(char) -> bool| {
        value
            .chars()
            .flat_map(|c| special(c).then_some('\\').into_iter().chain([c]))
            .collect()
    };
    match quote {
        None => escape(&|c| c.is_whitespace() || matches!(c, '\'' | '"' | '\\')),
        Some('"') => escape(&|c| matches!(c, '"' | '\\')),
        Some(_) => value.replace('\'', r#"'"'"'"#),
    }
}

/// `words` with `{server}` and `{client}` replaced by the hosts' addresses.
fn fill(words: &[String], lab: &Lab) -> Vec<String> {
    words
        .iter()
        .map(|w| {
            w.replace("{server}", &lab.addr_b().to_string())
                .replace("{client}", &lab.addr_a().to_string())
        })
        .collect()
}

/// Runs `p` on `hosts` (built and impaired): in the hosts themselves, or
/// with container hosts in containers of their images that join the
/// holders' namespaces. Impairments of the timeline apply in `direction`.
pub fn on_hosts(
    p: &Programs,
    hosts: &Hosts,
    direction: faults::Direction,
) -> anyhow::Result<ProgramsOutcome> {
    match (hosts.holders(), &p.images) {
        (Some(holders), Some(images)) => in_containers(p, images, &hosts.lab, holders, direction),
        _ => in_namespaces(p, &hosts.lab, direction),
    }
}

fn in_namespaces(
    p: &Programs,
    lab: &Lab,
    direction: faults::Direction,
) -> anyhow::Result<ProgramsOutcome> {
    let server = fill(&split(&p.server, "--server")?, lab);
    let client = fill(&split(&p.client, "--client")?, lab);
    let before = lab.b().udp_counters()?;
    let mut server_child = spawn(lab.b(), &server, "--server")?;
    let line = match &p.ready {
        Ready::Line(re) => Some(re.clone()),
        _ => None,
    };
    let (mut streams, matched) =
        Streams::read(server_child.stdout.take(), server_child.stderr.take(), line);
    wait_ready(
        &mut server_child,
        &mut streams,
        &matched,
        lab.b(),
        &p.ready,
        p.ready_limit,
    )
    .with_context(|| format!("server {:?}", server[0]))?;
    let (client, timeline) = with_timeline(lab, direction, &p.steps, |started| {
        run_client(lab.a(), &client, p.client_limit, started)
    })?;
    drop(server_child);
    ProgramsOutcome::new(lab, client, before, timeline)
}

impl ProgramsOutcome {
    /// What `lab` counted, read before it is removed, beside the client's
    /// result; `server_before` is what host B's kernel had counted of UDP
    /// before the run.
    fn new(
        lab: &Lab,
        client: ClientResult,
        server_before: UdpCounters,
        timeline: Timeline,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            backend: lab.backend(),
            backend_reason: lab.backend_reason().to_owned(),
            run_id: lab.run_id().to_owned(),
            client,
            link: lab.counters()?,
            server_udp: lab.b().udp_counters()?.since(server_before),
            timeline,
        })
    }
}

/// Refuses programs that cannot run as given: a line that names no
/// program, a program that cannot be found, or a timeline that cannot be
/// played within the client's limit.
pub fn check(p: &Programs) -> Result<(), BadInput> {
    for (line, flag) in [(&p.server, "--server"), (&p.client, "--client")] {
        let program = &split(line, flag)?[0];
        if p.images.is_none() && !findable(program) {
            return Err(BadInput::new(
                flag,
                format!("cannot find the program {program:?} (give a path, or put it on PATH)"),
            ));
        }
    }
    if let Some(images) = &p.images {
        for (image, flag) in [
            (&images.server, "--server-image"),
            (&images.client, "--client-image"),
        ] {
            if !docker::image_present(image) {
                return Err(BadInput::new(
                    flag,
                    format!(
                        "the image {image:?} is not here, and there is no registry to pull it from: build it (docker build -t {image} DIR) or load it (docker load -i FILE.tar)"
                    ),
                ));
            }
        }
    }
    crate::timeline::check(&p.steps, Some(p.client_limit)).map_err(|e| BadInput::new("--at", e))
}

/// Your programs in containers of their images. Each host is a holder
/// (see [`Hosts`]); the server's and the client's containers join their
/// holder's namespace (`--network container:HOLDER`), the server's once
/// the link is up, the client's once the server is ready.
fn in_containers(
    p: &Programs,
    images: &Images,
    lab: &Lab,
    [a, b]: &[Running; 2],
    direction: faults::Direction,
) -> anyhow::Result<ProgramsOutcome> {
    let server = fill(&split(&p.server, "--server")?, lab);
    let client = fill(&split(&p.client, "--client")?, lab);
    let before = lab.b().udp_counters()?;
    let server_c = Running::start(
        lab.run_id(),
        &images.server,
        &format!("container:{}", b.id),
        &server,
    )?;
    wait_ready_container(&server_c, lab.b(), &p.ready, p.ready_limit)
        .with_context(|| format!("server {:?} in {}", server[0], images.server))?;
    let (client, timeline) = with_timeline(lab, direction, &p.steps, |started| {
        run_client_container(
            lab.run_id(),
            &images.client,
            &a.id,
            &client,
            p.client_limit,
            started,
        )
    })?;
    drop(server_c);
    ProgramsOutcome::new(lab, client, before, timeline)
}

/// Whether `program` names an executable file: a path, or a name found on
/// `PATH`.
pub(super) fn findable(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        return executable(std::path::Path::new(program));
    }
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| executable(&dir.join(program))))
}

fn spawn(host: &Host, argv: &[String], flag: &str) -> anyhow::Result<KillOnDrop> {
    let mut cmd = host.command(&argv[0]);
    cmd.args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    KillOnDrop::spawn_group(&mut cmd).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
            BadInput::new(flag, format!("cannot run {:?}: {e}", argv[0])).into()
        }
        _ => anyhow::Error::from(e).context(format!("starting {:?}", argv[0])),
    })
}

/// Waits until `server` is ready as `ready` says, at most `limit`; reads
/// (and keeps the head and tail of) everything it writes meanwhile and
/// after, so that no pipe of its fills. A server that exits first is said
/// to have, with its last lines.
pub(super) fn wait_ready(
    server: &mut KillOnDrop,
    streams: &mut Streams,
    matched: &std::sync::mpsc::Receiver<()>,
    host: &Host,
    ready: &Ready,
    limit: Duration,
) -> anyhow::Result<()> {
    let mut status = None;
    let mut gone = || {
        status = status.or_else(|| server.try_wait().ok().flatten());
        status.is_some()
    };
    let readiness = match ready {
        Ready::Now => Readiness::Ready,
        Ready::Line(_) => streams.wait_ready(matched, limit, gone),
        Ready::Port(port) => {
            let deadline = Instant::now() + limit;
            loop {
                if listening(host, *port)? {
                    break Readiness::Ready;
                }
                if gone() {
                    streams.wait_closed(Instant::now() + Duration::from_millis(500));
                    break Readiness::Exited;
                }
                if Instant::now() >= deadline {
                    break Readiness::TimedOut;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let waited_for = match ready {
        Ready::Line(re) => format!("printed a line matching --ready {:?}", re.as_str()),
        Ready::Port(port) => format!("listened on port {port} (--ready-port)"),
        Ready::Now => String::new(),
    };
    match readiness {
        Readiness::Ready => Ok(()),
        Readiness::Exited => anyhow::bail!(
            "{} before it {waited_for}{}",
            status.map_or("exited".into(), ended),
            streams.last_lines(5)
        ),
        Readiness::TimedOut => match ready {
            Ready::Port(port) => {
                anyhow::bail!("nothing listened on port {port} within {limit:?} (--ready-port)")
            }
            _ => anyhow::bail!("never {waited_for} within {limit:?}"),
        },
    }
}

/// Runs the client in `host` until it, and whatever it started that keeps
/// its output open, has ended, at most `limit`: past it, every process in
/// the host is killed (a client that detaches is still found there).
pub(super) fn run_client(
    host: &Host,
    argv: &[String],
    limit: Duration,
    started: &Started,
) -> anyhow::Result<ClientResult> {
    let mut child = spawn(host, argv, "--client")?;
    started.now();
    let start = Instant::now();
    let deadline = start + limit;
    let (mut streams, _) = Streams::read(child.stdout.take(), child.stderr.take(), None);
    let mut exited = None;
    let status = loop {
        if exited.is_none() {
            exited = child.try_wait()?;
        }
        if exited.is_some() && streams.wait_closed(Instant::now()) {
            break exited;
        }
        if Instant::now() >= deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let duration = start.elapsed();
    if status.is_none() {
        child.terminate();
        // What it forked may fork again while it is killed: a few rounds.
        for _ in 0..5 {
            for pid in host.pids() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            if streams.wait_closed(Instant::now() + Duration::from_millis(200)) {
                break;
            }
        }
    }
    Ok(ClientResult::new(status, streams.take(), duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_as_a_shell_would_without_one() {
        let w = split(r#"socat -u 'UDP:{server}:9' "a b" c\ d ''"#, "--client").unwrap();
        assert_eq!(w, ["socat", "-u", "UDP:{server}:9", "a b", "c d", ""]);
        assert!(split("a 'b", "--client").is_err());
        assert!(split("   ", "--server").is_err());
        assert!(split("a \\", "--server").is_err());
    }

    #[test]
    fn a_value_substituted_anywhere_splits_back_whole() {
        for dir in ["/plain", "/dir with space", r#"/it's "odd" \ here"#] {
            let line = r#"prog {dir}/srv.sh '{dir}/a b' "{dir}/c" x{dir}"#;
            let words = split(&substitute(line, "{dir}", dir), "--server").unwrap();
            assert_eq!(
                words,
                [
                    "prog".to_owned(),
                    format!("{dir}/srv.sh"),
                    format!("{dir}/a b"),
                    format!("{dir}/c"),
                    format!("x{dir}"),
                ],
                "{dir:?}"
            );
        }
    }
}
