//! How long a lab of many hosts takes to build and remove: badnet's, on
//! the wire and on a plain bridge, and, where Mininet's Python API is
//! installed, Mininet's (hosts on one Linux bridge, no controller) in the
//! same run.

use std::process::Command;
use std::time::Instant;

use faults::{Backend, Lab, Topology};
use serde::Serialize;

/// The lab sizes measured.
pub const SIZES: [usize; 4] = [2, 16, 64, 256];

/// One size's times, in seconds.
#[derive(Debug, Clone, Serialize)]
pub struct HostsRow {
    pub hosts: usize,
    /// badnet on the wire: build, then remove.
    pub wire_build_s: f64,
    pub wire_remove_s: f64,
    /// badnet on a plain bridge (veth): build, then remove.
    pub bridge_build_s: f64,
    pub bridge_remove_s: f64,
    /// Mininet's build, start and stop together, where it is installed.
    pub mininet_s: Option<f64>,
}

/// Every size's times; `quick` stops at 64 hosts.
pub fn hosts(quick: bool) -> anyhow::Result<Vec<HostsRow>> {
    let mininet = mininet_python();
    SIZES
        .into_iter()
        .filter(|&n| !quick || n <= 64)
        .map(|n| {
            let (wire_build_s, wire_remove_s) = badnet_lab(n, Backend::Wire)?;
            let (bridge_build_s, bridge_remove_s) = badnet_lab(n, Backend::Veth)?;
            Ok(HostsRow {
                hosts: n,
                wire_build_s,
                wire_remove_s,
                bridge_build_s,
                bridge_remove_s,
                mininet_s: mininet.map(|py| mininet_lab(py, n)).transpose()?,
            })
        })
        .collect()
}

fn badnet_lab(n: usize, backend: Backend) -> anyhow::Result<(f64, f64)> {
    let start = Instant::now();
    let lab = Lab::builder(Topology::hosts(n)?).backend(backend).build()?;
    let built = start.elapsed().as_secs_f64();
    let start = Instant::now();
    lab.remove()?;
    Ok((built, start.elapsed().as_secs_f64()))
}

/// A Python that imports Mininet (Debian's package installs it for the
/// system's Python, which may not be the first on PATH).
fn mininet_python() -> Option<&'static str> {
    ["python3", "/usr/bin/python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import mininet.net"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Mininet builds `n` hosts on one Linux bridge with no controller, starts
/// and stops them; the seconds that took, as the script measured them.
fn mininet_lab(python: &str, n: usize) -> anyhow::Result<f64> {
    let script = format!(
        "import time\n\
         from mininet.net import Mininet\n\
         from mininet.topo import Topo\n\
         from mininet.nodelib import LinuxBridge\n\
         class One(Topo):\n\
         \x20   def build(self):\n\
         \x20       s = self.addSwitch('s1')\n\
         \x20       for i in range({n}):\n\
         \x20           self.addLink(self.addHost('h%d' % (i + 1)), s)\n\
         t = time.time()\n\
         net = Mininet(topo=One(), switch=LinuxBridge, controller=None)\n\
         net.start()\n\
         net.stop()\n\
         print(time.time() - t)\n"
    );
    let out = Command::new(python).args(["-c", &script]).output()?;
    anyhow::ensure!(
        out.status.success(),
        "Mininet with {n} hosts: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .parse()?)
}
