//! `logship console` end to end: the agent replays the sample logs through the root
//! pipeline.conf's filters, the console runs inside tmux, and the screen it draws is
//! read back with `capture-pane`: real title ids and figures appear, keys switch views,
//! an unreachable agent is reported, the terminal is restored on `q` and SIGTERM, and
//! the console ends when its terminal goes away.

mod common;

use common::{http, pipeline_with, signal, temp_dir, wait_for, Agent};
use std::process::Command;

/// A detached tmux session running one command, on a tmux server of its own (so a
/// user's tmux is never touched); killed when dropped.
struct Tmux {
    name: String,
}

/// Runs `tmux` on this test's private server.
fn tmux() -> Command {
    let mut c = Command::new("tmux");
    c.args(["-L", &format!("logship-test-{}", std::process::id()), "-f", "/dev/null"]);
    c
}

impl Tmux {
    fn start(name: &str, command: &str) -> Tmux {
        let name = format!("logship-{name}");
        // The pane stays after the command exits (remain-on-exit), to inspect what it
        // left behind; set in the same tmux call that creates the session.
        let status = tmux()
            .args(["new-session", "-d", "-s", &name, "-x", "100", "-y", "30", command])
            .args([";", "set-option", "-t", &name, "remain-on-exit", "on"])
            .env("TERM", "xterm-256color")
            .status()
            .expect("tmux runs (scripts/test.sh installs it)");
        assert!(status.success(), "tmux new-session failed");
        Tmux { name }
    }

    fn screen(&self) -> String {
        let out = tmux().args(["capture-pane", "-p", "-t", &self.name]).output().expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.name.as_str()];
        args.extend_from_slice(keys);
        assert!(tmux().args(&args).status().unwrap().success());
    }

    fn display(&self, format: &str) -> String {
        let out = tmux().args(["display-message", "-p", "-t", &self.name, format]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn wait_screen(&self, what: &str, cond: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        wait_for(what, || {
            last = self.screen();
            cond(&last)
        });
        last
    }

    /// Waits for the command to end, and says whether it left the alternate screen.
    fn wait_exit(&self) -> bool {
        wait_for("the console to exit", || self.display("#{pane_dead}") == "1");
        self.display("#{alternate_on}") == "0"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = tmux().args(["kill-session", "-t", &self.name]).status();
    }
}

fn console_command(agent: &str) -> String {
    format!("{} console --agent http://{agent}", env!("CARGO_BIN_EXE_logship"))
}

#[test]
fn the_console_shows_live_streaming_health_and_switches_views() {
    let dir = temp_dir("console-e2e");
    let config = dir.join("replay.conf");
    let input = r#"replay { path => ["sample-logs/*.log"] speed => 60 loop => true }"#;
    std::fs::write(&config, pipeline_with(input, "null {}")).unwrap();
    let agent = Agent::start(&config, &dir.join("data"), &[]);
    let addr = agent.api_addr();
    // The first windows close 10 s (one window) + 5 s (lateness) after the start.
    wait_for("a closed window in the snapshot", || {
        let (_, body) = http(&addr, "GET", "/api/v1/snapshot", "");
        let s: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        s["aggregations"].as_array().is_some_and(|a| a.iter().all(|a| a["windows_closed"].as_u64() > Some(0)))
    });

    let tmux = Tmux::start("views", &console_command(&addr));
    let screen = tmux.wait_screen("the overview with live figures", |s| s.contains("lines/s") && s.contains("· live"));
    assert!(screen.contains("cache hit") && screen.contains("startup p95"), "{screen}");
    assert!(screen.contains("output null"), "{screen}");

    tmux.keys(&["2"]);
    let screen = tmux.wait_screen("the titles view", |s| s.contains("req/s") && s.contains("t0001"));
    // t0001, the most popular title, has a latency and a request rate on its line.
    let line = screen.lines().find(|l| l.contains("t0001")).unwrap();
    let figures: Vec<&str> = line.split_whitespace().collect();
    assert!(figures.len() >= 6 && figures[2].parse::<f64>().is_ok(), "{line}");

    tmux.keys(&["Enter"]);
    tmux.wait_screen("a title's detail", |s| s.contains("latency (ms)") && s.contains("window     p50"));
    tmux.keys(&["Escape"]);
    tmux.wait_screen("the detail closed", |s| !s.contains("latency (ms)"));

    tmux.keys(&["3"]);
    let screen = tmux.wait_screen("the POPs view", |s| s.contains("POPs: cache hit ratio"));
    assert!(screen.contains(" %") && screen.contains("req/s"), "{screen}");
    tmux.keys(&["Tab"]);
    // The CloudFront grok's line (on the first screen) ends with its cost per event and
    // its share of the filters' time, once one of the events it saw was timed.
    let cloudfront = |screen: &str| -> Option<Vec<String>> {
        let line = screen.lines().find(|l| l.contains(" cloudfront "))?;
        let figures = line.split(|c: char| c.is_whitespace() || c == '│').filter(|f| !f.is_empty());
        Some(figures.map(str::to_string).collect())
    };
    let timed = |f: &[String]| f.len() >= 8 && f[f.len() - 3].parse::<f64>().is_ok_and(|us| us > 0.0);
    let screen = tmux.wait_screen("the pipeline view with filter costs", |s| {
        s.contains("replay-0") && s.contains("µs/event") && cloudfront(s).is_some_and(|f| timed(&f))
    });
    let figures = cloudfront(&screen).unwrap();
    assert_eq!(figures[figures.len() - 1], "%", "{figures:?}");
    tmux.keys(&["?"]);
    tmux.wait_screen("the help", |s| s.contains("any key closes this help"));
    tmux.keys(&["x", "q"]);
    assert!(tmux.wait_exit(), "the console left the alternate screen on q");
    // tmux reports the exit status once it has reaped the process (empty before).
    let status = tmux.display("#{pane_dead_status}");
    assert!(matches!(status.as_str(), "" | "0"), "the console exited with status {status}");

    // SIGTERM: the terminal is restored too.
    let tmux = Tmux::start("sigterm", &console_command(&addr));
    tmux.wait_screen("the overview", |s| s.contains("· live"));
    let pid: u32 = tmux.display("#{pane_pid}").parse().unwrap();
    signal(pid, "TERM");
    assert!(tmux.wait_exit(), "the console left the alternate screen on SIGTERM");
    assert!(agent.stop().success());
}

/// Whether process `pid` has ended (gone, or a zombie waiting to be reaped).
fn ended(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_or(true, |stat| stat.rsplit(") ").next().is_some_and(|rest| rest.starts_with('Z')))
}

#[test]
fn the_console_ends_when_its_terminal_goes_away() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let session = Tmux::start("hangup", &console_command(&format!("127.0.0.1:{port}")));
    session.wait_screen("the console", |s| s.contains("UNREACHABLE, retrying"));
    let pid: u32 = session.display("#{pane_pid}").parse().unwrap();
    assert_eq!(std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap().trim(), "logship");
    // Killing the session hangs up the console's terminal, as a dropped ssh session
    // does. Its input reader then fails on every read; the console must end rather
    // than spin on a core.
    assert!(tmux().args(["kill-session", "-t", &session.name]).status().unwrap().success());
    wait_for("the console to end after its terminal went away", || ended(pid));
}

