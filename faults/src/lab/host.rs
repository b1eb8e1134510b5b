//! A host: a network namespace that the run created, or one it was handed
//! (a container's), which it never deletes.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
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
        cmd::run_argv(&["ip", "netns", "add", name])?;
        let path = PathBuf::from("/run/netns").join(name);
        let mut host = match File::open(&path) {
            Ok(ns) => Host {
                name: name.to_owned(),
                path,
                ns,
                kind: Kind::Created,
                removed: false,
            },
            Err(e) => {
                let _ = cmd::run_argv(&["ip", "netns", "del", name]);
                return Err(Error::sys(format!("opening {}", path.display()))(e));
            }
        };
        let setup = host.ip(&["link", "set", "lo", "up"]).and_then(|_| {
            host.run(|| {
                for key in ["all", "default"] {
                    let _ =
                        std::fs::write(format!("/proc/sys/net/ipv6/conf/{key}/disable_ipv6"), "1");
                }
            })
        });
        if let Err(e) = setup {
            let _ = host.remove_now();
            host.removed = true;
            return Err(e);
        }
        Ok(host)
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
        sys::enter_netns_on_spawn(&mut cmd, self.ns.as_raw_fd());
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
        cmd::run_argv(&["ip", "netns", "pids", &self.name])
            .map(|out| {
                out.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Deletes the namespace if this run created it (or takes back the name
    /// it attached), and reports failure.
    ///
    /// Equivalent to `ip netns del NAME`.
    pub fn remove(mut self) -> Result<()> {
        self.removed = true;
        self.remove_now()
    }

    fn remove_now(&self) -> Result<()> {
        if self.kind == Kind::Wrapped {
            return Ok(());
        }
        cmd::run_argv(&["ip", "netns", "del", &self.name]).map(drop)
    }
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
