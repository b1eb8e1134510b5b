//! TUN devices: a point-to-point interface whose packets a program reads
//! and writes.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::sys;

/// Opens a new TUN device `name` in the calling thread's network namespace,
/// non-blocking. Each read and write is one IP packet behind a 10-byte
/// `virtio_net_hdr` (no packet-info header). The device offers checksum
/// and TCP/IPv4 segmentation offload, so a read may carry up to 64 KB of
/// one TCP flow and partial checksums (cut and completed by `gso`), and a
/// write may carry a coalesced segment (`gro`). The device disappears
/// when the descriptor is closed.
///
/// Equivalent to `ip tuntap add dev NAME mode tun` (but not persistent).
/// Requires CAP_NET_ADMIN.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?;
    sys::tun_set_iff(
        file.as_fd(),
        name,
        libc::IFF_TUN | libc::IFF_NO_PI | libc::IFF_VNET_HDR,
    )?;
    sys::tun_set_offload(file.as_fd(), libc::TUN_F_CSUM | libc::TUN_F_TSO4)?;
    Ok(file.into())
}
