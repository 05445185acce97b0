//! Plain HTTP/1.1 requests: the agent's control API (`GET /api/v1/snapshot`) and, in
//! fleet mode, an Elasticsearch search.
//!
//! The control API listens on loopback by default and speaks plain HTTP, so a small
//! blocking client on a `TcpStream` is all the console needs (no TLS, no async
//! runtime). Basic credentials may be given in the URL (`http://user:pass@host:9200`).

use anyhow::{anyhow, bail, Context};
use pipeline_dsl::api::Snapshot;
use pipeline_dsl::secret::Secret;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// An HTTP server: the agent's control API, or Elasticsearch in fleet mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`.
    pub authority: String,
    /// `Basic …` credentials from the URL, if any (shown as `***`).
    authorization: Option<Secret>,
}

impl Endpoint {
    /// Parses `http://[user:pass@]host:port`, `host:port` or `:port` (loopback).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        use base64::Engine;
        let rest = text.strip_prefix("http://").unwrap_or(text);
        if rest.starts_with("https://") || text.starts_with("https://") {
            bail!("only plain http:// is supported here (the control API listens on loopback); for a TLS cluster, reach it through a local proxy");
        }
        let (authorization, rest) = match rest.rsplit_once('@') {
            Some((user, host)) => {
                (Some(Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user)))), host)
            }
            None => (None, rest),
        };
        let authority = rest.trim_end_matches('/');
        let authority =
            if authority.starts_with(':') { format!("127.0.0.1{authority}") } else { authority.to_string() };
        if authority.is_empty() || authority.contains('/') {
            // The text is not repeated: it may hold a password.
            bail!("`{authority}` is not an agent address (expected http://HOST:PORT)");
        }
        Ok(Self { authority, authorization })
    }

    /// Sends `Authorization: Bearer TOKEN` (the agent's `--api-token`) instead of any
    /// credentials from the URL.
    pub fn with_bearer(mut self, token: Option<Secret>) -> Self {
        if let Some(t) = token {
            self.authorization = Some(Secret::new(format!("Bearer {}", t.expose())));
        }
        self
    }

    /// The snapshot, or why it could not be had.
    pub fn snapshot(&self, timeout: Duration) -> anyhow::Result<Snapshot> {
        let body = self.request("GET", "/api/v1/snapshot", None, timeout)?;
        serde_json::from_slice(&body).context("the agent's snapshot is not the JSON this console understands")
    }

    /// Sends a request (with a JSON body, if any) and returns the body of a 200 reply.
    pub fn request(&self, method: &str, path: &str, body: Option<&[u8]>, timeout: Duration) -> anyhow::Result<Vec<u8>> {
        let addr = self
            .authority
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", self.authority))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", self.authority))?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n",
            self.authority
        );
        if let Some(auth) = &self.authorization {
            head.push_str(&format!("Authorization: {}\r\n", auth.expose()));
        }
        if let Some(b) = body {
            head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes())?;
        if let Some(b) = body {
            stream.write_all(b)?;
        }
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).context("reading the reply")?;
        let split = reply.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow!("malformed HTTP reply"))?;
        let head = String::from_utf8_lossy(&reply[..split]).to_string();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
        if status == 401 || status == 403 {
            bail!("{path} answered HTTP {status}: wrong or missing credentials (http://user:password@host:port)");
        }
        if status != 200 {
            let text = String::from_utf8_lossy(&reply[split + 4..]);
            bail!("{path} answered HTTP {status}: {}", text.chars().take(200).collect::<String>());
        }
        let body = reply[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            return dechunk(&body);
        }
        Ok(body)
    }
}

/// Decodes a chunked HTTP body.
fn dechunk(mut data: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n").ok_or_else(|| anyhow!("truncated chunked body"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| anyhow!("bad chunk size `{size_text}`"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        // `checked_add`: a hostile chunk size near usize::MAX must not wrap around.
        if size.checked_add(2).is_none_or(|need| data.len() < need) {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_addresses() {
        assert_eq!(Endpoint::parse("http://127.0.0.1:9898/").unwrap().authority, "127.0.0.1:9898");
        assert_eq!(Endpoint::parse("localhost:9000").unwrap().authority, "localhost:9000");
        assert_eq!(Endpoint::parse(":9000").unwrap().authority, "127.0.0.1:9000");
        assert!(Endpoint::parse("https://x:1").is_err());
        assert!(Endpoint::parse("http://x:1/api").is_err());
        let with_user = Endpoint::parse("http://elastic:secret@127.0.0.1:9200").unwrap();
        assert_eq!(with_user.authority, "127.0.0.1:9200");
        assert_eq!(with_user.authorization.as_ref().map(Secret::expose), Some("Basic ZWxhc3RpYzpzZWNyZXQ="));
        assert!(!format!("{with_user:?}").contains("ZWxhc3Rp"), "credentials in Debug");
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
        assert!(dechunk(b"5\r\nab").is_err());
        // A size that would wrap around when 2 is added: an error, not a panic.
        assert!(dechunk(b"ffffffffffffffff\r\nab\r\n").is_err());
    }

    #[test]
    fn an_unreachable_agent_is_an_error_not_a_panic() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = Endpoint::parse(&format!(":{port}")).unwrap().snapshot(Duration::from_millis(500)).unwrap_err();
        assert!(format!("{err:#}").contains("connecting"), "{err:#}");
    }
}
