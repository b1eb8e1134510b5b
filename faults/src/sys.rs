//! The crate's unsafe code, each piece behind a safe function. Everything
//! else reaches the kernel through `nix` or `std`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child enter the network namespace `ns` between fork and
/// exec, and get SIGKILL when the thread that spawned it dies.
///
/// `ns` must stay open until the child has been spawned.
pub fn enter_netns_on_spawn(cmd: &mut Command, ns: RawFd) {
    // SAFETY: between fork and exec this calls only async-signal-safe
    // system calls (setns, prctl) on a descriptor the parent keeps open.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// `ioctl(TUNSETIFF)`: attaches the `/dev/net/tun` descriptor `fd` to a new
/// interface `name` (shorter than `IFNAMSIZ`) with `flags`.
pub fn tun_set_iff(fd: BorrowedFd<'_>, name: &str, flags: libc::c_int) -> io::Result<()> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name '{name}' is not 1..=15 bytes"),
        ));
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: flags as libc::c_short,
        _pad: [0; 22],
    };
    for (dst, &src) in req.name.iter_mut().zip(name.as_bytes()) {
        *dst = src as libc::c_char;
    }
    // SAFETY: TUNSETIFF reads and writes one `struct ifreq`, which IfReq
    // lays out (16-byte name, flags, padding to 40 bytes); `req` outlives
    // the call.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, &mut req) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;

/// `ioctl(TUNSETOFFLOAD)`: the offloads (`TUN_F_*`) the TUN device `fd`
/// offers its kernel: with checksum and segmentation offload the kernel
/// hands over large segments with partial checksums.
pub fn tun_set_offload(fd: BorrowedFd<'_>, offloads: libc::c_uint) -> io::Result<()> {
    // SAFETY: TUNSETOFFLOAD takes its argument by value, not a pointer.
    if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETOFFLOAD, offloads as libc::c_ulong) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
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
