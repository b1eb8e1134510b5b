//! What the probes and servers need of the kernel beyond std: socket
//! options, a connect that says how many SYNs it sent, and the descriptor
//! limit, through nix. Reading `TCP_INFO`, which nix does not wrap, is the
//! crate's only unsafe code.

use std::ffi::OsString;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::socket::{getsockopt, setsockopt, sockopt};

/// Asks for a receive buffer of `bytes` (as root, past `rmem_max`), so a
/// burst of datagrams is not dropped by our own socket and counted as loss.
pub fn grow_receive_buffer(sock: &impl AsFd, bytes: i32) {
    let bytes = bytes.max(0) as usize;
    if setsockopt(sock, sockopt::RcvBufForce, &bytes).is_err() {
        let _ = setsockopt(sock, sockopt::RcvBuf, &bytes);
    }
}

/// Sets the receive buffer to `bytes` (the kernel doubles it for its own
/// bookkeeping): small, to make a slow reader's buffer fill quickly.
pub fn set_receive_buffer(sock: &impl AsFd, bytes: i32) -> io::Result<()> {
    let bytes =
        usize::try_from(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    Ok(setsockopt(sock, sockopt::RcvBuf, &bytes)?)
}

/// What `TCP_INFO` says of a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpInfo {
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u32,
    /// Segments sent, retransmissions included (`tcpi_segs_out`): before
    /// a connection is made, its SYNs.
    pub segs_out: u32,
}

/// Reads `TCP_INFO`.
#[allow(unsafe_code)]
pub fn tcp_info(sock: &impl AsRawFd) -> io::Result<TcpInfo> {
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: tcp_info is plain old data, for which all zeroes is a value;
    // the kernel writes at most `len` bytes into it.
    let (rc, info) = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let rc = libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        (rc, info)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        total_retrans: info.tcpi_total_retrans,
        rtt_us: info.tcpi_rtt,
        segs_out: info.tcpi_segs_out,
    })
}

/// A connection attempt that failed: why, and the SYNs it sent.
#[derive(Debug)]
pub struct NotConnected {
    pub error: io::Error,
    /// `tcpi_segs_out` of the socket that never connected: every segment it
    /// sent was a SYN. None when the kernel refused at once (no route).
    pub syns: u64,
}

/// Connects to `server` within `timeout`, as
/// [`TcpStream::connect_timeout`] does, and when that fails says how many
/// SYNs the attempt sent, as the kernel counted them.
pub fn connect(server: SocketAddr, timeout: Duration) -> Result<TcpStream, NotConnected> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType, SockaddrStorage};
    let family = if server.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    let flags = SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK;
    let fd = socket(family, SockType::Stream, flags, None).map_err(|e| NotConnected {
        error: e.into(),
        syns: 0,
    })?;
    let connected = match nix::sys::socket::connect(fd.as_raw_fd(), &SockaddrStorage::from(server))
    {
        Ok(()) => Ok(()),
        Err(Errno::EINPROGRESS) => writable_within(&fd, timeout).and_then(|()| pending_error(&fd)),
        Err(e) => Err(e.into()),
    };
    match connected {
        Ok(()) => {
            let stream = TcpStream::from(fd);
            stream
                .set_nonblocking(false)
                .map_err(|error| NotConnected {
                    syns: tcp_info(&stream).map_or(1, |i| 1 + u64::from(i.total_retrans)),
                    error,
                })?;
            Ok(stream)
        }
        Err(error) => Err(NotConnected {
            syns: tcp_info(&fd).map_or(0, |i| u64::from(i.segs_out)),
            error,
        }),
    }
}

/// Waits until a connecting socket is writable (connected, or failed).
fn writable_within(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ));
        }
        let wait = PollTimeout::try_from(left.as_millis().max(1)).unwrap_or(PollTimeout::MAX);
        match poll(&mut [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)], wait) {
            Ok(0) | Err(Errno::EINTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The error a connect ended with (`SO_ERROR`), if any.
fn pending_error(fd: &OwnedFd) -> io::Result<()> {
    match getsockopt(fd, sockopt::SocketError)? {
        0 => Ok(()),
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Sets the congestion control algorithm (`TCP_CONGESTION`), e.g. `cubic`.
pub fn set_congestion(sock: &impl AsFd, name: &str) -> io::Result<()> {
    Ok(setsockopt(
        sock,
        sockopt::TcpCongestion,
        &OsString::from(name),
    )?)
}

/// Reads the congestion control algorithm of a connection.
pub fn congestion(sock: &impl AsFd) -> io::Result<String> {
    let name = getsockopt(sock, sockopt::TcpCongestion)?;
    Ok(name.to_string_lossy().into_owned())
}

/// Raises this process's limit on open descriptors to at least `want`
/// (the soft limit up to the hard one, and the hard one too where the
/// process may), so a server holding many connections is bounded by its
/// own `--max-connections`, not by a default of 1024. Returns the limit
/// now in force; an error only if it could not be read.
pub fn raise_fd_limit(want: u64) -> io::Result<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= want {
        return Ok(soft);
    }
    let raised = want.max(hard);
    if setrlimit(Resource::RLIMIT_NOFILE, raised, raised).is_ok() {
        return Ok(raised);
    }
    // Not privileged to raise the hard limit: go as far as it allows.
    if setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Ok(hard);
    }
    Ok(soft)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream, UdpSocket};

    #[test]
    fn a_receive_buffer_set_reads_back_doubled() {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_receive_buffer(&sock, 16 * 1024).unwrap();
        assert_eq!(getsockopt(&sock, sockopt::RcvBuf).unwrap(), 32 * 1024);
        grow_receive_buffer(&sock, 4 << 20);
        assert!(getsockopt(&sock, sockopt::RcvBuf).unwrap() > 32 * 1024);
    }

    #[test]
    fn a_congestion_control_set_reads_back_and_an_unknown_one_is_refused() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        set_congestion(&stream, "reno").unwrap();
        assert_eq!(congestion(&stream).unwrap(), "reno");
        assert!(set_congestion(&stream, "no-such-algorithm").is_err());
        assert_eq!(tcp_info(&stream).unwrap().total_retrans, 0);
    }
}
