//! `loggen`: writes realistic CDN edge, CloudFront and playback logs, deterministically
//! from a seed, for logship's sample logs, tests and benchmarks.

mod catalog;
mod cloudfront;
mod edge;
mod playback;
mod rng;

use anyhow::Context;
use catalog::Catalog;
use chrono::{DateTime, Duration, Utc};
use clap::{Parser, ValueEnum};
use rng::Rng;
use std::io::{BufWriter, Write};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Kind {
    /// nginx-style edge access log (combined + request time, cache status, POP).
    Edge,
    /// AWS CloudFront standard log (33 tab-separated fields, W3C header).
    Cloudfront,
    /// Playback-service JSON lines.
    Playback,
}

/// Generate sample logs.
#[derive(Parser, Debug)]
#[command(name = "loggen", about)]
struct Args {
    /// Which log to generate.
    #[arg(long, value_enum)]
    kind: Kind,
    /// Number of lines (for playback: about this many events).
    #[arg(long, default_value_t = 10_000)]
    lines: u64,
    /// Random seed; the same seed gives the same output.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Start of the simulated period (RFC 3339).
    #[arg(long, default_value = "2026-11-20T20:00:00Z")]
    start: DateTime<Utc>,
    /// Length of the simulated period in seconds.
    #[arg(long, default_value_t = 3600)]
    duration_secs: u64,
    /// Number of distinct titles.
    #[arg(long, default_value_t = 300)]
    titles: usize,
}

fn generate() -> anyhow::Result<()> {
    let args = Args::parse();
    let catalog = Catalog::new(args.titles.max(1));
    let mut rng = Rng::new(args.seed);
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, out.lock());
    let span_ms = (args.duration_secs * 1000) as f64;
    let n = args.lines.max(1);
    match args.kind {
        Kind::Edge | Kind::Cloudfront => {
            if let Kind::Cloudfront = args.kind {
                writeln!(out, "{}", cloudfront::HEADER)?;
            }
            for i in 0..n {
                let offset = (i as f64 * span_ms / n as f64) as i64;
                let t = args.start + Duration::milliseconds(offset);
                let minute = offset as u64 / 60_000;
                let line = match args.kind {
                    Kind::Edge => edge::line(&catalog, &mut rng, t, minute),
                    _ => cloudfront::line(&catalog, &mut rng, t, minute),
                };
                writeln!(out, "{line}")?;
            }
        }
        Kind::Playback => {
            // Simulate whole sessions starting anywhere in the period until enough of
            // their events fall inside it.
            let end = args.start + Duration::milliseconds(span_ms as i64);
            let mut events = Vec::with_capacity(n as usize + 64);
            let mut id = 0;
            while (events.len() as u64) < n {
                let offset = (rng.unit() * span_ms) as i64;
                let start = args.start + Duration::milliseconds(offset);
                playback::session(&catalog, &mut rng, id, start, offset as u64 / 60_000, &mut events);
                events.retain(|e| e.at < end);
                id += 1;
            }
            events.sort_by_key(|e| e.at);
            for e in events.iter().take(n as usize) {
                writeln!(out, "{}", e.to_line())?;
            }
        }
    }
    out.flush().context("writing output")?;
    Ok(())
}

/// Runs `generate`, treating a closed pipe (`loggen … | head`) as a normal end.
fn main() -> anyhow::Result<()> {
    match generate() {
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) => {
            Ok(())
        }
        other => other,
    }
}
