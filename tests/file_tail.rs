//! The `file` input in tail mode, through the real binary: partial lines, rotation by
//! rename, copytruncate, deletion, new files, compressed rotated files, restarts from
//! checkpoints, over-long lines and invalid UTF-8. Every scenario ends by comparing the
//! exact list of messages delivered: nothing lost, nothing repeated.

mod common;

use common::{append, json_lines, temp_dir, wait_for, Agent, TempDir};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A tailing config over `dir/app.log*` writing JSON lines to `dir/out.jsonl`, with
/// short intervals so scenarios run quickly; the directory goes when its guard (first) is dropped.
fn setup(name: &str, extra_input: &str) -> (TempDir, PathBuf, PathBuf, PathBuf) {
    let dir = temp_dir(name);
    let out = dir.join("out.jsonl");
    let config = dir.join("tail.conf");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(
        &config,
        format!(
            r#"input {{
  file {{
    path => "{}/app.log*"
    start_position => "beginning"
    stat_interval => 0.05
    discover_interval => 2
    rotation_grace => "200 ms"
    {extra_input}
  }}
}}
output {{ file {{ path => "{}" codec => json_lines }} }}
"#,
            logs.display(),
            out.display()
        ),
    )
    .unwrap();
    (dir, config, logs, out)
}

fn messages(out: &Path) -> Vec<String> {
    json_lines(out).iter().map(|d| d["message"].as_str().unwrap_or_default().to_string()).collect()
}

fn numbered(prefix: &str, range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{prefix} {i}\n")).collect()
}

fn expect_lines(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix} {i}")).collect()
}

fn wait_count(out: &Path, n: usize) {
    wait_for(&format!("{n} documents in {}", out.display()), || json_lines(out).len() >= n);
}

#[test]
fn a_partial_line_waits_for_its_newline() {
    let (_dir, config, logs, out) = setup("partial", "");
    let log = logs.join("app.log");
    append(&log, b"first\nsec");
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_count(&out, 1);
    append(&log, b"ond\n");
    wait_count(&out, 2);
    assert!(agent.stop().success());
    assert_eq!(messages(&out), ["first", "second"]);
}

