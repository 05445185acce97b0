//! Pipeline: per-plugin events in and out, and their rates, like `vector top`; for
//! filters also their estimated cost per event and share of the filters' time, to find
//! the slow one.

use super::count;
use crate::app::App;
use pipeline_dsl::api::Snapshot;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Table, TableState};
use ratatui::Frame;

/// Draws the plugin table into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(s) = &app.snapshot else { return };
    let rate = |pick: &dyn Fn(&Snapshot) -> Option<u64>| {
        app.rate(|s| pick(s)).map_or_else(|| "-".to_string(), |r| format!("{}/s", count(r.round() as u64)))
    };
    let filter_micros: u64 = s.pipeline.filters.iter().map(|f| f.duration_micros).sum();
    let mut rows = Vec::new();
    for i in &s.inputs {
        let id = i.id.clone();
        rows.push(Row::new(vec![
            "input".to_string(),
            i.id.clone(),
            count(i.events),
            "-".into(),
            rate(&|s| s.inputs.iter().find(|x| x.id == id).map(|x| x.events)),
            "-".into(),
            "-".into(),
        ]));
    }
    for f in &s.pipeline.filters {
        let id = f.id.clone();
        rows.push(Row::new(vec![
            "filter".to_string(),
            f.id.clone(),
            count(f.events_in),
            count(f.events_out),
            rate(&|s| s.pipeline.filters.iter().find(|x| x.id == id).map(|x| x.events_in)),
            per_event(f.duration_micros, f.events_in),
            share(f.duration_micros, filter_micros),
        ]));
    }
    for o in &s.outputs {
        let id = o.id.clone();
        rows.push(Row::new(vec![
            "output".to_string(),
            o.id.clone(),
            "-".into(),
            count(o.events),
            rate(&|s| s.outputs.iter().find(|x| x.id == id).map(|x| x.events)),
            "-".into(),
            "-".into(),
        ]));
    }
    let table = Table::new(
        rows,
        [
            // 80 columns: 7 + 15 + 12 + 12 + 11 + 8 + 7, six gaps and the borders.
            Constraint::Length(7),
            Constraint::Min(15),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Length(7),
        ],
    )
    .header(
        Row::new(["kind", "id", "events in", "events out", "rate", "µs/event", "time"])
            .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(Block::new().borders(Borders::ALL).title(" plugins (↑↓ scroll) "));
    // Below the table, how each output keeps pace with its server: requests it allows
    // itself in flight, the share of items turned away lately, documents waiting to
    // be sent again.
    let pace: Vec<Line> = s
        .outputs
        .iter()
        .map(|o| {
            let line = format!(
                " output {}: {} in flight, {:.1} % rejected (10 s), {} to retry",
                o.id,
                o.concurrency,
                o.rejection_rate * 100.0,
                count(o.retry_queue)
            );
            let style = if o.rejection_rate > 0.1 { Style::new().fg(Color::Red) } else { Style::new() };
            Line::styled(line, style)
        })
        .collect();
    let [table_area, pace_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(pace.len() as u16)]).areas(area);
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, table_area, &mut state);
    frame.render_widget(Paragraph::new(pace), pace_area);
}

/// A filter's estimated microseconds per event that reached it ("-" before any).
fn per_event(micros: u64, events: u64) -> String {
    if events == 0 || micros == 0 {
        return "-".into();
    }
    format!("{:.2}", micros as f64 / events as f64)
}

/// A filter's share of all the filters' estimated time, in per cent.
fn share(micros: u64, total: u64) -> String {
    if total == 0 {
        return "-".into();
    }
    format!("{:.1} %", micros as f64 * 100.0 / total as f64)
}
