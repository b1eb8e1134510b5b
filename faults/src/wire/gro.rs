//! Receive coalescing for the wire, after the impairment: consecutive TCP
//! segments of one flow that leave the link at the same moment are handed
//! to the receiving host as one large segment, as a NIC's GRO would, so
//! the receiver's TCP runs once per burst instead of once per segment.
//!
//! The link itself still impairs every segment on its own: coalescing
//! happens only to what the model already released, only across segments
//! that arrive back to back, in sequence, with intact checksums (a
//! corrupted segment is passed alone, for the kernel to drop), and never
//! across SYN, FIN, RST, URG, ECE or CWR, or after a PSH.
//!
//! Frames are written with a `virtio_net_hdr` in front (the TUN devices
//! are opened with `IFF_VNET_HDR`): all zero for a plain packet; for a
//! coalesced one, `GSO_TCPV4` with the segment size, and the checksum left
//! partial (the kernel trusts it: each part was verified here).

use crate::wire::checksum::{fold, sum};
use crate::wire::vnet::{GSO_TCPV4, MAX_IP, NEEDS_CSUM, VNET_HDR_LEN};

/// One write to the receiving TUN device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub hdr: [u8; VNET_HDR_LEN],
    pub packet: Vec<u8>,
    /// Segments in this frame (1 for a plain packet).
    pub segments: usize,
}

impl Frame {
    fn plain(packet: Vec<u8>) -> Self {
        Self {
            hdr: [0; VNET_HDR_LEN],
            packet,
            segments: 1,
        }
    }
}

/// A TCP/IPv4 segment that may join a run.
struct Segment {
    ip_len: usize,
    tcp_len: usize,
    seq: u32,
    payload: usize,
    push: bool,
}

/// Coalesces `packets` (IP packets, in the order they leave the link) into
/// frames, preserving that order.
pub fn coalesce(packets: Vec<Vec<u8>>) -> Vec<Frame> {
    let mut frames = Vec::with_capacity(packets.len());
    let mut run: Vec<(Vec<u8>, Segment)> = Vec::new();
    for packet in packets {
        let Some(seg) = segment(&packet) else {
            flush(&mut run, &mut frames);
            frames.push(Frame::plain(packet));
            continue;
        };
        if let Some((first, head)) = run.first() {
            let (_, tail) = run.last().expect("non-empty run");
            let joins = !tail.push
                && tail.payload == head.payload
                && seg.payload <= head.payload
                && seg.seq == tail.seq.wrapping_add(tail.payload as u32)
                && same_flow(first, head, &packet, &seg)
                && total(&run) + seg.payload <= MAX_IP;
            if !joins {
                flush(&mut run, &mut frames);
            }
        }
        run.push((packet, seg));
    }
    flush(&mut run, &mut frames);
    frames
}

fn total(run: &[(Vec<u8>, Segment)]) -> usize {
    let (_, head) = &run[0];
    head.ip_len + head.tcp_len + run.iter().map(|(_, s)| s.payload).sum::<usize>()
}

fn flush(run: &mut Vec<(Vec<u8>, Segment)>, frames: &mut Vec<Frame>) {
    match run.len() {
        0 => {}
        1 => frames.push(Frame::plain(run.pop().expect("one").0)),
        _ => frames.push(merge(std::mem::take(run))),
    }
}

