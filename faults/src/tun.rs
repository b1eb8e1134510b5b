//! TUN devices: a point-to-point interface whose packets a program reads
//! and writes.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Opens a new TUN device `name` in the calling thread's network namespace,
/// non-blocking. Each read and write is one IP packet behind a 10-byte
/// `virtio_net_hdr` (no packet-info header): the kernel offers no offload,
/// so what it hands over is a plain packet with a zero header, while a
/// write may carry a coalesced segment ([`crate::gro`]). The device disappears
/// when the descriptor is closed.
///
/// Equivalent to `ip tuntap add dev NAME mode tun` (but not persistent).
/// Requires CAP_NET_ADMIN.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name '{name}' is not 1..=15 bytes"),
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: (libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR) as libc::c_short,
        _pad: [0; 22],
    };
    for (dst, &src) in req.name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which IfReq
    // lays out (16-byte name, flags, padding to 40 bytes).
    if unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file.into())
}
