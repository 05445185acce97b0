//! `logship`: command-line entry point. Parses flags and hands over to the crates.

use anyhow::Context;
use clap::{Parser, Subcommand};
use pipeline_dsl::aggregation::Aggregations;
use pipeline_dsl::pipeline::{compile, ConfigErrors, ConfigSource, LoadOptions, Pipeline};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Standard error as the log's writer. A write that fails (the terminal or `| tee` is
/// gone, `2>/dev/full`) is dropped: logging must never stop or kill the agent, and
/// `eprintln!` (which tracing-subscriber uses to report such errors) would panic.
struct QuietStderr;

impl std::io::Write for QuietStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Writes a line to standard error without panicking when it is closed or full.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Writes a line to standard output without panicking when its reader is gone.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// Colours in the log only on a terminal, and never when `NO_COLOR` is set
/// (no-color.org): files and pipes get plain text.
fn log_colours() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").map_or(true, |v| v.is_empty())
}

/// Events are trees of many small, short-lived allocations; mimalloc serves them
/// markedly faster than the system allocator (see BENCHMARKS.md). It is built with
/// `no_thp`: with transparent huge pages its arenas were committed 2 MiB at a time,
/// which doubled peak RSS (66 → 35 MiB on the file → null benchmark) for no speed.
/// And it is mimalloc v2 (feature `v2`): Rust's allocator interface always calls
/// mimalloc's aligned entry point, whose slow path in v3 over-allocates every size
/// that is not a power of two; about half of an event's allocations took it (v2:
/// 9 % fewer instructions in grok, 4 % in the whole chain).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Streaming-health log agent: Logstash-compatible pipelines for CDN and playback logs.
#[derive(Parser, Debug)]
#[command(name = "logship", version, about)]
struct Cli {
    /// Pipeline config file(s); several are concatenated in order, like Logstash's
    /// `path.config` directory.
    #[arg(long = "config", short = 'f', value_name = "FILE", default_value = "pipeline.conf", global = true)]
    config: Vec<PathBuf>,

    /// Read events from standard input instead of the config's inputs.
    #[arg(long)]
    stdin: bool,

    /// Write JSON lines to standard output instead of the config's outputs (to see the
    /// documents a config makes).
    #[arg(long)]
    stdout: bool,

    /// Read what the inputs hold now, deliver it, then exit (instead of following
    /// files as they grow).
    #[arg(long)]
    once: bool,

    /// Directory for checkpoints, dead-letter files and the windows open at a stop.
    #[arg(long, value_name = "DIR", default_value = "data", env = "LOGSHIP_DATA_DIR")]
    data_dir: PathBuf,

    /// Filter worker threads (default: the number of CPU cores).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,

    /// Most lines per batch moving through the pipeline (like Logstash's
    /// `pipeline.batch.size`); with the worker count it bounds the events in memory.
    #[arg(long, short = 'b', value_name = "LINES", default_value_t = 1024)]
    batch_size: usize,

    /// Longest time, in seconds, to finish delivering after SIGINT/SIGTERM.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    shutdown_timeout: f64,

    /// Address of the control API (health, Prometheus metrics, snapshot); `off` to
    /// disable. Keep it on loopback unless it must be reached from elsewhere.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9898", env = "LOGSHIP_API_ADDR")]
    api_addr: String,

    /// Bearer token the control API requires on every request (`Authorization: Bearer
    /// TOKEN`); also LOGSHIP_API_TOKEN. Required when --api-addr is not a loopback
    /// address. The console sends it to the agent.
    #[arg(long, value_name = "TOKEN", env = "LOGSHIP_API_TOKEN", hide_env_values = true, global = true)]
    api_token: Option<pipeline_dsl::secret::Secret>,

    /// Log filter (`info`, `debug`, `agent=debug,warn` …); also LOGSHIP_LOG.
    #[arg(long, value_name = "FILTER", env = "LOGSHIP_LOG", default_value = "info", global = true)]
    log: String,

