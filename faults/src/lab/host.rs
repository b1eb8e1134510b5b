//! A host: a network namespace that the run created, or one it was handed
//! (a container's), which it never deletes.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sched::{setns, CloneFlags};

use crate::snmp::UdpCounters;
use crate::{cmd, sys};
use crate::{Error, Result};

/// A network namespace to run programs and open sockets in.
#[derive(Debug)]
pub struct Host {
    name: String,
    path: PathBuf,
    ns: File,
    kind: Kind,
    removed: bool,
}

/// Who made the namespace, and so what removing the host does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Created by this run: removing deletes it (and its programs).
    Created,
    /// Another's (a container's), given a name in `/run/netns` by this run:
    /// removing takes back the name; the namespace lives on.
    Attached,
    /// Another's, used by path: removing does nothing.
    Wrapped,
}

impl Host {
    /// Creates the namespace `name` with `lo` up and IPv6 off (so no
    /// router or neighbour chatter crosses the link).
    ///
    /// Equivalent to `ip netns add NAME && ip -n NAME link set lo up`.
    /// Requires CAP_SYS_ADMIN.
    pub fn create(name: &str) -> Result<Self> {
        Ok(Self::create_many(&[name.to_owned()])?.remove(0))
    }

    /// Creates a namespace for each name, as [`Host::create`] does, with
    /// one `ip` process for all of them: `lo` is set up and IPv6 turned off
    /// from a thread inside each, not by a process per host. On failure,
    /// removes what it made.
    ///
    /// Equivalent to `ip -batch -` of `netns add NAME` lines, then `ip -n
    /// NAME link set lo up` in each. Requires CAP_SYS_ADMIN.
    pub fn create_many(names: &[String]) -> Result<Vec<Self>> {
        let lines: Vec<String> = names.iter().map(|n| format!("netns add {n}")).collect();
        if let Err(e) = cmd::run_batch("ip", &[], &lines) {
            let made: Vec<&String> = names
                .iter()
                .filter(|n| Path::new(NETNS_DIR).join(n).exists())
                .collect();
            let _ = cmd::run_batch(
                "ip",
                &[],
                &made
                    .iter()
                    .map(|n| format!("netns del {n}"))
                    .collect::<Vec<_>>(),
            );
            return Err(e);
        }
        let mut hosts = Vec::with_capacity(names.len());
        let mut failed = None;
        for name in names {
            let path = PathBuf::from(NETNS_DIR).join(name);
            match File::open(&path) {
                Ok(ns) => hosts.push(Host {
                    name: name.clone(),
                    path,
                    ns,
                    kind: Kind::Created,
                    removed: false,
                }),
                Err(e) => {
                    failed.get_or_insert(Error::sys(format!("opening {}", path.display()))(e));
                }
            }
        }
        let failed = failed.or_else(|| hosts.iter().find_map(|h| h.prepare().err()));
        match failed {
            None => Ok(hosts),
            Some(e) => {
                let unopened: Vec<String> = names
                    .iter()
                    .filter(|n| !hosts.iter().any(|h| &h.name == *n))
                    .map(|n| format!("netns del {n}"))
                    .collect();
                let _ = cmd::run_batch("ip", &[], &unopened);
                let _ = Self::remove_many(hosts);
                Err(e)
            }
        }
    }

