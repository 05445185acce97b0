//! Compact JSON encoding of events straight into a byte buffer, the output path of
//! every document.
//!
//! The bytes are exactly what `serde_json::to_writer` produces for the same [`Value`]
//! (the same escapes; floats formatted by `zmij`, as serde_json does; `null` for NaN
//! and infinities); the tests check that on every kind of value. It is faster because
//! it skips serde's generic serializer state, copies short pieces (keys, most values)
//! with a few word moves instead of a `memcpy` call each, and copies strings eight
//! bytes at a time while testing those same words for characters to escape, so a
//! clean string (nearly all of them) is read once.

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
            Some(encoded) => put(out, encoded),
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
        Value::Null => put(out, b"null"),
        Value::Bool(true) => put(out, b"true"),
        Value::Bool(false) => put(out, b"false"),
        Value::Int(i) => put(out, itoa::Buffer::new().format(*i).as_bytes()),
        Value::Float(f) => write_float(out, *f),
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

/// Below this, a whole float is written as an integer and `.0`, which is what the
/// shortest round-trip form (`zmij`, as serde_json) prints for it: its digits stay in
/// fixed notation up to 10^16, and every integer below 2^53 is exact.
const WHOLE_FLOAT_LIMIT: f64 = 1e15;

/// Appends `f` as serde_json does. Window metrics are mostly whole numbers (histogram
/// bucket values, sums of milliseconds), which take the integer formatter.
fn write_float(out: &mut Vec<u8>, f: f64) {
    if !f.is_finite() {
        // JSON has no NaN or infinity; write null rather than invalid JSON.
        put(out, b"null");
    } else if f.abs() < WHOLE_FLOAT_LIMIT && f.fract() == 0.0 && (f != 0.0 || f.is_sign_positive()) {
        // The cast is exact: `f` is whole and within range.
        put(out, itoa::Buffer::new().format(f as i64).as_bytes());
        put(out, b".0");
    } else {
        put(out, zmij::Buffer::new().format_finite(f).as_bytes());
    }
}

/// Appends `s` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    let start = out.len();
    // SAFETY: room for `1 + bytes.len()` bytes past `start` is reserved: the opening
    // quote, then `copy_clean` writes at most `bytes.len()` bytes. The length set
    // afterwards covers only what was written: the quote and the clean prefix (bytes
    // copied past it, up to the end of the word that held an escape, are overwritten
    // by the escaped rest).
    let clean = unsafe {
        let dst = out.as_mut_ptr().add(start);
        dst.write(b'"');
        let clean = copy_clean(bytes, dst.add(1));
        out.set_len(start + 1 + clean);
        clean
    };
    if clean < bytes.len() {
        write_escaped(out, &bytes[clean..]);
    }
    out.push(b'"');
}

/// Bytes per word of the string scan.
const WORD: usize = 8;

/// Copies `src` to `dst` a word at a time until the first word holding a byte to
/// escape, returning how many bytes before that byte were copied clean (all of `src`
/// when none needs escaping). A tail shorter than a word is tested byte by byte and
/// its clean part copied.
///
/// # Safety
/// `dst` must be valid for writes of `src.len()` bytes; no more are written.
#[inline(always)]
unsafe fn copy_clean(src: &[u8], dst: *mut u8) -> usize {
    let mut i = 0;
    while i + WORD <= src.len() {
        // SAFETY: `i + WORD <= src.len()`, and `dst` has room for as much.
        let w = unsafe { src.as_ptr().add(i).cast::<u64>().read_unaligned() };
        unsafe { dst.add(i).cast::<u64>().write_unaligned(w) };
        let escapes = escape_bits(w);
        if escapes != 0 {
            return i + (escapes.trailing_zeros() / 8) as usize;
        }
        i += WORD;
    }
    let tail = &src[i..];
    let n = tail.iter().position(|&b| ESCAPE[b as usize] != 0).unwrap_or(tail.len());
    // SAFETY: `n <= tail.len() < WORD`, within the room `dst` has past `i`.
    unsafe { copy_short(tail.as_ptr(), dst.add(i), n) };
    i + n
}

/// Appends `bytes`; short pieces (pre-encoded keys, numbers, most values) are moved
/// with a couple of word loads and stores instead of a call to `memcpy`.
#[inline(always)]
fn put(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len());
    let len = out.len();
    // SAFETY: `bytes.len()` bytes are reserved past `len`, and all are written before
    // the length covers them.
    unsafe {
        let dst = out.as_mut_ptr().add(len);
        if bytes.len() <= 16 {
            copy_short(bytes.as_ptr(), dst, bytes.len());
        } else {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        }
        out.set_len(len + bytes.len());
    }
}

