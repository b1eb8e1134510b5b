//! Our servers against the lecture's Python servers, and how many TCP
//! clients ours holds at once.
//!
//! Every server runs in a host of its own and is reached over that host's
//! loopback, so nothing else on the machine can answer or interfere.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use faults::{Backend, Host, Lab};
use serde::Serialize;
use services::child::KillOnDrop;

use super::measure::{percentile, Timed};

const PORT: u16 = 12000;
const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// One server's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ServerFigures {
    pub server: String,
    /// 64-byte datagrams echoed per second (16 in flight).
    pub udp_echo_pps: Option<f64>,
    /// The lecture's exchange, one after another: connect, one sentence,
    /// the reply, close.
    pub tcp_exchanges_per_s: Option<f64>,
    /// One connection echoing a stream: MB (1e6) of echo per second. None
    /// for the lecture's server, which answers one recv(1024) and closes.
    pub tcp_echo_mb_s: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerBench {
    pub ours: ServerFigures,
    /// None when python3 or the seed programs are missing.
    pub python: Option<ServerFigures>,
    pub clients: ClientsHeld,
}

/// Concurrent TCP clients held by our server.
#[derive(Debug, Clone, Serialize)]
pub struct ClientsHeld {
    pub target: usize,
    /// Connections that were open and answered at once.
    pub held: usize,
    /// Seconds to open and exchange a line on all of them.
    pub open_s: f64,
    /// The server's resident memory before, with all held, and after.
    pub rss_idle_kib: u64,
    pub rss_held_kib: u64,
    pub rss_after_kib: u64,
    /// Resident memory per held connection.
    pub kib_per_connection: f64,
    pub threads: u64,
    /// A round trip of one more client while all are held, p50/p99 over
    /// 200 (microseconds).
    pub rtt_while_held_us: (f64, f64),
}

pub fn servers(quick: bool, clients: usize) -> anyhow::Result<ServerBench> {
    let span = Duration::from_secs_f64(if quick { 0.5 } else { 2.0 });
    // Ours in one host, the lecture's in the other: the Python server closes
    // first and leaves port 12000 in TIME-WAIT without SO_REUSEADDR, which
    // would keep any other server from binding it for a minute.
    let lab = Lab::new(Backend::Veth, None)?;
    let host = lab.b();
    let ours = {
        eprintln!("  our servers");
        let udp = Server::start(host, &[&bin("udp-server")?, "--port", "12000"], "udp")?;
        let udp_echo_pps = Some(host.run(|| udp_echo(span))??);
        drop(udp);
        let tcp = Server::start(host, &[&bin("tcp-server")?, "--port", "12000"], "tcp")?;
        let tcp_exchanges_per_s = Some(host.run(|| tcp_exchanges(span))??);
        let tcp_echo_mb_s = Some(host.run(|| tcp_echo(span))??);
        drop(tcp);
        ServerFigures {
            server: "badnet (Rust, tokio)".into(),
            udp_echo_pps,
            tcp_exchanges_per_s,
            tcp_echo_mb_s,
        }
    };
    let python = match seed_dir() {
        Some(seed) if python3_present() => {
            eprintln!("  the lecture's Python servers");
            let host = lab.a();
            let py = |file: &str| seed.join(file).display().to_string();
            let udp = Server::start(host, &["python3", "-u", &py("udpserver.py")], "udp")?;
            let udp_echo_pps = Some(host.run(|| udp_echo(span))??);
            drop(udp);
            let tcp = Server::start(host, &["python3", "-u", &py("tcpserver.py")], "tcp")?;
            let tcp_exchanges_per_s = Some(host.run(|| tcp_exchanges(span))??);
            drop(tcp);
            Some(ServerFigures {
                server: "the lecture's (Python)".into(),
                udp_echo_pps,
                tcp_exchanges_per_s,
                tcp_echo_mb_s: None,
            })
        }
        _ => {
            eprintln!("  skipping the Python servers: no python3 or no seed programs");
            None
        }
    };
    eprintln!("  {clients} concurrent TCP clients");
    let clients = hold_clients(host, clients)?;
    lab.remove()?;
    Ok(ServerBench {
        ours,
        python,
        clients,
    })
}

