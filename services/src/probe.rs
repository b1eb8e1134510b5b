//! The probe line: what the probe clients send and expect back.
//!
//! ```text
//! 0000000042 0000000001234567 qrstuvwxyzabcd...
//! ^seq (10)  ^send time (16)  ^lowercase tail
//! ```
//!
//! * **Types of messages**: a probe (client to server) and its echo (server
//!   to client). The server is the lecture's uppercase server, unchanged.
//! * **Syntax**: ten decimal digits of sequence number, a space, sixteen
//!   decimal digits of send time (microseconds on the prober's monotonic
//!   clock), a space, then a tail of lowercase letters. The tail letter at
//!   offset `i` is `'a' + (seq + i) % 26`, so every byte is known from the
//!   sequence number. Over UDP a datagram is one probe and has no newline;
//!   over TCP each probe line ends with `\n`.
//! * **Semantics**: digits and spaces survive uppercasing, so the echo still
//!   says which probe it is and when it left; the tail comes back uppercase,
//!   which proves that the server transformed it.
//! * **Rules**: an echo is valid only if every byte is exactly the uppercase
//!   of what was sent; anything else counts as corrupted, never as received.

/// Bytes before the tail: sequence number, space, send time, space.
pub const HEADER_LEN: usize = 28;
/// The smallest probe: the header and one tail letter.
pub const MIN_SIZE: usize = HEADER_LEN + 1;
/// The largest UDP payload over IPv4 (65535 - 20 - 8).
pub const MAX_UDP_SIZE: usize = 65_507;
/// The largest sequence number the format carries.
pub const MAX_SEQ: u64 = 9_999_999_999;

const SEQ_DIGITS: usize = 10;
const TIME_DIGITS: usize = 16;

/// What an echo says about its probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Echo {
    /// The probe's sequence number.
    pub seq: u64,
    /// When the probe was sent, in microseconds on the prober's clock.
    pub send_us: u64,
}

/// Appends the probe `seq`, sent at `send_us`, of `size` bytes in all, in
/// lowercase (as sent).
///
/// # Panics
/// If `size < MIN_SIZE` or `seq > MAX_SEQ`: callers validate both first.
pub fn encode(out: &mut Vec<u8>, seq: u64, send_us: u64, size: usize) {
    assert!(size >= MIN_SIZE && seq <= MAX_SEQ, "probe out of format");
    let start = out.len();
    out.extend_from_slice(format!("{seq:010} {:016} ", send_us % 10u64.pow(16)).as_bytes());
    debug_assert_eq!(out.len() - start, HEADER_LEN);
    out.extend((0..size - HEADER_LEN).map(|i| tail_letter(seq, i)));
}

fn tail_letter(seq: u64, offset: usize) -> u8 {
    b'a' + ((seq + offset as u64) % 26) as u8
}

/// Checks an echo (the uppercase of a probe) and says which probe it is.
///
/// Returns `None` unless every byte is exactly what the uppercase server
/// sends back for a probe of this length: digits, spaces and an uppercase
/// tail that matches the sequence number.
pub fn decode_echo(echo: &[u8]) -> Option<Echo> {
    if echo.len() < MIN_SIZE || echo[SEQ_DIGITS] != b' ' || echo[HEADER_LEN - 1] != b' ' {
        return None;
    }
    let seq = digits(&echo[..SEQ_DIGITS])?;
    let send_us = digits(&echo[SEQ_DIGITS + 1..SEQ_DIGITS + 1 + TIME_DIGITS])?;
    let tail_ok = echo[HEADER_LEN..]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == tail_letter(seq, i).to_ascii_uppercase());
    tail_ok.then_some(Echo { seq, send_us })
}

fn digits(field: &[u8]) -> Option<u64> {
    field.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_of(seq: u64, send_us: u64, size: usize) -> Vec<u8> {
        let mut probe = Vec::new();
        encode(&mut probe, seq, send_us, size);
        probe.to_ascii_uppercase()
    }

    #[test]
    fn probe_reads_as_the_documented_line() {
        let mut probe = Vec::new();
        encode(&mut probe, 42, 1_234_567, 34);
        assert_eq!(probe, b"0000000042 0000000001234567 qrstuv");
    }

    #[test]
    fn echo_of_a_probe_decodes_to_its_sequence_and_time() {
        for size in [MIN_SIZE, 64, 1400, MAX_UDP_SIZE] {
            let echo = echo_of(7, 99, size);
            assert_eq!(
                decode_echo(&echo),
                Some(Echo {
                    seq: 7,
                    send_us: 99
                })
            );
        }
    }

    #[test]
    fn untransformed_probe_is_not_a_valid_echo() {
        let mut probe = Vec::new();
        encode(&mut probe, 3, 5, 64);
        assert_eq!(decode_echo(&probe), None);
    }

    #[test]
    fn no_single_bit_flip_passes_as_the_original_echo() {
        let echo = echo_of(123_456, 987_654_321, 64);
        for byte in 0..echo.len() {
            for bit in 0..8 {
                let mut bad = echo.clone();
                bad[byte] ^= 1 << bit;
                let decoded = decode_echo(&bad);
                assert!(
                    decoded.is_none() || decoded != decode_echo(&echo),
                    "flip of bit {bit} in byte {byte} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn truncated_echo_is_refused() {
        let echo = echo_of(1, 1, 64);
        assert_eq!(decode_echo(&echo[..HEADER_LEN]), None);
    }
}
