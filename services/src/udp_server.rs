//! The UDP uppercase server: every datagram comes back to its sender
//! uppercased as Python's `str.upper()` does (see [`crate::upper`]). Unlike the lecture's 2048-byte buffer, any
//! datagram up to 65507 bytes comes back whole.

use std::future::Future;
use std::io;

use tokio::net::UdpSocket;

/// Serves on `socket` until `shutdown` resolves.
///
/// One bad peer never stops the server: errors of a single send (an ICMP
/// error, a full queue) are logged and the loop goes on.
pub async fn run(socket: UdpSocket, shutdown: impl Future) -> io::Result<()> {
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