fn bin(name: &str) -> anyhow::Result<String> {
    Ok(crate::bins::locate(name)?.display().to_string())
}

/// The lecture's programs, from the source tree.
fn seed_dir() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("services/tests/seed");
    dir.join("udpserver.py").is_file().then_some(dir)
}

fn python3_present() -> bool {
    std::process::Command::new("python3")
        .arg("-c")
        .arg("pass")
        .status()
        .is_ok_and(|s| s.success())
}

/// A server under test, killed with its process group when dropped.
struct Server {
    child: KillOnDrop,
}

impl Server {
    /// Starts `argv` in `host` and waits until it answers on port 12000.
    fn start(host: &Host, argv: &[&str], transport: &str) -> anyhow::Result<Self> {
        // A group of its own: `python3` may be a wrapper (pyenv) that forks
        // the interpreter, and both must go.
        let child = KillOnDrop::spawn_group(
            host.command(argv[0])
                .args(&argv[1..])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped()),
        )
        .with_context(|| format!("starting {argv:?}"))?;
        let mut server = Server { child };
        let up = host.run(|| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                let answered = match transport {
                    "udp" => udp_answers(),
                    _ => TcpStream::connect((LOOPBACK, PORT)).is_ok(),
                };
                if answered {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })?;
        if !up {
            server.child.terminate();
            let mut stderr = String::new();
            if let Some(mut e) = server.child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            anyhow::bail!("{argv:?} did not answer within 10 s: {}", stderr.trim());
        }
        Ok(server)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn udp_answers() -> bool {
    let Ok(sock) = UdpSocket::bind((LOOPBACK, 0)) else {
        return false;
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
    let mut buf = [0u8; 16];
    sock.send_to(b"ready?", (LOOPBACK, PORT)).is_ok() && sock.recv(&mut buf).is_ok()
}

/// Echoed datagrams per second with 16 in flight; a datagram not back
/// within 20 ms is given up and replaced.
fn udp_echo(span: Duration) -> io::Result<f64> {
    const WINDOW: usize = 16;
    let sock = UdpSocket::bind((LOOPBACK, 0))?;
    sock.connect((LOOPBACK, PORT))?;
    sock.set_read_timeout(Some(Duration::from_millis(20)))?;
    let payload = [b'a'; 64];
    let mut buf = [0u8; 2048];
    for _ in 0..WINDOW {
        sock.send(&payload)?;
    }
    let mut timed = Timed::default();
    let end = Instant::now() + span;
    while Instant::now() < end {
        match sock.recv(&mut buf) {
            Ok(_) => {
                timed.add(1);
                sock.send(&payload)?;
            }
            Err(_) => {
                for _ in 0..WINDOW {
                    sock.send(&payload)?;
                }
            }
        }
    }
    Ok(timed.per_second())
}

/// The lecture's exchange as fast as one client can do it in a row.
fn tcp_exchanges(span: Duration) -> io::Result<f64> {
    let sentence = b"the quick brown fox";
    let mut done = 0u64;
    let start = Instant::now();
    while start.elapsed() < span {
        let mut conn = TcpStream::connect((LOOPBACK, PORT))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        conn.write_all(sentence)?;
        let mut reply = [0u8; 64];
        let mut got = 0;
        while got < sentence.len() {
            match conn.read(&mut reply[got..])? {
                0 => break,
                n => got += n,
            }
        }
        if reply[..got] != sentence.to_ascii_uppercase()[..] {
            return Err(io::Error::other("wrong reply"));
        }
        done += 1;
    }
    Ok(done as f64 / start.elapsed().as_secs_f64())
}

/// MB/s echoed on one connection: a writer thread streams 64 KiB writes
/// for `span`, this thread reads the echo.
fn tcp_echo(span: Duration) -> io::Result<f64> {
    let conn = TcpStream::connect((LOOPBACK, PORT))?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut writer = conn.try_clone()?;
    let sender = std::thread::spawn(move || -> io::Result<u64> {
        let chunk = vec![b'a'; 64 * 1024];
        let end = Instant::now() + span;
        let mut sent = 0;
        while Instant::now() < end {
            writer.write_all(&chunk)?;
            sent += chunk.len() as u64;
        }
        writer.shutdown(std::net::Shutdown::Write)?;
        Ok(sent)
    });
    let mut reader = conn;
    let mut buf = vec![0u8; 256 * 1024];
    let mut timed = Timed::default();
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|&b| b != b'A') {
            return Err(io::Error::other("the echo is not uppercase"));
        }
        timed.add(n as u64);
    }
    let sent = sender.join().expect("writer thread")?;
    if sent != timed.total() {
        return Err(io::Error::other(format!(
            "sent {sent} bytes, echoed {}",
            timed.total()
        )));
    }
    Ok(timed.per_second() / 1e6)
}

