//! `portscope watch` against real listeners: it runs inside a network namespace of its own, so
//! the only ports it sees are the ones these tests open and close.

use crate::support;

use std::io::Write;
use std::process::Stdio;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Guard, Netns, first_line, line_channel, python_listener, send_signal, skip_without_root};

/// A running `portscope watch --json-lines` inside `ns`, with its output lines on channels.
pub(crate) struct Watch {
    pub(crate) guard: Guard,
    pub(crate) stdout: Receiver<String>,
    pub(crate) stderr: Receiver<String>,
}

impl Watch {
    pub(crate) fn start(ns: &Netns, extra: &[&str]) -> Watch {
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
        cmd.args(["watch", "--json-lines"])
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = Guard::spawn(&mut cmd);
        let stdout = line_channel(guard.0.stdout.take().expect("piped stdout"));
        let stderr = line_channel(guard.0.stderr.take().expect("piped stderr"));
        let watch = Watch {
            guard,
            stdout,
            stderr,
        };
        // The first snapshot is the starting point: only what changes after it is an event.
        // Notes about what this host lets portscope see may come first.
        loop {
            let line = watch
                .stderr
                .recv_timeout(Duration::from_secs(20))
                .expect("watch started");
            if line.contains("watching") {
                break;
            }
            assert!(
                line.starts_with("portscope: note:"),
                "unexpected line on stderr before watching: {line}"
            );
        }
        watch
    }

