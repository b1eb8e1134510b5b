//! What this machine can do, and the remedy for each thing it cannot.

use std::process::Command;

use serde::Serialize;

use crate::lab::backend::{in_throwaway_host, netem_available};
use crate::wire::tun;
use crate::Error;

/// One capability.
#[derive(Debug, Clone, Serialize)]
pub struct Capability {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remedy: Option<String>,
}

/// Every capability badnet uses.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub root: bool,
    pub netem: bool,
    pub tun: bool,
    pub userns: bool,
    pub docker: bool,
    pub checks: Vec<Capability>,
}

/// Checks the machine. Changes nothing that outlives the call.
pub fn doctor() -> Doctor {
    let root = nix::unistd::geteuid().is_root();
    let checks = vec![
        Capability {
            name: "root",
            ok: root,
            detail: if root { "running as root (CAP_NET_ADMIN, CAP_SYS_ADMIN)".into() } else { "not root: namespaces, links and qdiscs need CAP_NET_ADMIN".into() },
            remedy: (!root).then(|| "run as root (sudo badnet ...), or rootless inside `unshare -rn` where only the wire runs".into()),
        },
        netem_check(root),
        tun_check(root),
        userns_check(),
        docker_check(),
    ];
    let ok = |n: &str| checks.iter().any(|c| c.name == n && c.ok);
    Doctor {
        root,
        netem: ok("netem"),
        tun: ok("tun"),
        userns: ok("userns"),
        docker: ok("docker"),
        checks,
    }
}

fn netem_check(root: bool) -> Capability {
    let result = if root {
        netem_available()
    } else {
        Err("not checked without root".into())
    };
    Capability {
        name: "netem",
        ok: result.is_ok(),
        detail: match &result {
            Ok(()) => "the kernel has sch_netem: backend auto picks netem".into(),
            Err(e) => format!("no sch_netem ({e}): backend auto picks the userspace wire"),
        },
        remedy: result.err().map(|_| {
            "the wire backend needs nothing more; for the kernel's netem, load it (modprobe sch_netem, from linux-modules-extra on Ubuntu), or run `make test-kernel`, which tests the netem backend in a small VM whose kernel has it".into()
        }),
    }
}

fn tun_check(root: bool) -> Capability {
    let result = if !std::path::Path::new("/dev/net/tun").exists() {
        Err("/dev/net/tun is missing".to_owned())
    } else if !root {
        Err("not checked without root".to_owned())
    } else {
        in_throwaway_host("tun", |host| {
            host.run(|| tun::open("bntun0").map(drop))?
                .map_err(Error::sys("opening a TUN device"))
        })
        .map_err(|e| e.to_string())
    };
    Capability {
        name: "tun",
        ok: result.is_ok(),
        detail: match &result {
            Ok(()) => "TUN devices open: the wire backend works".into(),
            Err(e) => format!("cannot open a TUN device: {e}"),
        },
        remedy: result.err().map(|_| "load the tun module (modprobe tun), or give a container --device /dev/net/tun and CAP_NET_ADMIN".into()),
    }
}

fn userns_check() -> Capability {
    let out = Command::new("unshare").args(["-rn", "true"]).output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    Capability {
        name: "userns",
        ok,
        detail: if ok { "user namespaces work (`unshare -rn`)".into() } else { "cannot create a user namespace".into() },
        remedy: (!ok).then(|| "enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1), or run as root".into()),
    }
}

fn docker_check() -> Capability {
    let out = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output();
    let (ok, detail) = match out {
        Ok(o) if o.status.success() => (
            true,
            format!(
                "Docker engine {} reachable",
                String::from_utf8_lossy(&o.stdout).trim()
            ),
        ),
        Ok(o) => (
            false,
            format!(
                "no Docker engine: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ),
        Err(e) => (false, format!("no docker command: {e}")),
    };
    Capability {
        name: "docker",
        ok,
        detail,
        remedy: (!ok).then(|| "start a Docker engine for the container lane; the netns lane needs none (make test-netns)".into()),
    }
}