    /// Translate backslash escapes (\t, \n, \", \\ …) in quoted config strings, like
    /// Logstash's `config.support_escapes: true`. Off by default, as in Logstash.
    #[arg(long, global = true)]
    config_support_escapes: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate the config and exit non-zero with file:line:col diagnostics on any error.
    Check,
    /// Live streaming-health terminal UI of a running agent (q quits, ? lists the keys).
    Console(ConsoleArgs),
    /// Install the index templates and a lifecycle policy into Elasticsearch, and import
    /// the dashboards into Kibana; reports each step and exits 1 if any failed.
    Setup(SetupArgs),
}

/// `logship setup` options.
#[derive(clap::Args, Debug)]
struct SetupArgs {
    /// Elasticsearch URL(s), comma-separated.
    #[arg(long, value_name = "URL", env = "ELASTICSEARCH_HOSTS")]
    elasticsearch: Option<String>,
    /// Kibana URL.
    #[arg(long, value_name = "URL", env = "KIBANA_URL")]
    kibana: Option<String>,
    /// Kibana space to import into (default: the default space).
    #[arg(long, value_name = "ID")]
    space: Option<String>,
    /// User for basic authentication (Elasticsearch and Kibana).
    #[arg(long, env = "ELASTICSEARCH_USER")]
    user: Option<String>,
    /// Password for basic authentication.
    #[arg(long, env = "ELASTICSEARCH_PASSWORD", hide_env_values = true)]
    password: Option<pipeline_dsl::secret::Secret>,
    /// API key (`id:key` or its base64 form) instead of user and password.
    #[arg(long, env = "ELASTICSEARCH_API_KEY", hide_env_values = true)]
    api_key: Option<pipeline_dsl::secret::Secret>,
    /// CA certificate (PEM) to trust.
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<PathBuf>,
    /// Do not verify server certificates (testing only).
    #[arg(long)]
    insecure: bool,
    /// Only the index templates and lifecycle policy.
    #[arg(long, conflicts_with = "dashboards_only")]
    templates_only: bool,
    /// Only the Kibana dashboards.
    #[arg(long)]
    dashboards_only: bool,
}

/// `logship console` options.
#[derive(clap::Args, Debug)]
struct ConsoleArgs {
    /// The agent's control API.
    #[arg(long, value_name = "URL", env = "LOGSHIP_AGENT", default_value = "http://127.0.0.1:9898")]
    agent: String,
    /// Fleet mode: read the metric documents of every agent from this cluster
    /// (http://[user:password@]host:port) instead of one agent's API.
    #[arg(long, value_name = "URL", conflicts_with = "agent")]
    elasticsearch: Option<String>,
    /// Fleet mode: index pattern of the metric documents.
    #[arg(long, value_name = "PATTERN", default_value = "logship-metrics-*")]
    index: String,
    /// Seconds between refreshes.
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    interval: f64,
    /// SLO: CDN latency p95 above this many milliseconds is shown in red.
    #[arg(long, value_name = "MS", default_value_t = 500)]
    slo_p95_ms: u64,
    /// SLO: error rate above this (0-1) is shown in red.
    #[arg(long, value_name = "RATIO", default_value_t = 0.01)]
    slo_error_rate: f64,
    /// SLO: cache hit ratio below this (0-1) is shown in red.
    #[arg(long, value_name = "RATIO", default_value_t = 0.8)]
    slo_cache_hit: f64,
    /// SLO: playback startup p95 above this many milliseconds is shown in red.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    slo_startup_p95_ms: u64,
    /// SLO: rebuffer ratio above this (0-1) is shown in red.
    #[arg(long, value_name = "RATIO", default_value_t = 0.02)]
    slo_rebuffer: f64,
}

fn load(
    paths: &[PathBuf],
    support_escapes: bool,
    aggregations: &Arc<Aggregations>,
) -> anyhow::Result<Result<Pipeline, ConfigErrors>> {
    let mut sources = Vec::new();
    for p in paths {
        sources.push(ConfigSource::read(p).with_context(|| format!("reading config {}", p.display()))?);
    }
    Ok(compile_sources(sources, support_escapes, aggregations))
}

