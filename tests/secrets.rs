//! No secret leaves its setting: every component that takes credentials runs with a
//! canary password (URL userinfo, `password`, `api_key`, `logship setup`'s flags) at
//! `--log debug`, against an unreachable host and a server that refuses the
//! credentials; the canary must appear nowhere: standard error and output, `/metrics`,
//! the snapshot, `/health`, and every file of the data directory (checkpoints,
//! dead-letter files). Data directories are owner-only.

mod common;

use common::{closed_port, http, logship, refusing_server, temp_dir, two_line_file_config, wait_for, Agent};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const CANARY: &str = "Canary-9f3e2d71";
const CANARY_KEY: &str = "KeyCanary-55aa";

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(CANARY) && !text.contains(CANARY_KEY), "{what} holds a secret:\n{text}");
}

/// Every file under `dir`, searched for the canaries.
fn assert_dir_clean(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            assert_dir_clean(&path);
        } else {
            assert_clean(&path.display().to_string(), &String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
}

/// Runs an agent until its log shows `until`, then checks its API, its log and its
/// data directory.
fn run_agent(name: &str, output: &str, until: &str, names_redacted_host: bool) {
    let dir = temp_dir(name);
    let config = two_line_file_config(&dir, output);
    let data = dir.join("data");
    let agent = Agent::start(&config, &data, &["--log", "debug", "--shutdown-timeout", "1"]);
    wait_for(until, || agent.stderr().contains(until));
    let addr = agent.api_addr();
    for path in ["/metrics", "/api/v1/snapshot", "/health"] {
        let (_, body) = http(&addr, "GET", path, "");
        assert_clean(path, &body);
    }
    let _ = agent.stop();
    let log = std::fs::read_to_string(Agent::log_path(&data)).unwrap();
    if names_redacted_host {
        assert!(log.contains("***:***@127.0.0.1"), "the log should name the host with its credentials hidden:\n{log}");
    }
    assert_clean("the agent's log", &log);
    assert_dir_clean(&data);
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700, "data directory mode");
    check_config(&config);
}

/// `logship check` on the same config says nothing secret either.
fn check_config(config: &Path) {
    let run = logship(&["check", "--log", "debug", "--config", config.to_str().unwrap()], b"");
    assert!(run.status.success(), "{}", run.stderr);
    assert_clean("check's output", &String::from_utf8_lossy(&run.stdout));
    assert_clean("check's log", &run.stderr);
}

#[test]
fn credentials_in_the_url_of_an_unreachable_host() {
    let port = closed_port();
    run_agent(
        "secret-url",
        &format!("elasticsearch {{ hosts => [\"http://elastic:{CANARY}@127.0.0.1:{port}\"] }}"),
        "Cannot reach Elasticsearch",
        true,
    );
}

#[test]
fn a_password_and_an_api_key_the_server_refuses() {
    let server = refusing_server();
    run_agent(
        "secret-password",
        &format!("elasticsearch {{ hosts => [\"http://{server}\"] user => \"elastic\" password => \"{CANARY}\" }}"),
        "status=401",
        false,
    );
    run_agent(
        "secret-api-key",
        &format!("elasticsearch {{ hosts => [\"http://{server}\"] api_key => \"id:{CANARY_KEY}\" }}"),
        "status=401",
        false,
    );
}

#[test]
fn setup_never_prints_its_credentials() {
    let server = refusing_server();
    let port = closed_port();
    for (es, kibana) in [
        (format!("http://elastic:{CANARY}@127.0.0.1:{port}"), format!("http://kibana:{CANARY}@127.0.0.1:{port}")),
        (format!("http://elastic:{CANARY}@{server}"), format!("http://kibana:{CANARY}@{server}")),
    ] {
        let run = logship(&["setup", "--log", "debug", "--elasticsearch", &es, "--kibana", &kibana], b"");
        assert!(!run.status.success(), "setup cannot succeed here");
        let out = String::from_utf8_lossy(&run.stdout);
        assert!(out.contains("FAILED"), "{out}");
        assert_clean("setup's output", &out);
        assert_clean("setup's log", &run.stderr);
    }
    let run = logship(
        &[
            "setup",
            "--log",
            "debug",
            "--elasticsearch",
            &format!("http://{server}"),
            "--user",
            "elastic",
            "--password",
            CANARY,
            "--templates-only",
        ],
        b"",
    );
    assert!(!run.status.success());
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(out.contains("refused the credentials"), "{out}");
    assert_clean("setup's output", &out);
    assert_clean("setup's log", &run.stderr);
}

#[test]
fn the_control_api_off_loopback_needs_a_token() {
    let dir = temp_dir("api-token");
    let config = two_line_file_config(&dir, "null {}");
    let run = logship(&["--config", config.to_str().unwrap(), "--api-addr", "0.0.0.0:0"], b"");
    assert!(!run.status.success());
    assert!(run.stderr.contains("--api-token"), "{}", run.stderr);
    // With a token, requests without it are refused and requests with it answered.
    let agent = Agent::start(&config, &dir.join("data"), &["--api-token", CANARY]);
    let addr = agent.api_addr();
    let (status, _) = http(&addr, "GET", "/health", "");
    assert_eq!(status, 401);
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /health HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {CANARY}\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    let _ = agent.stop();
    assert_clean("the agent's log", &std::fs::read_to_string(Agent::log_path(&dir.join("data"))).unwrap());
}
