//! Segmentation for the wire, before the impairment. The TUN devices offer
//! TCP segmentation and checksum offload (`TUN_F_TSO4 | TUN_F_CSUM`), so
//! the sending host's kernel hands over up to 64 KB of one TCP flow in one
//! read, and leaves checksums for the "device" to complete. Here each read
//! becomes the wire-size packets, with complete checksums, that netem on a
//! veth would see: every segment is impaired on its own, and a corrupted
//! one fails its checksum at the receiver.
//!
//! Segmentation follows the kernel's `tcp_gso_segment`: each segment
//! carries `gso_size` bytes of payload (the last one the rest), the IP id
//! counts up, the sequence number advances by the payload, FIN and PSH
//! stay on the last segment only, and CWR on the first only.

use crate::wire::checksum::{checksum, pseudo_v4};
use crate::wire::vnet::{VnetHdr, GSO_ECN, GSO_TCPV4, NEEDS_CSUM, VNET_HDR_LEN};

const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const CWR: u8 = 0x80;

/// The packets, with complete checksums, that one read from a TUN device
/// (`virtio_net_hdr` and packet) stands for. Appends them to `out`; a read
/// too short or malformed to cut yields its packet as it came.
pub fn segment(frame: &[u8], out: &mut Vec<Vec<u8>>) {
    let Some(hdr) = VnetHdr::parse(frame) else {
        return;
    };
    let packet = &frame[VNET_HDR_LEN..];
    if packet.is_empty() {
        return;
    }
    if hdr.gso_type & !GSO_ECN == GSO_TCPV4 && hdr.gso_size > 0 {
        if let Some(()) = split_tcp_v4(packet, usize::from(hdr.gso_size), out) {
            return;
        }
    }
    let mut packet = packet.to_vec();
    if hdr.flags & NEEDS_CSUM != 0 {
        complete(&mut packet, hdr);
    }
    out.push(packet);
}

/// Completes a partial checksum: the field at `csum_start + csum_offset`
/// holds the pseudo-header's sum; the sum of everything from `csum_start`
/// on, complemented, replaces it.
fn complete(packet: &mut [u8], hdr: VnetHdr) {
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    if field + 2 > packet.len() {
        return;
    }
    let sum = checksum(&packet[start..], 0);
    packet[field..field + 2].copy_from_slice(&sum.to_be_bytes());
}

