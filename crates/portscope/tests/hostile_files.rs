//! Hostile files, round two (issue 23): the one safe write and the one read policy. Links
//! planted by another user where root writes (a history in their own directory, scan reports
//! in /tmp), the textfile exporter's temporary name taken, FIFOs and devices where a file is
//! expected, web configs and certificates another user could change.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{
    Dir, Guard, NOBODY, Netns, line_channel, portscope, portscope_in, run, skip_without_root, stderr, victim,
};

/// Runs `args` as user nobody (the attacker's own commands: ln, mkfifo, mkdir).
fn as_nobody(args: &[&str]) {
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(args));
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn a_history_in_another_users_directory_is_never_opened_through_their_link() {
    if skip_without_root("a_history_in_another_users_directory_is_never_opened_through_their_link") {
        return;
    }
    // `sudo -E portscope watch`: the default database is in the invoking user's own directory
    // (0755, theirs: not group- or world-writable), where they plant the database's name.
    // An empty root-owned file: SQLite would make it a database (a non-empty one it refuses).
    let private = Dir::new(0o700, 0);
    let target = private.join("empty");
    std::fs::write(&target, "").unwrap();
    let theirs = Dir::new(0o755, NOBODY);
    let db = theirs.join("history.db");
    as_nobody(&["ln", "-s", s(&target), s(&db)]);
    let ns = Netns::new("h23a");
    let out = run(portscope_in(&ns)
        .args(["watch", "--interval", "200ms", "--for", "1s", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(&target).unwrap().len(),
        0,
        "the file was written"
    );
    // The same name through another user's directory as a path component is theirs to
    // choose too: a non-link database there that is theirs is refused as well.
    std::fs::remove_file(&db).unwrap();
    as_nobody(&["touch", s(&db)]);
    let out = run(portscope_in(&ns)
        .args(["watch", "--interval", "200ms", "--for", "1s", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("another user"), "{}", stderr(&out));
}

#[test]
fn scan_reports_are_never_written_through_a_planted_link() {
    if skip_without_root("scan_reports_are_never_written_through_a_planted_link") {
        return;
    }
    let private = Dir::new(0o700, 0);
    let target = victim(&private);
    let ns = Netns::new("h23b");
    // World-writable and sticky (/tmp), and world-writable without the sticky bit.
    for mode in [0o1777, 0o777] {
        let shared = Dir::new(mode, 0);
        for (flag, name) in [("-oX", "r.xml"), ("-oG", "r.gnmap")] {
            let report = shared.join(name);
            as_nobody(&["ln", "-s", s(&target), s(&report)]);
            // Refused before the first probe (to a closed port of the test's own namespace).
            let out = run(portscope_in(&ns)
                .args(["scan", "127.0.0.1", "-p", "7419", flag])
                .arg(&report));
            assert_eq!(out.status.code(), Some(5), "{mode:o} {flag}: {}", stderr(&out));
            assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
            assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");
        }
    }
    // The ordinary case still works: a new report in a shared directory.
    let shared = Dir::new(0o1777, 0);
    let report = shared.join("mine.xml");
    let out = run(portscope_in(&ns)
        .args(["scan", "127.0.0.1", "-p", "7419", "-oX"])
        .arg(&report));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::read_to_string(&report).unwrap().contains("<nmaprun"));
}

#[test]
fn fifos_and_devices_are_refused_not_waited_on() {
    if skip_without_root("fifos_and_devices_are_refused_not_waited_on") {
        return;
    }
    // In root's own directory, so that only the FIFO itself is in question (a FIFO in a shared
    // directory is also another user's file there, refused for that first).
    let dir = Dir::new(0o755, 0);
    let fifo = dir.join("f");
    let out = run(Command::new("mkfifo").arg(&fifo));
    assert!(out.status.success(), "{}", stderr(&out));
    let ns = Netns::new("h23c");
    let f = s(&fifo);
    let cases: Vec<Vec<&str>> = vec![
        vec!["history", "--db", f],
        vec!["lookup", "80", "--services", f],
        vec!["baseline", "check", f],
        vec!["audit", "--allow", f],
        vec!["exporter", "--web-config", f],
        vec!["scan", "127.0.0.1", "-p", "7419", "-oX", f],
    ];
    for args in cases {
        // `timeout` only ends a hang (exit 124) so that the failure is reported, not waited on.
        let mut cmd = ns.command("timeout");
        cmd.args(["10", env!("CARGO_BIN_EXE_portscope")]).args(&args);
        let out = run(cmd.env("NO_COLOR", "1"));
        let code = out.status.code();
        assert!(
            matches!(code, Some(2) | Some(4)),
            "{args:?}: {code:?} {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("FIFO"), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{args:?}: {}", stderr(&out));
    }
}

/// A web config naming `cert` and `key`, in `dir`.
fn web_config(dir: &Dir, cert: &Path, key: &Path) -> PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            s(cert),
            s(key)
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn certificates_and_keys_are_bounded_and_web_configs_others_can_change_are_refused() {
    if skip_without_root("certificates_and_keys_are_bounded_and_web_configs_others_can_change_are_refused") {
        return;
    }
    let dir = Dir::new(0o755, 0);
    let key = dir.join("tls.key");
    std::fs::write(&key, "not a key\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // An endless certificate, under a 512 MiB address-space limit: refused in one line, exit 2.
    let config = web_config(&dir, Path::new("/dev/zero"), &key);
    let out = run(Command::new("prlimit")
        .args(["--as=536870912", "--", env!("CARGO_BIN_EXE_portscope")])
        .args(["exporter", "--web-config"])
        .arg(&config));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("/dev/zero"), "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));

    // A huge regular certificate: "too large", exit 2.
    let big = dir.join("big.crt");
    std::fs::write(&big, vec![b'A'; 3 << 20]).unwrap();
    let config = web_config(&dir, &big, &key);
    let out = run(portscope().args(["exporter", "--web-config"]).arg(&config));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("larger than 1 MiB"), "{}", stderr(&out));

    // A certificate that another user owns, or that anyone can write: refused (exit 5).
    let theirs = dir.join("theirs.crt");
    std::fs::write(&theirs, "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let config = web_config(&dir, &theirs, &key);
    let out = run(portscope().args(["exporter", "--web-config"]).arg(&config));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("another user"), "{}", stderr(&out));
    std::os::unix::fs::chown(&theirs, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(portscope().args(["exporter", "--web-config"]).arg(&config));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("other users can write"), "{}", stderr(&out));

    // The web config itself, world-writable or another user's: refused the same way.
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = run(portscope().args(["exporter", "--web-config"]).arg(&config));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(&config, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = run(portscope().args(["exporter", "--web-config"]).arg(&config));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("another user"), "{}", stderr(&out));
}

#[test]
fn the_textfile_exporter_survives_a_taken_temporary_name_and_pauses_on_failure() {
    if skip_without_root("the_textfile_exporter_survives_a_taken_temporary_name_and_pauses_on_failure") {
        return;
    }
    // node_exporter's textfile directory, shared like /tmp. Another user creates a directory
    // at the temporary name a pid-based scheme would use (`exec` keeps the shell's pid for
    // portscope), then later plants a link at the target's name.
    let dir = Dir::new(0o1777, 0);
    let script = format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups -- mkdir {dir}/.portscope.prom.$$.tmp && \
         exec {bin} exporter --textfile {dir} --interval 1s",
        dir = s(&dir.path),
        bin = env!("CARGO_BIN_EXE_portscope"),
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let err = line_channel(guard.0.stderr.take().unwrap());
    let prom = dir.join("portscope.prom");
    // The next stderr line that contains `what` (other notes, e.g. about hidden owners, pass).
    let next = |what: &str| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match err.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(_) => panic!("no note saying {what:?}"),
            }
        }
    };
    let wrote = next("wrote");
    assert!(wrote.contains("wrote"), "{wrote}");
    assert!(std::fs::read_to_string(&prom).unwrap().contains("portscope_"));

    // A link planted at the target's name: refused, the exporter pauses and keeps running.
    let private = Dir::new(0o700, 0);
    let target = victim(&private);
    std::fs::remove_file(&prom).unwrap();
    as_nobody(&["ln", "-s", s(&target), s(&prom)]);
    let paused = next("paused");
    assert!(paused.contains("paused"), "{paused}");
    assert!(guard.0.try_wait().unwrap().is_none(), "the exporter exited");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious\n");

    // The link removed: writing resumes.
    std::fs::remove_file(&prom).unwrap();
    let resumed = next("resumed");
    assert!(resumed.contains("resumed"), "{resumed}");
    assert!(support::wait_until(5.0, || std::fs::read_to_string(&prom)
        .is_ok_and(|t| t.contains("portscope_"))));
    assert!(guard.0.try_wait().unwrap().is_none(), "the exporter exited");
}

