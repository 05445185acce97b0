//! Logging never blocks or kills the agent: standard error on a full device, a log
//! pipe whose reader is gone (`logship … 2>&1 | tee log` then Ctrl-C), and plain text
//! (no colour codes) when standard error is not a terminal.

mod common;

use common::{json_lines, root, temp_dir, wait_for};
use std::process::{Command, Stdio};

fn file_config(dir: &std::path::Path) -> std::path::PathBuf {
    common::two_line_file_config(dir, &format!("file {{ path => \"{}\" }}", dir.join("out.jsonl").display()))
}

fn logship(dir: &std::path::Path, config: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logship"));
    c.arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--api-addr", "off"])
        .args(args)
        .env("LOGSHIP_LOG", "debug")
        .env_remove("NO_COLOR")
        .current_dir(root())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    c
}

#[test]
fn standard_error_on_a_full_device_is_no_failure() {
    let dir = temp_dir("log-full");
    let config = file_config(&dir);
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let status = logship(&dir, &config, &["--once"]).stderr(full).status().unwrap();
    assert!(status.success(), "{status}");
    assert_eq!(json_lines(&dir.join("out.jsonl")).len(), 2);
}

#[test]
fn a_stop_signal_works_after_the_log_reader_is_gone() {
    let dir = temp_dir("log-closed-pipe");
    let config = file_config(&dir);
    let mut child = logship(&dir, &config, &[]).stderr(Stdio::piped()).spawn().unwrap();
    wait_for("both lines written", || json_lines(&dir.join("out.jsonl")).len() == 2);
    // The reader (tee) goes away first, as Ctrl-C ends it before the agent.
    drop(child.stderr.take());
    common::signal(child.id(), "INT");
    let mut status = None;
    wait_for("the agent to stop", || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    assert!(status.unwrap().success(), "{status:?}");
}

#[test]
fn log_to_a_file_or_pipe_has_no_colour_codes() {
    let dir = temp_dir("log-plain");
    let config = file_config(&dir);
    let out = logship(&dir, &config, &["--once"]).stderr(Stdio::piped()).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("Reading file"), "{log}");
    assert!(!log.contains('\x1b'), "colour codes in a piped log: {log:?}");
}