fn compile_sources(
    sources: Vec<ConfigSource>,
    support_escapes: bool,
    aggregations: &Arc<Aggregations>,
) -> Result<Pipeline, ConfigErrors> {
    let env = |name: &str| std::env::var(name).ok();
    let options = LoadOptions { env: &env, support_escapes, aggregations: aggregations.clone() };
    compile(sources, agent::inputs::INPUT_NAMES, agent::outputs::OUTPUT_NAMES, &options)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(Command::Setup(a)) = cli.command {
        return setup(a);
    }
    if let Some(Command::Console(c)) = cli.command {
        let slo = console::app::Slo {
            p95_ms: c.slo_p95_ms,
            error_rate: c.slo_error_rate,
            cache_hit: c.slo_cache_hit,
            startup_p95_ms: c.slo_startup_p95_ms,
            rebuffer: c.slo_rebuffer,
        };
        let interval = Duration::try_from_secs_f64(c.interval).context("--interval")?.max(Duration::from_millis(100));
        let source = match c.elasticsearch {
            Some(url) => console::Source::Elasticsearch(pipeline_dsl::secret::Secret::new(url), c.index),
            None => console::Source::Agent(c.agent, cli.api_token.clone().filter(|t| !t.is_empty())),
        };
        console::run(console::Options { source, interval, slo })?;
        return Ok(ExitCode::SUCCESS);
    }
    // One registry for every worker's copy of the pipeline: aggregating filters share
    // their windows through it.
    let aggregations = Aggregations::new();
    let pipeline = match load(&cli.config, cli.config_support_escapes, &aggregations)? {
        Ok(p) => p,
        Err(errors) => {
            note!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let plugins = match agent::build_plugins(&pipeline, cli.stdin, cli.stdout) {
        Ok(p) => p,
        Err(errors) => {
            note!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(Command::Check) = cli.command {
        let files: Vec<String> = cli.config.iter().map(|p| p.display().to_string()).collect();
        say!("configuration OK: {}", files.join(", "));
        return Ok(ExitCode::SUCCESS);
    }
    let workers = cli.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let api_addr: Option<std::net::SocketAddr> = match cli.api_addr.as_str() {
        "off" => None,
        a => Some(a.parse().with_context(|| format!("--api-addr `{a}` is not an IP:port address"))?),
    };
    let api_token = cli.api_token.clone().filter(|t| !t.is_empty());
    // Health, metrics and the snapshot (titles, hosts, error rates) are for the
    // operator: off loopback, only with a token.
    if let Some(addr) = api_addr.filter(|a| !a.ip().is_loopback()) {
        anyhow::ensure!(
            api_token.is_some(),
            "the control API on {addr} would be reachable from other hosts: set --api-token (or LOGSHIP_API_TOKEN), or keep it on loopback"
        );
    }
    let config = agent::runtime::AgentConfig {
        inputs: plugins.inputs,
        outputs: plugins.outputs,
        workers,
        once: cli.once,
        data_dir: cli.data_dir.clone(),
        batch_lines: cli.batch_size,
        route_all: plugins.route_all,
        aggregations: aggregations.clone(),
        shutdown_timeout: Duration::try_from_secs_f64(cli.shutdown_timeout).context("--shutdown-timeout")?,
        api_addr,
        api_token,
    };
    // The first compilation was validated above; the other workers compile their own
    // copies from the same text, so a config edited on disk meanwhile cannot differ.
    let sources = pipeline.sources.clone();
    let first = std::sync::Mutex::new(Some(pipeline));
    let make_pipeline = || -> anyhow::Result<Pipeline> {
        if let Some(p) = first.lock().unwrap_or_else(|p| p.into_inner()).take() {
            return Ok(p);
        }
        compile_sources(sources.clone(), cli.config_support_escapes, &aggregations).map_err(|e| anyhow::anyhow!("{e}"))
    };
    let summary = agent::runtime::run(config, &make_pipeline)?;
    let f = &summary.metrics.filters;
    let cut_short = if summary.drained {
        ""
    } else {
        " (stopped before every event was delivered; the rest is read again at the next start)"
    };
    note!(
        "logship: {} events in, {} out, {} dropped{cut_short}",
        f.events_in.get(),
        f.events_out.get(),
        f.dropped.get()
    );
    if let Some(e) = summary.error {
        return Err(e);
    }
    let lost = f.encode_faults.get();
    if lost > 0 {
        note!("logship: {lost} events lost: an output's encoder panicked on them (logged above; a bug to report)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `logship setup`: prints one line per step; exit 1 when anything failed.
fn setup(a: SetupArgs) -> anyhow::Result<ExitCode> {
    use agent::outputs::elasticsearch::Auth;
    use agent::setup::{Outcome, Target};
    // The URL text is never repeated in an error: it may hold a password.
    let parse_url = |text: &str| -> anyhow::Result<pipeline_dsl::secret::SecretUrl> {
        let text = if text.contains("://") { text.to_string() } else { format!("http://{text}") };
        let url = url::Url::parse(&text).map_err(|e| anyhow::anyhow!("a URL given is not valid ({e})"))?;
        let url = pipeline_dsl::secret::SecretUrl::new(url);
        anyhow::ensure!(matches!(url.expose().scheme(), "http" | "https"), "`{url}` is not an http(s) URL");
        Ok(url)
    };
    let expose = |s: Option<pipeline_dsl::secret::Secret>| s.map(|s| s.expose().to_string());
    let auth = Auth::from_parts(a.user, expose(a.password), expose(a.api_key))
        .map_err(|problem| anyhow::anyhow!("credentials: {problem} (flags --user, --password, --api-key)"))?;
    let templates = !a.dashboards_only;
    let dashboards = !a.templates_only;
    let elasticsearch = match (&a.elasticsearch, templates) {
        (Some(list), _) => list
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(parse_url)
            .collect::<anyhow::Result<Vec<_>>>()?,
        (None, true) => anyhow::bail!("--elasticsearch URL is needed for the index templates (or --dashboards-only)"),
        (None, false) => Vec::new(),
    };
    anyhow::ensure!(
        !templates || !elasticsearch.is_empty(),
        "--elasticsearch URL is needed for the index templates (or --dashboards-only)"
    );
    let kibana = match (&a.kibana, dashboards) {
        (Some(k), _) => Some(parse_url(k)?),
        (None, true) => anyhow::bail!("--kibana URL is needed for the dashboards (or --templates-only)"),
        (None, false) => None,
    };
    let target = Target { elasticsearch, kibana, space: a.space, auth, ca_file: a.ca_cert, verify: !a.insecure };
    let mut failed = false;
    for (part, result) in agent::setup::run(&target, templates, dashboards)? {
        match result {
            Ok(steps) => {
                for step in steps {
                    let (label, detail) = match &step.outcome {
                        Outcome::Done(d) => ("ok", d.clone()),
                        Outcome::Skipped(d) => ("skipped", d.clone()),
                        Outcome::Failed(d) => {
                            failed = true;
                            ("FAILED", d.clone())
                        }
                    };
                    let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
                    say!("{label:<8} {part}: {}{detail}", step.what);
                }
            }
            Err(e) => {
                failed = true;
                say!("FAILED   {part}: {e:#}");
            }
        }
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// Panics go to the log as one line each, not Rust's default report with its
/// backtrace: a filter that panics on every event is contained (the events go on
/// tagged) and must not flood standard error. The first ten are logged, then every
/// one whose count is a power of two.
fn log_panics() {
    static SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    std::panic::set_hook(Box::new(|info| {
        let n = SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n <= 10 || n.is_power_of_two() {
            let message = pipeline_dsl::filters::panic_message(info.payload());
            let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
            let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
            tracing::error!(thread, at, panics = n, "Panic (a bug; contained where possible): {message}");
        }
    }));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| QuietStderr)
        .with_ansi(log_colours())
        .log_internal_errors(false)
        .with_target(false)
        .init();
    log_panics();
    match run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`logship … | head`): a normal end.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            note!("logship: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