    pub(crate) fn next_event(&self) -> Value {
        let line = self
            .stdout
            .recv_timeout(Duration::from_secs(10))
            .expect("watch printed an event within 10 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Ctrl-C, then every line printed before the exit; asserts a clean exit.
    pub(crate) fn stop(mut self) -> Vec<Value> {
        send_signal(self.guard.pid(), libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.guard.0.try_wait().expect("wait for watch") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "watch did not stop within 10 s of Ctrl-C"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "watch exited with {status} after Ctrl-C");
        let rest: Vec<String> = self.stderr.try_iter().collect();
        assert!(!rest.iter().any(|l| l.contains("panicked")), "{rest:?}");
        self.stdout
            .iter()
            .map(|l| serde_json::from_str(&l).expect("JSON line"))
            .collect()
    }
}

fn summary(event: &Value) -> (String, String, u64, String) {
    (
        event["event"].as_str().unwrap_or_default().to_string(),
        event["protocol"].as_str().unwrap_or_default().to_string(),
        event["port"].as_u64().unwrap_or_default(),
        event["owner"]["program"].as_str().unwrap_or("-").to_string(),
    )
}

fn expect(event: &Value, kind: &str, protocol: &str, port: u64, program: &str) {
    assert_eq!(
        summary(event),
        (kind.to_string(), protocol.to_string(), port, program.to_string()),
        "{event}"
    );
}

/// A TCP listener on 127.0.0.1:PORT that execs `sleep` (keeping the socket) when told to on stdin:
/// the same pid, another program.
fn exec_listener(ns: &Netns, port: u16) -> Guard {
    let script = format!(
        "import socket,os,sys\ns=socket.socket()\ns.bind(('127.0.0.1',{port}))\ns.listen(4)\n\
         os.set_inheritable(s.fileno(),True)\nprint({port},flush=True)\nsys.stdin.readline()\n\
         os.execvp('sleep',['sleep','60'])\n"
    );
    let mut cmd = ns.command("python3");
    cmd.args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    Guard(cmd.spawn().expect("spawn python3"))
}

#[test]
fn each_change_is_printed_once_with_its_program() {
    if skip_without_root("each_change_is_printed_once_with_its_program") {
        return;
    }
    let ns = Netns::new("w7w");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let watch = Watch::start(&ns, &["--interval", "200ms", "--db", db.to_str().unwrap()]);

    let mut tcp = python_listener(Some(&ns), "tcp", "127.0.0.1", 7001);
    assert_eq!(first_line(&mut tcp), "7001");
    let opened = watch.next_event();
    expect(&opened, "opened", "tcp", 7001, "python3");
    assert_eq!(opened["owner"]["pid"].as_u64(), Some(u64::from(tcp.pid())));
    assert_eq!(opened["address"], "127.0.0.1");

    let mut udp = python_listener(Some(&ns), "udp", "::", 7002);
    assert_eq!(first_line(&mut udp), "7002");
    expect(&watch.next_event(), "opened", "udp", 7002, "python3");

    drop(tcp);
    expect(&watch.next_event(), "closed", "tcp", 7001, "python3");
    drop(udp);
    expect(&watch.next_event(), "closed", "udp", 7002, "python3");

    let mut exec = exec_listener(&ns, 7003);
    assert_eq!(first_line(&mut exec), "7003");
    expect(&watch.next_event(), "opened", "tcp", 7003, "python3");
    writeln!(exec.0.stdin.as_mut().unwrap()).unwrap();
    let changed = watch.next_event();
    expect(&changed, "owner_changed", "tcp", 7003, "sleep");
    assert_eq!(changed["previous"]["program"], "python3");
    assert_eq!(changed["previous"]["pid"], changed["owner"]["pid"]);
    drop(exec);
    expect(&watch.next_event(), "closed", "tcp", 7003, "sleep");

    let extra = watch.stop();
    assert!(extra.is_empty(), "events printed twice or unexpected: {extra:?}");

    // The history holds the same seven events, in order.
    let out = support::run(
        support::portscope()
            .args(["history", "--events", "--json", "--db"])
            .arg(&db),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<_> = events.iter().map(summary).collect();
    let want = [
        ("opened", "tcp", 7001, "python3"),
        ("opened", "udp", 7002, "python3"),
        ("closed", "tcp", 7001, "python3"),
        ("closed", "udp", 7002, "python3"),
        ("opened", "tcp", 7003, "python3"),
        ("owner_changed", "tcp", 7003, "sleep"),
        ("closed", "tcp", 7003, "sleep"),
    ]
    .map(|(k, p, n, g)| (k.to_string(), p.to_string(), n, g.to_string()));
    assert_eq!(got, want);

    // Spans: when each port was open, and by whom.
    let out = support::run(
        support::portscope()
            .args(["history", "--port", "7003", "--db"])
            .arg(&db),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].contains("/python3") && rows[0].contains("(new owner)"),
        "{text}"
    );
    assert!(rows[1].contains("/sleep"), "{text}");
}

#[test]
fn exec_runs_once_per_event_with_the_event_in_its_environment() {
    if skip_without_root("exec_runs_once_per_event_with_the_event_in_its_environment") {
        return;
    }
    let ns = Netns::new("w7x");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.log");
    let cmd = format!(
        "echo \"$PORTSCOPE_EVENT $PORTSCOPE_PROTOCOL $PORTSCOPE_ADDRESS $PORTSCOPE_PORT $PORTSCOPE_PROGRAM \
         $PORTSCOPE_PID ${{PORTSCOPE_REMOTE:-none}}\" >> {}",
        log.display()
    );
    let watch = Watch::start(
        &ns,
        &[
            "--interval",
            "200ms",
            "--no-history",
            "--exec",
            &cmd,
            "--port",
            "7011",
        ],
    );
    // Filtered out by --port: neither printed nor executed.
    let mut other = python_listener(Some(&ns), "tcp", "127.0.0.1", 7012);
    assert_eq!(first_line(&mut other), "7012");
    let mut listener = python_listener(Some(&ns), "tcp", "127.0.0.1", 7011);
    assert_eq!(first_line(&mut listener), "7011");
    let pid = listener.pid();
    watch.next_event();
    drop(listener);
    watch.next_event();
    assert!(watch.stop().is_empty());
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            format!("opened tcp 127.0.0.1 7011 python3 {pid} none"),
            format!("closed tcp 127.0.0.1 7011 python3 {pid} none"),
        ]
    );
}

