//! The history database: durability under SIGKILL, clear errors for bad paths and files, and
//! `portscope history` reading back spans and events.

use crate::support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use portscope_core::model::Protocol;
use portscope_core::watch::{Event, EventKind, Owner, PortKey};
use portscope_history::Store;
use serde_json::Value;
use support::{Guard, line_channel, portscope, run};

const WRITER_DB: &str = "PORTSCOPE_TEST_WRITER_DB";

fn event(i: i64, kind: EventKind, port: u16, program: &str) -> Event {
    Event {
        time_ms: i,
        kind,
        key: PortKey {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port,
            remote: None,
            netns: 0,
        },
        owner: Some(Owner {
            pid: 1000 + port as u32,
            program: program.into(),
            exe: Some(format!("/usr/bin/{program}").into()),
            uid: 0,
            user: Some("root".into()),
            unit: None,
        }),
        previous: None,
        at_start: false,
    }
}

/// Not a test on its own: the child that `sigkill_during_writes_keeps_every_committed_event`
/// starts (this same test binary) and kills. It records events as fast as it can and prints the
/// number of each one after its transaction committed.
#[test]
#[ignore = "helper process for sigkill_during_writes_keeps_every_committed_event"]
fn writer_helper() {
    let Some(path) = std::env::var_os(WRITER_DB) else {
        return;
    };
    let mut store = Store::create(Path::new(&path)).expect("open the database");
    let mut out = std::io::stdout().lock();
    for i in 0.. {
        let kind = if i % 2 == 0 {
            EventKind::Opened
        } else {
            EventKind::Closed
        };
        store
            .record(&event(i, kind, (i / 2 % 60000) as u16 + 1, "writer"))
            .expect("record");
        std::io::Write::write_all(&mut out, format!("committed {i}\n").as_bytes()).unwrap();
        std::io::Write::flush(&mut out).unwrap();
    }
}

/// A few "random" milliseconds, without a random-number crate: the clock's low bits.
fn random_ms(max: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    u64::from(nanos) % max
}

#[test]
fn sigkill_during_writes_keeps_every_committed_event() {
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("history.db");
        let mut child = Guard::spawn(
            Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "history::writer_helper",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(WRITER_DB, &db)
                .stdout(Stdio::piped())
                .stderr(Stdio::null()),
        );
        let lines = line_channel(child.0.stdout.take().unwrap());
        // Wait until it writes, then kill it at an arbitrary moment in the middle of its writes.
        let first = lines
            .iter()
            .find(|l| l.starts_with("committed"))
            .expect("the writer committed something");
        std::thread::sleep(Duration::from_millis(20 + random_ms(400)));
        child.0.kill().unwrap(); // SIGKILL
        let status = child.0.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        let last: i64 = std::iter::once(first)
            .chain(lines.iter())
            .filter_map(|l| l.strip_prefix("committed ").and_then(|n| n.parse().ok()))
            .max()
            .unwrap();

        let store = Store::open(&db).expect("the database opens after SIGKILL");
        store.integrity_check().expect("integrity_check is ok");
        let count = store.count().unwrap();
        // Every committed event is there; at most the one in flight (committed but not yet
        // reported) is extra.
        assert!(
            count == last + 1 || count == last + 2,
            "round {round}: {count} events, last reported {last}"
        );
        let events = store.events(&Default::default()).unwrap();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(
                e.time_ms, i as i64,
                "round {round}: event {i} is missing or out of order"
            );
        }
        // And the killed database takes new writes.
        let out = run(portscope()
            .args(["history", "--json", "--events", "--db"])
            .arg(&db));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let read: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(read.len() as i64, count);
    }
}

/// Runs portscope and asserts a failure with one line on stderr and the given exit code.
fn one_line_failure(args: &[&str], db: &Path, code: i32) -> String {
    let out = run(portscope().args(args).arg("--db").arg(db).stdin(Stdio::null()));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(code), "{args:?} {}: {err}", db.display());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("portscope: ") && !err.contains("panicked"),
        "{err}"
    );
    err
}

