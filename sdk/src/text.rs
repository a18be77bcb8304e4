//! Text searches that are cheap inside the sandbox. In wasm every instruction costs fuel and there is no
//! SIMD: `str::find` of a character pays a setup per call that short stretches (an HTML page's text between
//! tags) never pay back, and a character predicate decodes every character.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;

/// Where `byte` first is in `text`, read eight bytes a step. `byte` should be ASCII, so that the place is a
/// character boundary of `text`.
///
/// ```
/// assert_eq!(moat_sdk::text::find_byte("<p>hi</p>", b'>'), Some(2));
/// assert_eq!(moat_sdk::text::find_byte("no tag", b'<'), None);
/// ```
#[inline]
pub fn find_byte(text: &str, byte: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let pattern = ONES * u64::from(byte);
    let mut chunks = bytes.chunks_exact(8);
    for (i, chunk) in (&mut chunks).enumerate() {
        let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes")) ^ pattern;
        // The high bit of each zero byte of `x` (a byte equal to `byte`); a borrow can only mark bytes after
        // the first zero, so the lowest mark is exact.
        let zeros = x.wrapping_sub(ONES) & !x & HIGH;
        if zeros != 0 {
            return Some(i * 8 + zeros.trailing_zeros() as usize / 8);
        }
    }
    let tail = bytes.len() - chunks.remainder().len();
    chunks.remainder().iter().position(|&b| b == byte).map(|at| tail + at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_are_found_at_every_place_of_a_step() {
        for len in 0..20 {
            for at in 0..len {
                let mut text = "x".repeat(len);
                text.replace_range(at..at + 1, "<");
                assert_eq!(find_byte(&text, b'<'), Some(at), "{text}");
                text.push('<');
                assert_eq!(find_byte(&text, b'<'), Some(at), "the first of two: {text}");
            }
            assert_eq!(find_byte(&"é".repeat(len), b'<'), None);
        }
        // A byte just above the one sought must not be taken for it (borrows between bytes).
        assert_eq!(find_byte("\u{1}=<", b'<'), Some(2));
        assert_eq!(find_byte(";;;;;;;;<", b'<'), Some(8));
    }
}
