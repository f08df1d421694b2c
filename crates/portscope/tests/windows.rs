//! portscope.exe end to end on Windows, run under Wine 8 by `.ci/windows` (an empty binary on
//! other systems). Every socket is one this test opens on 127.0.0.1; every process it acts on is
//! one it started (a copy of this test binary, sleeping), killed on drop if still alive.
//!
//! Written for Wine 8's limits (docs/windows.md): its socket tables come from the Linux
//! /proc/net files, so the host's own sockets show too, with owner pid 0; a listener shows this
//! process's (Windows) pid only after a socket option is set on it from this side, hence the
//! `set_ttl` below.
#![cfg(windows)]

#[path = "recorded/mod.rs"]
mod recorded;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// portscope.exe as Windows names it: cargo gives a Unix path when it built the tests on Linux,
/// which Wine sees on drive Z:.
fn exe() -> PathBuf {
    let path = env!("CARGO_BIN_EXE_portscope");
    if path.starts_with('/') {
        PathBuf::from(format!("Z:{}", path.replace('/', "\\")))
    } else {
        PathBuf::from(path)
    }
}

fn portscope(args: &[&str]) -> Output {
    Command::new(exe())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PORTSCOPE_SERVICES")
        .env_remove("PORTSCOPE_NETNS")
        .env_remove("COLUMNS")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {} {args:?}: {e}", exe().display()))
}

fn stdout_ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("UTF-8 output")
}

fn json_ok(out: &Output) -> Value {
    serde_json::from_str(&stdout_ok(out)).expect("stdout is valid JSON")
}

/// A copy of this test binary that holds a 127.0.0.1 listener and sleeps (the ignored test
/// `sleeper`), killed on drop. `close --pid` closes the ports of a process: it needs one.
struct Sleeper(Child);

