//! The UDP uppercase server: every datagram comes back to its sender
//! uppercased as Python's `str.upper()` does (see [`crate::upper`]). Unlike the lecture's 2048-byte buffer, any
//! datagram up to 65507 bytes comes back whole.

use std::future::Future;
use std::io;

use tokio::net::UdpSocket;

use crate::pace::Pace;

/// Serves on `socket` until `shutdown` resolves.
///
/// One bad peer never stops the server: errors of a single send (an ICMP
/// error, a full queue) are logged and the loop goes on.
pub async fn run(socket: UdpSocket, shutdown: impl Future) -> io::Result<()> {
    run_paced(socket, None, shutdown).await
}

/// [`run`], reading at most `rate` datagrams per second (a slow reader:
/// what comes faster waits in the socket's buffer, and what overflows it
/// the kernel drops and counts as `RcvbufErrors`).
pub async fn run_paced(
    socket: UdpSocket,
    rate: Option<f64>,
    shutdown: impl Future,
) -> io::Result<()> {
    let mut pace = rate.map(Pace::new);
    tokio::pin!(shutdown);
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = tokio::select! {
            _ = &mut shutdown => return Ok(()),
            got = socket.recv_from(&mut buf) => match got {
                Ok(got) => got,
                Err(e) if is_per_peer(&e) => {
                    tracing::debug!("recv: {e}");
                    continue;
                }
                Err(e) => return Err(e),
            },
        };
        let echo = crate::upper::uppercase(&buf[..n]);
        tracing::trace!(%peer, n, "echo");
        if let Err(e) = socket.send_to(&echo, peer).await {
            tracing::debug!(%peer, "send: {e}");
        }
        if let Some(pace) = &mut pace {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = pace.took(1) => {}
            }
        }
    }
}

fn is_per_peer(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
