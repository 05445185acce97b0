//! Field values of events: a JSON-like tree built for the hot path.
//!
//! Compared with `serde_json::Value` this avoids most allocations per event: keys named
//! by the config are interned (setting `[http][response][status_code]` allocates no
//! key, and keys compare by address), objects are small vectors searched linearly (log
//! objects hold a handful of keys, where a scan beats hashing or a B-tree), and short
//! strings — IPs, methods, POP codes, numbers captured as text — are stored inline.

use compact_str::CompactString;
use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// An object key. Keys named by the config are interned for the life of the process
/// ([`intern`]) and copied without reference counting; keys that come from event data
/// are shared `Arc<str>`s, freed with the last event that uses them.
#[derive(Clone, Debug)]
pub enum Key {
    /// An interned key.
    Static(&'static Interned),
    /// A key made at run time.
    Shared(Arc<str>),
}

/// An interned key's text, with the same key encoded once as JSON (`"name":`), so that
/// documents are written without escaping their keys again and again.
#[derive(Debug)]
pub struct Interned {
    name: Box<str>,
    json: Box<[u8]>,
    /// This key's bit in the key masks of objects (see [`Map`]).
    bit: u64,
}

/// The bit of a key mask that stands for keys made at run time.
const RUN_TIME_KEY: u64 = 1 << 63;

impl Key {
    /// The bit this key sets in the key mask of an object holding it.
    fn mask_bit(&self) -> u64 {
        match self {
            Key::Static(i) => i.bit,
            Key::Shared(_) => RUN_TIME_KEY,
        }
    }

    /// The key as JSON followed by a colon, when it was encoded in advance (interned).
    pub fn json_prefix(&self) -> Option<&[u8]> {
        match self {
            Key::Static(i) => Some(&i.json),
            Key::Shared(_) => None,
        }
    }
}

impl std::ops::Deref for Key {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Key::Static(i) => &i.name,
            Key::Shared(s) => s,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for Key {}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state);
    }
}

impl From<&str> for Key {
    fn from(s: &str) -> Self {
        Key::Shared(Arc::from(s))
    }
}

