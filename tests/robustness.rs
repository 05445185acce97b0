//! Bad input never crashes the binary and never disappears: unparsable lines come out
//! tagged, invalid UTF-8 is repaired and tagged, over-long lines are truncated and
//! tagged; bad configs get file:line:col diagnostics with a caret and a non-zero exit.

mod common;

use common::*;

fn tags(d: &serde_json::Value) -> Vec<String> {
    d["tags"].as_array().map(|a| a.iter().map(|t| t.as_str().unwrap().to_string()).collect()).unwrap_or_default()
}

#[test]
fn garbage_lines_are_shipped_tagged() {
    let mut input = Vec::new();
    input.extend_from_slice(b"this is not a log line\n");
    input.extend_from_slice(b"{\"broken json\n");
    input.extend_from_slice(b"2019-12-04\tnot\tcloudfront\n");
    input.extend_from_slice(b"\xff\xfe invalid utf8 \xc3\x28\n");
    input.extend_from_slice(&vec![b'x'; 3 * 1024 * 1024]);
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"no trailing newline");
    let run = logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], &input);
    assert!(run.status.success(), "{}", run.stderr);
    let docs = documents(&run.stdout);
    assert_eq!(docs.len(), 6, "every line must come out");
    assert_eq!(tags(&docs[0]), ["_grokparsefailure"]);
    assert_eq!(tags(&docs[1]), ["_jsonparsefailure"]);
    assert_eq!(tags(&docs[2]), ["_grokparsefailure"]);
    assert!(tags(&docs[3]).contains(&"_utf8_repaired".to_string()), "{:?}", docs[3]);
    assert!(docs[3]["message"].as_str().unwrap().contains('\u{fffd}'));
    assert!(tags(&docs[4]).contains(&"_line_truncated".to_string()));
    assert_eq!(docs[4]["message"].as_str().unwrap().len(), 1024 * 1024);
    assert_eq!(docs[5]["message"], "no trailing newline");
}

#[test]
fn bad_config_gets_position_caret_and_expectation() {
    let path = temp_config(
        "bad-config",
        "bad.conf",
        "input { stdin {} }\nfilter {\n  grok { match => { \"message\" => } }\n}\n".as_bytes(),
    );
    let run = logship(&["check", "--config", path.to_str().unwrap()], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    let expected_position = format!("{}:3:34: syntax error: expected a value", path.display());
    assert!(run.stderr.contains(&expected_position), "{}", run.stderr);
    assert!(run.stderr.contains("grok { match => { \"message\" => } }"), "{}", run.stderr);
    assert!(run.stderr.contains('┬') || run.stderr.contains('^'), "no caret: {}", run.stderr);
}

#[test]
fn unsupported_plugins_and_unknown_settings_are_reported_by_name() {
    let path = temp_config("unsupported", "p.conf", "input { kafka { topics => [\"x\"] } }\nfilter {\n  geoip { source => \"ip\" }\n  mutate { renmae => { \"a\" => \"b\" } }\n}\noutput { redis { } }\n".as_bytes());
    let run = logship(&["check", "--config", path.to_str().unwrap()], b"");
    assert_eq!(run.status.code(), Some(2));
    let p = path.display();
    for want in [
        format!("{p}:1:9: unsupported input plugin `kafka`"),
        format!("{p}:3:3: unsupported filter plugin `geoip`"),
        format!("{p}:4:12: unknown setting `renmae` for plugin `mutate`"),
        format!("{p}:6:10: unsupported output plugin `redis`"),
    ] {
        assert!(run.stderr.contains(&want), "missing `{want}` in:\n{}", run.stderr);
    }
}

#[test]
fn check_accepts_the_root_pipeline() {
    let run = logship(&["check", "--config", "pipeline.conf"], b"");
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stdout.starts_with(b"configuration OK"));
}

