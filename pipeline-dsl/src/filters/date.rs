//! `date`: parses a timestamp field with Joda-style formats into `@timestamp`.

use super::{failure_tags, Filter, Outcome};
use crate::event::{format_timestamp, Event, TIMESTAMP};
use crate::field_ref::FieldRef;
use crate::joda::{JodaPattern, Locale, Zone};
use crate::settings::Settings;
use crate::value::Value;
use chrono::{DateTime, TimeZone, Utc};

#[derive(Debug, Clone)]
enum Format {
    Iso8601,
    Unix,
    UnixMs,
    Joda(JodaPattern),
}

/// The `date` filter.
pub struct Date {
    source: Option<FieldRef>,
    formats: Vec<Format>,
    target: FieldRef,
    zone: Zone,
    locale: Locale,
    tag_on_failure: Vec<String>,
    /// Log lines arrive in time order, so the same second repeats: remember the last
    /// input and its formatted result.
    last: Option<(String, Value)>,
}

impl Date {
    /// Reads `match => [field, format…]`, `target`, `timezone`, `locale`, `tag_on_failure`.
    pub fn from_settings(s: &mut Settings) -> Self {
        let matches = s.strings("match");
        let mut source = None;
        let mut formats = Vec::new();
        if let Some((field, fmts)) = matches.split_first() {
            source = s.parse_field_ref(field);
            for f in fmts {
                formats.push(match f.node.as_str() {
                    "ISO8601" => Format::Iso8601,
                    "UNIX" => Format::Unix,
                    "UNIX_MS" => Format::UnixMs,
                    other => match JodaPattern::compile(other) {
                        Ok(p) => Format::Joda(p),
                        Err(e) => {
                            s.error(e.to_string(), f.span.clone(), "unsupported pattern letter");
                            continue;
                        }
                    },
                });
            }
            if fmts.is_empty() {
                s.error(
                    "`match` needs a field and at least one format",
                    field.span.clone(),
                    "add a format after the field",
                );
            }
        } else {
            s.error("`date` needs `match => [field, format…]`", s.plugin_span(), "no `match` setting");
        }
        let zone = match s.string("timezone") {
            Some(z) => Zone::parse(&z.node).unwrap_or_else(|| {
                s.error(
                    format!("unknown time zone `{}`", z.node),
                    z.span.clone(),
                    "expected an IANA zone or an offset",
                );
                Zone::default()
            }),
            None => Zone::default(),
        };
        let locale = match s.string("locale") {
            None => Locale::default(),
            Some(tag) => Locale::from_tag(&tag.node).unwrap_or_else(|| {
                let supported = Locale::supported().collect::<Vec<_>>().join(", ");
                s.error(
                    format!("unsupported locale `{}`", tag.node),
                    tag.span.clone(),
                    format!("supported: {supported}"),
                );
                Locale::default()
            }),
        };
        Self {
            source,
            formats,
            target: s.field_ref("target").unwrap_or_else(|| FieldRef::from_segments([TIMESTAMP])),
            zone,
            locale,
            tag_on_failure: failure_tags(s, "tag_on_failure", "_dateparsefailure"),
            last: None,
        }
    }

    fn parse(&self, text: &str) -> Option<DateTime<Utc>> {
        self.formats.iter().find_map(|f| match f {
            Format::Iso8601 => parse_iso8601(text, &self.zone),
            Format::Unix => parse_epoch(text, 1000.0),
            Format::UnixMs => parse_epoch(text, 1.0),
            Format::Joda(p) => p.parse_in(text, &self.zone, &self.locale),
        })
    }
}

fn parse_epoch(text: &str, to_ms: f64) -> Option<DateTime<Utc>> {
    let v: f64 = text.trim().parse().ok()?;
    Utc.timestamp_millis_opt((v * to_ms).round() as i64).single()
}

fn parse_iso8601(text: &str, zone: &Zone) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    const FORMATS: [&str; 6] = [
        "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
        "yyyy-MM-dd'T'HH:mm:ssZ",
        "yyyy-MM-dd'T'HH:mm:ss.SSS",
        "yyyy-MM-dd'T'HH:mm:ss",
        "yyyy-MM-dd HH:mm:ss.SSSZ",
        "yyyy-MM-dd HH:mm:ss,SSS",
    ];
    FORMATS.iter().find_map(|f| JodaPattern::compile(f).ok()?.parse(text, zone))
}

impl Filter for Date {
    fn apply(&mut self, event: &mut Event) -> Outcome {
        let Some(source) = &self.source else { return Outcome::Skipped };
        let number;
        let text = match event.get(source) {
            Some(Value::String(s)) => s.as_str(),
            Some(n @ (Value::Int(_) | Value::Float(_))) => {
                number = n.to_string();
                number.as_str()
            }
            Some(Value::Array(a)) => match a.first() {
                Some(Value::String(s)) => s.as_str(),
                _ => return Outcome::Skipped,
            },
            _ => return Outcome::Skipped,
        };
        let formatted = match &self.last {
            Some((k, v)) if k == text => Some(v.clone()),
            _ => self.parse(text).map(|t| {
                let v = Value::from(format_timestamp(t));
                self.last = Some((text.to_string(), v.clone()));
                v
            }),
        };
        match formatted {
            Some(v) => {
                event.set(&self.target, v);
                Outcome::Applied
            }
            None => {
                for tag in &self.tag_on_failure {
                    event.add_tag(tag);
                }
                Outcome::Skipped
            }
        }
    }
}
