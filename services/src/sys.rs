//! What the probes and servers need of the kernel beyond std: socket
//! options and the descriptor limit. The crate's only unsafe code.

use std::ffi::CString;
use std::io;
use std::os::fd::AsRawFd;

/// Asks for a receive buffer of `bytes` (as root, past `rmem_max`), so a
/// burst of datagrams is not dropped by our own socket and counted as loss.
pub fn grow_receive_buffer(sock: &impl AsRawFd, bytes: i32) {
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        if set_int(sock, libc::SOL_SOCKET, opt, bytes).is_ok() {
            return;
        }
    }
}

/// Sets the receive buffer to `bytes` (the kernel doubles it for its own
/// bookkeeping): small, to make a slow reader's buffer fill quickly.
pub fn set_receive_buffer(sock: &impl AsRawFd, bytes: i32) -> io::Result<()> {
    set_int(sock, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes)
}

fn set_int(sock: &impl AsRawFd, level: i32, opt: i32, value: i32) -> io::Result<()> {
    // SAFETY: `value` outlives the call and its size is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What `TCP_INFO` says of a connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpInfo {
    /// Segments retransmitted over the connection's life.
    pub total_retrans: u32,
    /// Smoothed round-trip time, in microseconds.
    pub rtt_us: u32,
}

/// Reads `TCP_INFO`.
pub fn tcp_info(sock: &impl AsRawFd) -> io::Result<TcpInfo> {
    // SAFETY: tcp_info is plain old data; the kernel writes at most `len` bytes.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(TcpInfo {
        total_retrans: info.tcpi_total_retrans,
        rtt_us: info.tcpi_rtt,
    })
}

/// Sets the congestion control algorithm (`TCP_CONGESTION`), e.g. `cubic`.
pub fn set_congestion(sock: &impl AsRawFd, name: &str) -> io::Result<()> {
    let name = CString::new(name).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let bytes = name.as_bytes();
    // SAFETY: `name` outlives the call and its length is passed with it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            bytes.as_ptr().cast(),
            bytes.len() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Reads the congestion control algorithm of a connection.
pub fn congestion(sock: &impl AsRawFd) -> io::Result<String> {
    let mut buf = [0u8; 32];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `buf`.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let name = &buf[..len as usize];
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    Ok(String::from_utf8_lossy(&name[..end]).into_owned())
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