    /// `lo` up and IPv6 off, from a thread inside the host.
    fn prepare(&self) -> Result<()> {
        self.run(|| {
            for key in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6"), "1");
            }
            let sock = control_socket()?;
            sys::if_set_up(sock.as_fd(), "lo", true)
        })?
        .map_err(Error::sys(format!("setting lo up in {}", self.name)))
    }

    /// Wraps an existing namespace (`/proc/PID/ns/net`), known as `name` in
    /// logs. It is never deleted.
    pub fn wrap(name: &str, path: &Path) -> Result<Self> {
        let ns = File::open(path).map_err(Error::sys(format!("opening {}", path.display())))?;
        Ok(Host {
            name: name.to_owned(),
            path: path.to_owned(),
            ns,
            kind: Kind::Wrapped,
            removed: false,
        })
    }

    /// Gives the namespace of process `pid` (a container's) the name `name`,
    /// so links can be made to it. Removing the host takes the name back;
    /// the namespace itself lives as long as its processes.
    ///
    /// Equivalent to `ip netns attach NAME PID`. Requires CAP_SYS_ADMIN.
    pub fn attach(name: &str, pid: u32) -> Result<Self> {
        cmd::run_argv(&["ip", "netns", "attach", name, &pid.to_string()])?;
        let path = PathBuf::from("/run/netns").join(name);
        match File::open(&path) {
            Ok(ns) => Ok(Host {
                name: name.to_owned(),
                path,
                ns,
                kind: Kind::Attached,
                removed: false,
            }),
            Err(e) => {
                let _ = cmd::run_argv(&["ip", "netns", "del", name]);
                Err(Error::sys(format!("opening {}", path.display()))(e))
            }
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command that runs `program` inside this host.
    ///
    /// The child enters the namespace between fork and exec, and gets
    /// SIGKILL if the thread that spawned it dies, so a killed driver leaves
    /// no program behind (spawn from a thread that lives as long as the
    /// program should).
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        match self.ns.try_clone() {
            Ok(ns) => sys::enter_netns_on_spawn(&mut cmd, ns.into()),
            // Without a descriptor of its own the child cannot enter the
            // host: make it fail to spawn rather than run outside it.
            Err(e) => {
                tracing::warn!("duplicating {}'s namespace descriptor: {e}", self.name);
                cmd = Command::new(format!("/nonexistent/{program}: no namespace descriptor"));
            }
        }
        cmd
    }

    /// How a command of this host reads in a shell.
    pub fn shown(&self, argv: &[&str]) -> Vec<String> {
        let mut shown: Vec<String> = if self.kind != Kind::Wrapped {
            vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                self.name.clone(),
            ]
        } else {
            vec!["nsenter".into(), format!("--net={}", self.path.display())]
        };
        shown.extend(argv.iter().map(|s| (*s).to_owned()));
        shown
    }

    /// Runs `ip ARGS` inside this host. Requires CAP_NET_ADMIN.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        self.exec("ip", args)
    }

    /// Runs `tc ARGS` inside this host. Requires CAP_NET_ADMIN.
    pub fn tc(&self, args: &[&str]) -> Result<String> {
        self.exec("tc", args)
    }

    fn exec(&self, program: &str, args: &[&str]) -> Result<String> {
        let mut argv = vec![program];
        argv.extend_from_slice(args);
        let mut cmd = self.command(program);
        cmd.args(args);
        cmd::run(cmd, &self.shown(&argv))
    }

    /// Runs `f` on a thread of its own that has entered this host, and
    /// returns what it returns: sockets and TUN devices opened there belong
    /// to this host. Never enters the namespace on the caller's thread.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(self.ns.as_fd(), CloneFlags::CLONE_NEWNET)
                    .map_err(|e| Error::sys(format!("entering {}", self.name))(e.into()))?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// What this host's kernel counted of UDP so far (`/proc/net/snmp` as
    /// seen from inside it).
    pub fn udp_counters(&self) -> Result<UdpCounters> {
        let text = self
            .run(|| std::fs::read_to_string("/proc/thread-self/net/snmp"))?
            .map_err(Error::sys(format!(
                "reading /proc/net/snmp in {}",
                self.name
            )))?;
        UdpCounters::parse(&text)
    }

    /// PIDs of the processes inside this host, if this run created it.
    pub fn pids(&self) -> Vec<i32> {
        if self.kind != Kind::Created {
            return Vec::new();
        }
        pids_in(&[self]).pop().unwrap_or_default()
    }

    /// Deletes the namespace if this run created it (or takes back the name
    /// it attached), and reports failure.
    ///
    /// Equivalent to `ip netns del NAME`.
    pub fn remove(self) -> Result<()> {
        Self::remove_many(vec![self])
    }

    /// Kills every process left in the hosts this run created, then
    /// removes them all with one `ip` process, and reports the first
    /// failure.
    ///
    /// Equivalent to `ip netns pids NAME | xargs kill -9`, then `ip -batch
    /// -` of `netns del NAME` lines.
    pub fn remove_many(mut hosts: Vec<Host>) -> Result<()> {
        let created: Vec<&Host> = hosts.iter().filter(|h| h.kind == Kind::Created).collect();
        for pid in pids_in(&created).into_iter().flatten() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        let lines: Vec<String> = hosts
            .iter()
            .filter(|h| h.kind != Kind::Wrapped)
            .map(|h| format!("netns del {}", h.name))
            .collect();
        for h in &mut hosts {
            h.removed = true;
        }
        match cmd::run_batch("ip", &[], &lines) {
            // Another sweep may have removed one first: gone, as asked.
            Err(_)
                if hosts
                    .iter()
                    .all(|h| h.kind == Kind::Wrapped || !h.path.exists()) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    fn remove_now(&self) -> Result<()> {
        if self.kind == Kind::Wrapped {
            return Ok(());
        }
        cmd::run_argv(&["ip", "netns", "del", &self.name]).map(drop)
    }
}

/// Where named namespaces are.
const NETNS_DIR: &str = "/run/netns";

/// A datagram socket of the calling thread's namespace, for interface
/// ioctls.
pub(crate) fn control_socket() -> std::io::Result<std::os::fd::OwnedFd> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    socket(
        AddressFamily::Inet,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(std::io::Error::from)
}

/// The processes in each host's namespace, found by one pass over
/// `/proc` (a process per host, as `ip netns pids` is, costs milliseconds
/// each).
fn pids_in(hosts: &[&Host]) -> Vec<Vec<i32>> {
    pids_in_namespaces(&hosts.iter().map(|h| h.ns.metadata()).collect::<Vec<_>>())
}

/// The processes in each named namespace of `/run/netns` (none for a
/// name that is not there), found by one pass over `/proc`.
pub(crate) fn pids_in_named(names: &[String]) -> Vec<Vec<i32>> {
    pids_in_namespaces(
        &names
            .iter()
            .map(|n| std::fs::metadata(Path::new(NETNS_DIR).join(n)))
            .collect::<Vec<_>>(),
    )
}

fn pids_in_namespaces(namespaces: &[std::io::Result<std::fs::Metadata>]) -> Vec<Vec<i32>> {
    use std::os::unix::fs::MetadataExt;
    let inodes: Vec<Option<(u64, u64)>> = namespaces
        .iter()
        .map(|m| m.as_ref().ok().map(|m| (m.dev(), m.ino())))
        .collect();
    let mut found = vec![Vec::new(); namespaces.len()];
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(m) = std::fs::metadata(format!("/proc/{pid}/ns/net")) else {
            continue;
        };
        if let Some(i) = inodes.iter().position(|&n| n == Some((m.dev(), m.ino()))) {
            found[i].push(pid);
        }
    }
    found
}

impl Drop for Host {
    fn drop(&mut self) {
        if self.removed || self.kind == Kind::Wrapped {
            return;
        }
        if std::env::var_os("BADNET_KEEP").is_some() {
            tracing::warn!("BADNET_KEEP: keeping namespace {}", self.name);
            return;
        }
        if let Err(e) = self.remove_now() {
            tracing::warn!("removing namespace {}: {e}", self.name);
        }
    }
}
