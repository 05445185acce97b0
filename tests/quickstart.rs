//! The README's run command, `scripts/run.sh`, as a user meets it: with no
//! Elasticsearch configured it starts the embedded osmem-server, the agent replays the
//! sample logs into it as live traffic, and Ctrl-C (SIGINT to the whole process group,
//! as a terminal sends it) stops the agent after it has delivered everything it read,
//! with the server still there to take it; the server then exits with the agent.

mod common;

use common::{http, logged_api_addr, root, strip_ansi, temp_dir, wait_for};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Kills the process group it names when dropped, so that a failed assertion does not
/// leave the agent replaying forever (the embedded server exits with the agent).
struct KillGroup(String);

impl Drop for KillGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &self.0]).status();
    }
}

#[test]
fn the_run_command_ships_samples_to_the_embedded_server_and_stops_cleanly_on_ctrl_c() {
    let dir = temp_dir("quickstart");
    let stderr_path = dir.join("stderr");
    let mut child = Command::new("bash")
        .arg("scripts/run.sh")
        .args(["--api-addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .env("LOGSHIP_BIN", env!("CARGO_BIN_EXE_logship"))
        .env("LOGSHIP_LOG", "info")
        .env_remove("ELASTICSEARCH_HOSTS")
        .current_dir(root())
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("start scripts/run.sh");
    // procps `kill` needs `--` before a negative id (a process group), or it takes it
    // for an option and signals nothing.
    let group = format!("-{}", child.id());
    let _cleanup = KillGroup(group.clone());
    let log = || strip_ansi(&String::from_utf8_lossy(&std::fs::read(&stderr_path).unwrap_or_default()));
    let mut api = String::new();
    wait_for("the control API to listen", || {
        api = logged_api_addr(&log()).unwrap_or_default();
        !api.is_empty()
    });
    let server = log()
        .lines()
        .find_map(|l| l.split("(osmem-server) at http://").nth(1).map(str::to_string))
        .expect("run.sh names the embedded server it started");

    // Live traffic reaches the embedded server through both outputs: the events, and
    // the window metrics of the first windows to close.
    wait_for("events and window metrics delivered", || {
        let (_, body) = http(&api, "GET", "/api/v1/snapshot", "");
        let snapshot: Value = serde_json::from_str(&body).unwrap_or_default();
        let outputs = snapshot["outputs"].as_array().cloned().unwrap_or_default();
        outputs.len() == 2 && outputs.iter().all(|o| o["events"].as_u64() > Some(0))
    });
    for index in ["logship-*", "logship-metrics-*"] {
        http(&server, "POST", &format!("/{index}/_refresh"), "");
        let (status, body) = http(&server, "GET", &format!("/{index}/_count"), "");
        let count: Value = serde_json::from_str(&body).unwrap_or_default();
        assert!(status == 200 && count["count"].as_u64() > Some(0), "{index}: {status} {body}");
    }

    // Ctrl-C: SIGINT to the process group the terminal would signal.
    assert!(Command::new("kill").args(["-s", "INT", "--", &group]).status().unwrap().success());
    let status = child.wait().expect("wait for the agent");
    let log = log();
    assert!(status.success(), "{log}");
    // "logship: N events in, M out, D dropped", with nothing left undelivered.
    let summary = log.lines().rev().find(|l| l.starts_with("logship: ")).unwrap_or_else(|| panic!("{log}"));
    assert!(!summary.contains("stopped before every event was delivered"), "{summary}");
    let figures: Vec<u64> = summary.split_whitespace().filter_map(|w| w.trim_matches(',').parse().ok()).collect();
    assert_eq!(figures.len(), 3, "{summary}");
    assert_eq!(figures[0], figures[1] + figures[2], "every event read was delivered or dropped: {summary}");
    assert!(!log.contains("Shutdown timeout reached"), "{log}");
    wait_for("the embedded server to exit with the agent", || std::net::TcpStream::connect(&server).is_err());
}