/// Cuts a TCP/IPv4 packet into segments of `mss` payload bytes. None if it
/// is not one.
fn split_tcp_v4(packet: &[u8], mss: usize, out: &mut Vec<Vec<u8>>) -> Option<()> {
    if packet.len() < 20 || packet[0] >> 4 != 4 || packet[9] != 6 {
        return None;
    }
    let ip_len = usize::from(packet[0] & 0x0f) * 4;
    let tcp_len = usize::from(*packet.get(ip_len + 12)? >> 4) * 4;
    let headers = ip_len + tcp_len;
    if ip_len < 20 || tcp_len < 20 || packet.len() < headers {
        return None;
    }
    let payload = &packet[headers..];
    let id = u16::from_be_bytes([packet[4], packet[5]]);
    let tcp = ip_len;
    let seq = u32::from_be_bytes(packet[tcp + 4..tcp + 8].try_into().ok()?);
    let flags = packet[tcp + 13];
    if payload.is_empty() {
        return None;
    }
    let chunks = payload.len().div_ceil(mss);
    for (i, chunk) in payload.chunks(mss).enumerate() {
        let mut seg = Vec::with_capacity(headers + chunk.len());
        seg.extend_from_slice(&packet[..headers]);
        seg.extend_from_slice(chunk);
        let total = seg.len() as u16;
        seg[2..4].copy_from_slice(&total.to_be_bytes());
        seg[4..6].copy_from_slice(&id.wrapping_add(i as u16).to_be_bytes());
        seg[10..12].copy_from_slice(&[0, 0]);
        let ip_sum = checksum(&seg[..ip_len], 0);
        seg[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        let offset = (i * mss) as u32;
        seg[tcp + 4..tcp + 8].copy_from_slice(&seq.wrapping_add(offset).to_be_bytes());
        let mut f = flags;
        if i + 1 < chunks {
            f &= !(FIN | PSH);
        }
        if i > 0 {
            f &= !CWR;
        }
        seg[tcp + 13] = f;
        seg[tcp + 16..tcp + 18].copy_from_slice(&[0, 0]);
        let pseudo = pseudo_v4(&seg[..ip_len], 6, seg.len() - ip_len);
        let tcp_sum = checksum(&seg[tcp..], pseudo);
        seg[tcp + 16..tcp + 18].copy_from_slice(&tcp_sum.to_be_bytes());
        out.push(seg);
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{fold, sum};

    /// `gso_type`: one packet, no segmentation.
    const GSO_NONE: u8 = 0;

    /// A TCP/IPv4 packet 198.18.0.1 -> 198.18.0.2 with `payload`, its TCP
    /// checksum partial (the pseudo-header's sum), as the kernel hands a
    /// TSO packet over.
    fn tso(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let total = 40 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total.min(65_535) as u16).to_be_bytes());
        p[4..6].copy_from_slice(&100u16.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[198, 18, 0, 1]);
        p[16..20].copy_from_slice(&[198, 18, 0, 2]);
        let ip_sum = checksum(&p[..20], 0);
        p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&12000u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p[40..].copy_from_slice(payload);
        let partial = fold(pseudo_v4(&p[..20], 6, total - 20));
        p[36..38].copy_from_slice(&partial.to_be_bytes());
        p
    }

    fn hdr(gso_type: u8, gso_size: u16) -> Vec<u8> {
        let mut h = vec![0u8; VNET_HDR_LEN];
        h[0] = NEEDS_CSUM;
        h[1] = gso_type;
        h[2..4].copy_from_slice(&40u16.to_ne_bytes());
        h[4..6].copy_from_slice(&gso_size.to_ne_bytes());
        h[6..8].copy_from_slice(&20u16.to_ne_bytes());
        h[8..10].copy_from_slice(&16u16.to_ne_bytes());
        h
    }

    fn valid(p: &[u8]) -> bool {
        fold(sum(&p[..20], 0)) == 0xffff
            && fold(sum(&p[20..], pseudo_v4(&p[..20], 6, p.len() - 20))) == 0xffff
    }

    #[test]
    fn a_tso_packet_becomes_mss_segments_with_every_byte_in_order() {
        let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
        let mut frame = hdr(GSO_TCPV4, 1448);
        frame.extend(tso(1000, &payload, 0x10 | PSH | FIN));
        let mut out = Vec::new();
        segment(&frame, &mut out);
        assert_eq!(out.len(), 3);
        let mut joined = Vec::new();
        for (i, s) in out.iter().enumerate() {
            assert!(valid(s), "segment {i} checksums");
            assert_eq!(usize::from(u16::from_be_bytes([s[2], s[3]])), s.len());
            assert_eq!(u16::from_be_bytes([s[4], s[5]]), 100 + i as u16, "IP id");
            let seq = u32::from_be_bytes([s[24], s[25], s[26], s[27]]);
            assert_eq!(seq, 1000 + 1448 * i as u32);
            let last = i == 2;
            assert_eq!(
                s[33] & (PSH | FIN) != 0,
                last,
                "PSH and FIN on the last only"
            );
            joined.extend_from_slice(&s[40..]);
        }
        assert_eq!(joined, payload);
    }

    #[test]
    fn a_packet_with_a_partial_checksum_is_completed() {
        let mut frame = hdr(GSO_NONE, 0);
        frame.extend(tso(1, b"hello", 0x10));
        let mut out = Vec::new();
        segment(&frame, &mut out);
        assert_eq!(out.len(), 1);
        assert!(valid(&out[0]));
    }

    #[test]
    fn a_plain_packet_passes_as_it_came() {
        let mut frame = vec![0u8; VNET_HDR_LEN];
        let mut p = tso(1, b"abc", 0x10);
        p[36..38].copy_from_slice(&[0xde, 0xad]);
        frame.extend(&p);
        let mut out = Vec::new();
        segment(&frame, &mut out);
        assert_eq!(out, vec![p]);
    }

    #[test]
    fn cwr_stays_on_the_first_segment_only() {
        let mut frame = hdr(GSO_TCPV4 | GSO_ECN, 100);
        frame.extend(tso(1, &[9; 250], 0x10 | CWR));
        let mut out = Vec::new();
        segment(&frame, &mut out);
        let cwr: Vec<bool> = out.iter().map(|s| s[33] & CWR != 0).collect();
        assert_eq!(cwr, [true, false, false]);
    }
}
