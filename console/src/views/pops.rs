//! POPs: cache hit ratio gauges with latency and traffic per POP.

use super::{opt, percent, slo_style};
use crate::app::App;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, LineGauge, Paragraph};
use ratatui::Frame;

/// Draws one gauge line per POP into `area`, scrolled to keep the selection visible.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::new().borders(Borders::ALL).title(" POPs: cache hit ratio · p95 latency · requests/s ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let pops = app.pops();
    if pops.is_empty() {
        frame.render_widget(Paragraph::new("no POP windows yet (a window_stats filter grouped by [cdn][pop])"), inner);
        return;
    }
    let visible = inner.height as usize;
    let first = app.selected.saturating_sub(visible.saturating_sub(1));
    for (row, (i, p)) in pops.iter().enumerate().skip(first).take(visible).enumerate() {
        let line = Rect { x: inner.x, y: inner.y + row as u16, width: inner.width, height: 1 };
        let [name, gauge, figures] =
            Layout::horizontal([Constraint::Length(12), Constraint::Min(10), Constraint::Length(30)]).areas(line);
        let mut name_style = Style::new();
        if i == app.selected {
            name_style = name_style.add_modifier(Modifier::REVERSED);
        }
        frame.render_widget(Paragraph::new(Span::styled(format!("{:<11}", p.pop), name_style)), name);
        let breach = p.cache_hit.is_some_and(|h| h < app.slo.cache_hit);
        frame.render_widget(
            LineGauge::default()
                .ratio(p.cache_hit.unwrap_or(0.0).clamp(0.0, 1.0))
                .label(format!("{:>5} %", percent(p.cache_hit)))
                .filled_style(if breach { Style::new().fg(Color::Red) } else { Style::new().fg(Color::Green) }),
            gauge,
        );
        let slow = p.p95.is_some_and(|v| v > app.slo.p95_ms);
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(format!(" {:>6} ms", opt(p.p95)), slo_style(slow)),
                Span::raw(format!(" {:>8.1} req/s", p.rps)),
            ])),
            figures,
        );
    }
}