#[test]
fn errors_quote_a_short_escaped_token_never_a_whole_line() {
    if skip_without_root("errors_quote_a_short_escaped_token_never_a_whole_line") {
        return;
    }
    // What a link planted to /etc/shadow would feed each parser: a hash, and a control
    // character that must not reach root's terminal or logs raw.
    let dir = Dir::new(0o755, 0);
    let shadow = dir.join("shadow");
    std::fs::write(
        &shadow,
        "root:$6$saltsalt$HASHHASHHASHHASHHASHHASHHASH\x1b[31m:19000:0:99999:7:::\n",
    )
    .unwrap();
    let toml_like = dir.join("shadow.toml");
    std::fs::write(&toml_like, "root_saltsaltsaltsaltsalt_HASHHASHHASHHASH = 1\n").unwrap();
    let ns = Netns::new("h23d");
    let (sh, tl) = (s(&shadow), s(&toml_like));
    let cases: Vec<Vec<&str>> = vec![
        vec!["lookup", "80", "--services", sh],
        vec!["audit", "--allow", tl],
        vec!["baseline", "check", tl],
        vec!["exporter", "--web-config", sh],
        vec!["scan", "-iL", sh, "-p", "7419"],
    ];
    for args in cases {
        let out = run(portscope_in(&ns).args(&args));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("HASHHASH"), "{args:?} quotes the line: {err}");
        assert!(!err.contains('\x1b'), "{args:?}: {err}");
    }
}

