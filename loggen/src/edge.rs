//! nginx-style CDN edge access log: the combined format followed by request time,
//! upstream cache status and POP code:
//!
//! `$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
//!  "$http_referer" "$http_user_agent" $request_time $upstream_cache_status $pop`

use crate::catalog::{Catalog, Incidents, AGENTS, POPS, RENDITIONS};
use crate::rng::Rng;
use chrono::{DateTime, Utc};

/// Formats one edge log line at time `t`.
pub fn line(catalog: &Catalog, rng: &mut Rng, t: DateTime<Utc>, minute: u64) -> String {
    let title = catalog.title(rng);
    let pop = catalog.pop(rng);
    let (ua, _) = *rng.pick(AGENTS);
    let ip = Catalog::client_ip(rng);
    let manifest = rng.chance(0.06);
    let (path, mut bytes) = if manifest {
        (format!("/vod/{}/master.m3u8", catalog.titles[title]), 900 + rng.below(600))
    } else {
        let (rendition, kbps) = *rng.pick(RENDITIONS);
        let seg = rng.below(1800);
        (format!("/vod/{}/{rendition}/seg_{seg:05}.m4s", catalog.titles[title]), kbps * 1000 / 8 * 4)
    };
    let mut cache = match rng.below(1000) {
        0..=829 => "HIT",
        830..=949 => "MISS",
        950..=979 => "EXPIRED",
        980..=989 => "STALE",
        _ => "BYPASS",
    };
    // Long-tail titles miss more: their segments are colder in cache.
    if title > 150 && cache == "HIT" && rng.chance(0.25) {
        cache = "MISS";
    }
    let congested = Incidents::pop_congested(pop, minute);
    let mut rt = match cache {
        "HIT" | "STALE" => rng.lognormal(0.004, 0.7),
        _ => rng.lognormal(0.090, 0.6),
    };
    if congested {
        rt *= 6.0;
    }
    let mut status = match rng.below(10_000) {
        0..=49 => 404,
        50..=59 => 403,
        60..=89 => 500 + [0, 2, 3, 4][rng.below(4) as usize],
        90..=399 => 206,
        400..=449 => 304,
        _ => 200,
    };
    if cache != "HIT" && Incidents::origin_failing(title, minute) && rng.chance(0.6) {
        status = if rng.chance(0.5) { 502 } else { 504 };
        rt = rng.lognormal(1.5, 0.4);
    }
    if status >= 400 {
        bytes = 150 + rng.below(200);
        cache = if status >= 500 { "MISS" } else { "-" };
    } else if status == 304 {
        bytes = 0;
    }
    let referer = if rng.chance(0.2) {
        format!("https://watch.example.com/title/{}", catalog.titles[title])
    } else {
        "-".to_string()
    };
    let method = if rng.chance(0.003) { "HEAD" } else { "GET" };
    format!(
        "{ip} - - [{}] \"{method} {path} HTTP/1.1\" {status} {bytes} \"{referer}\" \"{ua}\" {rt:.3} {cache} {}",
        t.format("%d/%b/%Y:%H:%M:%S %z"),
        POPS[pop].0
    )
}