/// Copies `n <= 16` bytes as two overlapping words (or halves, or single bytes).
///
/// # Safety
/// `src` must be valid for reads and `dst` for writes of `n` bytes, and `n <= 16`.
#[inline(always)]
unsafe fn copy_short(src: *const u8, dst: *mut u8, n: usize) {
    // SAFETY (each arm): both accesses of each pair lie within the first `n` bytes.
    unsafe {
        if n >= 8 {
            let head = src.cast::<u64>().read_unaligned();
            let last = src.add(n - 8).cast::<u64>().read_unaligned();
            dst.cast::<u64>().write_unaligned(head);
            dst.add(n - 8).cast::<u64>().write_unaligned(last);
        } else if n >= 4 {
            let head = src.cast::<u32>().read_unaligned();
            let last = src.add(n - 4).cast::<u32>().read_unaligned();
            dst.cast::<u32>().write_unaligned(head);
            dst.add(n - 4).cast::<u32>().write_unaligned(last);
        } else if n > 0 {
            *dst = *src;
            *dst.add(n / 2) = *src.add(n / 2);
            *dst.add(n - 1) = *src.add(n - 1);
        }
    }
}

const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` (little-endian) that is a control character,
/// `"` or `\`: the classic "has a byte less than n" and "has a zero byte" bit tricks.
/// Borrows can set bits above a true hit but never below one, so the lowest set bit
/// is exact and zero means a clean word.
#[inline(always)]
fn escape_bits(word: u64) -> u64 {
    let control = word.wrapping_sub(LOW_BITS * 0x20) & !word;
    let quote = word ^ (LOW_BITS * u64::from(b'"'));
    let backslash = word ^ (LOW_BITS * u64::from(b'\\'));
    let quote = quote.wrapping_sub(LOW_BITS) & !quote;
    let backslash = backslash.wrapping_sub(LOW_BITS) & !backslash;
    (control | quote | backslash) & HIGH_BITS
}

/// Escapes `bytes`, copying the runs between escapes in one go and skipping clean
/// words without looking at each byte (a logged request line holds a few quotes among
/// hundreds of plain bytes).
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(block) = bytes.get(i..i + WORD) {
            let mut w = [0u8; WORD];
            w.copy_from_slice(block);
            if escape_bits(u64::from_le_bytes(w)) == 0 {
                i += WORD;
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
    fn whole_floats_take_the_integer_path_with_serde_json_bytes() {
        let mut whole = vec![0.0, -0.0, 1.0, -1.0, 10.0, 1200.0, 2f64.powi(52), 1e15, -1e15, 1e16, 1e17];
        whole.extend([WHOLE_FLOAT_LIMIT - 1.0, -(WHOLE_FLOAT_LIMIT - 1.0), 9_007_199_254_740_992.0]);
        let mut x = 1.0f64;
        while x < 1e300 {
            whole.extend([x, -x, x + 1.0, x * 3.0, (x * 7.0).floor()]);
            x *= 10.0;
        }
        for f in whole.into_iter().chain([0.5, -0.25, 1e15 + 0.5, 123.456, 1e-7, f64::MIN_POSITIVE]) {
            assert_eq!(ours(&Value::Float(f)), serde_json::to_string(&Value::Float(f)).unwrap(), "{f:e}");
        }
    }

    #[test]
    fn strings_of_every_length_copy_and_escape_at_every_position() {
        // Short copies, whole words, overlapping tails, and an escape in each place.
        for len in 0..=41usize {
            let plain: String = (0..len).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
            assert_eq!(ours(&Value::from(plain.as_str())), serde_json::to_string(&plain).unwrap());
            for pos in 0..len {
                for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                    let mut s: Vec<char> = plain.chars().collect();
                    s[pos] = special;
                    let s: String = s.into_iter().collect();
                    assert_eq!(ours(&Value::from(s.as_str())), serde_json::to_string(&s).unwrap(), "{s:?}");
                }
            }
        }
        // Written after other output, each string lands at a different alignment.
        let mut out = b"x".to_vec();
        let mut expected = String::from("x");
        for len in 0..=20usize {
            let s = "\"".repeat(len % 3) + &"k".repeat(len);
            write_str(&mut out, &s);
            expected += &serde_json::to_string(&s).unwrap();
        }
        assert_eq!(String::from_utf8(out).unwrap(), expected);
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