/// Opens `target` connections to our TCP server, exchanges a line on each,
/// holds them all, and measures the server meanwhile.
fn hold_clients(host: &Host, target: usize) -> anyhow::Result<ClientsHeld> {
    services::sys::raise_fd_limit(target as u64 + 1024)?;
    let server = Server::start(
        host,
        &[
            &bin("tcp-server")?,
            "--port",
            "12000",
            "--max-connections",
            &(target + 16).to_string(),
        ],
        "tcp",
    )?;
    let pid = server.pid();
    std::thread::sleep(Duration::from_millis(200));
    let rss_idle_kib = status_field(pid, "VmRSS")?;
    let (conns, open_s) = host.run(|| -> io::Result<(Vec<TcpStream>, f64)> {
        let start = Instant::now();
        let mut conns = Vec::with_capacity(target);
        for i in 0..target {
            let mut conn = TcpStream::connect((LOOPBACK, PORT))?;
            conn.set_read_timeout(Some(Duration::from_secs(5)))?;
            let line = format!("client {i}\n");
            conn.write_all(line.as_bytes())?;
            let mut reply = vec![0u8; line.len()];
            conn.read_exact(&mut reply)?;
            if reply != line.to_ascii_uppercase().as_bytes() {
                return Err(io::Error::other(format!("client {i}: wrong reply")));
            }
            conns.push(conn);
        }
        Ok((conns, start.elapsed().as_secs_f64()))
    })??;
    // Every connection still answers after all are open.
    let held = host.run(|| {
        conns
            .iter()
            .filter(|c| {
                let mut c: &TcpStream = c;
                c.write_all(b"x").is_ok() && {
                    let mut b = [0u8; 1];
                    c.read_exact(&mut b).is_ok() && b == *b"X"
                }
            })
            .count()
    })?;
    let rss_held_kib = status_field(pid, "VmRSS")?;
    let threads = status_field(pid, "Threads")?;
    let mut rtts = host.run(|| -> io::Result<Vec<f64>> {
        let mut conn = TcpStream::connect((LOOPBACK, PORT))?;
        conn.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut rtts = Vec::new();
        for _ in 0..200 {
            let start = Instant::now();
            conn.write_all(b"ping")?;
            let mut b = [0u8; 4];
            conn.read_exact(&mut b)?;
            rtts.push(start.elapsed().as_secs_f64() * 1e6);
        }
        Ok(rtts)
    })??;
    rtts.sort_by(f64::total_cmp);
    drop(conns);
    std::thread::sleep(Duration::from_millis(500));
    let rss_after_kib = status_field(pid, "VmRSS")?;
    drop(server);
    Ok(ClientsHeld {
        target,
        held,
        open_s,
        rss_idle_kib,
        rss_held_kib,
        rss_after_kib,
        kib_per_connection: rss_held_kib.saturating_sub(rss_idle_kib) as f64 / target.max(1) as f64,
        threads,
        rtt_while_held_us: (percentile(&rtts, 0.5), percentile(&rtts, 0.99)),
    })
}

/// A numeric field of /proc/PID/status (kB for memory).
fn status_field(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
