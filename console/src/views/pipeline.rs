//! Pipeline: per-plugin events in and out, and their rates, like `vector top`.

use super::count;
use crate::app::App;
use pipeline_dsl::api::Snapshot;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Borders, Row, Table, TableState};
use ratatui::Frame;

/// Draws the plugin table into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let Some(s) = &app.snapshot else { return };
    let rate = |pick: &dyn Fn(&Snapshot) -> Option<u64>| {
        app.rate(|s| pick(s)).map_or_else(|| "-".to_string(), |r| format!("{}/s", count(r.round() as u64)))
    };
    let mut rows = Vec::new();
    for i in &s.inputs {
        let id = i.id.clone();
        rows.push(Row::new(vec![
            "input".to_string(),
            i.id.clone(),
            count(i.events),
            "-".into(),
            rate(&|s| s.inputs.iter().find(|x| x.id == id).map(|x| x.events)),
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
        ]));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(7),
            Constraint::Min(16),
            Constraint::Length(12),
            Constraint::Length(12),
            Constraint::Length(12),
        ],
    )
    .header(
        Row::new(["kind", "id", "events in", "events out", "rate"]).style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
    .block(Block::new().borders(Borders::ALL).title(" plugins (↑↓ scroll) "));
    let mut state = TableState::default().with_selected(Some(app.selected));
    frame.render_stateful_widget(table, area, &mut state);
}
