//! `fingerprint`: a stable hash of chosen fields, typically into `[@metadata]` for
//! deterministic Elasticsearch document ids.

use super::{Filter, Outcome};
use crate::event::{value_to_string, Event};
use crate::field_ref::FieldRef;
use crate::settings::Settings;
use crate::value::Value;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha384, Sha512};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Method {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Md5,
    Murmur3,
    Murmur3_128,
}

/// The `fingerprint` filter.
pub struct Fingerprint {
    sources: Vec<FieldRef>,
    target: FieldRef,
    method: Method,
    key: Option<String>,
    concatenate_sources: bool,
    concatenate_all_fields: bool,
    base64: bool,
}

impl Fingerprint {
    /// Reads `source`, `target`, `method`, `key`, `concatenate_sources`,
    /// `concatenate_all_fields`, `base64encode`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let mut sources: Vec<FieldRef> = s.strings("source").iter().filter_map(|f| s.parse_field_ref(f)).collect();
        if sources.is_empty() {
            sources.push(FieldRef::from_segments(["message"]));
        }
        let method_text = s.string("method");
        let method = match method_text.as_ref().map(|m| m.node.to_ascii_uppercase()).as_deref() {
            None | Some("SHA1") => Method::Sha1,
            Some("SHA256") => Method::Sha256,
            Some("SHA384") => Method::Sha384,
            Some("SHA512") => Method::Sha512,
            Some("MD5") => Method::Md5,
            Some("MURMUR3") => Method::Murmur3,
            Some("MURMUR3_128") => Method::Murmur3_128,
            Some(other) => {
                let span = method_text.map(|m| m.span).unwrap_or_default();
                s.error(
                    format!("unsupported fingerprint method `{other}`"),
                    span,
                    "expected SHA1, SHA256, SHA384, SHA512, MD5, MURMUR3 or MURMUR3_128",
                );
                Method::Sha1
            }
        };
        Self {
            sources,
            target: s.field_ref("target").unwrap_or_else(|| FieldRef::from_segments(["fingerprint"])),
            method,
            key: s.string("key").map(|k| k.node),
            concatenate_sources: s.bool_or("concatenate_sources", false),
            concatenate_all_fields: s.bool_or("concatenate_all_fields", false),
            base64: s.bool_or("base64encode", false),
        }
    }

    fn hash(&self, data: &str) -> Value {
        let bytes = data.as_bytes();
        let digest: Vec<u8> = match (self.method, &self.key) {
            (Method::Murmur3, _) => {
                let h = murmur3::murmur3_32(&mut std::io::Cursor::new(bytes), 0).unwrap_or(0);
                return Value::from(h);
            }
            (Method::Murmur3_128, _) => {
                let h = murmur3::murmur3_x64_128(&mut std::io::Cursor::new(bytes), 0).unwrap_or(0);
                return Value::from(hex::encode(h.to_be_bytes()));
            }
            (Method::Sha1, Some(k)) => hmac_digest::<Hmac<Sha1>>(k, bytes),
            (Method::Sha256, Some(k)) => hmac_digest::<Hmac<Sha256>>(k, bytes),
            (Method::Sha384, Some(k)) => hmac_digest::<Hmac<Sha384>>(k, bytes),
            (Method::Sha512, Some(k)) => hmac_digest::<Hmac<Sha512>>(k, bytes),
            (Method::Md5, Some(k)) => hmac_digest::<Hmac<md5::Md5>>(k, bytes),
            (Method::Sha1, None) => Sha1::digest(bytes).to_vec(),
            (Method::Sha256, None) => Sha256::digest(bytes).to_vec(),
            (Method::Sha384, None) => Sha384::digest(bytes).to_vec(),
            (Method::Sha512, None) => Sha512::digest(bytes).to_vec(),
            (Method::Md5, None) => md5::Md5::digest(bytes).to_vec(),
        };
        Value::from(if self.base64 {
            base64::engine::general_purpose::STANDARD.encode(digest)
        } else {
            hex::encode(digest)
        })
    }
}

fn hmac_digest<M: Mac + hmac::digest::KeyInit>(key: &str, data: &[u8]) -> Vec<u8> {
    match <M as hmac::digest::KeyInit>::new_from_slice(key.as_bytes()) {
        Ok(mut m) => {
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

impl Filter for Fingerprint {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        if self.concatenate_all_fields {
            let mut text = String::from("|");
            for (k, v) in event.fields().iter() {
                text.push_str(&format!("{k}|{}|", value_to_string(v)));
            }
            let h = self.hash(&text);
            event.set(&self.target, h);
            return Outcome::Applied;
        }
        if self.concatenate_sources {
            let mut text = String::from("|");
            for r in &self.sources {
                let v = event.get(r).map(value_to_string).unwrap_or_default();
                text.push_str(&format!("{r}|{v}|"));
            }
            let h = self.hash(&text);
            event.set(&self.target, h);
            return Outcome::Applied;
        }
        // Without concatenation each source overwrites the target in turn, as Logstash does.
        let mut applied = false;
        for r in &self.sources {
            if let Some(v) = event.get(r) {
                let h = self.hash(&value_to_string(v));
                event.set(&self.target, h);
                applied = true;
            }
        }
        Outcome::applied_if(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(settings: &str) -> Fingerprint {
        crate::filters::from_config("fingerprint", settings, Fingerprint::from_settings)
    }

    fn run(f: &mut Fingerprint, message: &str) -> Event {
        let mut e = Event::from_message(message.to_string(), chrono::Utc::now());
        e.set(&FieldRef::parse("[a][b]").unwrap(), Value::Int(7));
        assert_eq!(f.apply(&mut e), Outcome::Applied);
        e
    }

    #[test]
    fn digests_match_reference_values() {
        let target = FieldRef::parse("[@metadata][id]").unwrap();
        let mut sha1 = fingerprint(r#"target => "[@metadata][id]""#);
        assert_eq!(
            run(&mut sha1, "hello").get(&target),
            Some(&Value::from("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"))
        );
        let mut sha256 = fingerprint(r#"method => "SHA256" target => "[@metadata][id]""#);
        assert_eq!(
            run(&mut sha256, "hello").get(&target),
            Some(&Value::from("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"))
        );
        let mut murmur = fingerprint(r#"method => "MURMUR3" target => "[@metadata][id]""#);
        assert_eq!(run(&mut murmur, "hello").get(&target), Some(&Value::Int(613_153_351)));
        let mut hmac = fingerprint(r#"method => "SHA256" key => "key" target => "[@metadata][id]""#);
        assert_eq!(
            run(&mut hmac, "The quick brown fox jumps over the lazy dog").get(&target),
            Some(&Value::from("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"))
        );
    }

    #[test]
    fn concatenated_sources_are_stable_and_order_sensitive() {
        let mut f = fingerprint(r#"source => ["message", "[a][b]"] concatenate_sources => true"#);
        let a = run(&mut f, "x").get(&FieldRef::parse("fingerprint").unwrap()).cloned();
        let b = run(&mut f, "x").get(&FieldRef::parse("fingerprint").unwrap()).cloned();
        let c = run(&mut f, "y").get(&FieldRef::parse("fingerprint").unwrap()).cloned();
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
