//! `useragent`: parses a User-Agent string into ECS `user_agent.*` fields.
//!
//! Parsing uses the `woothee` crate (self-contained, no data files to ship). Results are
//! cached by exact string, since a CDN log repeats the same few hundred agents millions
//! of times; the cache is bounded by `lru_cache_size` and cleared when full. The keys of
//! the parsed fields are a fixed set, interned like config keys: copying a cached agent
//! into an event copies pointers, and documents write the keys pre-encoded.

use super::{Filter, Outcome};
use crate::event::Event;
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::{intern, Map, Value};
use std::collections::HashMap;

/// The `useragent` filter.
pub struct UserAgent {
    source: FieldRef,
    target: Option<FieldRef>,
    ecs: bool,
    /// Parsed agents by exact string, with their destination fields resolved. Hashed
    /// with foldhash (randomly seeded): SipHash over a 100-byte agent string cost more
    /// than the rest of a cache hit, and the cache is bounded, so colliding keys
    /// cannot pile up.
    cache: HashMap<String, Vec<(FieldRef, Value)>, foldhash::fast::RandomState>,
    cache_size: usize,
}

impl UserAgent {
    /// Reads `source` (required), `target`, `ecs_compatibility`, `lru_cache_size`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let source = match s.field_ref("source") {
            Some(r) => r,
            None => {
                s.error("`useragent` needs a `source` field", s.plugin_span(), "add `source => \"...\"`");
                FieldRef::from_segments(["message"])
            }
        };
        let ecs = s.string_or("ecs_compatibility", "v1") != "disabled";
        let default_target = if ecs { Some(FieldRef::from_segments(["user_agent"])) } else { None };
        Self {
            source,
            target: s.field_ref("target").or(default_target),
            ecs,
            cache: HashMap::default(),
            cache_size: s.int("lru_cache_size").unwrap_or(100_000).max(1) as usize,
        }
    }

    fn parse(&self, ua: &str) -> Map {
        let mut m = Map::new();
        let r = woothee::parser::Parser::new().parse(ua);
        let s = |v: &str| Value::from(v);
        let known = |v: &str| !v.is_empty() && v != woothee::woothee::VALUE_UNKNOWN;
        match r {
            Some(r) if self.ecs => {
                m.insert(intern("name"), s(if known(r.name) { r.name } else { "Other" }));
                if known(r.version) {
                    m.insert(intern("version"), s(r.version));
                }
                let os = ecs_os(r.os, &r.os_version);
                if !os.is_empty() {
                    m.insert(intern("os"), Value::Object(os));
                }
                let device = match r.category {
                    "smartphone" | "mobilephone" => "Mobile",
                    "crawler" => "Spider",
                    "appliance" => "Appliance",
                    "pc" => "Other",
                    _ => "Other",
                };
                m.insert(intern("device"), Value::Object([(intern("name"), s(device))].into_iter().collect()));
            }
            Some(r) => {
                m.insert(intern("name"), s(r.name));
                m.insert(intern("os"), s(r.os));
                m.insert(intern("os_name"), s(r.os));
                m.insert(intern("device"), s(r.category));
                if known(r.version) {
                    let mut parts = r.version.split('.');
                    for key in ["major", "minor", "patch"] {
                        if let Some(p) = parts.next() {
                            m.insert(intern(key), s(p));
                        }
                    }
                }
            }
            None => {
                m.insert(intern("name"), s("Other"));
                if self.ecs {
                    m.insert(intern("device"), Value::Object([(intern("name"), s("Other"))].into_iter().collect()));
                }
            }
        }
        m
    }
}

/// ECS `user_agent.os` from woothee's OS label and version, normalised to the names
/// ECS users expect (`Windows` + `10`, `Mac OS X` + `10.15.7`, `iOS`, `Android`).
fn ecs_os(os: &str, version: &str) -> Map {
    let known = |v: &str| !v.is_empty() && v != woothee::woothee::VALUE_UNKNOWN;
    let mut m = Map::new();
    if !known(os) {
        return m;
    }
    let (name, version) = if let Some(v) = os.strip_prefix("Windows ") {
        ("Windows".to_string(), v.to_string())
    } else if os == "Mac OSX" {
        ("Mac OS X".to_string(), version.replace('_', "."))
    } else if matches!(os, "iPhone" | "iPad" | "iPod" | "iOS") {
        ("iOS".to_string(), version.replace('_', "."))
    } else {
        (os.to_string(), if known(version) { version.to_string() } else { String::new() })
    };
    m.insert(intern("name"), Value::from(name.as_str()));
    if version.is_empty() {
        m.insert(intern("full"), Value::from(name));
    } else {
        m.insert(intern("full"), Value::from(format!("{name} {version}")));
        m.insert(intern("version"), Value::from(version));
    }
    m
}

impl Filter for UserAgent {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let Some(ua) = event.get_str(&self.source) else { return Outcome::Skipped };
        if let Some(fields) = self.cache.get(ua) {
            store(event, self.target.as_ref(), fields);
            return Outcome::Applied;
        }
        let ua = ua.to_string();
        let fields: Vec<(FieldRef, Value)> = self
            .parse(&ua)
            .into_iter()
            .map(|(k, v)| (FieldRef::from_segments([&*k]).within(self.target.as_ref()), v))
            .collect();
        store(event, self.target.as_ref(), &fields);
        if self.cache.len() >= self.cache_size {
            self.cache.clear();
        }
        self.cache.insert(ua, fields);
        Outcome::Applied
    }
}

/// Writes a parsed agent's fields: an object value is merged into an object already
/// there, anything else replaces what the field held. With a target, the target object
/// is found (or made) once and the fields are set inside it.
fn store(event: &mut Event, target: Option<&FieldRef>, fields: &[(FieldRef, Value)]) {
    let Some(slot) = target.and_then(|t| event.slot(t)) else {
        for (dest, v) in fields {
            match (event.get_mut(dest), v) {
                (Some(Value::Object(existing)), Value::Object(new)) => existing.extend(new.clone()),
                (_, v) => event.set(dest, v.clone()),
            }
        }
        return;
    };
    if !slot.is_object() {
        *slot = Value::Object(Map::with_capacity(fields.len()));
    }
    let Value::Object(object) = slot else { return };
    for (dest, v) in fields {
        let Some(last) = dest.steps().last() else { continue };
        match (object.entry_or_insert_with(&last.key, Some(&last.hint), || Value::Null), v) {
            (Value::Object(existing), Value::Object(new)) => existing.extend(new.clone()),
            (field, v) => *field = v.clone(),
        }
    }
}
