//! The Internet checksum (RFC 1071), as the wire computes and checks it.

/// The one's-complement sum of `data` (big-endian 16-bit words) plus
/// `start`, not yet folded.
pub fn sum(data: &[u8], start: u64) -> u64 {
    // 32-bit big-endian words at a time: since 2^16 = 1 (mod 2^16 - 1),
    // folding their sum gives the sum of the 16-bit words.
    let mut acc = start;
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    let mut rest = words.remainder().chunks_exact(2);
    for w in &mut rest {
        acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
    }
    if let [last] = rest.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The complemented checksum of `data`, whose sum starts at `start`.
pub fn checksum(data: &[u8], start: u64) -> u16 {
    !fold(sum(data, start))
}

/// The sum of the IPv4 pseudo-header of a `protocol` payload of `length`
/// bytes in `ip` (an IPv4 header), not folded.
pub fn pseudo_v4(ip: &[u8], protocol: u8, length: usize) -> u64 {
    sum(&ip[12..20], u64::from(protocol) + length as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_sum_equals_the_16_bit_ones_complement_sum() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200 {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let mut slow = 0u64;
            for w in data.chunks(2) {
                slow += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
            }
            assert_eq!(fold(sum(&data, 7)), fold(slow + 7), "length {len}");
        }
    }
}
