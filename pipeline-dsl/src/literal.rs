//! Literal text tests on the hot path (grok delimiters, `=~` conditions on literals).
//!
//! The literals are short (a delimiter, a `{`), where calling the C library's `memcmp`
//! costs more than comparing the bytes inline.

/// Whether `text` starts with `literal`, compared inline.
#[inline]
pub fn starts_with(text: &[u8], literal: &[u8]) -> bool {
    text.len() >= literal.len() && text.iter().zip(literal).all(|(a, b)| a == b)
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
}