impl From<String> for Key {
    fn from(s: String) -> Self {
        Key::Shared(Arc::from(s))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// Most distinct names kept by [`intern`]; past it keys are simply allocated, so a
/// config generating names cannot grow the table without bound.
const INTERN_LIMIT: usize = 65_536;

/// The interned key for `name`, for field references compiled from a config: one
/// shared record per text makes key comparison on the hot path an address comparison,
/// and carries the key's JSON encoding. Names that come from event data (JSON keys, kv
/// pairs) must not be interned; they use `Key::from` so that input cannot grow this
/// table. Past [`INTERN_LIMIT`] names, keys are made at run time instead.
pub fn intern(name: &str) -> Key {
    static KEYS: OnceLock<Mutex<HashMap<&'static str, &'static Interned>>> = OnceLock::new();
    let mut keys = KEYS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(k) = keys.get(name) {
        return Key::Static(k);
    }
    if keys.len() >= INTERN_LIMIT {
        return Key::from(name);
    }
    let mut json = Vec::with_capacity(name.len() + 3);
    crate::json_writer::write_str(&mut json, name);
    json.push(b':');
    // Interned keys share the 63 low bits of the key masks round-robin.
    let bit = 1 << (keys.len() % 63);
    // Leaked on purpose: interned names live as long as the process, and the table is
    // bounded by INTERN_LIMIT.
    let k: &'static Interned = Box::leak(Box::new(Interned { name: name.into(), json: json.into(), bit }));
    keys.insert(&k.name, k);
    Key::Static(k)
}

/// Most distinct texts kept by [`shared_text`] (file paths: a long-running agent
/// whose logs rotate to new names meets new ones forever, so the table is bounded
/// apart from the keys' and holds at most a few hundred KiB).
const SHARED_TEXT_LIMIT: usize = 4096;

/// `text` as a string that clones without allocating, for a text repeated on every
/// event of a source (a file's path): it borrows a copy kept for the life of the
/// process. Past [`SHARED_TEXT_LIMIT`] texts it is an ordinary string.
pub fn shared_text(text: &str) -> Str {
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = TEXTS.get_or_init(Default::default).lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(kept) = texts.get(text) {
        return Str::const_new(kept);
    }
    if texts.len() >= SHARED_TEXT_LIMIT {
        return Str::from(text);
    }
    // Leaked on purpose, bounded by SHARED_TEXT_LIMIT.
    let kept: &'static str = Box::leak(Box::from(text));
    texts.insert(kept);
    Str::const_new(kept)
}

/// A string value (inline up to 24 bytes).
pub type Str = CompactString;

/// A field value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Value {
    /// JSON `null`.
    #[default]
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    String(Str),
    /// A list.
    Array(Vec<Value>),
    /// Nested fields.
    Object(Map),
}

/// Where a field reference's key was found last time in its object. Events from one
/// source share a shape, so a lookup usually succeeds on the first try instead of
/// scanning the object. It is only a guess, checked on use. Atomic so that references
/// shared between threads stay `Sync`; relaxed loads and stores are plain moves.
#[derive(Debug, Default)]
pub struct Hint(AtomicU8);

impl Hint {
    fn get(&self) -> usize {
        usize::from(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, i: usize) {
        // Past 255 the hint wraps to a wrong guess, which the check on use rejects.
        self.0.store(i as u8, Ordering::Relaxed);
    }
}

impl Clone for Hint {
    fn clone(&self) -> Self {
        Self(AtomicU8::new(self.0.load(Ordering::Relaxed)))
    }
}

/// An insertion-ordered object. Equality ignores order, as JSON objects do.
#[derive(Debug, Clone, Default)]
pub struct Map {
    entries: Vec<(Key, Value)>,
    /// The bits of every key ever added (an interned key's own bit, [`RUN_TIME_KEY`]
    /// for keys from event data); removals leave them set. An interned key whose bit is
    /// clear is absent without a scan, which is what most insertions of a new field
    /// ask. While [`RUN_TIME_KEY`] is clear, a lookup by an interned key is settled by
    /// address comparison alone.
    key_mask: u64,
}

impl Map {
    /// An empty object.
    pub fn new() -> Self {
        Self { entries: Vec::new(), key_mask: 0 }
    }

    /// An empty object with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Self { entries: Vec::with_capacity(n), key_mask: 0 }
    }

    /// Whether some key was made at run time (so text must be compared).
    fn has_run_time_keys(&self) -> bool {
        self.key_mask & RUN_TIME_KEY != 0
    }

    /// Finds `key`. Keys from compiled field references are interned, so comparing
    /// addresses settles most lookups; text is compared only when the lookup key or
    /// some key of this object is not interned. A `hint` (where the key was last found)
    /// is tried first, and updated.
    #[inline(always)]
    fn find(&self, key: &Key, hint: Option<&Hint>) -> Option<usize> {
        match self.at_hint(key, hint) {
            Some((i, _)) => Some(i),
            None => self.find_past_hint(key, hint),
        }
    }

    /// The index and value of the entry at `hint` when it holds `key` (an interned key,
    /// compared by address).
    #[inline(always)]
    fn at_hint(&self, key: &Key, hint: Option<&Hint>) -> Option<(usize, &Value)> {
        let (Key::Static(target), Some(h)) = (key, hint) else { return None };
        let i = h.get();
        match self.entries.get(i) {
            Some((Key::Static(k), value)) if std::ptr::eq(*k, *target) => Some((i, value)),
            _ => None,
        }
    }