#[test]
fn sigterm_and_for_stop_cleanly() {
    if skip_without_root("sigterm_and_for_stop_cleanly") {
        return;
    }
    let ns = Netns::new("w7s");
    // An hour between polls: only a sleep that the signal ends lets it stop at all.
    let watch = Watch::start(&ns, &["--no-history", "--interval", "1h"]);
    send_signal(watch.guard.pid(), libc::SIGTERM);
    let mut guard = watch.guard;
    let stopped = support::wait_until(60.0, || guard.0.try_wait().ok().flatten().is_some());
    assert!(stopped, "watch kept sleeping after SIGTERM");
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{status}");

    let out = support::run(
        ns.command(env!("CARGO_BIN_EXE_portscope"))
            .args(["watch", "--no-history", "--for", "300ms"])
            .stdin(Stdio::null()),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn bad_flags_are_one_line_and_exit_2() {
    for args in [
        &["watch", "--interval", "0s"][..],
        &["watch", "--interval", "soon"],
    ] {
        let out = support::run(support::portscope().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

/// Ports opening and closing as fast as a watcher can follow: 20 listeners, each open for a
/// random 50–300 ms, for `seconds`.
fn churn(ns: &Netns, seconds: u32) -> Guard {
    let script = format!(
        "import socket,random,time\nend=time.time()+{seconds}\nopen_={{}}\n\
         while time.time()<end:\n  p=7300+random.randrange(20)\n\
         \x20 if p in open_: open_.pop(p).close()\n\
         \x20 else:\n    s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         \x20   s.bind(('127.0.0.1',p));s.listen(1);open_[p]=s\n\
         \x20 time.sleep(random.uniform(0.005,0.03))\n"
    );
    let mut cmd = ns.command("python3");
    cmd.args(["-c", &script]);
    Guard::spawn(&mut cmd)
}

#[test]
fn sigkill_of_a_recording_watch_keeps_every_printed_event() {
    if skip_without_root("sigkill_of_a_recording_watch_keeps_every_printed_event") {
        return;
    }
    let ns = Netns::new("w7k");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let mut watch = Watch::start(&ns, &["--interval", "100ms", "--db", db.to_str().unwrap()]);
    let _churn = churn(&ns, 30);
    // Let it record for a while, then kill it without warning, whatever it is doing.
    let mut printed = Vec::new();
    while printed.len() < 40 {
        printed.push(watch.next_event());
    }
    watch.guard.0.kill().unwrap(); // SIGKILL
    watch.guard.0.wait().unwrap();
    // Everything it wrote before dying, up to the end of the pipe.
    printed.extend(
        watch
            .stdout
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(&l).ok()),
    );

    let store = portscope_history::Store::open(&db).expect("the database opens after SIGKILL");
    store.integrity_check().expect("integrity_check is ok");
    let recorded: Vec<Value> = store
        .events(&Default::default())
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e.json()).unwrap())
        .collect();
    // Events are recorded before they are printed, so every printed one is in the history, in
    // the same order; at most the one being written when the kill came is extra.
    assert!(
        recorded.len() >= printed.len(),
        "{} recorded, {} printed",
        recorded.len(),
        printed.len()
    );
    assert!(
        recorded.len() <= printed.len() + 1,
        "{} recorded, {} printed",
        recorded.len(),
        printed.len()
    );
    let strip = |v: &Value| {
        (
            v["time"].clone(),
            v["event"].clone(),
            v["port"].clone(),
            v["owner"].clone(),
        )
    };
    for (i, event) in printed.iter().enumerate() {
        assert_eq!(strip(&recorded[i]), strip(event), "event {i}");
    }
}

#[test]
fn a_second_watcher_on_one_database_does_not_record_twice() {
    if skip_without_root("a_second_watcher_on_one_database_does_not_record_twice") {
        return;
    }
    let ns = Netns::new("w7d");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let first = Watch::start(&ns, &["--db", db.to_str().unwrap()]);
    let out = support::run(
        ns.command(env!("CARGO_BIN_EXE_portscope"))
            .args(["watch", "--for", "200ms", "--db"])
            .arg(&db),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(&format!(
            "portscope watch (pid {}) already records to",
            first.guard.pid()
        )),
        "{err}"
    );
    assert!(first.stop().is_empty());
}

#[test]
fn changes_while_not_watching_are_recorded_at_start() {
    if skip_without_root("changes_while_not_watching_are_recorded_at_start") {
        return;
    }
    let ns = Netns::new("w7a");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let mut before = python_listener(Some(&ns), "tcp", "127.0.0.1", 7401);
    assert_eq!(first_line(&mut before), "7401");
    // The first watch finds 7401 already open: recorded, not printed.
    assert!(
        Watch::start(&ns, &["--db", db.to_str().unwrap()])
            .stop()
            .is_empty()
    );
    drop(before);
    let mut after = python_listener(Some(&ns), "udp", "127.0.0.1", 7402);
    assert_eq!(first_line(&mut after), "7402");
    assert!(
        Watch::start(&ns, &["--db", db.to_str().unwrap()])
            .stop()
            .is_empty()
    );

    let out = support::run(
        support::portscope()
            .args(["history", "--events", "--json", "--db"])
            .arg(&db),
    );
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let got: Vec<_> = events
        .iter()
        .map(|e| (summary(e), e["at_start"].as_bool().unwrap()))
        .collect();
    let want = [
        ("opened", "tcp", 7401, "python3"),
        ("closed", "tcp", 7401, "python3"),
        ("opened", "udp", 7402, "python3"),
    ]
    .map(|(k, p, n, g)| ((k.to_string(), p.to_string(), n, g.to_string()), true));
    assert_eq!(got, want);
    let out = support::run(support::portscope().args(["history", "--db"]).arg(&db));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.contains(":7401") && l.matches("before ").count() == 2),
        "{text}"
    );
}