/// A Python that takes an exclusive flock on `lock` (as `nobody` when `as_nobody`), optionally
/// hands it to a child and exits (`orphan`: the lock outlives the pid /proc/locks names), and
/// prints "locked".
fn lock_holder(lock: &Path, as_nobody: bool, orphan: bool) -> (Guard, std::sync::mpsc::Receiver<String>) {
    let script = format!(
        "import fcntl,os,sys,time\n\
         f=open({lock:?})\nfcntl.flock(f,fcntl.LOCK_EX)\n\
         if {orphan} and os.fork()>0:\n    print('locked',flush=True)\n    os._exit(0)\n\
         if not {orphan}:\n    print('locked',flush=True)\n\
         time.sleep(60)\n",
        lock = s(lock),
        orphan = if orphan { "True" } else { "False" },
    );
    let mut cmd = if as_nobody {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            "/usr/bin/python3",
        ]);
        cmd
    } else {
        Command::new("/usr/bin/python3")
    };
    // The orphaned child is ended by `kill_fd_holders`.
    cmd.args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = Guard::spawn(&mut cmd);
    let out = line_channel(guard.0.stdout.take().unwrap());
    assert_eq!(
        out.recv_timeout(std::time::Duration::from_secs(10)).as_deref(),
        Ok("locked")
    );
    if orphan {
        // Reaped, so that its pid no longer exists while the child holds the lock.
        guard.0.wait().unwrap();
    }
    (guard, out)
}

/// Kills (by pid) the test's own processes that hold `path` open: the orphaned lock holder.
fn kill_fd_holders(path: &Path) {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else { return };
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::metadata(fd.path()).is_ok_and(|m| m.dev() == meta.dev() && m.ino() == meta.ino())
        });
        if holds && pid != std::process::id() as i32 {
            support::send_signal(pid as u32, libc::SIGKILL);
        }
    }
}

#[test]
fn a_lock_another_user_opened_is_replaced_and_holders_are_named_for_what_they_are() {
    if skip_without_root("a_lock_another_user_opened_is_replaced_and_holders_are_named_for_what_they_are") {
        return;
    }
    let ns = Netns::new("h23e");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    let lock = dir.join("h.db.lock");
    let watch = |db: &Path| {
        run(portscope_in(&ns)
            .args(["watch", "--interval", "200ms", "--for", "1s", "--db"])
            .arg(db))
    };
    let out = watch(&db);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // An old 0644 lock, opened and locked by user nobody: root's watch must still record.
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (holder, _out) = lock_holder(&lock, true, false);
    let out = watch(&db);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("already records"), "{}", stderr(&out));
    assert_eq!(
        std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    drop(holder);

    // A 0600 lock held by a program that is not portscope: named as such.
    let (holder, _out) = lock_holder(&lock, false, false);
    let out = watch(&db);
    let err = stderr(&out);
    assert!(err.contains("which is not portscope"), "{err}");
    assert!(!err.contains("portscope watch (pid"), "{err}");
    drop(holder);

    // A holder that has exited, its descriptor (and lock) inherited by its child.
    let (holder, _out) = lock_holder(&lock, false, true);
    let out = watch(&db);
    kill_fd_holders(&lock);
    drop(holder);
    let err = stderr(&out);
    assert!(err.contains("which has exited"), "{err}");
    assert!(!err.contains("portscope watch (pid"), "{err}");
}

