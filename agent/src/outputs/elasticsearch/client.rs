//! The hosts of one output: round-robin over healthy hosts, failover on connection
//! errors, and a background health check that brings a failed host back.

use super::{Auth, EsConfig};
use crate::batch::BufferPool;
use anyhow::Context;
use bytes::Bytes;
use elasticsearch::auth::Credentials;
use elasticsearch::cert::{Certificate, CertificateValidation};
use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use elasticsearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use elasticsearch::http::Method;
use pipeline_dsl::secret::{Redactor, SecretUrl};
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How often a host marked down is probed.
const HEALTH_CHECK_EVERY: Duration = Duration::from_secs(2);

struct Host {
    /// Shown with its credentials as `***`.
    url: SecretUrl,
    transport: Transport,
    up: AtomicBool,
}

/// Talks to an output's hosts.
pub struct Client {
    hosts: Vec<Host>,
    /// Scrubs this output's credentials out of the HTTP client's error texts, which
    /// quote the URL they failed on.
    redactor: Redactor,
    next: AtomicUsize,
    compression: bool,
    timeout: Duration,
}

/// A response: HTTP status and body.
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body bytes.
    pub body: Bytes,
    /// Which host answered.
    pub host: String,
}

impl Client {
    /// One transport per host, with the output's credentials and TLS settings.
    pub fn new(config: &EsConfig) -> anyhow::Result<Self> {
        let ca = match &config.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).with_context(|| format!("reading CA file {}", path.display()))?;
                Some(pem)
            }
            None => None,
        };
        let mut hosts = Vec::new();
        let mut redactor = Redactor::default();
        match &config.auth {
            Auth::None => {}
            Auth::Basic(_, p) | Auth::ApiKey(_, p) | Auth::EncodedApiKey(p) => redactor.add(p),
        }
        for url in &config.hosts {
            redactor.add_url(url);
            let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url.expose().clone()))
                .disable_proxy()
                .timeout(config.timeout);
            builder = match &config.auth {
                Auth::None => builder,
                Auth::Basic(u, p) => builder.auth(Credentials::Basic(u.clone(), p.expose().to_string())),
                Auth::ApiKey(id, key) => builder.auth(Credentials::ApiKey(id.clone(), key.expose().to_string())),
                Auth::EncodedApiKey(k) => builder.auth(Credentials::EncodedApiKey(k.expose().to_string())),
            };
            builder = match (&ca, config.verify) {
                (_, false) => builder.cert_validation(CertificateValidation::None),
                (Some(pem), true) => builder.cert_validation(CertificateValidation::Full(
                    Certificate::from_pem(pem).map_err(|e| anyhow::anyhow!("CA file is not valid PEM: {e}"))?,
                )),
                (None, true) => builder,
            };
            let transport = builder
                .build()
                .map_err(|e| anyhow::anyhow!("setting up the client for {url}: {}", redactor.scrub(&e.to_string())))?;
            hosts.push(Host { url: url.clone(), transport, up: AtomicBool::new(true) });
        }
        Ok(Self {
            hosts,
            redactor,
            next: AtomicUsize::new(0),
            compression: config.compression,
            timeout: config.timeout,
        })
    }

    /// Sends one uncompressed request with extra headers and query parameters to a
    /// healthy host (used by `logship setup`, also towards Kibana).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> anyhow::Result<Reply> {
        let host = self.pick();
        let query = (!query.is_empty()).then_some(query);
        let sent = host
            .transport
            .send::<Bytes, [(&str, &str)]>(method, path, headers, query, body.map(Bytes::from), Some(self.timeout))
            .await
            .map_err(|e| anyhow::anyhow!("{}: {}", host.url, self.redactor.scrub(&with_causes(&e))))?;
        let status = sent.status_code().as_u16();
        let body = sent.bytes().await.map_err(|e| {
            anyhow::anyhow!("{}: reading the response: {}", host.url, self.redactor.scrub(&with_causes(&e)))
        })?;
        Ok(Reply { status, body, host: host.url.to_string() })
    }

    /// Whether any host is up.
    pub fn any_up(&self) -> bool {
        self.hosts.iter().any(|h| h.up.load(Ordering::Relaxed))
    }

    /// The next host to use: round-robin over the healthy ones, any when none is.
    fn pick(&self) -> &Host {
        let n = self.hosts.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|i| &self.hosts[(start + i) % n])
            .find(|h| h.up.load(Ordering::Relaxed))
            .unwrap_or(&self.hosts[start % n])
    }

    /// Sends one request to a healthy host. A connection failure marks the host down
    /// and is returned as an error (the caller retries, on another host if any). The
    /// request body is built in a buffer from `buffers` and given back afterwards.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&[u8]>,
        ndjson: bool,
        buffers: &BufferPool,
    ) -> anyhow::Result<Reply> {
        let host = self.pick();
        let mut headers = HeaderMap::new();
        if ndjson {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        }
        let payload = match body {
            Some(b) if self.compression => {
                headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                let mut gz = flate2::write::GzEncoder::new(buffers.take(), flate2::Compression::fast());
                gz.write_all(b)?;
                Some(Bytes::from(gz.finish()?))
            }
            Some(b) => {
                let mut buf = buffers.take();
                buf.extend_from_slice(b);
                Some(Bytes::from(buf))
            }
            None => None,
        };
        let sent =
            host.transport.send::<Bytes, ()>(method, path, headers, None, payload.clone(), Some(self.timeout)).await;
        // The client has let go of the body once the request is answered.
        let recycle = move || {
            if let Some(Ok(buf)) = payload.map(Bytes::try_into_mut) {
                buffers.give(buf.into());
            }
        };
        let reply = match sent {
            Ok(r) => r,
            Err(e) => {
                recycle();
                let reason = self.redactor.scrub(&with_causes(&e));
                if host.up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(host = %host.url, error = %reason, "Elasticsearch host down");
                }
                return Err(anyhow::anyhow!("{}: {reason}", host.url));
            }
        };
        let status = reply.status_code().as_u16();
        let body = reply.bytes().await;
        recycle();
        let body = body.map_err(|e| {
            host.up.store(false, Ordering::Relaxed);
            anyhow::anyhow!("{}: reading the response: {}", host.url, self.redactor.scrub(&with_causes(&e)))
        })?;
        Ok(Reply { status, body, host: host.url.to_string() })
    }

    /// Probes hosts marked down and marks them up again when they answer. Runs until
    /// the output ends.
    pub async fn health_checks(&self) {
        loop {
            tokio::time::sleep(HEALTH_CHECK_EVERY).await;
            for h in self.hosts.iter().filter(|h| !h.up.load(Ordering::Relaxed)) {
                let probe = h
                    .transport
                    .send::<Vec<u8>, ()>(Method::Get, "/", HeaderMap::new(), None, None, Some(Duration::from_secs(5)))
                    .await;
                if probe.is_ok_and(|r| r.status_code().is_success()) {
                    tracing::info!(host = %h.url, "Elasticsearch host up again");
                    h.up.store(true, Ordering::Relaxed);
                }
            }
        }
    }
}

/// An error with its chain of causes ("error sending request: operation timed out"),
/// which the client's own message leaves out.
fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}