    /// [`Map::find`] once the hint has missed: a new field is settled by the key mask,
    /// anything else by a scan (which moves the hint).
    #[inline(always)]
    fn find_past_hint(&self, key: &Key, hint: Option<&Hint>) -> Option<usize> {
        // A new field: neither its bit nor any run-time key in this object.
        if let Key::Static(target) = key {
            if self.key_mask & (target.bit | RUN_TIME_KEY) == 0 {
                return None;
            }
        }
        self.search(key, hint)
    }

    /// [`Map::find`] when neither the hint nor the key mask settled it: a scan, out of
    /// line so that the common paths stay a few instructions inlined into every lookup.
    #[inline(never)]
    fn search(&self, key: &Key, hint: Option<&Hint>) -> Option<usize> {
        let Key::Static(target) = key else { return self.position(key) };
        // A key made at run time is never at an interned key's address, so only an
        // object holding such keys needs the text comparison.
        let by_text = || if self.has_run_time_keys() { self.position(key) } else { None };
        if self.key_mask & target.bit == 0 {
            return by_text();
        }
        let same = |k: &Key| matches!(k, Key::Static(i) if std::ptr::eq(*i, *target));
        let found = self.entries.iter().position(|(k, _)| same(k)).or_else(by_text);
        if let (Some(h), Some(i)) = (hint, found) {
            h.set(i);
        }
        found
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| &**k == key)
    }

    /// The value under `key`, trying `hint` first. The hinted entry is returned as
    /// found, without indexing again (a second bounds check on every step of every
    /// field lookup).
    #[inline(always)]
    pub fn get_key(&self, key: &Key, hint: Option<&Hint>) -> Option<&Value> {
        match self.at_hint(key, hint) {
            Some((_, value)) => Some(value),
            None => self.find_past_hint(key, hint).map(|i| &self.entries[i].1),
        }
    }

    /// Mutable access under `key`, trying `hint` first.
    #[inline(always)]
    pub fn get_key_mut(&mut self, key: &Key, hint: Option<&Hint>) -> Option<&mut Value> {
        self.find(key, hint).map(|i| &mut self.entries[i].1)
    }

    /// Sets `key` (trying `hint` first).
    #[inline(always)]
    pub fn insert_key(&mut self, key: &Key, hint: Option<&Hint>, value: Value) {
        self.insert_or_merge(key, hint, value, |field, value| *field = value);
    }

    /// Sets `key` to `value` when absent, else lets `merge(existing, value)` decide.
    #[inline(always)]
    pub fn insert_or_merge(
        &mut self,
        key: &Key,
        hint: Option<&Hint>,
        value: Value,
        merge: impl FnOnce(&mut Value, Value),
    ) {
        match self.find(key, hint) {
            Some(i) => merge(&mut self.entries[i].1, value),
            None => {
                let i = self.push_with(key.clone(), || value);
                if let Some(h) = hint {
                    h.set(i);
                }
            }
        }
    }

    /// Appends `key` with the value `make` builds, returning its index. Room is made
    /// first and the entry is then built straight into it: with a plain `Vec::push`
    /// the entry was built before the possible reallocation, so it went through a
    /// stack copy whose wide reloads stalled on store forwarding (a quarter of grok's
    /// time).
    #[inline(always)]
    fn push_with(&mut self, key: Key, make: impl FnOnce() -> Value) -> usize {
        if self.entries.capacity() == 0 {
            self.entries.reserve_exact(4);
        } else {
            self.entries.reserve(1);
        }
        self.key_mask |= key.mask_bit();
        let len = self.entries.len();
        self.entries.spare_capacity_mut()[0].write((key, make()));
        // SAFETY: the entry at `len` is within the capacity reserved above and was
        // initialised by the write just before.
        unsafe { self.entries.set_len(len + 1) };
        len
    }

    /// Appends `key`, which the caller knows is absent (an object being built from
    /// distinct keys): no lookup first.
    pub fn push_new(&mut self, key: &Key, value: Value) {
        debug_assert!(self.find(key, None).is_none(), "push_new of a key already present: {key}");
        self.push_with(key.clone(), || value);
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.position(key).map(|i| &self.entries[i].1)
    }

