//! Playback-service JSON lines: one object per player event (session start with
//! startup time, rebuffer start/end, bitrate switch, error with code, stop).
//!
//! Sessions are simulated whole and their events merged into time order, so every
//! rebuffer has its end and every session its stop unless it errored out.

use crate::catalog::{Catalog, Incidents, AGENTS, POPS, RENDITIONS};
use crate::rng::Rng;
use chrono::{DateTime, Duration, SecondsFormat, Utc};

/// One playback event, formatted once its time is known.
pub struct PlaybackEvent {
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The JSON line without the timestamp, which is prepended on output.
    pub body: String,
}

impl PlaybackEvent {
    /// The JSON line.
    pub fn to_line(&self) -> String {
        format!("{{\"timestamp\":\"{}\",{}}}", self.at.to_rfc3339_opts(SecondsFormat::Millis, true), self.body)
    }
}

const ERRORS: &[&str] = &["NETWORK_TIMEOUT", "MEDIA_ERR_DECODE", "DRM_LICENSE_FAILED", "MANIFEST_404", "CDN_5XX"];

/// Simulates one session starting at `start`; pushes its events into `out`.
pub fn session(
    catalog: &Catalog,
    rng: &mut Rng,
    id: u64,
    start: DateTime<Utc>,
    minute: u64,
    out: &mut Vec<PlaybackEvent>,
) {
    let title = catalog.title(rng);
    let pop = catalog.pop(rng);
    let (_, device) = *rng.pick(AGENTS);
    let congested = Incidents::pop_congested(pop, minute);
    let failing = Incidents::origin_failing(title, minute);
    let common = format!(
        "\"session_id\":\"s-{id:07}\",\"title_id\":\"{}\",\"device\":\"{device}\",\"pop\":\"{}\"",
        catalog.titles[title], POPS[pop].0
    );
    let mut ladder = rng.below(RENDITIONS.len() as u64 - 1) as usize + 1;
    let mut startup = rng.lognormal(1100.0, 0.45);
    if congested {
        startup *= 3.0;
    }
    // Some sessions never start: they fail before the first frame.
    if rng.chance(if failing { 0.4 } else { 0.015 }) {
        let code = if failing { "CDN_5XX" } else { *rng.pick(ERRORS) };
        out.push(PlaybackEvent {
            at: start + Duration::milliseconds(startup as i64),
            body: format!("\"event\":\"error\",{common},\"error_code\":\"{code}\",\"fatal\":true,\"position_ms\":0"),
        });
        return;
    }
    out.push(PlaybackEvent {
        at: start,
        body: format!(
            "\"event\":\"session_start\",{common},\"startup_ms\":{},\"bitrate_kbps\":{}",
            startup.round() as u64,
            RENDITIONS[ladder].1
        ),
    });
    let watch_ms = (rng.lognormal(600_000.0, 0.9)).min(3_000_000.0) as i64;
    let mut t = start + Duration::milliseconds(startup as i64);
    let end = t + Duration::milliseconds(watch_ms);
    let rebuffer_rate = if congested { 1.0 / 40_000.0 } else { 1.0 / 400_000.0 };
    let mut position = 0i64;
    loop {
        let gap = (rng.lognormal(1.0, 1.0) / rebuffer_rate).max(1000.0) as i64;
        t += Duration::milliseconds(gap);
        position += gap;
        if t >= end {
            break;
        }
        if rng.chance(0.5) {
            let from = RENDITIONS[ladder].1;
            ladder = if rng.chance(0.5) && ladder > 0 { ladder - 1 } else { (ladder + 1).min(RENDITIONS.len() - 1) };
            out.push(PlaybackEvent {
                at: t,
                body: format!(
                    "\"event\":\"bitrate_switch\",{common},\"from_kbps\":{from},\"to_kbps\":{},\"position_ms\":{position}",
                    RENDITIONS[ladder].1
                ),
            });
        } else {
            let stall = rng.lognormal(if congested { 2500.0 } else { 800.0 }, 0.7) as i64;
            out.push(PlaybackEvent {
                at: t,
                body: format!("\"event\":\"rebuffer_start\",{common},\"position_ms\":{position}"),
            });
            t += Duration::milliseconds(stall);
            out.push(PlaybackEvent {
                at: t,
                body: format!("\"event\":\"rebuffer_end\",{common},\"rebuffer_ms\":{stall},\"position_ms\":{position}"),
            });
        }
        if rng.chance(0.01) {
            out.push(PlaybackEvent {
                at: t,
                body: format!(
                    "\"event\":\"error\",{common},\"error_code\":\"{}\",\"fatal\":true,\"position_ms\":{position}",
                    rng.pick(ERRORS)
                ),
            });
            return;
        }
    }
    out.push(PlaybackEvent {
        at: end,
        body: format!("\"event\":\"stop\",{common},\"watch_ms\":{watch_ms},\"position_ms\":{watch_ms}"),
    });
}