/// One large segment from a run: the first segment's headers, every
/// payload in order, PSH if the last had it.
fn merge(run: Vec<(Vec<u8>, Segment)>) -> Frame {
    let size = total(&run);
    let segments = run.len();
    let (first, head) = &run[0];
    let headers = head.ip_len + head.tcp_len;
    let mut packet = Vec::with_capacity(size);
    packet.extend_from_slice(&first[..headers]);
    for (p, s) in &run {
        let start = s.ip_len + s.tcp_len;
        packet.extend_from_slice(&p[start..start + s.payload]);
    }
    if run.last().is_some_and(|(_, s)| s.push) {
        packet[head.ip_len + 13] |= 0x08;
    }
    packet[2..4].copy_from_slice(&(size as u16).to_be_bytes());
    packet[10..12].copy_from_slice(&[0, 0]);
    let ip_sum = !fold(sum(&packet[..head.ip_len], 0));
    packet[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    // The pseudo-header's sum, not complemented: what a partial checksum
    // holds for the kernel to complete.
    let tcp_total = (size - head.ip_len) as u32;
    let pseudo = fold(sum(&packet[12..20], 6 + u64::from(tcp_total)));
    let check = head.ip_len + 16;
    packet[check..check + 2].copy_from_slice(&pseudo.to_be_bytes());
    let mut hdr = [0u8; VNET_HDR_LEN];
    hdr[0] = NEEDS_CSUM;
    hdr[1] = GSO_TCPV4;
    hdr[2..4].copy_from_slice(&(headers as u16).to_ne_bytes());
    hdr[4..6].copy_from_slice(&(head.payload as u16).to_ne_bytes());
    hdr[6..8].copy_from_slice(&(head.ip_len as u16).to_ne_bytes());
    hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
    Frame {
        hdr,
        packet,
        segments,
    }
}

/// Whether `b` belongs to the flow of `a` with headers a receiver's GRO
/// would accept: equal but for length, id and checksum (IP), and
/// sequence number, PSH and checksum (TCP).
fn same_flow(a: &[u8], sa: &Segment, b: &[u8], sb: &Segment) -> bool {
    if sa.ip_len != sb.ip_len || sa.tcp_len != sb.tcp_len {
        return false;
    }
    let ip = sa.ip_len;
    let ip_equal = (0..ip).all(|i| matches!(i, 2..=5 | 10 | 11) || a[i] == b[i]);
    let tcp_equal = (0..sa.tcp_len).all(|i| {
        let (x, y) = (a[ip + i], b[ip + i]);
        match i {
            4..=7 | 16 | 17 => true,
            13 => x & !0x08 == y & !0x08,
            _ => x == y,
        }
    });
    ip_equal && tcp_equal
}

/// Parses `p` as a TCP/IPv4 segment that may be coalesced: no options in
/// IP, not a fragment, data-carrying, only ACK and PSH set, both
/// checksums intact.
fn segment(p: &[u8]) -> Option<Segment> {
    if p.len() < 40 || p[0] != 0x45 || p[9] != 6 {
        return None;
    }
    let ip_len = 20;
    if usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len() {
        return None;
    }
    // More fragments, or a fragment offset.
    if u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0 {
        return None;
    }
    let tcp = &p[ip_len..];
    let tcp_len = usize::from(tcp[12] >> 4) * 4;
    if tcp_len < 20 || tcp.len() < tcp_len {
        return None;
    }
    let payload = tcp.len() - tcp_len;
    let flags = tcp[13];
    // ACK must be set; PSH may be; nothing else.
    if payload == 0 || flags & !0x08 != 0x10 {
        return None;
    }
    if fold(sum(&p[..ip_len], 0)) != 0xffff {
        return None;
    }
    let pseudo = sum(&p[12..20], 6 + tcp.len() as u64);
    if fold(sum(tcp, pseudo)) != 0xffff {
        return None;
    }
    Some(Segment {
        ip_len,
        tcp_len,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        payload,
        push: flags & 0x08 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP/IPv4 segment 198.18.0.1:40000 -> 198.18.0.2:12000 with valid
    /// checksums and a 12-byte timestamp option.
    fn seg(seq: u32, payload: &[u8], flags: u8) -> Vec<u8> {
        let tcp_len = 32;
        let total = 20 + tcp_len + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&(seq as u16).to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[198, 18, 0, 1]);
        p[16..20].copy_from_slice(&[198, 18, 0, 2]);
        let ip_sum = !fold(sum(&p[..20], 0));
        p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&12000u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&77u32.to_be_bytes());
        t[12] = (tcp_len as u8 / 4) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&64240u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 5]);
        t[tcp_len..].copy_from_slice(payload);
        let pseudo = sum(&p[12..20], 6 + (tcp_len + payload.len()) as u64);
        let check = !fold(sum(&p[20..], pseudo));
        p[36..38].copy_from_slice(&check.to_be_bytes());
        p
    }

    const ACK: u8 = 0x10;
    const PSH: u8 = 0x08;

    #[test]
    fn a_segment_built_here_parses_with_valid_checksums() {
        assert!(segment(&seg(1, b"hello", ACK)).is_some());
    }

    #[test]
    fn back_to_back_segments_become_one_gso_frame_with_every_byte_in_order() {
        let frames = coalesce(vec![
            seg(1000, &[b'a'; 100], ACK),
            seg(1100, &[b'b'; 100], ACK),
            seg(1200, &[b'c'; 40], ACK | PSH),
        ]);
        assert_eq!(frames.len(), 1);
        let f = &frames[0];
        assert_eq!(f.segments, 3);
        assert_eq!(f.hdr[0], NEEDS_CSUM);
        assert_eq!(f.hdr[1], GSO_TCPV4);
        assert_eq!(u16::from_ne_bytes([f.hdr[4], f.hdr[5]]), 100, "gso_size");
        assert_eq!(u16::from_ne_bytes([f.hdr[2], f.hdr[3]]), 52, "hdr_len");
        let p = &f.packet;
        assert_eq!(p.len(), 52 + 240);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        assert_eq!(fold(sum(&p[..20], 0)), 0xffff, "IP checksum");
        assert_eq!(u32::from_be_bytes([p[24], p[25], p[26], p[27]]), 1000);
        assert_eq!(p[33] & PSH, PSH, "the last segment's PSH");
        let mut want = vec![b'a'; 100];
        want.extend([b'b'; 100]);
        want.extend([b'c'; 40]);
        assert_eq!(&p[52..], &want[..]);
    }

    #[test]
    fn a_single_segment_passes_as_it_came() {
        let p = seg(1, b"x", ACK);
        assert_eq!(coalesce(vec![p.clone()]), vec![Frame::plain(p)]);
    }

    #[test]
    fn a_gap_in_sequence_a_corrupted_segment_or_a_fin_splits_the_run() {
        let mut corrupted = seg(1200, &[b'c'; 100], ACK);
        corrupted[60] ^= 0x01;
        let cases = [
            vec![seg(1000, &[1; 100], ACK), seg(1300, &[2; 100], ACK)],
            vec![
                seg(1000, &[1; 100], ACK),
                seg(1100, &[2; 100], ACK),
                corrupted,
            ],
            vec![seg(1000, &[1; 100], ACK), seg(1100, &[2; 100], ACK | 0x01)],
            vec![seg(1000, &[1; 100], ACK | PSH), seg(1100, &[2; 100], ACK)],
            vec![seg(1000, &[1; 50], ACK), seg(1050, &[2; 100], ACK)],
        ];
        for (i, packets) in cases.into_iter().enumerate() {
            let frames = coalesce(packets.clone());
            let bytes: Vec<u8> = frames.iter().flat_map(|f| f.packet.clone()).collect();
            let merged = frames.iter().any(|f| f.hdr[1] == GSO_TCPV4);
            match i {
                // The first two of case 1 merge; the corrupted one is alone.
                1 => {
                    assert_eq!(frames.len(), 2, "case {i}");
                    assert_eq!(frames[1], Frame::plain(packets[2].clone()), "case {i}");
                }
                _ => {
                    assert!(!merged, "case {i} merged");
                    assert_eq!(bytes, packets.concat(), "case {i}");
                }
            }
        }
    }

    #[test]
    fn other_packets_pass_untouched_and_in_order() {
        let udp = {
            let mut p = seg(1, b"abcd", ACK);
            p[9] = 17;
            p
        };
        let packets = vec![
            seg(1000, &[1; 10], ACK),
            udp.clone(),
            seg(1010, &[2; 10], ACK),
        ];
        let frames = coalesce(packets.clone());
        assert_eq!(frames.len(), 3);
        for (f, p) in frames.iter().zip(&packets) {
            assert_eq!(f, &Frame::plain(p.clone()));
        }
    }

    #[test]
    fn a_run_stops_below_the_largest_ip_packet() {
        let packets: Vec<Vec<u8>> = (0..60).map(|i| seg(i * 1448, &[7; 1448], ACK)).collect();
        let frames = coalesce(packets);
        assert!(frames.len() >= 2);
        assert!(frames.iter().all(|f| f.packet.len() <= MAX_IP));
        let payload: usize = frames.iter().map(|f| f.packet.len() - 52).sum();
        assert_eq!(payload, 60 * 1448);
    }
}