#[test]
fn a_baseline_with_two_entries_for_one_listener_is_refused() {
    if skip_without_root("a_baseline_with_two_entries_for_one_listener_is_refused") {
        return;
    }
    // The second entry would win silently: an edit that "allows" a trojan's program on a port
    // the first entry pins to sshd.
    let dir = Dir::new(0o755, 0);
    let file = dir.join("b.toml");
    std::fs::write(
        &file,
        "[[listener]]\nport = 7420\nprotocol = \"tcp\"\naddress = \"127.0.0.1\"\nprogram = \"sshd\"\n\n\
         [[listener]]\nport = 7420\nprotocol = \"tcp\"\naddress = \"127.0.0.1\"\nprogram = \"evil\"\n",
    )
    .unwrap();
    let ns = Netns::new("h23f");
    let out = run(portscope_in(&ns).args(["baseline", "check"]).arg(&file));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("two entries for tcp 127.0.0.1:7420"), "{err}");
}

#[test]
fn the_history_is_read_by_other_users_on_read_only_mounts_and_emfile_is_named() {
    if skip_without_root("the_history_is_read_by_other_users_on_read_only_mounts_and_emfile_is_named") {
        return;
    }
    let ns = Netns::new("h23g");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    // Something to record: a listener of the test's own namespace, closed while watching.
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7421);
    assert_eq!(support::first_line(&mut srv), "7421");
    let out = run(portscope_in(&ns)
        .args(["watch", "--interval", "200ms", "--for", "1s", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();

    // Another user who may read the file but not write in its directory.
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args([env!("CARGO_BIN_EXE_portscope"), "history", "--json", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("7421"));

    // Root on a read-only mount of the directory (in a mount namespace of its own, gone with it).
    let script = format!(
        "mount --bind {d} {d} && mount -o remount,bind,ro {d} && exec {bin} history --json --db {db}",
        d = s(&dir.path),
        bin = env!("CARGO_BIN_EXE_portscope"),
        db = s(&db),
    );
    let out = run(Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("7421"));

    // Out of descriptors: said as such, not "does its directory exist".
    let mut cmd = ns.command("prlimit");
    cmd.args([
        "--nofile=4",
        "--",
        env!("CARGO_BIN_EXE_portscope"),
        "watch",
        "--for",
        "1s",
        "--db",
    ])
    .arg(&db);
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("too many open files"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("directory exist"), "{}", stderr(&out));
}

#[test]
fn a_damaged_history_shows_what_is_readable_and_is_not_recorded_into() {
    if skip_without_root("a_damaged_history_shows_what_is_readable_and_is_not_recorded_into") {
        return;
    }
    let ns = Netns::new("h23h");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7422);
    assert_eq!(support::first_line(&mut srv), "7422");
    let out = run(portscope_in(&ns)
        .args(["watch", "--interval", "200ms", "--for", "1s", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // 20,000 events: the recorded ones copied, then pages in the middle of the file overwritten.
    let total = {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let columns: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_info('events') WHERE name != 'id'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
        let columns = columns.join(", ");
        while conn
            .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .unwrap()
            < 20_000
        {
            conn.execute(
                &format!("INSERT INTO events ({columns}) SELECT {columns} FROM events LIMIT 20000"),
                [],
            )
            .unwrap();
        }
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
            .unwrap()
    };
    {
        use std::io::{Seek, SeekFrom, Write};
        let len = std::fs::metadata(&db).unwrap().len();
        let mut file = std::fs::OpenOptions::new().write(true).open(&db).unwrap();
        file.seek(SeekFrom::Start(len / 2 / 4096 * 4096)).unwrap();
        file.write_all(&vec![0xa5; 2 * 4096]).unwrap();
    }

    // `timeout` only ends a hang (exit 124), so that it is reported rather than waited on.
    let out = run(Command::new("timeout")
        .args([
            "60",
            env!("CARGO_BIN_EXE_portscope"),
            "history",
            "--events",
            "--json",
            "--db",
        ])
        .arg(&db));
    let err = stderr(&out);
    // Shown, with one note, and exit 4: a damaged file does not pass as fine.
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let shown = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .len() as i64;
    assert!(shown > total / 2 && shown < total, "{shown} of {total} shown");
    assert!(
        err.contains("damaged") && err.contains("could not be read"),
        "{err}"
    );

    // The watcher refuses to record into it (and says why) rather than growing a damaged file.
    let out = run(portscope_in(&ns)
        .args(["watch", "--interval", "200ms", "--for", "1s", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
}
