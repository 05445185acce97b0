//! AWS CloudFront standard (access) log, version 1.0 with all 33 fields: W3C header
//! lines, tab-separated values, URL-encoded user agents and `-` for empty values.

use crate::catalog::{Catalog, Incidents, AGENTS, POPS, RENDITIONS};
use crate::rng::Rng;
use chrono::{DateTime, Utc};

/// The two W3C header lines every CloudFront log file starts with.
pub const HEADER: &str = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len sc-range-start sc-range-end";

/// CloudFront's URL encoding of header values: spaces and a few others become %XX.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            ' ' => out.push_str("%20"),
            '"' => out.push_str("%22"),
            '\\' => out.push_str("%5C"),
            '\t' => out.push_str("%09"),
            c => out.push(c),
        }
    }
    out
}

fn request_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut id: String = (0..54).map(|_| ALPHABET[rng.below(64) as usize] as char).collect();
    id.push_str("==");
    id
}

/// Formats one CloudFront log line at time `t`.
pub fn line(catalog: &Catalog, rng: &mut Rng, t: DateTime<Utc>, minute: u64) -> String {
    let title = catalog.title(rng);
    let pop = catalog.pop(rng);
    let (ua, _) = *rng.pick(AGENTS);
    let ip = Catalog::client_ip(rng);
    let (rendition, kbps) = *rng.pick(RENDITIONS);
    let manifest = rng.chance(0.06);
    let (path, ctype, mut bytes) = if manifest {
        (format!("/vod/{}/master.m3u8", catalog.titles[title]), "application/vnd.apple.mpegurl", 900 + rng.below(600))
    } else {
        (
            format!("/vod/{}/{rendition}/seg_{:05}.m4s", catalog.titles[title], rng.below(1800)),
            "video/iso.segment",
            kbps * 500,
        )
    };
    let mut result = match rng.below(100) {
        0..=84 => "Hit",
        85..=96 => "Miss",
        _ => "RefreshHit",
    };
    let mut status = match rng.below(10_000) {
        0..=39 => 404,
        40..=59 => 403,
        60..=79 => 503,
        80..=89 => 0,
        90..=299 => 206,
        _ => 200,
    };
    if result != "Hit" && Incidents::origin_failing(title, minute) && rng.chance(0.6) {
        status = 502;
    }
    let mut taken = match result {
        "Hit" => rng.lognormal(0.005, 0.7),
        _ => rng.lognormal(0.110, 0.6),
    };
    if Incidents::pop_congested(pop, minute) {
        taken *= 5.0;
    }
    if status >= 400 || status == 0 {
        result = "Error";
        bytes = 300 + rng.below(300);
    }
    let ttfb = (taken * (0.3 + rng.unit() * 0.6)).max(0.001);
    let content_len = if status == 0 { "-".to_string() } else { bytes.saturating_sub(250).to_string() };
    let (ssl, cipher, proto) = if rng.chance(0.97) {
        if rng.chance(0.6) {
            ("TLSv1.3", "TLS_AES_128_GCM_SHA256", "https")
        } else {
            ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", "https")
        }
    } else {
        ("-", "-", "http")
    };
    let version = if rng.chance(0.7) { "HTTP/2.0" } else { "HTTP/1.1" };
    let query = if manifest && rng.chance(0.5) { format!("session={}", rng.below(1_000_000)) } else { "-".to_string() };
    let xff = if rng.chance(0.05) { Catalog::client_ip(rng) } else { "-".to_string() };
    let range = if status == 206 { (rng.below(1000) * 1024, None::<u64>) } else { (0, None) };
    let (range_start, range_end) = if status == 206 {
        (range.0.to_string(), (range.0 + bytes).to_string())
    } else {
        ("-".to_string(), "-".to_string())
    };
    let _ = range.1;
    let fields = [
        t.format("%Y-%m-%d").to_string(),
        t.format("%H:%M:%S").to_string(),
        POPS[pop].2.to_string(),
        bytes.to_string(),
        ip,
        "GET".to_string(),
        "d1a2b3c4d5e6f7.cloudfront.net".to_string(),
        path,
        format!("{status:03}"),
        "-".to_string(),
        encode(ua),
        query,
        "-".to_string(),
        result.to_string(),
        request_id(rng),
        "video.example.com".to_string(),
        proto.to_string(),
        (300 + rng.below(400)).to_string(),
        format!("{taken:.3}"),
        xff,
        ssl.to_string(),
        cipher.to_string(),
        result.to_string(),
        version.to_string(),
        "-".to_string(),
        "-".to_string(),
        (1024 + rng.below(60000)).to_string(),
        format!("{ttfb:.3}"),
        result.to_string(),
        ctype.to_string(),
        content_len,
        range_start,
        range_end,
    ];
    fields.join("\t")
}
