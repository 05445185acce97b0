//! Compact JSON encoding of events straight into a byte buffer, the output path of
//! every document.
//!
//! The bytes are exactly what `serde_json::to_writer` produces for the same [`Value`]
//! (the same escapes; floats formatted by `zmij`, as serde_json does; `null` for NaN
//! and infinities); the tests check that on every kind of value. It is faster because
//! it skips serde's generic serializer state and scans strings for characters to
//! escape eight bytes at a time, copying clean strings (nearly all of them) with one
//! `memcpy`.

use crate::value::{Map, Value};

/// Appends `map` as a JSON object.
pub fn write_map(out: &mut Vec<u8>, map: &Map) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in map {
        if !first {
            out.push(b',');
        }
        first = false;
        match k.json_prefix() {
            Some(encoded) => out.extend_from_slice(encoded),
            None => {
                write_str(out, k);
                out.push(b':');
            }
        }
        write_value(out, v);
    }
    out.push(b'}');
}

/// Appends `value` as JSON.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        // JSON has no NaN or infinity; write null rather than invalid JSON.
        Value::Float(f) if !f.is_finite() => out.extend_from_slice(b"null"),
        Value::Float(f) => out.extend_from_slice(zmij::Buffer::new().format_finite(*f).as_bytes()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v);
            }
            out.push(b']');
        }
        Value::Object(m) => write_map(out, m),
    }
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    match first_to_escape(bytes) {
        None => out.extend_from_slice(bytes),
        Some(start) => {
            out.extend_from_slice(&bytes[..start]);
            write_escaped(out, &bytes[start..]);
        }
    }
    out.push(b'"');
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `word` is a control character, `"` or `\`: the classic
/// "has a byte less than n" and "has a zero byte" bit tricks, exact for this test.
#[inline]
fn needs_escape(word: u64) -> bool {
    let control = word.wrapping_sub(LOW_BITS * 0x20) & !word;
    let quote = word ^ (LOW_BITS * u64::from(b'"'));
    let backslash = word ^ (LOW_BITS * u64::from(b'\\'));
    let quote = quote.wrapping_sub(LOW_BITS) & !quote;
    let backslash = backslash.wrapping_sub(LOW_BITS) & !backslash;
    (control | quote | backslash) & HIGH_BITS != 0
}

/// The offset of the first eight-byte block (or tail byte) that may need escaping.
fn first_to_escape(bytes: &[u8]) -> Option<usize> {
    let mut chunks = bytes.chunks_exact(8);
    let mut offset = 0;
    for chunk in &mut chunks {
        if needs_escape(word(chunk)) {
            return Some(offset);
        }
        offset += 8;
    }
    chunks.remainder().iter().position(|&b| ESCAPE[b as usize] != 0).map(|i| offset + i)
}

/// Escapes `bytes`, copying the runs between escapes in one go and skipping clean
/// eight-byte blocks without looking at each byte (a logged request line holds a few
/// quotes among hundreds of plain bytes).
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(block) = bytes.get(i..i + 8) {
            if !needs_escape(word(block)) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        let escape = ESCAPE[b as usize];
        if escape != 0 {
            out.extend_from_slice(&bytes[start..i]);
            match escape {
                b'u' => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xF) as usize]);
                }
                short => out.extend_from_slice(&[b'\\', short]),
            }
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
}

/// The first eight bytes of `block` as a word.
#[inline]
fn word(block: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&block[..8]);
    u64::from_le_bytes(w)
}

/// For each byte: 0 when it is written as is, `u` for a `\u00XX` escape, otherwise the
/// letter of its short escape (serde_json's table).
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0A] = b'n';
    table[0x0C] = b'f';
    table[0x0D] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn ours(v: &Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_byte_is_escaped_as_serde_json_does() {
        for b in 0u8..=0x7F {
            for len in [1usize, 7, 8, 9, 17] {
                for pos in [0, len / 2, len - 1] {
                    let mut s = vec![b'a'; len];
                    s[pos] = b;
                    let s = String::from_utf8(s).unwrap();
                    assert_eq!(ours(&Value::from(s.as_str())), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
        let logged =
            r#"1.2.3.4 - - [20/Nov/2026:20:00:00 +0000] "GET /a?q=\"x\" HTTP/1.1" 200 5 "-" "Mozilla/5.0 (X11)"	é"#;
        for s in ["", "é ünïcode ✓ 𝄞", "tab\there \"quoted\" back\\slash\r\n", "\u{7f}\u{1f}", logged] {
            assert_eq!(ours(&Value::from(s)), serde_json::to_string(s).unwrap());
        }
    }

    #[test]
    fn trees_and_numbers_match_serde_json() {
        let json = r#"{"a":[1,-2,3.5,1e300,-0.0,0.1,true,false,null,"x"],"b":{"c":{},"d":[]},"k\"ey":"v\u0001"}"#;
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(ours(&v), serde_json::to_string(&v).unwrap());
        for f in [f64::NAN, f64::INFINITY, 123456789.125, 1e-7, 5e-324, f64::MAX] {
            assert_eq!(ours(&Value::Float(f)), serde_json::to_string(&Value::Float(f)).unwrap());
        }
        for i in [i64::MIN, -1, 0, 42, i64::MAX] {
            assert_eq!(ours(&Value::Int(i)), i.to_string());
        }
    }

    #[test]
    fn interned_keys_are_written_from_their_encoding() {
        // Interned keys (config names) are written from the encoding made when they
        // were interned; keys from event data are escaped as they are written.
        let mut m = crate::value::Map::new();
        for name in ["plain", "k\"ey", "tab\there", "é", "@timestamp"] {
            m.insert(crate::value::intern(name), Value::from(name));
            m.insert(format!("shared {name}"), Value::Int(1));
        }
        let expected = serde_json::to_string(&Value::Object(m.clone())).unwrap();
        assert_eq!(ours(&Value::Object(m)), expected);
        assert!(expected.starts_with(r#"{"plain":"plain","shared plain":1,"k\"ey":"k\"ey""#), "{expected}");
    }
}