    /// Mutable access to the value under `key`.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.position(key).map(|i| &mut self.entries[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_some()
    }

    /// Sets `key`, returning the previous value.
    pub fn insert(&mut self, key: impl Into<Key>, value: Value) -> Option<Value> {
        let key = key.into();
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.push_with(key, || value);
                None
            }
        }
    }

    /// Mutable access to `key`, inserting `default()` first when absent.
    #[inline(always)]
    pub fn entry_or_insert_with(
        &mut self,
        key: &Key,
        hint: Option<&Hint>,
        default: impl FnOnce() -> Value,
    ) -> &mut Value {
        let i = match self.find(key, hint) {
            Some(i) => i,
            None => {
                let i = self.push_with(key.clone(), default);
                if let Some(h) = hint {
                    h.set(i);
                }
                i
            }
        };
        &mut self.entries[i].1
    }

    /// Removes `key`, keeping the order of the others.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.position(key).map(|i| self.entries.remove(i).1)
    }

    /// Removes `key` (trying `hint` first), keeping the order of the others.
    pub fn remove_key(&mut self, key: &Key, hint: Option<&Hint>) -> Option<Value> {
        self.find(key, hint).map(|i| self.entries.remove(i).1)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Keys and values in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&Key, &Value)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    /// Keys in insertion order.
    pub fn keys(&self) -> impl Iterator<Item = &Key> {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Inserts every entry of `other` (overwriting equal keys).
    pub fn extend(&mut self, other: Map) {
        for (k, v) in other.entries {
            self.insert_key(&k, None, v);
        }
    }
}

impl IntoIterator for Map {
    type Item = (Key, Value);
    type IntoIter = std::vec::IntoIter<(Key, Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.entries.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Key, &'a Value);
    type IntoIter = std::iter::Map<std::slice::Iter<'a, (Key, Value)>, fn(&'a (Key, Value)) -> (&'a Key, &'a Value)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

impl FromIterator<(Key, Value)> for Map {
    fn from_iter<T: IntoIterator<Item = (Key, Value)>>(iter: T) -> Self {
        let mut m = Map::new();
        for (k, v) in iter {
            m.insert(k, v);
        }
        m
    }
}

impl Value {
    /// The text of a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The number as `f64`, for either numeric variant.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Whether this is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Whether this is an object.
    pub fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }

    /// Takes the value, leaving `null`.
    pub fn take(&mut self) -> Value {
        std::mem::take(self)
    }

    /// Converts from `serde_json`'s tree.
    pub fn from_json(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            serde_json::Value::String(s) => Value::String(s.into()),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from_json).collect()),
            serde_json::Value::Object(m) => {
                Value::Object(m.into_iter().map(|(k, v)| (Key::from(k), Value::from_json(v))).collect())
            }
        }
    }

    /// Converts to `serde_json`'s tree.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Value::from(*f),
            Value::String(s) => serde_json::Value::String(s.to_string()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Object(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.to_string(), v.to_json())).collect())
            }
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s.into())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<u64> for Value {
    fn from(i: u64) -> Self {
        i64::try_from(i).map_or(Value::Float(i as f64), Value::Int)
    }
}

impl From<u32> for Value {
    fn from(i: u32) -> Self {
        Value::Int(i64::from(i))
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

/// Compact JSON, as Logstash renders objects in sprintf.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::new();
        crate::json_writer::write_value(&mut out, self);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            // JSON has no NaN or infinity; write null rather than invalid JSON.
            Value::Float(f) if !f.is_finite() => s.serialize_unit(),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => m.serialize(s),
        }
    }
}

impl Serialize for Map {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in &self.entries {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, i: u64) -> Result<Value, E> {
        Ok(Value::from(i))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s.into()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        while let Some((k, v)) = access.next_entry::<std::borrow::Cow<'de, str>, Value>()? {
            m.insert(Key::from(k.as_ref()), v);
        }
        Ok(Value::Object(m))
    }
}

