//! Overview: ingest throughput, parse failures, outputs, queues and lag, and global
//! streaming health (CDN error rate and cache hit ratio, playback startup and rebuffering).

use super::{bytes, count, opt, percent, slo_style};
use crate::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline};
use ratatui::Frame;

/// Draws the overview into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let [ingest, rest] = Layout::vertical([Constraint::Length(6), Constraint::Min(3)]).areas(area);
    let rate = app.lines_per_second();
    let title = format!(" ingest {} lines/s ", rate.map_or_else(|| "-".to_string(), |r| count(r.round() as u64)));
    let samples: Vec<u64> = app.throughput.iter().copied().collect();
    let width = ingest.width.saturating_sub(2) as usize;
    let shown = &samples[samples.len().saturating_sub(width)..];
    frame.render_widget(
        Sparkline::default()
            .block(Block::new().borders(Borders::ALL).title(title))
            .data(shown)
            .style(Style::new().fg(Color::Cyan)),
        ingest,
    );

    let mut lines = Vec::new();
    if let Some(s) = &app.snapshot {
        let failures = app
            .rate(|s| Some(s.pipeline.failures))
            .zip(app.rate(|s| Some(s.pipeline.events_in)))
            .and_then(|(f, e)| (e > 0.0).then(|| f / e))
            .or_else(|| (s.pipeline.events_in > 0).then(|| s.pipeline.failures as f64 / s.pipeline.events_in as f64));
        lines.push(Line::from(format!(
            "events in {}  out {}  dropped {}  parse failures {} %",
            count(s.pipeline.events_in),
            count(s.pipeline.events_out),
            count(s.pipeline.dropped),
            percent(failures)
        )));
        let lag: u64 = s.inputs.iter().map(|i| i.lag_bytes).sum();
        let queued: u64 = s.queues.iter().map(|q| q.depth).sum();
        let capacity: u64 = s.queues.iter().map(|q| q.capacity).sum();
        lines.push(Line::from(format!("file lag {}  queued batches {queued}/{capacity}", bytes(lag))));
        for o in &s.outputs {
            let state = if o.up {
                Span::styled("up  ", Style::new().fg(Color::Green))
            } else {
                Span::styled("DOWN", Style::new().fg(Color::Red))
            };
            lines.push(Line::from(vec![
                Span::raw(format!("output {:<10} ", o.id)),
                state,
                Span::raw(format!(
                    " sent {}  bulk {:.0} ms  retries {}  dead-lettered {}",
                    count(o.events),
                    o.mean_latency_ms,
                    count(o.retries),
                    count(o.dead_lettered)
                )),
            ]));
        }
        let (errors, hits) = app.cdn_health();
        let (startup, rebuffer, play_errors) = app.playback_health();
        let slo = &app.slo;
        lines.push(Line::from(""));
        lines.push(Line::from(vec![
            Span::raw("CDN       error rate "),
            Span::styled(format!("{} %", percent(errors)), slo_style(errors.is_some_and(|e| e > slo.error_rate))),
            Span::raw("   cache hit "),
            Span::styled(format!("{} %", percent(hits)), slo_style(hits.is_some_and(|h| h < slo.cache_hit))),
        ]));
        lines.push(Line::from(vec![
            Span::raw("Playback  startup p95 "),
            Span::styled(format!("{} ms", opt(startup)), slo_style(startup.is_some_and(|p| p > slo.startup_p95_ms))),
            Span::raw("   rebuffer "),
            Span::styled(format!("{} %", percent(rebuffer)), slo_style(rebuffer.is_some_and(|r| r > slo.rebuffer))),
            Span::raw(format!("   errors/session {} %", percent(play_errors))),
        ]));
        lines.push(Line::from(Span::styled(
            "(streaming health: the newest closed window of each window_stats filter)",
            Style::new().fg(Color::DarkGray),
        )));
    } else {
        lines.push(Line::from("waiting for the agent's first snapshot…"));
    }
    frame.render_widget(Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" health ")), rest);
}
