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
//!   of a probe that was sent: its length, its sequence number, its send
//!   time and its tail. [`Ledger`] remembers what the UDP probe sent and
//!   says why anything else is refused; it is never counted as received.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

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
    let e = header(echo)?;
    let tail_ok = echo[HEADER_LEN..]
        .iter()
        .enumerate()
        .all(|(i, &b)| b == tail_letter(e.seq, i).to_ascii_uppercase());
    tail_ok.then_some(e)
}

/// Why a datagram is not the echo of a probe that was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its header is not a probe's, or its bytes differ from the uppercase
    /// of the probe it names.
    Corrupted,
    /// It names a probe that was never sent.
    Unsent,
    /// It names a probe that was sent, but at another time.
    WrongTime,
    /// The right beginning, but not the probe's length (cut, or padded).
    WrongSize,
    /// Exactly the probe as sent: the server did not uppercase it.
    NotUppercased,
}

/// What the UDP prober remembers of every probe it sent, in a little over
/// four bytes a probe (a million probes: 4.1 MB): whether it left, and the
/// low 32 bits of its send time. A time digit changed by the server
/// changes those bits (d * 10^j is a multiple of 2^32 only for j >= 29;
/// the field has 16 digits). Every probe of a run has the same size.
#[derive(Debug)]
pub struct Ledger {
    size: usize,
    sent: Vec<AtomicU64>,
    times: Vec<AtomicU32>,
}

impl Ledger {
    /// Room for probes `0..count` of `size` bytes.
    pub fn new(count: u64, size: usize) -> Self {
        let count = usize::try_from(count).expect("count fits in memory");
        Self {
            size,
            sent: (0..count.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
            times: (0..count).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    /// Probe `seq`, sent at `send_us`, left (call before it is sent, so an
    /// echo can never come first).
    pub fn record(&self, seq: u64, send_us: u64) {
        let i = seq as usize;
        let encoded = send_us % 10u64.pow(TIME_DIGITS as u32);
        self.times[i].store(encoded as u32, Ordering::Relaxed);
        self.sent[i / 64].fetch_or(1 << (i % 64), Ordering::Release);
    }

    /// Probe `seq` did not leave after all (its send failed).
    pub fn forget(&self, seq: u64) {
        let i = seq as usize;
        self.sent[i / 64].fetch_and(!(1 << (i % 64)), Ordering::Release);
    }

    fn was_sent(&self, seq: u64) -> bool {
        let i = seq as usize;
        i < self.times.len() && self.sent[i / 64].load(Ordering::Acquire) & (1 << (i % 64)) != 0
    }

    /// The probe `datagram` echoes, if it is byte for byte the uppercase of
    /// a probe that was sent; else why not.
    pub fn judge(&self, datagram: &[u8]) -> Result<Echo, Refusal> {
        let echo = header(datagram).ok_or(Refusal::Corrupted)?;
        if !self.was_sent(echo.seq) {
            return Err(Refusal::Unsent);
        }
        let recorded = self.times[echo.seq as usize].load(Ordering::Relaxed);
        if echo.send_us as u32 != recorded {
            return Err(Refusal::WrongTime);
        }
        let tail = &datagram[HEADER_LEN..];
        let (want, have) = (self.size - HEADER_LEN, tail.len());
        let upper = |i: usize| tail_letter(echo.seq, i).to_ascii_uppercase();
        let lower = |i: usize| tail_letter(echo.seq, i);
        let common = want.min(have);
        if (0..common).all(|i| tail[i] == upper(i)) {
            return if have == want {
                Ok(echo)
            } else {
                Err(Refusal::WrongSize)
            };
        }
        if have == want && (0..have).all(|i| tail[i] == lower(i)) {
            return Err(Refusal::NotUppercased);
        }
        Err(Refusal::Corrupted)
    }
}

/// The sequence number and send time in the header of `datagram`, if it
/// has a probe's header and at least one tail byte.
fn header(datagram: &[u8]) -> Option<Echo> {
    if datagram.len() < MIN_SIZE || datagram[SEQ_DIGITS] != b' ' || datagram[HEADER_LEN - 1] != b' '
    {
        return None;
    }
    Some(Echo {
        seq: digits(&datagram[..SEQ_DIGITS])?,
        send_us: digits(&datagram[SEQ_DIGITS + 1..SEQ_DIGITS + 1 + TIME_DIGITS])?,
    })
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
    fn the_ledger_accepts_only_the_exact_echo_of_a_probe_it_sent() {
        let ledger = Ledger::new(10, 64);
        ledger.record(3, 12_345);
        assert_eq!(
            ledger.judge(&echo_of(3, 12_345, 64)),
            Ok(Echo {
                seq: 3,
                send_us: 12_345
            })
        );
        let mut probe = Vec::new();
        encode(&mut probe, 3, 12_345, 64);
        let cases: [(Vec<u8>, Refusal); 6] = [
            (echo_of(3, 12_345, 64)[..50].to_vec(), Refusal::WrongSize),
            (
                [echo_of(3, 12_345, 64), b"A".to_vec()].concat(),
                Refusal::WrongSize,
            ),
            (echo_of(3, 12_346, 64), Refusal::WrongTime),
            (echo_of(4, 12_345, 64), Refusal::Unsent),
            (echo_of(3_000_000, 12_345, 64), Refusal::Unsent),
            (probe, Refusal::NotUppercased),
        ];
        for (datagram, why) in cases {
            assert_eq!(
                ledger.judge(&datagram),
                Err(why),
                "{}",
                String::from_utf8_lossy(&datagram)
            );
        }
        let mut flipped = echo_of(3, 12_345, 64);
        flipped[40] ^= 0x20;
        assert_eq!(ledger.judge(&flipped), Err(Refusal::Corrupted));
    }

    #[test]
    fn a_time_digit_changed_anywhere_changes_the_low_32_bits() {
        let t: u64 = 1_234_567_890_123_456;
        for j in 0..16 {
            for d in 1..=9u64 {
                let up = t.wrapping_add(d * 10u64.pow(j));
                let down = t.wrapping_sub(d * 10u64.pow(j));
                assert_ne!(up as u32, t as u32, "+{d}e{j}");
                assert_ne!(down as u32, t as u32, "-{d}e{j}");
            }
        }
    }

    #[test]
    fn truncated_echo_is_refused() {
        let echo = echo_of(1, 1, 64);
        assert_eq!(decode_echo(&echo[..HEADER_LEN]), None);
    }
}