/// `serde_json::json!` values converted, for unit tests.
#[cfg(test)]
pub(crate) fn j(v: serde_json::Value) -> Value {
    Value::from_json(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_keeps_order_and_types() {
        let text = r#"{"b":1,"a":[1.5,"x",null,true],"c":{"d":"e"}}"#;
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(serde_json::to_string(&v).unwrap(), text);
        assert_eq!(Value::from_json(v.to_json()), v);
        assert_ne!(Value::Int(200), Value::Float(200.0));
    }

    #[test]
    fn shared_text_is_the_text_its_clones_borrow_one_copy_and_the_table_is_bounded() {
        let path = "/var/log/nginx/edge-access.log.2026-11-20-some-long-suffix";
        let s = shared_text(path);
        assert_eq!(s, path);
        assert_eq!(s.clone().as_static_str(), Some(path), "a clone borrows, it does not allocate");
        assert!(std::ptr::eq(shared_text(path).as_static_str().unwrap(), s.as_static_str().unwrap()));
        // Past the bound (this test is the only user in this process) texts are
        // ordinary strings, and those kept stay kept.
        for i in 0..SHARED_TEXT_LIMIT {
            assert_eq!(
                shared_text(&format!("/var/log/rotated/access.log.{i}")),
                format!("/var/log/rotated/access.log.{i}")
            );
        }
        let beyond = shared_text("/var/log/rotated/one-too-many.log");
        assert_eq!(beyond, "/var/log/rotated/one-too-many.log");
        assert_eq!(beyond.as_static_str(), None);
        assert!(shared_text(path).as_static_str().is_some());
    }

    #[test]
    fn map_insert_replaces_and_remove_keeps_order() {
        let mut m = Map::new();
        m.insert("a", Value::Int(1));
        m.insert("b", Value::Int(2));
        m.insert("c", Value::Int(3));
        assert_eq!(m.insert("a", Value::Int(9)), Some(Value::Int(1)));
        m.remove("b");
        assert_eq!(m.keys().map(|k| &**k).collect::<Vec<_>>(), ["a", "c"]);
    }

    /// Lookups by interned key answer alike whether the key mask rules a key out, two
    /// keys share a bit, a key was removed (its bit stays), or the same text was added
    /// as a run-time key.
    #[test]
    fn interned_lookups_agree_with_the_keys_present() {
        // Over 63 names, so that some share a mask bit.
        let names: Vec<String> = (0..150).map(|i| format!("mask-test-{i}")).collect();
        let keys: Vec<Key> = names.iter().map(|n| intern(n)).collect();
        let mut m = Map::new();
        for (i, k) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
            m.insert_key(k, None, Value::from(i as i64));
        }
        m.remove_key(&keys[3], None);
        m.push_with(Key::from(names[7].as_str()), || Value::Null);
        for (i, k) in keys.iter().enumerate() {
            let want = (i % 3 == 0 && i != 3) || i == 7;
            let hint = Hint::default();
            assert_eq!(m.get_key(k, Some(&hint)).is_some(), want, "{}", names[i]);
            assert_eq!(m.get_key(k, Some(&hint)).is_some(), want, "{} with its hint", names[i]);
            assert_eq!(m.get(&names[i]).is_some(), want, "{} by text", names[i]);
        }
        // Among 150 keys on 63 bits, some two share one (pigeonhole).
        let bit = |k: &Key| k.mask_bit();
        let (a, b) = keys
            .iter()
            .enumerate()
            .find_map(|(i, a)| keys[i + 1..].iter().find(|b| bit(b) == bit(a)).map(|b| (a, b)))
            .expect("two keys share a bit");
        let mut interned_only = Map::new();
        interned_only.insert_key(a, None, Value::Null);
        assert!(interned_only.get_key(b, None).is_none(), "a key sharing the present key's bit");
        assert!(interned_only.get_key(a, None).is_some());
    }
}
