//! Literal text tests on the hot path (grok delimiters, `=~` conditions on literals).
//!
//! The literals are short (a delimiter, a `{`), where calling the C library's `memcmp`
//! costs more than comparing the bytes inline.

/// Whether `text` starts with `literal`, compared inline.
#[inline]
pub fn starts_with(text: &[u8], literal: &[u8]) -> bool {
    text.len() >= literal.len() && text.iter().zip(literal).all(|(a, b)| a == b)
}

/// The first `byte` in `text`. Grok's delimiters mostly end a short token, so the first
/// 16 bytes are tested a word at a time inline before the general search (memchr's
/// vectorised search goes through three calls before its first compare).
#[inline]
pub fn find_byte(byte: u8, text: &[u8]) -> Option<usize> {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let pattern = LOW * u64::from(byte);
    let mut at = 0;
    while at < 16 {
        let Some(block) = text.get(at..at + 8) else { break };
        let mut w = [0u8; 8];
        w.copy_from_slice(block);
        let x = u64::from_le_bytes(w) ^ pattern;
        // Zero bytes of `x` are matches; borrows only set bits above the first one.
        let found = x.wrapping_sub(LOW) & !x & HIGH;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    memchr::memchr(byte, text.get(at..)?).map(|i| at + i)
}

/// A literal searched for inside texts, with its searcher built once.
#[derive(Debug, Clone)]
pub enum Finder {
    /// One byte: memchr.
    Byte(u8),
    /// Longer: a prebuilt substring searcher.
    Text(Box<memchr::memmem::Finder<'static>>),
}

impl Finder {
    /// A finder for `literal` (which must not be empty).
    pub fn new(literal: &str) -> Self {
        match literal.as_bytes() {
            [b] => Finder::Byte(*b),
            bytes => Finder::Text(Box::new(memchr::memmem::Finder::new(bytes).into_owned())),
        }
    }

    /// Whether `text` contains the literal.
    pub fn is_in(&self, text: &[u8]) -> bool {
        match self {
            Finder::Byte(b) => memchr::memchr(*b, text).is_some(),
            Finder::Text(f) => f.find(text).is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_finders() {
        assert!(starts_with(b"{\"a\":1}", b"{"));
        assert!(starts_with(b"abc", b""));
        assert!(!starts_with(b"ab", b"abc"));
        assert!(!starts_with(b"xbc", b"abc"));
        assert!(Finder::new("\t").is_in(b"a\tb"));
        assert!(!Finder::new("\t").is_in(b"a b"));
        assert!(Finder::new("HTTP/").is_in(b"GET / HTTP/1.1"));
        assert!(!Finder::new("HTTP/").is_in(b"GET / HTTP 1.1"));
    }

    #[test]
    fn find_byte_answers_as_memchr_does_at_every_position() {
        // Inside the inline words, across their boundary, past them, and absent; the
        // needle beside bytes one above and below it and beside high bytes.
        for len in 0..40usize {
            for needle in [b' ', b'"', 0u8, 0x80, 0xFF] {
                let filler = |i: usize| [needle.wrapping_add(1), needle.wrapping_sub(1), 0xC3, b'a'][i % 4];
                let plain: Vec<u8> = (0..len).map(filler).collect();
                assert_eq!(find_byte(needle, &plain), memchr::memchr(needle, &plain), "{len} {needle}");
                for at in 0..len {
                    let mut text = plain.clone();
                    text[at] = needle;
                    if at + 3 < len {
                        text[at + 3] = needle;
                    }
                    assert_eq!(find_byte(needle, &text), Some(at), "{len} {needle} {at}");
                }
            }
        }
    }
}