#[test]
fn rotation_by_rename_finishes_the_old_file_and_reads_the_new_one() {
    let (_dir, config, logs, out) = setup("rename", r#"exclude => "*.1""#);
    let log = logs.join("app.log");
    append(&log, numbered("old", 0..100).as_bytes());
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_count(&out, 100);
    // logrotate without copytruncate: rename, the writer finishes its last lines in the
    // renamed file, then a new file appears at the path.
    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(&logs.join("app.log.1"), numbered("old", 100..120).as_bytes());
    append(&log, numbered("new", 0..50).as_bytes());
    wait_count(&out, 170);
    assert!(agent.stop().success());
    let mut want = expect_lines("old", 0..120);
    want.extend(expect_lines("new", 0..50));
    let mut got = messages(&out);
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn copytruncate_is_read_again_from_the_start() {
    let (_dir, config, logs, out) = setup("copytruncate", r#"exclude => "*.1""#);
    let log = logs.join("app.log");
    append(&log, numbered("before", 0..200).as_bytes());
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_count(&out, 200);
    std::fs::copy(&log, logs.join("app.log.1")).unwrap();
    std::fs::OpenOptions::new().write(true).truncate(true).open(&log).unwrap();
    append(&log, numbered("after", 0..30).as_bytes());
    wait_count(&out, 230);
    assert!(agent.stop().success());
    let mut want = expect_lines("before", 0..200);
    want.extend(expect_lines("after", 0..30));
    assert_eq!(messages(&out), want);
}

#[test]
fn deleted_and_new_files_and_compressed_rotations() {
    let (_dir, config, logs, out) = setup("gz", "");
    let log = logs.join("app.log");
    append(&log, numbered("plain", 0..300).as_bytes());
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_count(&out, 300);
    // The rotated file is compressed and the original deleted: recognised by its
    // content, it is not read again.
    let gz = logs.join("app.log.1.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &std::fs::read(&log).unwrap()).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    std::fs::remove_file(&log).unwrap();
    // A compressed file never seen before is read in full, and a new plain file too.
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, numbered("archived", 0..40).as_bytes()).unwrap();
    std::fs::write(logs.join("app.log.0.gz"), enc.finish().unwrap()).unwrap();
    append(&logs.join("app.log.new"), numbered("fresh", 0..10).as_bytes());
    wait_count(&out, 350);
    // Give the agent time to (wrongly) re-read the compressed copy before stopping.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(agent.stop().success());
    let mut got = messages(&out);
    let mut want = expect_lines("plain", 0..300);
    want.extend(expect_lines("archived", 0..40));
    want.extend(expect_lines("fresh", 0..10));
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_restart_resumes_at_the_checkpoint() {
    let (_dir, config, logs, out) = setup("restart", "");
    let log = logs.join("app.log");
    let data = logs.join("../data");
    append(&log, numbered("run1", 0..500).as_bytes());
    let agent = Agent::start(&config, &data, &[]);
    wait_count(&out, 500);
    assert!(agent.stop().success());
    append(&log, numbered("run2", 0..25).as_bytes());
    let agent = Agent::start(&config, &data, &[]);
    wait_count(&out, 525);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(agent.stop().success());
    let mut want = expect_lines("run1", 0..500);
    want.extend(expect_lines("run2", 0..25));
    assert_eq!(messages(&out), want);
    let sincedb = std::fs::read_dir(data.join("sincedb")).unwrap().count();
    assert_eq!(sincedb, 1, "one checkpoint file, written atomically (no temp file left)");
}

#[test]
fn start_position_end_skips_what_was_there() {
    let (_dir, config, logs, out) = setup("end", "");
    let config_text = std::fs::read_to_string(&config).unwrap().replace("\"beginning\"", "\"end\"");
    std::fs::write(&config, config_text).unwrap();
    let log = logs.join("app.log");
    append(&log, numbered("history", 0..10).as_bytes());
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_for("the file to be opened", || agent.stderr().contains("Reading file"));
    append(&log, b"live\n");
    wait_count(&out, 1);
    assert!(agent.stop().success());
    assert_eq!(messages(&out), ["live"]);
}

#[test]
fn long_lines_and_invalid_utf8_are_tagged_not_lost() {
    let (_dir, config, logs, out) = setup("bad-bytes", "max_line_bytes => 16");
    let log = logs.join("app.log");
    let mut bytes = b"short\n".to_vec();
    bytes.extend_from_slice(&[b'x'; 100]);
    bytes.extend_from_slice(b"\nbad \xff\xfe byte\n");
    append(&log, &bytes);
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_count(&out, 3);
    assert!(agent.stop().success());
    let docs = json_lines(&out);
    assert_eq!(docs[1]["message"], "x".repeat(16));
    assert_eq!(docs[1]["tags"], Value::from(vec!["_line_truncated"]));
    assert_eq!(docs[2]["message"], "bad \u{fffd}\u{fffd} byte");
    assert_eq!(docs[2]["tags"], Value::from(vec!["_utf8_repaired"]));
}

#[test]
fn an_idle_file_is_closed_and_reopened_at_its_checkpoint_when_it_grows() {
    let (_dir, config, logs, out) = setup("close-older", "close_older => 0.2");
    let log = logs.join("app.log");
    append(&log, numbered("first", 0..20).as_bytes());
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    wait_count(&out, 20);
    wait_for("the idle file to be closed", || agent.stderr().contains("Closing idle file"));
    append(&log, numbered("second", 0..5).as_bytes());
    wait_count(&out, 25);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(agent.stop().success());
    let mut want = expect_lines("first", 0..20);
    want.extend(expect_lines("second", 0..5));
    assert_eq!(messages(&out), want);
}

#[test]
fn a_multiline_event_at_the_end_of_a_quiet_file_is_flushed() {
    let (_dir, config, logs, out) = setup(
        "multiline-flush",
        r#"codec => multiline { pattern => "^\s" what => "previous" auto_flush_interval => 0.3 }"#,
    );
    let log = logs.join("app.log");
    append(&log, b"Exception: boom\n  at a.b(C.java:1)\nnext event\n  at d.e(F.java:2)\n");
    let agent = Agent::start(&config, &logs.join("../data"), &[]);
    // The second event has no line after it: only the idle flush can emit it.
    wait_count(&out, 2);
    assert!(agent.stop().success());
    assert_eq!(messages(&out), ["Exception: boom\n  at a.b(C.java:1)", "next event\n  at d.e(F.java:2)"]);
}

#[test]
fn a_reused_inode_neither_skips_nor_repeats_data() {
    use std::os::unix::fs::MetadataExt;
    let (_dir, config, logs, out) = setup("inode-reuse", "");
    let log = logs.join("app.log");
    let data = logs.join("../data");
    append(&log, numbered("old", 0..300).as_bytes());
    let old_inode = std::fs::metadata(&log).unwrap().ino();
    let agent = Agent::start(&config, &data, &[]);
    wait_count(&out, 300);
    assert!(agent.stop().success());
    // While the agent is down the file is replaced; the filesystem tends to hand the
    // freed inode to the next file created, so the new file usually has the old inode,
    // and a checkpoint keyed by inode alone would resume in the middle of it.
    std::fs::remove_file(&log).unwrap();
    append(&log, numbered("new", 0..400).as_bytes());
    let reused = std::fs::metadata(&log).unwrap().ino() == old_inode;
    let agent = Agent::start(&config, &data, &[]);
    wait_count(&out, 700);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(agent.stop().success());
    let mut want = expect_lines("old", 0..300);
    want.extend(expect_lines("new", 0..400));
    assert_eq!(messages(&out), want, "inode reused: {reused}");
}

/// The largest offset any checkpoint of the data directory holds.
fn checkpointed(data: &Path) -> u64 {
    let mut best = 0;
    for entry in std::fs::read_dir(data.join("sincedb")).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        for f in v.as_array().or_else(|| v["files"].as_array()).into_iter().flatten() {
            best = best.max(f["offset"].as_u64().unwrap_or(0));
        }
    }
    best
}

/// The path names only the live file; while the agent is down (kill -9), lines are
/// appended and logrotate renames the file out of the glob. After the restart the
/// renamed file's unread tail is found by its checkpoint and read: every line once.
#[test]
fn a_file_renamed_out_of_the_glob_while_down_is_finished() {
    let (_dir, config, logs, out) = setup("renamed-while-down", "");
    let config_text = std::fs::read_to_string(&config).unwrap().replace("app.log*", "app.log");
    std::fs::write(&config, config_text).unwrap();
    let log = logs.join("app.log");
    let data = logs.join("../data");
    append(&log, numbered("old", 0..100).as_bytes());
    let agent = Agent::start(&config, &data, &[]);
    wait_count(&out, 100);
    let size = std::fs::metadata(&log).unwrap().len();
    wait_for("the checkpoint of 100 delivered lines", || checkpointed(&data) == size);
    agent.kill();
    append(&log, numbered("old", 100..150).as_bytes());
    std::fs::rename(&log, logs.join("app.log.1")).unwrap();
    append(&log, numbered("new", 0..30).as_bytes());
    let agent = Agent::start(&config, &data, &[]);
    wait_count(&out, 180);
    assert!(agent.stop().success());
    let mut want = expect_lines("old", 0..150);
    want.extend(expect_lines("new", 0..30));
    let mut got = messages(&out);
    got.sort();
    want.sort();
    assert_eq!(got, want, "{}", Agent::log_path(&data).display());
}
