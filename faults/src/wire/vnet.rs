//! The `virtio_net_hdr` in front of every packet on the wire's TUN
//! descriptors (`IFF_VNET_HDR`), as `include/uapi/linux/virtio_net.h`
//! lays it out.

/// Bytes of the header.
pub const VNET_HDR_LEN: usize = 10;
/// The largest IPv4 packet.
pub const MAX_IP: usize = 65_535;
/// `flags`: the checksum at `csum_start + csum_offset` holds only the
/// pseudo-header's sum; the rest is the device's to add.
pub const NEEDS_CSUM: u8 = 1;
/// `gso_type`: a TCP/IPv4 segment to cut at `gso_size` bytes of payload.
pub const GSO_TCPV4: u8 = 1;
/// `gso_type` bit: the segments carry ECN (CWR on the first only).
pub const GSO_ECN: u8 = 0x80;

/// A parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    pub hdr_len: u16,
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl VnetHdr {
    /// The header at the front of `frame` (native byte order, as the
    /// kernel writes it for a little-endian host), if `frame` has one.
    pub fn parse(frame: &[u8]) -> Option<Self> {
        let h = frame.get(..VNET_HDR_LEN)?;
        let u16_at = |i: usize| u16::from_ne_bytes([h[i], h[i + 1]]);
        Some(Self {
            flags: h[0],
            gso_type: h[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }
}
