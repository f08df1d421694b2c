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
        netns: None,
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
        source: Default::default(),
        short_lived: false,
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
    // Nothing matched: exit 6, "nothing found" (issue 23, point 19).
    assert_eq!(out.status.code(), Some(6));
    assert!(out.stdout.is_empty(), "nothing after a future day");
    let out = run(portscope().args(["history", "--since", "someday", "--db", db]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("yesterday"));
}

// Issue 22, point 3: history names the namespace of a port that was not in the recorder's own,
// keeps the same port in two namespaces apart, and still reads a database written before the
// namespace columns existed (schema version 1), before and after `watch` migrates it.
#[test]
fn a_port_in_another_namespace_is_its_own_port_and_old_databases_stay_readable() {
    use portscope_core::model::{Netns, NetnsKind};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(portscope_history::schema::MIGRATIONS[0])
        .unwrap();
    conn.pragma_update(None, "application_id", portscope_history::schema::APPLICATION_ID)
        .unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.execute(
        "INSERT INTO events (time_ms, kind, protocol, address, port, pid, program, uid)
         VALUES (1000, 'opened', 'tcp', '0.0.0.0', 8080, 4242, 'python3', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let spans = |db: &Path| -> Vec<Value> {
        let out = run(portscope().args(["history", "--json", "--db"]).arg(db));
        support::json_ok(&out).as_array().expect("array").clone()
    };
    // Read-only, as it is: the old row is the recorder's own namespace.
    let old = spans(&db);
    assert_eq!(old.len(), 1, "{old:?}");
    assert_eq!(old[0]["port"], 8080);
    assert!(old[0].get("netns").is_none(), "{old:?}");

    // A recorder migrates it, then records the same port in namespace `web`.
    let mut store = Store::create(&db).unwrap();
    let web = std::sync::Arc::new(Netns {
        inode: 4026532400,
        name: Some("web".into()),
        kind: NetnsKind::Named,
    });
    let mut elsewhere = event(2000, EventKind::Opened, 8080, "nginx");
    elsewhere.key.netns = web.inode;
    elsewhere.netns = Some(web);
    store.record(&elsewhere).unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, portscope_history::schema::MIGRATIONS.len() as i64);
    drop(conn);
    let open = Store::open(&db).unwrap().open_ports(false).unwrap();
    assert_eq!(open.len(), 2, "two namespaces, two ports: {open:?}");

    let now = spans(&db);
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(now[0].get("netns").is_none(), "{now:?}");
    assert_eq!(now[1]["netns"]["label"], "web");
    assert_eq!(now[1]["netns"]["inode"], 4026532400u64);
    assert_eq!(now[1]["netns"]["kind"], "named");
    let out = run(portscope().args(["history", "--db"]).arg(&db));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("NETNS"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("web ") && l.contains("nginx")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("- ") && l.contains("python3")),
        "{table}"
    );
    let out = run(portscope().args(["history", "--events", "--db"]).arg(&db));
    let lines = String::from_utf8_lossy(&out.stdout);
    assert!(lines.contains("tcp 0.0.0.0:8080 in netns web"), "{lines}");
    let out = run(portscope()
        .args(["history", "--events", "--json", "--db"])
        .arg(&db));
    let events = support::json_ok(&out);
    assert_eq!(events[1]["netns"]["label"], "web", "{events}");
    assert!(events[0].get("netns").is_none(), "{events}");
}

