//! Every view rendered with ratatui's TestBackend from two snapshots recorded from a real
//! agent (the root pipeline.conf's filters replaying the sample logs), compared with the
//! screens in `tests/snapshots/` (rewrite them with `LOGSHIP_BLESS=1`).

use console::app::{App, Slo, View};
use console::views;
use pipeline_dsl::api::Snapshot;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Color;
use ratatui::Terminal;
use std::path::PathBuf;

fn fixture(name: &str) -> Snapshot {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// An app that has seen both recorded snapshots (so rates exist).
fn app(slo: Slo) -> App {
    let mut app = App::new("http://127.0.0.1:9898".into(), slo);
    app.update(Ok(fixture("snapshot-1.json")));
    app.update(Ok(fixture("snapshot-2.json")));
    app
}

fn press(app: &mut App, code: KeyCode) {
    app.key(KeyEvent::new(code, KeyModifiers::NONE));
}

fn render(app: &App, width: u16, height: u16) -> (String, Buffer) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| views::render(f, app)).unwrap();
    let buffer = terminal.backend().buffer().clone();
    let mut text = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        text.push_str(line.trim_end());
        text.push('\n');
    }
    (text, buffer)
}

fn assert_screen(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(format!("{name}.txt"));
    if std::env::var("LOGSHIP_BLESS").as_deref() == Ok("1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (LOGSHIP_BLESS=1 writes it)", path.display()));
    assert_eq!(text, want, "screen {name} differs from {}:\n{text}", path.display());
}

#[test]
fn overview_at_80x24() {
    let app = app(Slo::default());
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains("lines/s") && text.contains("output events"), "{text}");
    assert!(text.contains("cache hit") && text.contains("startup p95"), "{text}");
    assert_screen("overview-80x24", &text);
}

#[test]
fn titles_sort_filter_and_detail() {
    let mut app = app(Slo::default());
    press(&mut app, KeyCode::Char('2'));
    assert_eq!(app.view, View::Titles);
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains("t0001"), "{text}");
    assert_screen("titles-80x24", &text);

    // Sorted by p95 (two steps right of req/s), largest first.
    press(&mut app, KeyCode::Char('s'));
    press(&mut app, KeyCode::Char('s'));
    let rows = app.titles();
    assert!(rows.windows(2).all(|w| w[0].p95.unwrap_or(0) >= w[1].p95.unwrap_or(0)));
    assert_screen("titles-by-p95-80x24", &render(&app, 80, 24).0);

    // Filter by typing after `/`.
    press(&mut app, KeyCode::Char('/'));
    for c in "t001".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    let rows = app.titles();
    assert!(!rows.is_empty() && rows.iter().all(|r| r.title.contains("t001")));
    assert_screen("titles-filtered-80x24", &render(&app, 80, 24).0);

    // Enter opens the selected title's detail: histogram bars and recent windows.
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    let title = app.detail.clone().expect("detail open");
    assert_eq!(title, rows[1].title);
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains(&format!("{title} · latency")) && text.contains("window     p50"), "{text}");
    let history = &app.titles()[1].history;
    assert!(history.windows(2).all(|w| w[0].start_ms >= w[1].start_ms), "newest first");
    assert_screen("title-detail-80x24", &text);
    press(&mut app, KeyCode::Esc);
    assert!(app.detail.is_none());
    press(&mut app, KeyCode::Esc);
    assert!(app.filter.is_empty() && !app.quit);
}

#[test]
fn slo_breaches_are_red() {
    let mut app = app(Slo { p95_ms: 0, ..Slo::default() });
    press(&mut app, KeyCode::Char('2'));
    let (text, buffer) = render(&app, 80, 24);
    // The p95 column of the first data row, under the header.
    let (y, header) = text.lines().enumerate().find(|(_, l)| l.contains("p95 ms")).unwrap();
    let column = |name: &str| header.chars().take(header.find(name).unwrap()).count() as u16;
    let row = y as u16 + 1;
    assert_eq!(buffer[(column("p95 ms"), row)].fg, Color::Red, "{text}");
    assert_ne!(buffer[(column("p50 ms"), row)].fg, Color::Red);
}

#[test]
fn pops_and_pipeline_views() {
    let mut app = app(Slo::default());
    press(&mut app, KeyCode::Char('3'));
    let (text, _) = render(&app, 80, 24);
    assert!(app.pops().len() >= 5, "{text}");
    assert_screen("pops-80x24", &text);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Pipeline);
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains("replay-0") && text.contains("json-1"), "{text}");
    assert_screen("pipeline-80x24", &text);
    // The recorded agent predates per-filter timing, hence "-" above. With durations,
    // a filter's line shows its µs per event and its share of all filters' time.
    let mut timed = fixture("snapshot-2.json");
    for f in &mut timed.pipeline.filters {
        f.duration_micros = match f.id.as_str() {
            "cloudfront" => 44_920, // 2,246 events: 20 µs each
            "json-1" => 3_364,      // 3,364 events: 1 µs each
            _ => 0,
        };
    }
    let mut timed_app = App::new("http://127.0.0.1:9898".into(), Slo::default());
    timed_app.update(Ok(fixture("snapshot-1.json")));
    timed_app.update(Ok(timed));
    press(&mut timed_app, KeyCode::Char('4'));
    let (text, _) = render(&timed_app, 80, 24);
    let line = |id: &str| text.lines().find(|l| l.contains(&format!(" {id} "))).unwrap().to_string();
    assert!(line("cloudfront").ends_with("20.00    93.0 % │"), "{text}");
    assert!(line("json-1").ends_with("1.00     7.0 %  │"), "{text}");
    assert!(line("date-2").ends_with("-        0.0 %  │"), "{text}");
    // Scrolling reaches the last plugins.
    press(&mut app, KeyCode::End);
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains("playback_title") && text.contains("events"), "{text}");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Overview);
}

#[test]
fn help_unreachable_agent_and_other_sizes() {
    let mut app = app(Slo::default());
    press(&mut app, KeyCode::Char('?'));
    assert_screen("help-80x24", &render(&app, 80, 24).0);
    press(&mut app, KeyCode::Char('x'));
    assert!(!app.help);

    app.update(Err("connecting to 127.0.0.1:9898: Connection refused".into()));
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains("UNREACHABLE, retrying"), "{text}");
    assert!(text.contains("lines/s"), "the last data stays on screen: {text}");
    assert_screen("unreachable-80x24", &text);

    // Any size renders without panicking, down to a tiny terminal.
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Enter);
    for (w, h) in [(200, 60), (120, 40), (80, 24), (40, 12), (10, 5), (1, 1)] {
        for view in ['1', '2', '3', '4'] {
            press(&mut app, KeyCode::Char(view));
            render(&app, w, h);
        }
    }
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn a_console_without_data_says_so_in_every_view() {
    let mut app = App::new("http://127.0.0.1:9898".into(), Slo::default());
    let (text, _) = render(&app, 80, 24);
    assert!(text.contains("connecting") && text.contains("waiting for the agent's first snapshot"), "{text}");
    for key in ['2', '3', '4'] {
        press(&mut app, KeyCode::Char(key));
        for code in [KeyCode::Down, KeyCode::End, KeyCode::Enter] {
            press(&mut app, code);
            render(&app, 80, 24);
        }
    }
    press(&mut app, KeyCode::Char('2'));
    assert!(render(&app, 80, 24).0.contains("0 titles"));
}
