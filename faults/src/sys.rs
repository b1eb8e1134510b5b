//! The crate's unsafe code, each piece behind a safe function. Everything
//! else reaches the kernel through `nix` or `std`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child enter the network namespace `ns` between fork and
/// exec, and get SIGKILL when the thread that spawned it dies. The command
/// owns `ns` (a descriptor of its own), so it may outlive whoever made it.
pub fn enter_netns_on_spawn(cmd: &mut Command, ns: OwnedFd) {
    // SAFETY: between fork and exec this calls only async-signal-safe
    // system calls (setns, prctl) on a descriptor the closure owns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A `struct ifreq` naming the interface `name` (shorter than
/// `IFNAMSIZ`), the rest zero.
fn ifreq(name: &str) -> io::Result<libc::ifreq> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name '{name}' is not 1..=15 bytes"),
        ));
    }
    // SAFETY: ifreq is plain old data (a name and a union of integers,
    // addresses and a pointer), for which all zeros is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, &src) in req.ifr_name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    Ok(req)
}

/// `ioctl(fd, request, &mut req)` for the ifreq requests below.
fn ioctl_ifreq(fd: BorrowedFd<'_>, request: libc::Ioctl, req: &mut libc::ifreq) -> io::Result<()> {
    // SAFETY: every request passed here reads or writes one `struct
    // ifreq`, which `req` is, and `req` outlives the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), request, req as *mut libc::ifreq) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `ioctl(TUNSETIFF)`: attaches the `/dev/net/tun` descriptor `fd` to a new
/// interface `name` (shorter than `IFNAMSIZ`) with `flags`.
pub fn tun_set_iff(fd: BorrowedFd<'_>, name: &str, flags: libc::c_int) -> io::Result<()> {
    let mut req = ifreq(name)?;
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    ioctl_ifreq(fd, libc::TUNSETIFF, &mut req)
}

/// `ioctl(TUNSETOFFLOAD)`: the offloads (`TUN_F_*`) the TUN device `fd`
/// offers its kernel: with checksum and segmentation offload the kernel
/// hands over large segments with partial checksums.
pub fn tun_set_offload(fd: BorrowedFd<'_>, offloads: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value, not a pointer.
    if unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TUNSETOFFLOAD,
            offloads as libc::c_ulong,
        )
    } < 0
    {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether interface `name` is running (`IFF_RUNNING`: up, with its
/// carrier, and its queue activated by the kernel), through `sock`.
pub fn if_running(sock: BorrowedFd<'_>, name: &str) -> io::Result<bool> {
    let mut req = ifreq(name)?;
    ioctl_ifreq(sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    Ok(flags & libc::IFF_RUNNING as libc::c_short != 0)
}

/// Sets or clears `IFF_UP` on interface `name`, through `sock` (any socket
/// of the namespace the interface is in).
///
/// Equivalent to `ip link set dev NAME up` (or `down`).
pub fn if_set_up(sock: BorrowedFd<'_>, name: &str, up: bool) -> io::Result<()> {
    let mut req = ifreq(name)?;
    ioctl_ifreq(sock, libc::SIOCGIFFLAGS, &mut req)?;
    // SAFETY: SIOCGIFFLAGS filled in the flags member of the union.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    let up_flag = libc::IFF_UP as libc::c_short;
    req.ifr_ifru.ifru_flags = if up {
        flags | up_flag
    } else {
        flags & !up_flag
    };
    ioctl_ifreq(sock, libc::SIOCSIFFLAGS, &mut req)
}

/// Gives interface `name` the address `addr` with a prefix of
/// `prefix_len` bits (which adds the route to that network), through
/// `sock`.
///
/// Equivalent to `ip addr add ADDR/PREFIX_LEN dev NAME`, for an interface
/// with no address yet.
pub fn if_set_addr(
    sock: BorrowedFd<'_>,
    name: &str,
    addr: std::net::Ipv4Addr,
    prefix_len: u8,
) -> io::Result<()> {
    let netmask = std::net::Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0),
    );
    for (request, value) in [(libc::SIOCSIFADDR, addr), (libc::SIOCSIFNETMASK, netmask)] {
        let mut req = ifreq(name)?;
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(value).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: sockaddr_in is no larger than sockaddr (16 bytes each),
        // and the kernel reads this member as one for AF_INET.
        unsafe {
            std::ptr::write(
                std::ptr::addr_of_mut!(req.ifr_ifru.ifru_addr).cast::<libc::sockaddr_in>(),
                sin,
            );
        }
        ioctl_ifreq(sock, request, &mut req)?;
    }
    Ok(())
}

/// Sets the transmit queue length of interface `name`, through `sock`.
///
/// Equivalent to `ip link set dev NAME txqueuelen LEN`.
pub fn if_set_txqueuelen(sock: BorrowedFd<'_>, name: &str, len: u32) -> io::Result<()> {
    let mut req = ifreq(name)?;
    // ifr_qlen is the union's int member, as ifru_ifindex is.
    req.ifr_ifru.ifru_ifindex = len as libc::c_int;
    ioctl_ifreq(sock, libc::SIOCSIFTXQLEN, &mut req)
}

/// Puts the calling thread in the real-time FIFO class at `priority`
/// (1..=99), so that CPU-bound processes beside it cannot delay its
/// wake-ups. Needs CAP_SYS_NICE (root has it).
pub fn set_realtime(priority: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that outlives the call; pid 0
    // is the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
