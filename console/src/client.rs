//! Reading the agent's control API: one `GET /api/v1/snapshot` over plain HTTP/1.1.
//!
//! The API listens on loopback by default and speaks plain HTTP, so a small blocking
//! client on a `TcpStream` is all the console needs (no TLS, no async runtime).

use anyhow::{anyhow, bail, Context};
use pipeline_dsl::api::Snapshot;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Where the agent's control API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentUrl {
    /// `host:port`.
    pub authority: String,
}

impl AgentUrl {
    /// Parses `http://host:port`, `host:port` or `:port` (loopback).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let rest = text.strip_prefix("http://").unwrap_or(text);
        if rest.starts_with("https://") || text.starts_with("https://") {
            bail!("the control API speaks plain HTTP (it listens on loopback by default): use http://");
        }
        let authority = rest.trim_end_matches('/');
        let authority =
            if authority.starts_with(':') { format!("127.0.0.1{authority}") } else { authority.to_string() };
        if authority.is_empty() || authority.contains('/') {
            bail!("`{text}` is not an agent address (expected http://HOST:PORT)");
        }
        Ok(Self { authority })
    }

    /// The snapshot, or why it could not be had.
    pub fn snapshot(&self, timeout: Duration) -> anyhow::Result<Snapshot> {
        let body = self.get("/api/v1/snapshot", timeout)?;
        serde_json::from_slice(&body).context("the agent's snapshot is not the JSON this console understands")
    }

    fn get(&self, path: &str, timeout: Duration) -> anyhow::Result<Vec<u8>> {
        let addr = self
            .authority
            .to_socket_addrs()
            .with_context(|| format!("resolving {}", self.authority))?
            .next()
            .ok_or_else(|| anyhow!("{} resolves to no address", self.authority))?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout).with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\n\r\n",
            self.authority
        )?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).context("reading the reply")?;
        let split = reply.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| anyhow!("malformed HTTP reply"))?;
        let head = String::from_utf8_lossy(&reply[..split]).to_string();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(0);
        if status != 200 {
            bail!("{path} answered HTTP {status}");
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
        if data.len() < size + 2 {
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
        assert_eq!(AgentUrl::parse("http://127.0.0.1:9898/").unwrap().authority, "127.0.0.1:9898");
        assert_eq!(AgentUrl::parse("localhost:9000").unwrap().authority, "localhost:9000");
        assert_eq!(AgentUrl::parse(":9000").unwrap().authority, "127.0.0.1:9000");
        assert!(AgentUrl::parse("https://x:1").is_err());
        assert!(AgentUrl::parse("http://x:1/api").is_err());
    }

    #[test]
    fn chunked_bodies() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n").unwrap(), b"abcde");
        assert!(dechunk(b"5\r\nab").is_err());
    }

    #[test]
    fn an_unreachable_agent_is_an_error_not_a_panic() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let err = AgentUrl::parse(&format!(":{port}")).unwrap().snapshot(Duration::from_millis(500)).unwrap_err();
        assert!(format!("{err:#}").contains("connecting"), "{err:#}");
    }
}
