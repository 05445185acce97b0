//! Drawing: the tab bar, the view, the status and key lines, and the overlays.
//! Every view works from 80×24 up and redraws on resize.

mod overview;
mod pipeline;
mod pops;
mod titles;

use crate::app::{App, View};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Tabs};
use ratatui::Frame;

/// The keys, as the footer and the help overlay list them.
const KEYS: &[(&str, &str)] = &[
    ("q/Esc", "quit (Esc closes first)"),
    ("Tab/1-4", "switch view"),
    ("↑↓ j/k", "move"),
    ("s/S ←→", "sort column"),
    ("r", "reverse sort"),
    ("/", "filter titles"),
    ("Enter", "title detail"),
    ("?", "help"),
];

/// Draws the whole screen.
pub fn render(frame: &mut Frame, app: &App) {
    let [tabs, status, body, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1), Constraint::Min(5), Constraint::Length(1)])
            .areas(frame.area());
    let titles: Vec<Line> =
        View::ALL.iter().enumerate().map(|(i, v)| Line::from(format!("{} {}", i + 1, v.title()))).collect();
    let selected = View::ALL.iter().position(|v| *v == app.view).unwrap_or(0);
    frame.render_widget(
        Tabs::new(titles)
            .select(selected)
            .highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .divider("│"),
        tabs,
    );
    frame.render_widget(status_line(app), status);
    match app.view {
        View::Overview => overview::render(frame, body, app),
        View::Titles => titles::render(frame, body, app),
        View::Pops => pops::render(frame, body, app),
        View::Pipeline => pipeline::render(frame, body, app),
    }
    frame.render_widget(Paragraph::new(footer_line(footer.width)), footer);
    if app.help {
        help(frame, frame.area());
    }
}

/// The key line: every key with its meaning where there is room, the essentials in a
/// compact form at 80 columns.
fn footer_line(width: u16) -> Line<'static> {
    if width >= 110 {
        let spans: Vec<Span> = KEYS
            .iter()
            .flat_map(|(k, what)| {
                let what = what.split(" (").next().unwrap_or(what);
                [
                    Span::styled(format!(" {k} "), Style::new().add_modifier(Modifier::REVERSED)),
                    Span::raw(format!(" {what} ")),
                ]
            })
            .collect();
        return Line::from(spans);
    }
    Line::from(Span::styled(
        " q quit · Tab/1-4 views · ↑↓ move · s sort · / filter · Enter detail · ? help",
        Style::new().add_modifier(Modifier::DIM),
    ))
}

/// Agent address, connection state, version and uptime.
fn status_line(app: &App) -> Paragraph<'static> {
    let mut spans = vec![Span::raw(format!(" agent {} ", app.agent))];
    match &app.error {
        Some(e) => {
            spans.push(Span::styled(
                "· UNREACHABLE, retrying ",
                Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
            ));
            spans.push(Span::raw(format!("· {e}")));
            return Paragraph::new(Line::from(spans));
        }
        None if app.snapshot.is_none() => spans.push(Span::raw("· connecting… ")),
        None => spans.push(Span::styled("· live ", Style::new().fg(Color::Green))),
    }
    if let Some(s) = &app.snapshot {
        spans.push(Span::raw(format!("· logship {} · up {}", s.version, duration(s.uptime_seconds))));
    }
    Paragraph::new(Line::from(spans))
}

fn help(frame: &mut Frame, area: Rect) {
    let width = 46.min(area.width);
    let height = (KEYS.len() as u16 + 4).min(area.height);
    let popup = Rect { x: area.x + (area.width - width) / 2, y: area.y + (area.height - height) / 2, width, height };
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| Line::from(vec![Span::styled(format!("{k:>9}  "), Style::new().bold()), Span::raw(*what)]))
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from("any key closes this help"));
    frame.render_widget(Clear, popup);
    frame.render_widget(Paragraph::new(lines).block(Block::new().borders(Borders::ALL).title(" keys ")), popup);
}

/// `1h02m`, `3m05s`, `12s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// A count with thousands separators.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio as a percentage, or `-`.
pub fn percent(r: Option<f64>) -> String {
    r.map_or_else(|| "-".to_string(), |r| format!("{:.1}", r * 100.0))
}

/// An optional whole number, or `-`.
pub fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), count)
}

/// Red when `breach`, default otherwise.
pub fn slo_style(breach: bool) -> Style {
    if breach {
        Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)
    } else {
        Style::new()
    }
}

/// Bytes as B/KiB/MiB/GiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(duration(3725.0), "1h02m");
        assert_eq!(duration(185.0), "3m05s");
        assert_eq!(percent(Some(0.1234)), "12.3");
        assert_eq!(percent(None), "-");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
