//! The filter language on a live host: listeners staged in a namespace of the test's own, one by
//! root and one by `nobody` (as an unprivileged user would open it), selected by `list FILTER` and
//! compared with `list --json`'s own fields; and bad filters refused in one line at a column.

use crate::support;

use std::process::Stdio;

use serde_json::Value;
use support::{Guard, Netns, portscope, portscope_in, run, skip_without_root};

const PYTHON: &str = "/usr/bin/python3";

/// A TCP listener on HOST:8443 in `ns`, run as root or (`nobody`) through setpriv.
fn listener(ns: &Netns, host: &str, nobody: bool) -> Guard {
    let script = format!(
        "import socket,time\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{host}',8443));s.listen(8)\nprint('ready',flush=True)\ntime.sleep(120)\n"
    );
    let mut cmd = if nobody {
        let mut cmd = ns.command("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", PYTHON]);
        cmd
    } else {
        ns.command(PYTHON)
    };
    cmd.args(["-c", &script]).stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(support::first_line(&mut guard), "ready");
    guard
}

/// The pids holding the rows `list ARGS --json` prints inside `ns`, with each row's local
/// address: what the filter kept, in list's own JSON.
fn kept(ns: &Netns, args: &[&str]) -> Vec<(String, Vec<u64>)> {
    let out = run(portscope_in(ns).arg("list").args(args).arg("--json"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "list {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("list --json");
    let mut kept: Vec<(String, Vec<u64>)> = rows
        .iter()
        .map(|r| {
            let pids = r["holders"]
                .as_array()
                .map(|hs| hs.iter().filter_map(|h| h["pid"].as_u64()).collect())
                .unwrap_or_default();
            (r["local"]["address"].as_str().unwrap_or("?").to_string(), pids)
        })
        .collect();
    kept.sort();
    kept
}

#[test]
fn list_filter_selects_by_user_and_port_on_a_live_host() {
    if skip_without_root("filter-live") {
        return;
    }
    let ns = Netns::new("filter");
    let root = listener(&ns, "127.0.0.1", false);
    let nobody = listener(&ns, "127.0.0.2", true);
    let (root_pid, nobody_pid) = (u64::from(root.pid()), u64::from(nobody.pid()));

    // The user's own spelling, checked against what --json says of every socket in the namespace.
    let all = kept(&ns, &["--all"]);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        kept(&ns, &["port = 8443 and not user = root"]),
        [("127.0.0.2".to_string(), vec![nobody_pid])]
    );
    assert_eq!(
        kept(&ns, &["user = nobody or user = 65534"]),
        [("127.0.0.2".to_string(), vec![nobody_pid])]
    );
    // Several words, unquoted, and ss's `:PORT` after an operator (not lsof's `-i :PORT`).
    assert_eq!(
        kept(&ns, &["sport", "=", ":8443", "and", "user", "=", "root"]),
        [("127.0.0.1".to_string(), vec![root_pid])]
    );
    assert_eq!(kept(&ns, &["src 127.0.0.0/8 and state = listening"]), all);
    assert_eq!(
        kept(&ns, &["-t", &format!("pid = {root_pid}")]),
        [("127.0.0.1".to_string(), vec![root_pid])]
    );
    assert_eq!(kept(&ns, &["port = 8444"]), []);
}

/// `watch --filter`: a root listener and one opened by `nobody` after watching starts; only the
/// one the filter keeps is an event.
#[test]
fn watch_filter_reports_only_what_it_keeps() {
    if skip_without_root("filter-watch") {
        return;
    }
    let ns = Netns::new("filterw");
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
    cmd.args([
        "watch",
        "--json-lines",
        "--no-history",
        "--interval",
        "200ms",
        "--for",
        "4s",
    ])
    .args(["--filter", "port = 8443 and not user = root"])
    .env("NO_COLOR", "1")
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut watch = Guard::spawn(&mut cmd);
    let stdout = support::line_channel(watch.0.stdout.take().expect("piped stdout"));
    let stderr = support::line_channel(watch.0.stderr.take().expect("piped stderr"));
    loop {
        let line = stderr
            .recv_timeout(std::time::Duration::from_secs(20))
            .expect("watch started");
        if line.contains("watching") {
            break;
        }
    }
    let root = listener(&ns, "127.0.0.1", false);
    let nobody = listener(&ns, "127.0.0.2", true);
    assert!(
        support::wait_until(15.0, || watch.0.try_wait().ok().flatten().is_some()),
        "watch --for 4s ended"
    );
    let events: Vec<Value> = stdout
        .try_iter()
        .map(|l| serde_json::from_str(&l).expect("JSON line"))
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["event"], "opened", "{events:?}");
    assert_eq!(events[0]["address"], "127.0.0.2", "{events:?}");
    assert_eq!(events[0]["owner"]["pid"], u64::from(nobody.pid()), "{events:?}");
    drop(root);
}

/// A bad filter: one line on stderr naming the token and its column, exit 2, in every command
/// that takes one; no root needed, nothing is collected.
#[test]
fn a_bad_filter_is_one_line_at_its_column() {
    let db = std::env::temp_dir().join(format!("portscope-filter-{}.db", std::process::id()));
    let cases: &[(&[&str], &str)] = &[
        (
            &["list", "prot = tcp"],
            "portscope: filter: unknown field 'prot' at column 1 (fields: proto, port,",
        ),
        (
            &["list", "port", "=", "443", "and", "(user", "=", "root"],
            "portscope: filter: '(' at column 16 is never closed",
        ),
        (
            &[
                "watch",
                "--no-history",
                "--for",
                "1s",
                "--filter",
                "verdict = alert",
            ],
            "portscope: filter: watch events have no field 'verdict' (column 1); they have: proto,",
        ),
        (
            &[
                "exporter",
                "--textfile",
                "/nonexistent",
                "--once",
                "--filter",
                "state ~ listen",
            ],
            "portscope: filter: operator '~' at column 7 does not apply to state (use = or !=)",
        ),
        (
            &["top", "--filter", "pid = 1 or"],
            "portscope: filter: expected a field name, 'not' or '(' at the end (column 11)",
        ),
        (
            &["history", "--filter", "port < http and program < x"],
            "portscope: filter: operator '<' at column 25 does not apply to program (use =, != or ~)",
        ),
    ];
    for (args, said) in cases {
        let out = run(portscope().args(*args).env("PORTSCOPE_DB", &db));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(said), "{args:?}: {stderr}");
    }
    assert!(!db.exists(), "a refused filter opens no database");
}
