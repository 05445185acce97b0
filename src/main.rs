//! `logship`: command-line entry point. Parses flags and hands over to the crates.

use agent::runner;
use anyhow::Context;
use clap::{Parser, Subcommand};
use pipeline_dsl::pipeline::{compile, ConfigErrors, ConfigSource, LoadOptions, Pipeline};
use std::path::PathBuf;
use std::process::ExitCode;

/// Events are trees of many small, short-lived allocations; mimalloc serves them
/// markedly faster than the system allocator (see BENCHMARKS.md).
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
}

fn load(paths: &[PathBuf], support_escapes: bool) -> anyhow::Result<Result<Pipeline, ConfigErrors>> {
    let mut sources = Vec::new();
    for p in paths {
        sources.push(ConfigSource::read(p).with_context(|| format!("reading config {}", p.display()))?);
    }
    let env = |name: &str| std::env::var(name).ok();
    let options = LoadOptions { env: &env, support_escapes };
    Ok(compile(sources, agent::inputs::INPUT_NAMES, agent::outputs::OUTPUT_NAMES, &options))
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut pipeline = match load(&cli.config, cli.config_support_escapes)? {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    let plugins = runner::build_plugins(&pipeline, cli.stdin);
    let mut plugins = match plugins {
        Ok(p) => p,
        Err(errors) => {
            eprintln!("{errors}");
            return Ok(ExitCode::from(2));
        }
    };
    if let Some(Command::Check) = cli.command {
        let files: Vec<String> = cli.config.iter().map(|p| p.display().to_string()).collect();
        println!("configuration OK: {}", files.join(", "));
        return Ok(ExitCode::SUCCESS);
    }
    let stats = runner::run_once(&mut pipeline, &mut plugins)?;
    eprintln!("logship: {} events in, {} out, {} dropped", stats.events_in, stats.events_out, stats.dropped);
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
            eprintln!("logship: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