impl Sleeper {
    /// Starts it and waits for its "listening PORT" line.
    fn start() -> (Sleeper, u16) {
        use std::io::BufRead;
        let me = std::env::current_exe().unwrap();
        use std::os::windows::process::CommandExt;
        /// `CREATE_NEW_PROCESS_GROUP`: a console control event can reach it alone.
        const NEW_GROUP: u32 = 0x0000_0200;
        let mut child = Command::new(me)
            .creation_flags(NEW_GROUP)
            .args([
                "--ignored",
                "--exact",
                "sleeper",
                "--test-threads=1",
                "--nocapture",
            ])
            .env("PORTSCOPE_SLEEPER", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a child process");
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let sleeper = Sleeper(child);
        let port = lines
            .by_ref()
            .take(20)
            .map_while(Result::ok)
            .find_map(|line| {
                // libtest may have printed "test sleeper ... " on the same line first.
                let (_, port) = line.split_once("listening ")?;
                port.trim().parse().ok()
            })
            .expect("the child says which port it listens on");
        (sleeper, port)
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The child process of the close test: sleeps, bounded, when started by [`Sleeper`].
#[test]
#[ignore = "a child process for close_stops_a_child_process, not a test"]
fn sleeper() {
    if std::env::var_os("PORTSCOPE_SLEEPER").is_some() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_ttl(64).unwrap();
        println!("listening {}", listener.local_addr().unwrap().port());
        std::thread::sleep(Duration::from_secs(60));
    }
}

#[test]
fn lookup_31337_names_back_orifice_as_on_linux() {
    let out = stdout_ok(&portscope(&["lookup", "31337"]));
    assert!(out.contains("Back Orifice"), "{out}");
    assert_eq!(
        out,
        recorded::LOOKUP_31337,
        "portscope.exe differs from the Linux build"
    );
}

#[test]
fn explain_31337_knowledge_is_as_on_linux() {
    let text = stdout_ok(&portscope(&["explain", "31337"]));
    assert_eq!(
        recorded::knowledge_text(&text),
        recorded::EXPLAIN_31337_TEXT,
        "{text}"
    );
    let json = json_ok(&portscope(&["explain", "31337", "--json"]));
    let want: Value = serde_json::from_str(recorded::EXPLAIN_31337_JSON).unwrap();
    assert_eq!(recorded::knowledge_json(&json), want);
}

#[test]
fn list_json_shows_our_listener_with_our_pid() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // Wine 8 learns a listener's owner only once this side touches it with a socket option.
    listener.set_ttl(64).unwrap();
    let port = listener.local_addr().unwrap().port();
    let me = u64::from(std::process::id());
    let out = portscope(&["list", "--json", "-l", "-p", &port.to_string()]);
    let rows = json_ok(&out);
    let rows = rows.as_array().expect("list --json is an array");
    let ours = rows
        .iter()
        .find(|row| {
            row["protocol"] == "tcp"
                && row["state"] == "LISTEN"
                && row["local"]["address"] == "127.0.0.1"
                && row["local"]["port"] == u64::from(port)
        })
        .unwrap_or_else(|| panic!("no row for 127.0.0.1:{port} in {rows:#?}"));
    let pids: Vec<u64> = ours["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .filter_map(|h| h["pid"].as_u64())
        .collect();
    assert!(
        pids.contains(&me),
        "holders {pids:?}, this test is pid {me}: {ours:#}"
    );
}

#[test]
fn close_stops_a_child_process() {
    let (mut child, port) = Sleeper::start();
    let pid = child.0.id();
    // Its listener is in the table with its pid before close looks for it.
    let seen = (0..50).any(|_| {
        let rows = json_ok(&portscope(&["list", "--json", "-l", "-p", &port.to_string()]));
        let held = rows.to_string().contains(&format!("\"pid\":{pid}"));
        if !held {
            std::thread::sleep(Duration::from_millis(100));
        }
        held
    });
    assert!(
        seen,
        "pid {pid}'s listener on 127.0.0.1:{port} never showed in list"
    );
    // First the polite way; a console program that ignores it (Wine 8 delivers no console
    // control event to it) is left running and close says to pass --force, which then stops it.
    let out = portscope(&["close", "--pid", &pid.to_string(), "--yes"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() != Some(0) {
        assert!(said.contains("--force"), "close --pid {pid}: {said}");
        let out = portscope(&["close", "--pid", &pid.to_string(), "--yes", "--force"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "close --pid {pid} --force: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.is_some(), "pid {pid} still runs after close: {said}");
}

#[test]
fn audit_names_each_rule_it_cannot_check_once() {
    let report = json_ok(&portscope(&["audit", "--json"]));
    let known: Vec<&str> = portscope_core::audit::CheckId::ALL
        .iter()
        .map(|c| c.as_str())
        .collect();
    // (rule, fact): a rule that lacks two facts (preload: the environment and the preload file)
    // is named once for each.
    let pairs: Vec<(&str, &str)> = report["not_checked"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|n| (n["check"].as_str().unwrap(), n["fact"].as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    for (i, pair) in pairs.iter().enumerate() {
        assert!(known.contains(&pair.0), "unknown rule {} in {report:#}", pair.0);
        assert!(!pairs[..i].contains(pair), "{pair:?} named twice: {pairs:?}");
    }
    let skipped: Vec<&str> = pairs.iter().map(|p| p.0).collect();
    // A rule not checked reports nothing: no finding of it.
    for finding in report["findings"].as_array().expect("findings") {
        let check = finding["check"].as_str().unwrap_or_default();
        assert!(
            !skipped.contains(&check),
            "{check} is not checked, yet found {finding:#}"
        );
    }
    // The table names each rule once, with every fact it lacked. (Its run is a separate look: other tests'
    // processes may come and go in between, so its list is not compared with the JSON's.)
    let text = stdout_ok(&portscope(&["audit"]));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("not checked on this platform: "))
        .collect();
    let rules: Vec<&str> = lines
        .iter()
        .map(|line| {
            line["not checked on this platform: ".len()..]
                .split(' ')
                .next()
                .unwrap_or_default()
        })
        .collect();
    for (i, rule) in rules.iter().enumerate() {
        assert!(!rules[..i].contains(rule), "{rule} twice: {text}");
        assert!(known.contains(rule), "unknown rule {rule}: {text}");
    }
}

#[test]
fn linux_only_options_are_refused_in_one_line() {
    for args in [
        &["list", "--netns", "other"][..],
        &["list", "--forwards"],
        &["audit", "--deep"],
        &["scan", "--syn", "127.0.0.1", "-p", "1"],
    ] {
        let out = portscope(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains("Linux only"), "{args:?}: {err}");
    }
    let help = stdout_ok(&portscope(&["list", "--help"]));
    assert!(help.contains("(Linux only)"), "{help}");
}

#[test]
fn scan_connect_finds_our_listener_open() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = portscope(&["scan", "127.0.0.1", "-p", &port, "--json"]);
    let report = json_ok(&out);
    let text = report.to_string();
    assert!(text.contains("\"open\""), "{report:#}");
}