/// Logstash's own integration test of conditionals: every comparison operator,
/// `in`/`not in`, regex matches, boolean operators and `${VAR}` substitution, with the
/// tags it expects in order.
#[test]
fn logstash_conditionals_fixture_gives_logstash_tags() {
    let base = peer().join("logstash-config/elastic-logstash");
    let fixture =
        std::fs::read_to_string(base.join("qa__integration__fixtures__env_variables_condition_spec.yml.config.conf"))
            .unwrap();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(base.join("qa__integration__fixtures__env_variables_condition_spec.expected.json"))
            .unwrap(),
    )
    .unwrap();
    // The fixture's generator input and file output are swapped for stdin/stdout; the
    // filter section is used as written.
    let start = fixture.find(" filter {").unwrap();
    let end = fixture.find(" output {").unwrap();
    let config = format!("{}\noutput {{ stdout {{ codec => json_lines }} }}\n", &fixture[start..end]);
    let path = temp_config("conditions", "conditions.conf", config.as_bytes());
    let input = format!("{}\n", expected["input_event_message"].as_str().unwrap());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logship"))
        .args(["--config", path.to_str().unwrap(), "--stdin"])
        .envs([("BIG", "100"), ("SMALL", "1"), ("APP", "foobar"), ("TAG1", "mytag1")])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(input.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let docs = documents(&out.stdout);
    let want: Vec<String> = expected["expected_tags_in_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    assert_eq!(tags(&docs[0]), want);
}

#[test]
fn undefined_environment_variable_is_a_config_error() {
    let path = temp_config(
        "env",
        "env.conf",
        "filter {\n  mutate { add_tag => [\"${LOGSHIP_SURELY_UNSET_VAR}\"] }\n}\n".as_bytes(),
    );
    let run = logship(&["check", "--config", path.to_str().unwrap()], b"");
    assert_eq!(run.status.code(), Some(2));
    assert!(run.stderr.contains("cannot evaluate `${LOGSHIP_SURELY_UNSET_VAR}`"), "{}", run.stderr);
}

#[test]
fn escapes_are_verbatim_unless_support_escapes_is_on() {
    let path = temp_config(
        "escapes",
        "escapes.conf",
        "filter { mutate { add_field => { \"t\" => \"a\\tb\" } } }\noutput { stdout { codec => json_lines } }\n"
            .as_bytes(),
    );
    let p = path.to_str().unwrap();
    let verbatim = documents(&logship(&["--config", p], b"x\n").stdout);
    assert_eq!(verbatim[0]["t"], "a\\tb");
    let translated = documents(&logship(&["--config", p, "--config-support-escapes"], b"x\n").stdout);
    assert_eq!(translated[0]["t"], "a\tb");
}

#[test]
fn unsupported_input_codec_is_reported() {
    let path = temp_config("codec", "codec.conf", "input {\n  stdin { codec => avro }\n}\n".as_bytes());
    let run = logship(&["check", "--config", path.to_str().unwrap()], b"");
    assert_eq!(run.status.code(), Some(2));
    let want = format!("{}:2:20: unsupported input codec `avro`", path.display());
    assert!(run.stderr.contains(&want), "missing `{want}` in:\n{}", run.stderr);
}

/// Deterministic pseudo-random bytes (SplitMix64), so failures reproduce.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

/// Mangled real lines (bytes flipped, cut, spliced across formats) and raw noise: the
/// binary must survive all of it and emit exactly one document per line.
#[test]
fn mangled_and_random_lines_never_crash_or_vanish() {
    let mut samples: Vec<Vec<u8>> = Vec::new();
    for f in ["cdn-edge.log", "cloudfront.log", "playback.log"] {
        samples.extend(read(format!("sample-logs/{f}")).split(|b| *b == b'\n').take(40).map(<[u8]>::to_vec));
    }
    let mut input = Vec::new();
    let mut lines = 0;
    for (i, line) in samples.iter().enumerate() {
        let r = noise(i as u64, 8);
        let mut l = line.clone();
        if !l.is_empty() {
            let at = r[0] as usize % l.len();
            l[at] = r[1];
            l.truncate(l.len() - (r[2] as usize % l.len().max(1)) / 2);
            l.extend_from_slice(
                &samples[(i * 7 + 3) % samples.len()]
                    [..(r[3] as usize).min(samples[(i * 7 + 3) % samples.len()].len())],
            );
        }
        l.retain(|b| *b != b'\n');
        input.extend_from_slice(&l);
        input.push(b'\n');
        lines += 1;
    }
    for seed in 0..50u64 {
        let mut l = noise(1000 + seed, 1 + (seed as usize * 37) % 600);
        l.retain(|b| *b != b'\n');
        input.extend_from_slice(&l);
        input.push(b'\n');
        lines += 1;
    }
    let run = logship(&["--config", "pipeline.conf", "--stdin", "--stdout"], &input);
    assert!(run.status.success(), "{}", run.stderr);
    let docs = documents(&run.stdout);
    // Lines that still look like CloudFront headers (`#…`) are dropped by the config.
    let headers = input.split(|b| *b == b'\n').filter(|l| l.first() == Some(&b'#')).count();
    assert_eq!(docs.len() + headers, lines);
}

/// Truncations and byte flips of the root config never crash the parser: every variant
/// either compiles or gets a positioned diagnostic.
#[test]
fn mangled_configs_get_diagnostics_not_crashes() {
    let text = read("pipeline.conf");
    let dir = temp_dir("mangled");
    for seed in 0..40u64 {
        let r = noise(seed, 4);
        let mut t = text.clone();
        let at = (u32::from_le_bytes([r[0], r[1], r[2], r[3]]) as usize) % t.len();
        match seed % 3 {
            0 => t.truncate(at),
            1 => t[at] = b"{}[]\"'=>#/\\"[seed as usize % 11],
            _ => t.insert(at, b'}'),
        }
        let path = dir.join(format!("mangled-{seed}.conf"));
        std::fs::write(&path, &t).unwrap();
        let run = logship(&["check", "--config", path.to_str().unwrap()], b"");
        match run.status.code() {
            Some(0) => assert!(run.stdout.starts_with(b"configuration OK")),
            Some(2) => assert!(run.stderr.contains(&format!("{}:", path.display())), "{}", run.stderr),
            other => panic!("seed {seed}: exit {other:?}: {}", run.stderr),
        }
    }
}

#[test]
fn json_lines_input_codec_decodes_objects_and_tags_the_rest() {
    let path = temp_config(
        "json-codec",
        "json.conf",
        "input { stdin { codec => json_lines } }\noutput { stdout { codec => json_lines } }\n".as_bytes(),
    );
    let input = b"{\"a\":1,\"@timestamp\":\"2020-01-01T00:00:00Z\",\"b\":{\"c\":\"d\"}}\nnot json\n{\"@timestamp\":\"yesterday\"}\n";
    let docs = documents(&logship(&["--config", path.to_str().unwrap()], input).stdout);
    assert_eq!(docs[0]["a"], 1);
    assert_eq!(docs[0]["b"]["c"], "d");
    assert_eq!(docs[0]["@timestamp"], "2020-01-01T00:00:00.000Z");
    assert_eq!(docs[1]["message"], "not json");
    assert_eq!(tags(&docs[1]), ["_jsonparsefailure"]);
    assert_eq!(docs[2]["_@timestamp"], "yesterday");
    assert_eq!(tags(&docs[2]), ["_timestampparsefailure"]);
}

#[test]
fn unclosed_grok_reference_is_an_error_at_its_position() {
    let path = temp_config(
        "grok-unclosed",
        "p.conf",
        b"input { stdin {} }\nfilter {\n  grok { match => { \"message\" => \"%{WORD:verb} %{IP:ip\" } }\n}\n",
    );
    let run = logship(&["check", "--config", path.to_str().unwrap()], b"");
    assert_eq!(run.status.code(), Some(2), "{}", run.stderr);
    let want = format!("{}:3:48: grok pattern does not compile: unclosed `%{{`", path.display());
    assert!(run.stderr.contains(&want), "missing `{want}` in:\n{}", run.stderr);
}

/// Captures under `target => "[@metadata][grok]"` land in metadata (not shipped) and
/// are readable by later filters, in both naming modes (upstream grokfilter-003/006).
#[test]
fn grok_target_under_metadata_is_readable_by_later_filters() {
    let line = "Mar 16 00:01:25 evita postfix/smtpd[1713]: connect from camomile.cloud9.net[168.100.1.3]\n";
    for (ecs, host_field) in [("disabled", "[logsource]"), ("v1", "[host][hostname]")] {
        let config = format!(
            "input {{ stdin {{}} }}\nfilter {{\n  grok {{ match => {{ \"message\" => \"%{{SYSLOGLINE}}\" }} target => \"[@metadata][grok]\" ecs_compatibility => {ecs} }}\n  mutate {{ add_field => {{ \"host_seen\" => \"%{{[@metadata][grok]{host_field}}}\" \"rest\" => \"%{{[@metadata][grok][message]}}\" }} }}\n}}\noutput {{ stdout {{ codec => json_lines }} }}\n"
        );
        let path = temp_config("grok-metadata-target", "p.conf", config.as_bytes());
        let run = logship(&["--config", path.to_str().unwrap()], line.as_bytes());
        assert!(run.status.success(), "{}", run.stderr);
        let docs = documents(&run.stdout);
        assert_eq!(docs.len(), 1, "{ecs}");
        assert_eq!(docs[0]["host_seen"], "evita", "{ecs}: {}", docs[0]);
        assert_eq!(docs[0]["rest"], "connect from camomile.cloud9.net[168.100.1.3]", "{ecs}");
        assert!(docs[0].get("@metadata").is_none() && docs[0].get("grok").is_none(), "{ecs}: {}", docs[0]);
        assert!(docs[0].get("tags").is_none(), "{ecs}: {}", docs[0]);
    }
}
