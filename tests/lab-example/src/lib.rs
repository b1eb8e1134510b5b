//! The programs under test of this example: a UDP echo server and a client
//! that sends numbered datagrams and counts the echoes. Stand-ins for a
//! crate's own server and client; `tests/echo_under_loss.rs` puts them on
//! a lab.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// Echoes every datagram on `socket` to its sender until nothing has come
/// for `idle`. Returns how many it echoed.
pub fn echo_server(socket: UdpSocket, idle: Duration) -> std::io::Result<u64> {
    socket.set_read_timeout(Some(idle))?;
    let mut buf = [0u8; 2048];
    let mut echoed = 0;
    loop {
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                socket.send_to(&buf[..n], from)?;
                echoed += 1;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(echoed)
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends `count` numbered datagrams to `server`, `gap` apart, and counts
/// the distinct ones echoed back within `wait` of the last.
pub fn client(
    socket: &UdpSocket,
    server: SocketAddr,
    count: u32,
    gap: Duration,
    wait: Duration,
) -> std::io::Result<u32> {
    let mut seen = vec![false; count as usize];
    socket.set_nonblocking(true)?;
    let mut buf = [0u8; 64];
    let mut collect = |seen: &mut Vec<bool>| {
        while let Ok(n) = socket.recv(&mut buf) {
            if n == 4 {
                let i = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes"));
                if let Some(s) = seen.get_mut(i as usize) {
                    *s = true;
                }
            }
        }
    };
    for i in 0..count {
        socket.send_to(&i.to_be_bytes(), server)?;
        collect(&mut seen);
        std::thread::sleep(gap);
    }
    let end = Instant::now() + wait;
    while Instant::now() < end {
        collect(&mut seen);
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(seen.iter().filter(|s| **s).count() as u32)
}