#[test]
fn corrupt_or_foreign_databases_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.db");
    std::fs::write(&garbage, vec![0x5au8; 8192]).unwrap();
    for args in [&["history"][..], &["watch", "--for", "1ms"]] {
        let err = one_line_failure(args, &garbage, 4);
        assert!(err.contains("not a history database"), "{err}");
    }

    // A real SQLite file of another program.
    let foreign = dir.path().join("foreign.db");
    let conn = rusqlite::Connection::open(&foreign).unwrap();
    conn.execute_batch("CREATE TABLE songs (title TEXT)").unwrap();
    drop(conn);
    let err = one_line_failure(&["history"], &foreign, 4);
    assert!(err.contains("not portscope's history"), "{err}");

    // A history written by a newer portscope.
    let newer = dir.path().join("newer.db");
    Store::create(&newer).unwrap();
    let conn = rusqlite::Connection::open(&newer).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let err = one_line_failure(&["history"], &newer, 4);
    assert!(err.contains("newer portscope"), "{err}");

    // A database whose pages were overwritten after it was written.
    let damaged = dir.path().join("damaged.db");
    let mut store = Store::create(&damaged).unwrap();
    for i in 0..500 {
        store
            .record(&event(i, EventKind::Opened, i as u16 + 1, "victim"))
            .unwrap();
    }
    drop(store);
    let mut bytes = std::fs::read(&damaged).unwrap();
    for b in bytes.iter_mut().skip(4096).take(16384) {
        *b = 0xff;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let _ = std::fs::remove_file(dir.path().join("damaged.db-wal"));
    let out = run(portscope().args(["history", "--db"]).arg(&damaged));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.code(),
        Some(0),
        "a damaged database must not read as fine"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unwritable_or_missing_paths_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    // The parent is a regular file: not even root can create the database there.
    let err = one_line_failure(&["watch", "--for", "1ms"], &file.join("history.db"), 4);
    assert!(err.contains("is not a directory"), "{err}");
    // A directory where the file should be.
    let err = one_line_failure(&["watch", "--for", "1ms"], dir.path(), 4);
    assert!(err.contains("is a directory"), "{err}");
    // /proc refuses new files, for root too.
    one_line_failure(
        &["watch", "--for", "1ms"],
        Path::new("/proc/portscope-history.db"),
        4,
    );
    // Nothing recorded yet: "not found", not an error of the system.
    let err = one_line_failure(&["history"], &dir.path().join("none.db"), 6);
    assert!(err.contains("no history yet"), "{err}");
    // It points to the service that records all the time (or to where the service records).
    assert!(err.contains("portscope-watch"), "{err}");
    // A bad --since is bad input.
    let out = run(portscope()
        .args(["history", "--since", "last tuesday", "--db"])
        .arg(&file));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn history_shows_spans_filtered_by_port_process_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let hour = 3_600_000;
    let mut store = Store::create(&db).unwrap();
    let mut taken = event(now - 3 * hour, EventKind::OwnerChanged, 80, "nc");
    taken.previous = event(0, EventKind::Opened, 80, "nginx").owner;
    for e in [
        event(now - 5 * hour, EventKind::Opened, 80, "nginx"),
        event(now - 4 * hour, EventKind::Opened, 22, "sshd"),
        taken,
        event(now - hour, EventKind::Closed, 80, "nc"),
        event(now - 10 * 60_000, EventKind::Opened, 4444, "nc"),
    ] {
        store.record(&e).unwrap();
    }
    drop(store);

    let spans = |args: &[&str]| -> Vec<(u64, String, bool)> {
        let out = run(portscope()
            .args(["history", "--json", "--db"])
            .arg(&db)
            .args(args));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        rows.iter()
            .map(|r| {
                (
                    r["port"].as_u64().unwrap(),
                    r["owner"]["program"].as_str().unwrap().to_string(),
                    r["closed"].is_null(),
                )
            })
            .collect()
    };
    let span = |port: u64, program: &str, open: bool| (port, program.to_string(), open);
    assert_eq!(
        spans(&[]),
        [
            span(80, "nginx", false),
            span(22, "sshd", true),
            span(80, "nc", false),
            span(4444, "nc", true)
        ]
    );
    assert_eq!(
        spans(&["--port", "80"]),
        [span(80, "nginx", false), span(80, "nc", false)]
    );
    assert_eq!(
        spans(&["--process", "nc"]),
        [span(80, "nc", false), span(4444, "nc", true)]
    );
    // Open at some time in the last 2 hours: sshd (still open), nc on 80 (closed 1 h ago), 4444.
    assert_eq!(
        spans(&["--since", "2h"]),
        [
            span(22, "sshd", true),
            span(80, "nc", false),
            span(4444, "nc", true)
        ]
    );

    let out = run(portscope()
        .args(["history", "--db"])
        .arg(&db)
        .args(["--port", "80"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("PROTO"), "{text}");
    assert!(
        text.contains("1080/nginx") && text.contains("(new owner)"),
        "{text}"
    );
}

#[test]
fn an_open_port_whose_process_died_is_marked_and_since_takes_days() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("h.db");
    // A real process that has exited and been reaped: its pid is gone.
    let mut child = Command::new("true").spawn().expect("true");
    let dead = child.id();
    child.wait().expect("reaped");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    {
        let mut store = Store::create(&db).expect("create");
        let mut opened = event(now, EventKind::Opened, 31337, "python3");
        opened.owner.as_mut().unwrap().pid = dead;
        store.record(&opened).expect("record");
        let mut alive = event(now, EventKind::Opened, 8080, "web");
        alive.owner.as_mut().unwrap().pid = std::process::id();
        store.record(&alive).expect("record");
    }
    let db = db.to_str().unwrap();
    let out = run(portscope().args(["history", "--db", db]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let row = |port: &str| {
        text.lines()
            .find(|l| l.contains(port))
            .unwrap_or_else(|| panic!("{port}: {text}"))
            .to_string()
    };
    assert!(row(":31337").contains("pid gone"), "{text}");
    assert!(row(":8080").ends_with("open"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("portscope-watch"));

    let out = run(portscope().args(["history", "--json", "--db", db]));
    let rows: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let gone: Vec<bool> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["owner_gone"].as_bool().unwrap())
        .collect();
    assert_eq!(gone.iter().filter(|g| **g).count(), 1, "{rows}");

    for since in ["yesterday", "today", "1h"] {
        let out = run(portscope().args(["history", "--since", since, "--db", db]));
        assert!(
            out.status.success(),
            "{since}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains(":31337"), "{since}");
    }
    let out = run(portscope().args(["history", "--events", "--since", "2999-01-01", "--db", db]));
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "nothing after a future day");
    let out = run(portscope().args(["history", "--since", "someday", "--db", db]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yesterday"));
}