#[test]
fn an_unreachable_agent_is_reported_and_retried() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tmux = Tmux::start("down", &console_command(&format!("127.0.0.1:{port}")));
    let screen = tmux.wait_screen("the unreachable notice", |s| s.contains("UNREACHABLE, retrying"));
    assert!(screen.contains("Connection refused") || screen.contains("connecting"), "{screen}");
    // Still running, and still answering keys.
    tmux.keys(&["2"]);
    tmux.wait_screen("the titles view without data", |s| s.contains("0 titles"));
    tmux.keys(&["q"]);
    assert!(tmux.wait_exit());
}

/// Fleet mode against a cluster that refuses the credentials in the URL: the screen
/// says it cannot read the cluster, and shows neither the password nor the URL's credentials.
#[test]
fn fleet_mode_never_shows_the_credentials() {
    const CANARY: &str = "Canary-77c1e0";
    let server = common::refusing_server();
    let command = format!(
        "{} console --elasticsearch http://elastic:{CANARY}@{server} --log debug",
        env!("CARGO_BIN_EXE_logship")
    );
    let tmux = Tmux::start("fleet-secret", &command);
    let screen = tmux.wait_screen("the refusal on screen", |s| s.contains("UNREACHABLE"));
    assert!(!screen.contains(CANARY) && !screen.contains("elastic:"), "{screen}");
    assert!(screen.contains(&server), "the cluster is named by its address: {screen}");
    tmux.keys(&["q"]);
    assert!(tmux.wait_exit(), "the console ends on q");
}