/// "Nothing found" is exit 6 (README's table): a database `watch` created but that holds no event
/// yet, and a history in which nothing matches the filters, in every output form.
#[test]
fn an_empty_history_and_no_match_exit_6() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    drop(Store::create(&db).unwrap());
    let err = one_line_failure(&["history"], &db, 6);
    assert!(err.contains("no event recorded yet"), "{err}");
    for args in [&["history", "--json"][..], &["history", "--events"]] {
        one_line_failure(args, &db, 6);
    }

    let mut store = Store::create(&db).unwrap();
    store.record(&event(1, EventKind::Opened, 22, "sshd")).unwrap();
    drop(store);
    let nothing = |args: &[&str]| {
        let out = run(portscope().args(args).arg("--db").arg(&db).stdin(Stdio::null()));
        assert_eq!(
            out.status.code(),
            Some(6),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(nothing(&["history", "-p", "80"]), "");
    assert_eq!(nothing(&["history", "-p", "80", "--json"]), "[]");
    assert_eq!(nothing(&["history", "--events", "--process", "nginx"]), "");
    assert_eq!(nothing(&["history", "--events", "--json", "-p", "80"]), "[]");
    let out = run(portscope().args(["history", "--db"]).arg(&db));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Peak resident memory of one run of portscope with `args`, in KiB (`/usr/bin/time -f %M`).
fn peak_rss_kib(args: &[&str], db: &Path) -> u64 {
    let out = run(Command::new("/usr/bin/time")
        .args(["-f", "%M"])
        .arg(env!("CARGO_BIN_EXE_portscope"))
        .args(args)
        .arg("--db")
        .arg(db)
        .stdout(Stdio::null()));
    // 6 for a read that matches nothing.
    assert!(
        matches!(out.status.code(), Some(0 | 6)),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {stderr}"))
}

/// Issue 23, point 8: a long history is streamed, not held. 200,000 events (written in one
/// transaction, as a busy host's watcher would over weeks) are read back by `history --events`
/// in a pipe, as text and as JSON, in the memory of a few rows: held as a list, they cost about
/// 0.4 KiB each (80 MiB here; 1.1 GB for a million). The spans view holds only its spans.
#[test]
fn a_long_history_is_streamed_not_held() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("skipping: /usr/bin/time is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("long.db");
    drop(Store::create(&db).unwrap());
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO events (time_ms, kind, protocol, address, port, pid, program, exe, uid, user)
                 VALUES (?1, ?2, 'tcp', '0.0.0.0', ?3, ?4, 'python3', '/usr/bin/python3.11', 0, 'root')",
            )
            .unwrap();
        for i in 0..200_000i64 {
            let kind = if i % 2 == 0 { "opened" } else { "closed" };
            insert
                .execute(rusqlite::params![
                    1_700_000_000_000 + i,
                    kind,
                    20_000 + (i / 2) % 300,
                    1000 + i / 2
                ])
                .unwrap();
        }
    }
    tx.commit().unwrap();
    drop(conn);
    let small = peak_rss_kib(&["history", "-p", "1"], &db);
    for args in [&["history", "--events"][..], &["history", "--events", "--json"]] {
        let peak = peak_rss_kib(args, &db);
        assert!(
            peak < small + 16 * 1024,
            "{args:?} peaked at {peak} KiB against {small} KiB for a read that matches nothing"
        );
    }
    // Spans must be held until they are printed (they come out in the order they started), but
    // once, not beside the events and the JSON rows: 100,000 spans, each with an owner of its own,
    // took 145 MiB that way; about 35 MiB now.
    let peak = peak_rss_kib(&["history", "--json"], &db);
    assert!(
        peak < small + 64 * 1024,
        "history --json peaked at {peak} KiB against {small} KiB for a read that matches nothing"
    );
}

/// Issue 26: an event a kernel event saw, and a port no poll saw, keep both marks in the history.
#[test]
fn the_source_and_short_lived_marks_are_recorded_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let mut store = Store::create(&db).expect("create");
    let mut opened = event(1, EventKind::Opened, 7000, "python3");
    opened.source = portscope_core::watch::Source::Event;
    let mut closed = event(2, EventKind::Closed, 7000, "python3");
    closed.source = portscope_core::watch::Source::Event;
    closed.short_lived = true;
    let polled = event(3, EventKind::Opened, 22, "sshd");
    for e in [&opened, &closed, &polled] {
        store.record(e).expect("record");
    }
    let back = store.events(&portscope_history::Filter::default()).expect("read");
    assert_eq!(back, [opened, closed, polled]);
    let json = serde_json::to_value(back[1].json()).unwrap();
    assert_eq!(
        (json["source"].as_str(), json["short_lived"].as_bool()),
        (Some("event"), Some(true))
    );
    assert!(
        serde_json::to_value(back[2].json())
            .unwrap()
            .get("source")
            .is_none()
    );
}
