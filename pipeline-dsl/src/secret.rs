//! Credentials that cannot be printed: [`Secret`] and [`SecretUrl`] show `***` in
//! their `Display` and `Debug` forms, so a password reaches a log, an error message or
//! a metric only if code asks for it by name ([`Secret::expose`], [`SecretUrl::expose`])
//! where a request is built. [`Redactor`] scrubs known secrets out of text made
//! elsewhere (error chains of HTTP clients that quote the URL they failed on).

use std::fmt;

/// What a secret looks like when shown.
pub const REDACTED: &str = "***";

/// A password, API key or token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value, for building a request. Never for logging.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (an unset credential).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Parsing from a command line or environment variable: any text is a secret.
impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// A URL that may carry credentials (`https://user:password@es1:9200`, which Logstash
/// accepts): shown with its user and password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(url::Url);

impl SecretUrl {
    /// Wraps `url`.
    pub fn new(url: url::Url) -> Self {
        Self(url)
    }

    /// The real URL, credentials included, for building a request. Never for logging.
    pub fn expose(&self) -> &url::Url {
        &self.0
    }

    /// The password in the URL, if any (percent-decoded).
    pub fn password(&self) -> Option<Secret> {
        self.0.password().map(|p| Secret::new(percent_decode(p)))
    }

    /// The user name in the URL, if any (percent-decoded).
    pub fn username(&self) -> Option<String> {
        (!self.0.username().is_empty()).then(|| percent_decode(self.0.username()))
    }

    /// The URL without its credentials, for requests that authenticate otherwise.
    pub fn without_credentials(&self) -> url::Url {
        let mut u = self.0.clone();
        let _ = u.set_username("");
        let _ = u.set_password(None);
        u
    }

    /// The text shown for it: credentials as `***`.
    fn shown(&self) -> String {
        if self.0.username().is_empty() && self.0.password().is_none() {
            return self.0.to_string();
        }
        let mut u = self.without_credentials();
        let _ = u.set_username(REDACTED);
        if self.0.password().is_some() {
            let _ = u.set_password(Some(REDACTED));
        }
        u.to_string()
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.shown())
    }
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Replaces known secrets in text made elsewhere, such as an HTTP client's error chain
/// that quotes the URL it failed on.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form a secret may take in text, longest first.
    needles: Vec<String>,
}

impl Redactor {
    /// Adds a secret (and its percent-encoded form, as URLs carry it).
    pub fn add(&mut self, secret: &Secret) {
        let value = secret.expose();
        if value.is_empty() {
            return;
        }
        let encoded = percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string();
        for form in [value.to_string(), encoded] {
            if !self.needles.contains(&form) {
                self.needles.push(form);
            }
        }
        self.needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
    }

    /// Adds the user name and password of `url`, if it carries any.
    pub fn add_url(&mut self, url: &SecretUrl) {
        if let Some(p) = url.password() {
            self.add(&p);
        }
        if let Some(raw) = url.expose().password() {
            self.add(&Secret::new(raw));
        }
    }

    /// `text` with every secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let s = Secret::new("s3cr3t");
        assert_eq!(format!("{s} {s:?} {:?}", Some(&s)), "*** *** Some(***)");
        assert_eq!(s.expose(), "s3cr3t");
        let u = SecretUrl::new(url::Url::parse("http://elastic:s3cr%40t@es1:9200/").unwrap());
        assert_eq!(u.to_string(), "http://***:***@es1:9200/");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(u.password().unwrap().expose(), "s3cr@t");
        assert_eq!(u.username().as_deref(), Some("elastic"));
        assert_eq!(u.without_credentials().as_str(), "http://es1:9200/");
        let plain = SecretUrl::new(url::Url::parse("http://es1:9200").unwrap());
        assert_eq!(plain.to_string(), "http://es1:9200/");
    }

    #[test]
    fn the_redactor_scrubs_raw_and_encoded_forms() {
        let mut r = Redactor::default();
        r.add_url(&SecretUrl::new(url::Url::parse("http://elastic:s3cr%40t@es1:9200/").unwrap()));
        r.add(&Secret::new("key-42"));
        r.add(&Secret::new(""));
        let text = "error sending request for url (http://elastic:s3cr%40t@es1:9200/): s3cr@t key-42";
        assert_eq!(r.scrub(text), "error sending request for url (http://elastic:***@es1:9200/): *** ***");
    }
}