// Issue 22, wrong answer #4 for watch: events never named the namespace. Watch runs inside a
// test namespace looking at every namespace (`--netns all`); a listener in that namespace is
// portscope's own and its event names none, the same port in an anonymous namespace made from
// it is another port whose event names that namespace, in JSON and in the recorded history.
// Only events of the two listeners started here are looked at.
#[test]
fn a_listener_in_an_anonymous_namespace_is_an_event_that_names_it() {
    if skip_without_root("a_listener_in_an_anonymous_namespace_is_an_event_that_names_it") {
        return;
    }
    let ns = Netns::new("w22");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let db_arg = db.to_string_lossy().to_string();
    let watch = Watch::start(&ns, &["--netns", "all", "--interval", "200ms", "--db", &db_arg]);
    let mut own = python_listener(Some(&ns), "tcp", "127.0.0.1", 0);
    let port: u16 = first_line(&mut own).parse().expect("port");
    let anonymous = support::anonymous_listener_from(&ns, port);
    let inode = support::netns_inode(anonymous.pid());
    let label = format!("net:[{inode}]");
    let (mut own_event, mut anon_event) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while (own_event.is_none() || anon_event.is_none()) && Instant::now() < deadline {
        let Ok(line) = watch.stdout.recv_timeout(Duration::from_secs(1)) else {
            continue;
        };
        let event: Value = serde_json::from_str(&line).expect("JSON line");
        if event["event"] != "opened" || event["port"] != port {
            continue;
        }
        if event["owner"]["pid"] == own.pid() {
            own_event = Some(event);
        } else if event["owner"]["pid"] == anonymous.pid() {
            anon_event = Some(event);
        }
    }
    let own_event = own_event.expect("an event for the listener in watch's own namespace");
    let anon_event = anon_event.expect("an event for the listener in the anonymous namespace");
    assert!(own_event.get("netns").is_none(), "{own_event}");
    assert_eq!(anon_event["netns"]["label"], label.as_str(), "{anon_event}");
    assert_eq!(anon_event["netns"]["inode"], inode, "{anon_event}");
    assert_eq!(anon_event["netns"]["kind"], "anonymous", "{anon_event}");
    watch.stop();

    // The history recorded both as two ports, and its lines name the anonymous namespace.
    let out = support::run(
        support::portscope()
            .args(["history", "--events", "-p", &port.to_string(), "--db"])
            .arg(&db),
    );
    let lines = String::from_utf8_lossy(&out.stdout);
    let anon_line = lines
        .lines()
        .find(|l| l.contains(&format!("pid {}", anonymous.pid())))
        .unwrap_or_else(|| panic!("the anonymous listener in {lines}"));
    assert!(
        anon_line.contains(&format!("tcp 0.0.0.0:{port} in netns {label}")),
        "{anon_line}"
    );
    let own_line = lines
        .lines()
        .find(|l| l.contains(&format!("pid {}", own.pid())))
        .unwrap_or_else(|| panic!("the own listener in {lines}"));
    assert!(!own_line.contains("netns"), "{own_line}");
}

