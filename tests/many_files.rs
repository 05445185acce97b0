//! Many files under a small descriptor limit: 3,000 files with `ulimit -n 256` (soft
//! and hard, so the agent cannot raise it) are all read, every line exactly once.
//! Files beyond the limit wait for a descriptor instead of being skipped.

mod common;

use common::{json_lines, root, temp_dir};
use std::collections::HashSet;
use std::process::Command;

#[test]
fn three_thousand_files_under_a_256_descriptor_limit_are_all_read_once() {
    let dir = temp_dir("many-files");
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let files = 3000;
    for f in 0..files {
        std::fs::write(logs.join(format!("vhost-{f:04}.log")), format!("f{f} line 0\nf{f} line 1\n")).unwrap();
    }
    let out = dir.join("out.jsonl");
    let config = dir.join("p.conf");
    std::fs::write(
        &config,
        format!(
            "input {{ file {{ path => \"{}/*.log\" start_position => \"beginning\" stat_interval => 0.05 }} }}\noutput {{ file {{ path => \"{}\" codec => json_lines }} }}\n",
            logs.display(),
            out.display()
        ),
    )
    .unwrap();
    let command = format!(
        "ulimit -n 256 && exec {} --once --api-addr off --config {} --data-dir {}",
        env!("CARGO_BIN_EXE_logship"),
        config.display(),
        dir.join("data").display()
    );
    let run = Command::new("bash").args(["-c", &command]).current_dir(root()).output().expect("run logship");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains("Out of file descriptors"), "the limit was reached, as the test intends:\n{stderr}");
    let messages: Vec<String> =
        json_lines(&out).iter().map(|d| d["message"].as_str().unwrap_or_default().to_string()).collect();
    let unique: HashSet<&String> = messages.iter().collect();
    assert_eq!(unique.len(), messages.len(), "a line was delivered twice");
    assert_eq!(messages.len(), files * 2, "every line of every file");
}
