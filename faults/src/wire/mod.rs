//! The userspace switch's packet path: TUN devices and the header in front
//! of their packets, cutting what it reads into wire-size packets (`gso`),
//! coalescing what it delivers (`gro`), the checksum both use, and the
//! switch that moves packets between hosts through a netem model per pair.

pub mod checksum;
pub mod gro;
pub mod gso;
pub mod switch;
pub mod tun;
pub mod vnet;