/// Issue 23, point 8: an unprivileged user holds 300 ports and renames its process again and again
/// (`prctl(PR_SET_NAME)`, no exec). A name is not identity (the pid and the executable are), so
/// no rename is an owner change: nothing floods the output or the `--exec` queue, and a real
/// `closed` that follows reaches root's `--exec` hook.
#[test]
fn renaming_a_process_does_not_flood_watch_or_starve_exec() {
    if skip_without_root("renaming_a_process_does_not_flood_watch_or_starve_exec") {
        return;
    }
    let ns = Netns::new("w8r");
    let script = "import ctypes,socket,sys,time\n\
        libc=ctypes.CDLL(None)\n\
        s=[]\n\
        for p in range(31000,31300):\n\
        \x20   k=socket.socket(); k.bind(('127.0.0.1',p)); k.listen(1); s.append(k)\n\
        print('ready',flush=True)\n\
        sys.stdin.readline()\n\
        for i in range(10):\n\
        \x20   libc.prctl(15, ('w%d' % i).encode(), 0, 0, 0)\n\
        \x20   time.sleep(0.3)\n\
        print('renamed',flush=True)\n\
        time.sleep(60)\n";
    let mut cmd = ns.command("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        script,
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped());
    let mut renamer = Guard(cmd.spawn().expect("spawn setpriv python3"));
    let said = line_channel(renamer.0.stdout.take().expect("piped stdout"));
    let next_line = || {
        said.recv_timeout(Duration::from_secs(20))
            .expect("the renamer speaks")
    };
    assert_eq!(next_line(), "ready");
    let mut root_port = python_listener(Some(&ns), "tcp", "127.0.0.1", 7020);
    assert_eq!(first_line(&mut root_port), "7020");

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("exec.log");
    // A hook that takes a moment, like one that mails or posts: 256 queued events are 13 s.
    let hook = format!(
        "sleep 0.05; echo \"$PORTSCOPE_EVENT $PORTSCOPE_PORT\" >> {}",
        log.display()
    );
    let watch = Watch::start(&ns, &["--interval", "200ms", "--no-history", "--exec", &hook]);
    writeln!(renamer.0.stdin.as_mut().unwrap()).unwrap();
    assert_eq!(next_line(), "renamed");
    // Two more looks, so that the last rename has been seen.
    std::thread::sleep(Duration::from_millis(500));
    drop(root_port);
    let closed = watch.next_event();
    let events = watch_rest(&watch, closed);
    let notes: Vec<String> = watch.stderr.try_iter().collect();
    let events_printed = events.len();
    let owner_changes = events.iter().filter(|e| e["event"] == "owner_changed").count();
    let ran = |log: &std::path::Path| std::fs::read_to_string(log).unwrap_or_default();
    let reached = support::wait_until(5.0, || ran(&log).lines().any(|l| l == "closed 7020"));
    let rest = watch.stop();
    assert!(
        reached,
        "the closed event of port 7020 never reached --exec ({events_printed} events printed, \
         {owner_changes} owner changes; notes: {notes:?})"
    );
    assert_eq!(owner_changes, 0, "renames are not owner changes: {events:?}");
    assert_eq!(events_printed, 1, "{events:?}");
    assert!(rest.is_empty(), "{rest:?}");
    assert!(!notes.iter().any(|n| n.contains("not passed to it")), "{notes:?}");
    assert!(
        notes.len() <= 10,
        "at most one line per rename, not one per port: {notes:?}"
    );
}

/// `first` and every event printed after it within the next second.
fn watch_rest(watch: &Watch, first: Value) -> Vec<Value> {
    let mut events = vec![first];
    while let Ok(line) = watch.stdout.recv_timeout(Duration::from_secs(1)) {
        events.push(serde_json::from_str(&line).expect("JSON line"));
    }
    events
}

/// Issue 23, point 12: restarting `watch` records nothing new for a port that stayed open in
/// another namespace, named (`ip netns add`) or anonymous (`unshare -n`): the history keys a port
/// on (namespace, protocol, address, port), with the namespace's inode, stable while it lives.
#[test]
fn restarting_watch_records_no_fake_change_in_other_namespaces() {
    if skip_without_root("restarting_watch_records_no_fake_change_in_other_namespaces") {
        return;
    }
    let named = Netns::new("w12r");
    let mut in_named = python_listener(Some(&named), "tcp", "127.0.0.1", 7141);
    assert_eq!(first_line(&mut in_named), "7141");
    let script = "import socket,os,time\nos.system('ip link set lo up')\n\
        s=socket.socket()\ns.bind(('127.0.0.1',7142))\ns.listen(1)\nprint(7142,flush=True)\ntime.sleep(60)\n";
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-n", "/usr/bin/python3", "-c", script])
        .stdout(Stdio::piped());
    let mut in_anonymous = Guard(cmd.spawn().expect("spawn unshare"));
    assert_eq!(first_line(&mut in_anonymous), "7142");

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    for _ in 0..3 {
        // Every namespace of the machine is looked at (nothing is sent anywhere); the ports of
        // this test are told apart by number.
        let out = support::run(
            support::portscope()
                .args(["watch", "--for", "1500ms", "-p", "7141", "-p", "7142", "--db"])
                .arg(&db)
                .stdin(Stdio::null()),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for (port, label) in [(7141, Some(named.name.as_str())), (7142, None)] {
        let out = support::run(
            support::portscope()
                .args(["history", "--events", "--json", "-p", &port.to_string(), "--db"])
                .arg(&db),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            events
                .iter()
                .map(|e| e["event"].as_str().unwrap_or("?"))
                .collect::<Vec<_>>(),
            ["opened"],
            "port {port}, three starts of watch: {events:?}"
        );
        let netns = &events[0]["netns"];
        match label {
            Some(name) => assert_eq!(netns["label"], name, "{netns}"),
            None => assert_eq!(netns["kind"], "anonymous", "{netns}"),
        }
    }
}
