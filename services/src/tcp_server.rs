//! The TCP uppercase server: every connection gets back what it sends,
//! uppercased as Python's `str.upper()` does (see [`crate::upper`]), until
//! it closes.
//!
//! Unlike the lecture's one-shot loop, it serves many clients at once (a
//! task per connection), under a bound on connections and an idle timeout.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::pace::Pace;
use crate::upper::StreamUpper;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Limits of the server.
#[derive(Debug, Clone)]
pub struct TcpServerConfig {
    /// Connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// A connection that sends nothing (or reads nothing) for this long is
    /// closed.
    pub idle_timeout: Duration,
    /// At shutdown, how long open connections may take to finish.
    pub grace: Duration,
    /// Read each connection at most this many bytes per second (a slow
    /// reader: the sender's TCP is held to this pace by flow control).
    pub read_rate: Option<f64>,
}

impl Default for TcpServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            idle_timeout: Duration::from_secs(60),
            grace: Duration::from_secs(1),
            read_rate: None,
        }
    }
}

/// The largest read buffer of a connection (reached once a read fills the
/// first 4 KiB).
const MAX_BUFFER: usize = 64 * 1024;

/// Connections the kernel queues before `accept`: Linux caps this at
/// `net.core.somaxconn` (4096 by default).
pub const BACKLOG: u32 = 4096;

/// Binds a listener on `addr` the way a server that restarts must: with
/// SO_REUSEADDR, so connections of an earlier server still in TIME-WAIT on
/// the port do not keep it from binding, and a backlog of [`BACKLOG`].
pub fn bind(addr: std::net::SocketAddr) -> io::Result<TcpListener> {
    bind_with(addr, None)
}

/// [`bind`], with every accepted connection's receive buffer set to
/// `receive_buffer` bytes (the kernel doubles it), if given.
pub fn bind_with(
    addr: std::net::SocketAddr,
    receive_buffer: Option<u32>,
) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    if let Some(bytes) = receive_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting and
/// gives open connections `config.grace` to finish.
pub async fn run(
    listener: TcpListener,
    config: TcpServerConfig,
    shutdown: impl Future,
) -> io::Result<()> {
    tokio::pin!(shutdown);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or an aborted handshake: back off,
                    // keep serving the others.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let (idle, rate) = (config.idle_timeout, config.read_rate);
        connections.spawn(async move {
            let _slot = slot;
            match serve(stream, idle, rate.map(Pace::new)).await {
                Ok(bytes) => tracing::debug!(%peer, bytes, "connection closed"),
                Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
            }
        });
    }
    drop(listener);
    let drained = timeout(config.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            open = connections.len(),
            "grace period over: closing open connections"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Echoes one connection in uppercase until the client closes its side.
/// Returns the bytes echoed.
async fn serve(mut stream: TcpStream, idle: Duration, mut pace: Option<Pace>) -> io::Result<u64> {
    stream.set_nodelay(true)?;
    // Small until the client streams: most connections of the lecture's
    // kind carry one line, and 10,000 idle ones must stay cheap.
    let mut buf = vec![0u8; 4 * 1024];
    let mut upper = StreamUpper::default();
    let mut out = Vec::new();
    let mut total = 0;
    loop {
        let want = pace
            .as_ref()
            .map_or(buf.len(), |p| p.chunk().min(buf.len()));
        let n = match timeout(idle, stream.read(&mut buf[..want])).await {
            Ok(read) => read?,
            Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
        };
        if n == 0 {
            break;
        }
        upper.feed(&buf[..n], &mut out);
        timeout(idle, stream.write_all(&out))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "client stopped reading"))??;
        total += n as u64;
        if let Some(pace) = &mut pace {
            pace.took(n).await;
        }
        if n == buf.len() && buf.len() < MAX_BUFFER {
            buf.resize(MAX_BUFFER, 0);
        }
    }
    stream.write_all(&upper.finish()).await?;
    stream.shutdown().await?;
    Ok(total)
}
