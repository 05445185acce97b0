//! `logship console`: the live streaming-health terminal UI (ratatui + crossterm).
//!
//! It polls the agent's control API (`/api/v1/snapshot`) every second and shows four
//! views: Overview, Titles, POPs and Pipeline ([`app`] holds the state and the derived
//! rows, [`views`] draws them). When the agent is unreachable it says so and keeps
//! retrying; the terminal is restored on exit, on panic and on SIGTERM, and the console
//! ends when its terminal goes away.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod app;
pub mod client;
pub mod fleet;
pub mod views;

use anyhow::Context;
use app::{App, Slo};
use client::Endpoint;
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

/// Where the figures come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// One agent's control API (`http://127.0.0.1:9898`), and the bearer token it
    /// requires, if any.
    Agent(String, Option<pipeline_dsl::secret::Secret>),
    /// The metric documents of every agent in a cluster: URL (which may carry a
    /// password, so it is kept as a secret) and index pattern.
    Elasticsearch(pipeline_dsl::secret::Secret, String),
}

/// What `logship console` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the figures come from.
    pub source: Source,
    /// Time between refreshes.
    pub interval: Duration,
    /// SLO thresholds for colouring.
    pub slo: Slo,
}

/// Runs the console until the user quits or a SIGTERM/SIGINT/SIGHUP arrives.
pub fn run(options: Options) -> anyhow::Result<()> {
    let fetch: Box<dyn Fn(Duration) -> anyhow::Result<pipeline_dsl::api::Snapshot> + Send> = match &options.source {
        Source::Agent(url, token) => {
            let url = Endpoint::parse(url)?.with_bearer(token.clone());
            Box::new(move |timeout| url.snapshot(timeout))
        }
        Source::Elasticsearch(url, index) => {
            let fleet = fleet::Fleet { endpoint: Endpoint::parse(url.expose())?, index: index.clone(), windows: 18 };
            Box::new(move |timeout| fleet.snapshot(timeout))
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT, signal_hook::consts::SIGHUP] {
        signal_hook::flag::register(signal, stop.clone()).context("installing the signal handler")?;
    }
    watch_for_stop(stop.clone())?;
    // Restore the terminal before a panic message is printed.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        default_hook(info);
    }));
    enable_raw_mode().context("switching the terminal to raw mode")?;
    let result = (|| {
        execute!(std::io::stdout(), EnterAlternateScreen).context("entering the alternate screen")?;
        let mut terminal = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(std::io::stdout()))?;
        event_loop(&mut terminal, fetch, &options, &stop)
    })();
    restore_terminal();
    result
}

/// How long the event loop has to end after a stop signal, or after the terminal went
/// away, before the process exits regardless.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Makes sure the console ends when its terminal goes away (an ssh session dropped, a
/// tmux pane killed), even if it never sees a SIGHUP (`nohup`).
///
/// On a hung-up terminal, crossterm's input reader retries its read forever without
/// returning (crossterm-rs/crossterm#793): `event::poll` never comes back, so the event
/// loop cannot see `stop`, and the process would spin on a core indefinitely. This
/// thread sets `stop` when the terminal it started on is no longer one. Once `stop` is
/// set by it or by a signal, it gives the event loop [`STOP_GRACE`] to end and restore
/// the terminal, then exits the process.
fn watch_for_stop(stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    let on_terminal = || std::io::stdin().is_terminal() || std::io::stdout().is_terminal();
    let started_on_terminal = on_terminal();
    std::thread::Builder::new()
        .name("console-watch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(250));
            if started_on_terminal && !on_terminal() {
                stop.store(true, Ordering::Relaxed);
            }
            if stop.load(Ordering::Relaxed) {
                std::thread::sleep(STOP_GRACE);
                // Still here: the event loop is stuck in the input reader.
                std::process::exit(1);
            }
        })
        .context("starting the terminal watch")?;
    Ok(())
}

fn restore_terminal() {
    let _ = disable_raw_mode();
    let _ = execute!(std::io::stdout(), LeaveAlternateScreen, ratatui::crossterm::cursor::Show);
}

fn event_loop<B: ratatui::backend::Backend>(
    terminal: &mut ratatui::Terminal<B>,
    fetch: Box<dyn Fn(Duration) -> anyhow::Result<pipeline_dsl::api::Snapshot> + Send>,
    options: &Options,
    stop: &AtomicBool,
) -> anyhow::Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let label = match &options.source {
        // Never the credentials a URL may carry.
        Source::Agent(url, _) => format!("http://{}", Endpoint::parse(url).map(|u| u.authority).unwrap_or_default()),
        Source::Elasticsearch(url, index) => {
            format!("fleet http://{}/{index}", Endpoint::parse(url.expose()).map(|u| u.authority).unwrap_or_default())
        }
    };
    let mut app = App::new(label, options.slo);
    // Snapshots are fetched on a thread of their own, so a slow or unreachable agent
    // never freezes the keys.
    let (tx, rx) = mpsc::channel();
    let interval = options.interval;
    std::thread::Builder::new().name("console-poll".into()).spawn(move || loop {
        let started = Instant::now();
        let result = fetch(interval.max(Duration::from_millis(500)) * 5).map_err(|e| format!("{e:#}"));
        if tx.send(result).is_err() {
            return;
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    })?;
    let mut dirty = true;
    while !app.quit && !stop.load(Ordering::Relaxed) {
        while let Ok(result) = rx.try_recv() {
            app.update(result);
            dirty = true;
        }
        if dirty {
            terminal.draw(|f| views::render(f, &app))?;
            dirty = false;
        }
        if event::poll(Duration::from_millis(100))? {
            match event::read()? {
                Event::Key(k) if k.kind != KeyEventKind::Release => {
                    app.key(k);
                    dirty = true;
                }
                Event::Resize(..) => dirty = true,
                _ => {}
            }
        }
    }
    Ok(())
}
