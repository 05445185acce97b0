//! Titles: one row per title, sortable, filterable, SLO breaches in red; Enter opens a
//! title's latency histogram and its percentiles over the recent windows.

use super::{count, opt, percent, slo_style};
use crate::app::{App, Column, TitleRow};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState};
use ratatui::Frame;

/// Draws the titles table (and the detail, when open) into `area`.
pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let rows = app.titles();
    let [filter_line, table_area] = Layout::vertical([Constraint::Length(1), Constraint::Min(3)]).areas(area);
    let prompt = if app.filtering {
        Line::from(vec![
            Span::raw(" filter: "),
            Span::styled(format!("{}_", app.filter), Style::new().fg(Color::Yellow)),
        ])
    } else if app.filter.is_empty() {
        Line::from(format!(" {} titles · sorted by {} · / to filter", rows.len(), app.sort.header()))
    } else {
        Line::from(format!(" {} titles matching \"{}\" · Esc clears", rows.len(), app.filter))
    };
    frame.render_widget(Paragraph::new(prompt), filter_line);

    let slo = &app.slo;
    let header = Row::new(Column::ALL.iter().map(|c| {
        let mark = if *c == app.sort {
            if app.descending {
                "▼"
            } else {
                "▲"
            }
        } else {
            ""
        };
        Cell::from(format!("{}{mark}", c.header()))
    }))
    .style(Style::new().add_modifier(Modifier::BOLD));
    let table_rows = rows.iter().map(|r| {
        Row::new(vec![
            Cell::from(r.title.clone()),
            Cell::from(format!("{:.1}", r.rps)),
            Cell::from(opt(r.p50)),
            Cell::from(opt(r.p95)).style(slo_style(r.p95.is_some_and(|v| v > slo.p95_ms))),
            Cell::from(opt(r.p99)),
            Cell::from(percent(r.error_rate)).style(slo_style(r.error_rate.is_some_and(|e| e > slo.error_rate))),
            Cell::from(percent(r.cache_hit)).style(slo_style(r.cache_hit.is_some_and(|h| h < slo.cache_hit))),
            Cell::from(opt(r.startup_p95)).style(slo_style(r.startup_p95.is_some_and(|v| v > slo.startup_p95_ms))),
            Cell::from(percent(r.rebuffer)).style(slo_style(r.rebuffer.is_some_and(|v| v > slo.rebuffer))),
        ])
    });
    let widths = [
        Constraint::Min(8),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(10),
        Constraint::Length(8),
    ];
    let table = Table::new(table_rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED))
        .block(Block::new().borders(Borders::ALL).title(" titles (newest closed window) "));
    let selected = (!rows.is_empty()).then(|| app.selected.min(rows.len().saturating_sub(1)));
    let mut state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, table_area, &mut state);

    if let Some(title) = &app.detail {
        if let Some(row) = rows.iter().find(|r| &r.title == title) {
            detail(frame, area, row);
        }
    }
}

/// The detail overlay: histogram as bars, percentiles of the recent windows.
fn detail(frame: &mut Frame, area: Rect, row: &TitleRow) {
    let popup = Rect {
        x: area.x + 2.min(area.width / 10),
        y: area.y + 1.min(area.height / 10),
        width: area.width.saturating_sub(4).max(20).min(area.width),
        height: area.height.saturating_sub(2).max(8).min(area.height),
    };
    frame.render_widget(Clear, popup);
    let block = Block::new().borders(Borders::ALL).title(format!(" {} · latency (ms) · Esc closes ", row.title));
    let inner = block.inner(popup);
    frame.render_widget(block, popup);
    let [chart, history] = Layout::vertical([Constraint::Percentage(60), Constraint::Min(3)]).areas(inner);

    // The histogram's buckets folded into as many bars as fit.
    let bar_width = 5u16;
    let slots = (chart.width / (bar_width + 1)).max(1) as usize;
    let groups = fold(&row.histogram, slots);
    let bars: Vec<Bar> = groups
        .iter()
        .map(|(upper, n)| Bar::new(*n).label(Line::from(short_ms(*upper))).text_value(count(*n)))
        .collect();
    if bars.is_empty() {
        frame.render_widget(Paragraph::new("no latency histogram for this title in the newest window"), chart);
    } else {
        frame.render_widget(
            BarChart::new(bars).bar_width(bar_width).bar_gap(1).bar_style(Style::new().fg(Color::Cyan)),
            chart,
        );
    }
    let mut lines = vec![Line::from(Span::styled(
        format!(
            "now: p50 {} · p95 {} · p99 {} ms · {:.1} req/s · errors {} % · cache hit {} %",
            opt(row.p50),
            opt(row.p95),
            opt(row.p99),
            row.rps,
            percent(row.error_rate),
            percent(row.cache_hit)
        ),
        Style::new().add_modifier(Modifier::BOLD),
    ))];
    lines.push(Line::from("window     p50     p95     p99  source"));
    let shown = history.height.saturating_sub(2) as usize;
    for w in row.history.iter().take(shown) {
        let t = chrono_free_time(w.start_ms);
        lines.push(Line::from(format!(
            "{t}  {:>6}  {:>6}  {:>6}  {}",
            count(w.p50),
            count(w.p95),
            count(w.p99),
            w.source
        )));
    }
    frame.render_widget(Paragraph::new(lines), history);
}

/// Groups ascending (value, count) buckets into at most `slots` bars of about equal
/// value ranges on a log scale; each bar is labelled by its largest value.
fn fold(histogram: &[(f64, u64)], slots: usize) -> Vec<(f64, u64)> {
    let (Some(first), Some(last)) = (histogram.first(), histogram.last()) else { return Vec::new() };
    if histogram.len() <= slots {
        return histogram.to_vec();
    }
    let (lo, hi) = (first.0.max(1.0).ln(), last.0.max(1.0).ln());
    let step = ((hi - lo) / slots as f64).max(f64::EPSILON);
    let mut out: Vec<(f64, u64)> = Vec::new();
    let mut current: Option<usize> = None;
    for (v, n) in histogram {
        let slot = (((v.max(1.0).ln() - lo) / step) as usize).min(slots - 1);
        if current == Some(slot) {
            if let Some(last) = out.last_mut() {
                *last = (*v, last.1 + n);
            }
        } else {
            out.push((*v, *n));
            current = Some(slot);
        }
    }
    out
}

/// `850`, `1.2k`, `35k` (milliseconds, short enough for a bar label).
fn short_ms(v: f64) -> String {
    if v < 1000.0 {
        format!("{v:.0}")
    } else if v < 10_000.0 {
        format!("{:.1}k", v / 1000.0)
    } else {
        format!("{:.0}k", v / 1000.0)
    }
}

/// `HH:MM:SS` (UTC) of a Unix time in milliseconds.
fn chrono_free_time(ms: i64) -> String {
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_fold_into_the_bars_that_fit() {
        let h: Vec<(f64, u64)> = (1..=100).map(|v| (v as f64, 1)).collect();
        let bars = fold(&h, 10);
        assert!(bars.len() <= 10);
        assert_eq!(bars.iter().map(|b| b.1).sum::<u64>(), 100);
        assert_eq!(bars.last().unwrap().0, 100.0);
        assert_eq!(fold(&h[..3], 10), h[..3].to_vec());
        assert!(fold(&[], 10).is_empty());
        assert_eq!(short_ms(1234.0), "1.2k");
        assert_eq!(chrono_free_time(3_723_000), "01:02:03");
    }
}
