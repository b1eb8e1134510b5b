//! Uppercasing as the lecture's servers do it, with Python's `str.upper()`:
//! full Unicode case mapping of valid UTF-8, including the mappings that
//! change length ("straße" becomes "STRASSE"). Bytes that are not valid
//! UTF-8 pass through unchanged (the lecture's server crashes on them; ours
//! keeps serving). A TCP stream is uppercased across its reads: a character
//! split between two reads is held back until its last byte arrives.

/// Appends the uppercase of `bytes` to `out`: valid UTF-8 uppercased,
/// every other byte as it came.
pub fn uppercase_into(bytes: &[u8], out: &mut Vec<u8>) {
    for chunk in bytes.utf8_chunks() {
        push_upper(chunk.valid(), out);
        out.extend_from_slice(chunk.invalid());
    }
}

/// The uppercase of one datagram (or of a whole message).
pub fn uppercase(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    uppercase_into(bytes, &mut out);
    out
}

fn push_upper(text: &str, out: &mut Vec<u8>) {
    if text.is_ascii() {
        let start = out.len();
        out.extend_from_slice(text.as_bytes());
        out[start..].make_ascii_uppercase();
    } else {
        out.extend_from_slice(text.to_uppercase().as_bytes());
    }
}

/// Uppercases a byte stream read in pieces.
#[derive(Debug, Default)]
pub struct StreamUpper {
    /// The first bytes of a character whose rest has not arrived yet.
    held: Vec<u8>,
}

impl StreamUpper {
    /// Uppercases `read` (the next piece of the stream) into `out`, holding
    /// back the start of a character cut at its end.
    pub fn feed(&mut self, read: &[u8], out: &mut Vec<u8>) {
        out.clear();
        let mut input = std::mem::take(&mut self.held);
        input.extend_from_slice(read);
        let cut = incomplete_tail(&input);
        uppercase_into(&input[..input.len() - cut], out);
        self.held = input[input.len() - cut..].to_vec();
    }

    /// The bytes held back when the stream ends: an unfinished character,
    /// passed through as it came.
    pub fn finish(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }
}

/// How many bytes at the end of `bytes` begin a UTF-8 character that could
/// still be completed by the bytes that follow (0 to 3).
fn incomplete_tail(bytes: &[u8]) -> usize {
    let start = bytes.len().saturating_sub(3);
    for i in (start..bytes.len()).rev() {
        let b = bytes[i];
        if b & 0xc0 == 0x80 {
            continue; // a continuation byte: look further back
        }
        let need = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return 0,
        };
        let have = bytes.len() - i;
        let prefix_valid = match std::str::from_utf8(&bytes[i..]) {
            Ok(_) => false,
            Err(e) => e.error_len().is_none(),
        };
        return if have < need && prefix_valid { have } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unicode_is_uppercased_as_python_does() {
        assert_eq!(uppercase("straße".as_bytes()), "STRASSE".as_bytes());
        assert_eq!(uppercase("wörld".as_bytes()), "WÖRLD".as_bytes());
        assert_eq!(uppercase("ﬁx ŉ".as_bytes()), "FIX ʼN".as_bytes());
        assert_eq!(uppercase(b"hello 42!"), b"HELLO 42!");
    }

    #[test]
    fn invalid_bytes_pass_through_unchanged() {
        assert_eq!(uppercase(b"ab\xffcd\xc3"), b"AB\xffCD\xc3");
        assert_eq!(uppercase(b"\xe2\x82x"), b"\xe2\x82X");
    }

    #[test]
    fn a_character_split_across_reads_is_uppercased_whole() {
        let text = "maße ö € 𝔸x".as_bytes();
        for cut in 0..=text.len() {
            let mut s = StreamUpper::default();
            let (mut all, mut out) = (Vec::new(), Vec::new());
            s.feed(&text[..cut], &mut out);
            all.extend_from_slice(&out);
            s.feed(&text[cut..], &mut out);
            all.extend_from_slice(&out);
            all.extend(s.finish());
            assert_eq!(all, uppercase(text), "cut at {cut}");
        }
    }

    #[test]
    fn a_cut_character_left_unfinished_passes_through() {
        let mut s = StreamUpper::default();
        let mut out = Vec::new();
        s.feed(b"ab\xc3", &mut out);
        assert_eq!(out, b"AB");
        assert_eq!(s.finish(), b"\xc3");
    }
}
