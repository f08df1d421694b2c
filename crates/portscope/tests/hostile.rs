//! Hostile input, staged for real: links planted by another user where root writes, processes
//! that rename themselves or live at odd paths, a container's init, outputs that fail, files that
//! never end. Each test sets the trap the way an attacker would and checks that portscope, run as
//! root, neither writes where it should not, lies, crashes nor loses a result.

use crate::support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{
    Dir, Guard, NOBODY, Netns, first_line, line_channel, portscope, portscope_in, run, skip_without_root,
    stderr, victim,
};

/// `ln -s target link` as user nobody would do it: the link belongs to them.
fn plant_link(target: &Path, link: &Path) {
    std::os::unix::fs::symlink(target, link).unwrap();
    std::os::unix::fs::lchown(link, Some(NOBODY), Some(NOBODY)).unwrap();
}

/// The real file behind /usr/bin/python3, copied to `dest` (an executable anywhere, named
/// anything), so a listener runs from a path the test chooses.
fn python_copy(dest: &Path) {
    let real = std::fs::canonicalize("/usr/bin/python3").unwrap();
    std::fs::copy(real, dest).unwrap();
    std::fs::set_permissions(dest, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A listener on 127.0.0.1:`port` in `ns` run by the executable `exe` (a Python), that first
/// sets its own comm to `comm`, prints the port and sleeps.
fn listener(ns: &Netns, exe: &Path, comm: &[u8], port: u16) -> Guard {
    let comm_hex: String = comm.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "import socket,time\n\
         open('/proc/self/comm','wb').write(bytes.fromhex('{comm_hex}'))\n\
         s=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('127.0.0.1',{port}));s.listen(8)\nprint({port},flush=True)\ntime.sleep(120)\n"
    );
    let mut cmd = ns.command(exe.to_str().expect("a UTF-8 path for ip netns exec"));
    cmd.args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(
        first_line(&mut guard),
        port.to_string(),
        "listener on {port} started"
    );
    guard
}

/// Like [`listener`] for an executable whose path is not UTF-8: started through `sh -c 'exec "$0"'`.
fn listener_bytes(ns: &Netns, exe: &Path, port: u16) -> Guard {
    // Its name is not UTF-8 either.
    let script = format!(
        "import socket,time\nopen('/proc/self/comm','wb').write(bytes([115,255,118]))\n\
         s=socket.socket()\ns.bind(('127.0.0.1',{port}));s.listen(8)\n\
         print({port},flush=True)\ntime.sleep(120)\n"
    );
    let mut cmd = ns.command("/bin/sh");
    cmd.arg("-c")
        .arg("exec \"$0\" -c \"$1\"")
        .arg(exe)
        .arg(&script)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut guard), port.to_string());
    guard
}

/// Waits for a line containing `text` on a child's stderr channel (notes may come first).
fn wait_for(lines: &std::sync::mpsc::Receiver<String>, text: &str) -> String {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no line containing {text:?}"));
        if line.contains(text) {
            return line;
        }
    }
}

// --- 1-3: writes that follow an attacker's link ----------------------------------------------

#[test]
fn watch_never_writes_through_a_planted_lock_or_database_link() {
    if skip_without_root("watch_never_writes_through_a_planted_lock_or_database_link") {
        return;
    }
    let ns = Netns::new("h11w");
    let private = Dir::new(0o700, 0);
    let victim = victim(&private);
    for mode in [0o777, 0o1777] {
        let shared = Dir::new(mode, NOBODY);
        // The lock.
        plant_link(&victim, &shared.join("h.db.lock"));
        let out = run(portscope_in(&ns)
            .args(["watch", "--for", "300ms", "--db"])
            .arg(shared.join("h.db")));
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stderr(&out).contains("symbolic link"), "{}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        // The database itself.
        plant_link(&victim, &shared.join("g.db"));
        let out = run(portscope_in(&ns)
            .args(["watch", "--for", "300ms", "--db"])
            .arg(shared.join("g.db")));
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        // Its write-ahead log.
        plant_link(&victim, &shared.join("f.db-wal"));
        let out = run(portscope_in(&ns)
            .args(["watch", "--for", "300ms", "--db"])
            .arg(shared.join("f.db")));
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    }
}

#[test]
fn baseline_save_never_writes_through_a_planted_link() {
    if skip_without_root("baseline_save_never_writes_through_a_planted_link") {
        return;
    }
    let ns = Netns::new("h11b");
    let private = Dir::new(0o700, 0);
    let victim = victim(&private);
    let shared = Dir::new(0o1777, NOBODY);
    // The temporary name the old code used, planted: the save goes on and the link stays inert.
    plant_link(&victim, &shared.join("b.toml.tmp"));
    let baseline = shared.join("b.toml");
    let out = run(portscope_in(&ns).args(["baseline", "save"]).arg(&baseline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let meta = std::fs::symlink_metadata(&baseline).unwrap();
    assert!(meta.is_file() && meta.uid() == 0);
    // The baseline's own name, planted: refused in one line.
    let planted = shared.join("c.toml");
    plant_link(&victim, &planted);
    let out = run(portscope_in(&ns).args(["baseline", "save"]).arg(&planted));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
}

#[test]
fn the_recorder_lock_is_private_and_names_its_live_holder() {
    if skip_without_root("the_recorder_lock_is_private_and_names_its_live_holder") {
        return;
    }
    let ns = Netns::new("h11l");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    // A lock left readable by an older version is made private.
    let lock = dir.join("h.db.lock");
    std::fs::write(&lock, "").unwrap();
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut first = portscope_in(&ns);
    first
        .args(["watch", "--for", "60s", "--interval", "200ms", "--db"])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut first = Guard::spawn(&mut first);
    let first_err = line_channel(first.0.stderr.take().unwrap());
    wait_for(&first_err, "recording to");
    assert_eq!(
        std::fs::metadata(&lock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A dead pid written into the lock file does not fool the second watcher.
    std::fs::write(&lock, "1").unwrap();
    let out = run(portscope_in(&ns)
        .args(["watch", "--for", "300ms", "--db"])
        .arg(&db));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // `ip netns exec` runs portscope as its child: the holder is that grandchild's pid, which
    // the lock names; it is not 1, and it is a live portscope.
    let text = stderr(&out);
    let pid: u32 = text
        .split("portscope watch (pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no holder named: {text}"));
    assert_ne!(pid, 1, "{text}");
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
    assert_eq!(comm.trim(), "portscope", "{text}");
    // A lock that belongs to another user in a shared directory is refused.
    let shared = Dir::new(0o777, NOBODY);
    let theirs = shared.join("t.db.lock");
    std::fs::write(&theirs, "").unwrap();
    std::os::unix::fs::chown(&theirs, Some(NOBODY), Some(NOBODY)).unwrap();
    let out = run(portscope_in(&ns)
        .args(["watch", "--for", "300ms", "--db"])
        .arg(shared.join("t.db")));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
}

// --- 4-5: identity a process chooses for itself ------------------------------------------------

#[test]
fn allow_rules_and_baselines_do_not_trust_a_chosen_name() {
    if skip_without_root("allow_rules_and_baselines_do_not_trust_a_chosen_name") {
        return;
    }
    let ns = Netns::new("h11n");
    let dir = Dir::new(0o755, 0);
    let port = 7411;
    // The real Python, from its package: saved in the baseline, allowed by name.
    let honest = listener(&ns, Path::new("/usr/bin/python3"), b"python3", port);
    let baseline = dir.join("b.toml");
    let out = run(portscope_in(&ns).args(["baseline", "save"]).arg(&baseline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(portscope_in(&ns).args(["baseline", "check"]).arg(&baseline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    drop(honest);
    // A program in /tmp that calls itself python3.
    let drop_dir = Dir::new(0o755, 0);
    let hostile = drop_dir.join("hostile");
    python_copy(&hostile);
    let _hostile = listener(&ns, &hostile, b"python3", port);
    let allow = dir.join("allow.toml");
    std::fs::write(
        &allow,
        format!("[[allow]]\nprogram = \"python3\"\nport = {port}\n"),
    )
    .unwrap();
    let out = run(portscope_in(&ns).args(["audit", "--json", "--allow"]).arg(&allow));
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let checks: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["process"]["pid"].as_u64().is_some())
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert!(checks.contains(&"exe-location"), "{report}");
    assert!(checks.contains(&"masquerade"), "{report}");
    let out = run(portscope_in(&ns).args(["baseline", "check"]).arg(&baseline));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("changed"));
}

#[test]
fn close_refuses_the_init_of_a_pid_namespace() {
    if skip_without_root("close_refuses_the_init_of_a_pid_namespace") {
        return;
    }
    let ns = Netns::new("h11p");
    let script = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',7412));s.listen(8)\n\
                  print(7412,flush=True)\ntime.sleep(120)\n";
    let mut cmd = ns.command("unshare");
    cmd.args([
        "--pid",
        "--fork",
        "--kill-child",
        "/usr/bin/python3",
        "-c",
        script,
    ])
    .stdout(Stdio::piped());
    let mut init = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut init), "7412");
    let out = run(portscope_in(&ns).args(["close", "7412", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("pid namespace"), "{}", stderr(&out));
    let out = run(portscope_in(&ns).args(["list", "-p", "7412", "--json"]));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "the listener still runs: {list}"
    );
}

// --- 6: terminal injection --------------------------------------------------------------------

/// The bytes no human output may carry raw.
fn assert_inert(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.iter().any(|&b| b == 0x1b || b == 0x07),
        "{what} let a control character through: {}",
        String::from_utf8_lossy(bytes)
    );
    let text = String::from_utf8_lossy(bytes);
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with('X')),
        "{what} let a newline forge a line: {text}"
    );
}

#[test]
fn hostile_names_reach_no_terminal_raw() {
    if skip_without_root("hostile_names_reach_no_terminal_raw") {
        return;
    }
    let ns = Netns::new("h11t");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    // A watcher that records, started before the hostile listener so it sees it open.
    let mut watch = portscope_in(&ns);
    watch
        .args(["watch", "--interval", "200ms", "--for", "60s", "--db"])
        .arg(&db)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut watch = Guard::spawn(&mut watch);
    let watch_out = line_channel(watch.0.stdout.take().unwrap());
    let watch_err = line_channel(watch.0.stderr.take().unwrap());
    wait_for(&watch_err, "watching");
    // An executable directory with ESC and a newline in its name, a comm that paints, retitles
    // and forges a row.
    let evil_dir = dir.join("d\x1b[2K\rnginx\nX");
    std::fs::create_dir(&evil_dir).unwrap();
    let exe = evil_dir.join("srv");
    python_copy(&exe);
    let comm = b"\x1b[31mk\x1b]0;T\x07\nX";
    let _hostile = listener(&ns, &exe, comm, 7413);
    let line = watch_out
        .recv_timeout(Duration::from_secs(10))
        .expect("watch saw it");
    assert_inert("watch", line.as_bytes());
    assert!(line.contains("\\e[31mk"), "{line}");
    let baseline = dir.join("b.toml");
    std::fs::write(&baseline, "").unwrap();
    for args in [
        vec!["list"],
        vec!["list", "-l"],
        vec!["audit"],
        vec!["explain", "7413"],
        vec!["close", "7413", "--dry-run"],
        vec!["baseline", "check", baseline.to_str().unwrap()],
        vec!["history", "--db", db.to_str().unwrap()],
        vec!["history", "--events", "--db", db.to_str().unwrap()],
    ] {
        let out = run(portscope_in(&ns).args(&args));
        assert_inert(&format!("{args:?} stdout"), &out.stdout);
        assert_inert(&format!("{args:?} stderr"), &out.stderr);
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("\\e")
                || String::from_utf8_lossy(&out.stdout).contains("\\x1b"),
            "{args:?} did not show the name escaped: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The confirmation, on a real terminal: answered "n", nothing is signalled.
    let command = format!("{} close 7413", env!("CARGO_BIN_EXE_portscope"));
    let mut script = ns.command("script");
    script
        .args(["-qec", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = script.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let _ = stdin.write_all(b"n\n");
    }
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[y/N]"), "{text}");
    assert_inert("close's confirmation", &out.stdout);
}

// --- 7-8: paths that are bytes, names that look like states -------------------------------

#[test]
fn paths_that_are_not_utf8_survive_every_json_output() {
    if skip_without_root("paths_that_are_not_utf8_survive_every_json_output") {
        return;
    }
    let ns = Netns::new("h11u");
    let dir = Dir::new(0o755, 0);
    let odd = dir.path.join(OsStr::from_bytes(b"bin\xff"));
    std::fs::create_dir(&odd).unwrap();
    let exe = odd.join("srv");
    python_copy(&exe);
    let db = dir.join("h.db");
    let mut watch = portscope_in(&ns);
    watch
        .args([
            "watch",
            "--json-lines",
            "--interval",
            "200ms",
            "--for",
            "60s",
            "--db",
        ])
        .arg(&db)
        .arg("--exec")
        .arg(format!(
            "printf %s \"$PORTSCOPE_EXE\" > {}/exe.txt",
            dir.path.display()
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut watch = Guard::spawn(&mut watch);
    let watch_out = line_channel(watch.0.stdout.take().unwrap());
    let watch_err = line_channel(watch.0.stderr.take().unwrap());
    wait_for(&watch_err, "watching");
    let _srv = listener_bytes(&ns, &exe, 7414);
    let want: Vec<Value> = exe
        .as_os_str()
        .as_bytes()
        .iter()
        .map(|&b| Value::from(b))
        .collect();
    let event: Value =
        serde_json::from_str(&watch_out.recv_timeout(Duration::from_secs(10)).unwrap()).unwrap();
    assert_eq!(event["owner"]["exe_bytes"], Value::Array(want), "{event}");
    assert!(support::wait_until(10.0, || dir.join("exe.txt").exists()));
    assert!(support::wait_until(10.0, || {
        std::fs::read(dir.join("exe.txt")).is_ok_and(|b| b == exe.as_os_str().as_bytes())
    }));
    let baseline = dir.join("b.toml");
    let out = run(portscope_in(&ns).args(["baseline", "save"]).arg(&baseline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for args in [
        vec!["list", "--json"],
        vec!["list", "--json-lines"],
        vec!["audit", "--json"],
        vec!["explain", "7414", "--json"],
        vec!["close", "7414", "--dry-run", "--json"],
        vec!["history", "--json", "--db", db.to_str().unwrap()],
        vec!["history", "--events", "--json", "--db", db.to_str().unwrap()],
    ] {
        let out = run(portscope_in(&ns).args(&args));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        let text = String::from_utf8(out.stdout).expect("JSON output is UTF-8");
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if args.contains(&"--json-lines") {
                serde_json::from_str::<Value>(line).unwrap();
            }
        }
        if !args.contains(&"--json-lines") {
            serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"));
        }
        if !args.contains(&"audit") {
            assert!(text.contains("exe_bytes"), "{args:?}: {text}");
        }
    }
    // A name that is not UTF-8 is kept exactly too.
    let out = run(portscope_in(&ns).args(["list", "-p", "7414", "--json"]));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        list[0]["holders"][0]["name_bytes"],
        serde_json::json!([115, 255, 118]),
        "{list}"
    );
    let out = run(portscope_in(&ns)
        .args(["baseline", "check", "--json"])
        .arg(&baseline));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // close kills the holder, then reports it as JSON.
    let out = run(portscope_in(&ns).args(["close", "7414", "--yes", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.to_string().contains("exe_bytes"), "{report}");
}

#[test]
fn a_file_named_deleted_is_not_deleted_and_a_private_tmp_dir_is_not_shared() {
    if skip_without_root("a_file_named_deleted_is_not_deleted_and_a_private_tmp_dir_is_not_shared") {
        return;
    }
    let ns = Netns::new("h11d");
    let dir = Dir::new(0o700, 0);
    let exe = dir.join("x (deleted)");
    python_copy(&exe);
    let srv = listener(&ns, &exe, b"x (deleted)", 7415);
    let out = run(portscope_in(&ns).args(["list", "-p", "7415", "--json"]));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let holder = &list[0]["holders"][0];
    assert_eq!(holder["exe_deleted"], false, "{holder}");
    assert_eq!(holder["exe"], exe.to_str().unwrap(), "{holder}");
    // A program really deleted after it started is.
    let gone = dir.join("gone");
    python_copy(&gone);
    let _gone = listener(&ns, &gone, b"gone", 7416);
    std::fs::remove_file(&gone).unwrap();
    let out = run(portscope_in(&ns).args(["list", "-p", "7416", "--json"]));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list[0]["holders"][0]["exe_deleted"], true, "{list}");
    // The 0700 root directory under /tmp is not "a directory every user can write to".
    let out = run(portscope_in(&ns).args(["audit", "--json"]));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let location = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "exe-location" && f["process"]["pid"] == srv.pid())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(
        !location["reason"]
            .as_str()
            .unwrap()
            .contains("every user can write"),
        "{location}"
    );
}

// --- 9-10, 12: crashes, unbounded reads, late failures -----------------------------------------

/// Runs portscope with stdout on /dev/full: it may fail, but in one line, never with a panic.
fn to_full(cmd: &mut Command) -> Output {
    let out = cmd
        .stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(101), "{cmd:?} panicked: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{cmd:?}: {}", stderr(&out));
    out
}

#[test]
fn every_subcommand_survives_a_full_stdout() {
    if skip_without_root("every_subcommand_survives_a_full_stdout") {
        return;
    }
    let ns = Netns::new("h11f");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7417);
    assert_eq!(first_line(&mut srv), "7417");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    let baseline = dir.join("b.toml");
    run(portscope_in(&ns)
        .args(["watch", "--for", "300ms", "--db"])
        .arg(&db));
    run(portscope_in(&ns).args(["baseline", "save"]).arg(&baseline));
    let db = db.to_str().unwrap();
    let baseline = baseline.to_str().unwrap();
    let commands: Vec<Vec<&str>> = vec![
        vec!["list"],
        vec!["list", "--json"],
        vec!["lookup", "80"],
        vec!["lookup", "--json", "ssh"],
        vec!["explain", "7417"],
        vec!["audit"],
        vec!["close", "7417", "--dry-run"],
        vec!["scan", "127.0.0.1", "-p", "7417"],
        vec!["scan", "127.0.0.1", "-p", "7417", "--json"],
        vec!["scan", "127.0.0.1", "-p", "7417", "-oX", "-"],
        vec!["watch", "--for", "300ms", "--no-history"],
        vec!["history", "--db", db],
        vec!["history", "--json", "--db", db],
        vec!["baseline", "save", "-"],
        vec!["baseline", "check", baseline],
        vec!["completions", "bash"],
        vec!["man"],
        vec!["--help"],
        vec!["--version"],
    ];
    for args in commands {
        let out = to_full(portscope_in(&ns).args(&args));
        if !matches!(args[0], "--help" | "--version" | "watch") {
            assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        }
    }
}

#[test]
fn history_formats_any_stored_time() {
    if skip_without_root("history_formats_any_stored_time") {
        return;
    }
    let ns = Netns::new("h11y");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    run(portscope_in(&ns)
        .args(["watch", "--for", "300ms", "--db"])
        .arg(&db));
    let conn = rusqlite::Connection::open(&db).unwrap();
    // Year 10000, and a row no version of portscope wrote.
    conn.execute_batch(
        "INSERT INTO events (time_ms, kind, protocol, address, port, remote, at_start)
           VALUES (253402300800000, 'opened', 'tcp', '127.0.0.1', 9, '', 0);
         INSERT INTO events (time_ms, kind, protocol, address, port, remote, at_start)
           VALUES (0, 'opened', 'tcp', 'not an address', 9, '', 0);",
    )
    .unwrap();
    drop(conn);
    for args in [
        vec!["--json"],
        vec!["--events", "--json"],
        vec![],
        vec!["--events"],
    ] {
        let out = run(portscope().arg("history").args(&args).arg("--db").arg(&db));
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("skipped 1 damaged row"), "{}", stderr(&out));
        if args.contains(&"--json") {
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(text.contains("+10000-01-01T00:00:00.000Z"), "{text}");
        }
    }
}

#[test]
fn a_scan_rate_out_of_range_is_a_usage_error() {
    for rate in ["0", "nan", "1e-300", "1e-10", "-5", "inf"] {
        let out = run(portscope().args(["scan", "198.18.0.1", "-p", "1", "--rate", rate]));
        assert_eq!(out.status.code(), Some(2), "--rate {rate}: {}", stderr(&out));
    }
    let out = run(portscope().args([
        "scan",
        "198.18.0.1",
        "-p",
        "1",
        "--banner",
        "--banner-timeout",
        "0",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn endless_input_files_are_refused_without_reading_them_whole() {
    let dev_zero = "/dev/zero";
    let cases: Vec<Vec<&str>> = vec![
        vec!["lookup", "80", "--services", dev_zero],
        vec!["audit", "--allow", dev_zero],
        vec!["baseline", "check", dev_zero],
        vec!["scan", "-iL", dev_zero, "-p", "1"],
    ];
    for args in cases {
        // Under a 512 MiB address-space limit: a read that grew with the file would fail to
        // allocate and abort instead of exiting 2.
        let out = run(Command::new("prlimit")
            .args(["--as=536870912", "--", env!("CARGO_BIN_EXE_portscope")])
            .args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("MiB"), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn report_files_are_opened_before_the_first_probe_and_a_late_failure_keeps_the_report() {
    if skip_without_root("report_files_are_opened_before_the_first_probe") {
        return;
    }
    let ns = Netns::new("h11o");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7418);
    assert_eq!(first_line(&mut srv), "7418");
    for flag in ["-oX", "-oG"] {
        // A file that cannot be created: refused before scanning (no report, nothing probed).
        let out = run(portscope_in(&ns).args(["scan", "127.0.0.1", "-p", "7418", flag, "/nonexistent/x"]));
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        assert!(out.stdout.is_empty());
        let dir = Dir::new(0o755, 0);
        let out = run(portscope_in(&ns)
            .args(["scan", "127.0.0.1", "-p", "7418", flag])
            .arg(&dir.path));
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        // A file that fails at the end: the report still reaches stdout.
        let out = run(portscope_in(&ns).args(["scan", "127.0.0.1", "-p", "7418", flag, "/dev/full"]));
        assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("7418") && text.contains("open"), "{flag}: {text}");
    }
}

// --- 13-16: monitoring that silently stops ---------------------------------------------------

/// A `watch --json-lines` in `ns` recording to `db`, with its lines on channels.
struct Watcher {
    guard: Guard,
    out: std::sync::mpsc::Receiver<String>,
    err: std::sync::mpsc::Receiver<String>,
}

impl Watcher {
    fn start(ns: &Netns, db: &Path, extra: &[&str]) -> Watcher {
        let mut cmd = portscope_in(ns);
        cmd.args([
            "watch",
            "--json-lines",
            "--interval",
            "200ms",
            "--for",
            "120s",
            "--db",
        ])
        .arg(db)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut guard = Guard::spawn(&mut cmd);
        let out = line_channel(guard.0.stdout.take().unwrap());
        let err = line_channel(guard.0.stderr.take().unwrap());
        let watcher = Watcher { guard, out, err };
        watcher.wait_note("watching");
        watcher
    }

    fn wait_note(&self, text: &str) -> String {
        wait_for(&self.err, text)
    }

    fn next_event(&self) -> Value {
        let line = self.out.recv_timeout(Duration::from_secs(15)).expect("an event");
        serde_json::from_str(&line).unwrap()
    }

    /// SIGTERM; waits for the exit (it must come well before the --exec command would end).
    fn stop(mut self) -> std::process::ExitStatus {
        support::send_signal(self.guard.pid(), libc::SIGTERM);
        assert!(
            support::wait_until(15.0, || self.guard.0.try_wait().unwrap().is_some()),
            "watch did not stop after SIGTERM"
        );
        self.guard.0.wait().unwrap()
    }
}

/// The (event, port) pairs of the history's event log.
fn history_events(db: &Path) -> Vec<(String, u64)> {
    let out = run(portscope()
        .args(["history", "--events", "--json", "--db"])
        .arg(db));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let events: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    events
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap().to_string(),
                e["port"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_surviving_watcher_takes_over_recording() {
    if skip_without_root("the_surviving_watcher_takes_over_recording") {
        return;
    }
    let ns = Netns::new("h11k");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    let first = Watcher::start(&ns, &db, &[]);
    let second = Watcher::start(&ns, &db, &[]);
    // `ip netns exec` execs portscope, so the guard's pid is portscope's.
    support::send_signal(first.guard.pid(), libc::SIGKILL);
    second.wait_note("records from now on");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7419);
    assert_eq!(first_line(&mut srv), "7419");
    assert_eq!(second.next_event()["event"], "opened");
    assert!(support::wait_until(10.0, || history_events(&db).contains(&("opened".into(), 7419))));
    drop(first);
}

#[test]
fn a_slow_exec_neither_blocks_watching_nor_loses_an_event() {
    if skip_without_root("a_slow_exec_neither_blocks_watching_nor_loses_an_event") {
        return;
    }
    let ns = Netns::new("h11e");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    let watch = Watcher::start(&ns, &db, &["--exec", "sleep 20"]);
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7420);
    assert_eq!(first_line(&mut srv), "7420");
    assert_eq!(watch.next_event()["event"], "opened");
    drop(srv);
    // The close is seen while the first --exec still sleeps.
    assert_eq!(watch.next_event()["event"], "closed");
    let status = watch.stop();
    assert!(status.success(), "{status}");
    let events = history_events(&db);
    assert!(events.contains(&("closed".into(), 7420)), "{events:?}");
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: Dir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        let dir = Dir::new(0o755, 0);
        let out = run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0755"), "tmpfs"])
            .arg(&dir.path));
        assert!(out.status.success(), "mount: {}", stderr(&out));
        SmallDisk { dir }
    }

    /// Fills what is left with one file; returns its path.
    fn fill(&self) -> PathBuf {
        let filler = self.dir.join("filler");
        let _ = run(Command::new("dd")
            .args(["if=/dev/zero", "bs=4096"])
            .arg(format!("of={}", filler.display())));
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir.path).status();
    }
}

#[test]
fn a_full_disk_pauses_recording_but_not_watching() {
    if skip_without_root("a_full_disk_pauses_recording_but_not_watching") {
        return;
    }
    let ns = Netns::new("h11s");
    let disk = SmallDisk::new("2m");
    let db = disk.dir.join("h.db");
    let watch = Watcher::start(&ns, &db, &[]);
    let filler = disk.fill();
    let mut listeners = Vec::new();
    // Enough events to overflow what SQLite's pages had left.
    for port in 7421..7441u16 {
        let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", port);
        assert_eq!(first_line(&mut srv), port.to_string());
        assert_eq!(watch.next_event()["port"], port);
        listeners.push(srv);
    }
    watch.wait_note("recording paused");
    std::fs::remove_file(&filler).unwrap();
    drop(listeners.pop());
    assert_eq!(watch.next_event()["event"], "closed");
    watch.wait_note("resumed");
    let status = watch.stop();
    assert!(status.success(), "{status}");
    let events = history_events(&db);
    for port in 7421..7441u64 {
        assert!(
            events.contains(&("opened".into(), port)),
            "{port} lost: {events:?}"
        );
    }
}

#[test]
fn a_walk_short_of_descriptors_is_an_error_not_missing_owners() {
    if skip_without_root("a_walk_short_of_descriptors_is_an_error_not_missing_owners") {
        return;
    }
    let ns = Netns::new("h11r");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7442);
    assert_eq!(first_line(&mut srv), "7442");
    for args in [vec!["list"], vec!["audit"], vec!["close", "7442", "--dry-run"]] {
        let mut cmd = ns.command("prlimit");
        cmd.args(["--nofile=4", "--", env!("CARGO_BIN_EXE_portscope")])
            .args(&args);
        let out = run(&mut cmd);
        assert_eq!(out.status.code(), Some(4), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("open-files limit"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("kernel socket"));
    }
    // Whatever the limit, the owner is shown or the run fails: never a listener without one.
    for limit in 4..=24 {
        let mut cmd = ns.command("prlimit");
        cmd.arg(format!("--nofile={limit}")).args([
            "--",
            env!("CARGO_BIN_EXE_portscope"),
            "list",
            "-p",
            "7442",
            "--json",
        ]);
        let out = run(&mut cmd);
        match out.status.code() {
            Some(0) => {
                let list: Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(
                    list[0]["holders"][0]["pid"],
                    srv.pid(),
                    "--nofile={limit}: {list}"
                );
            }
            code => assert_eq!(code, Some(4), "--nofile={limit}: {}", stderr(&out)),
        }
    }
}

// --- 17: the smaller points ----------------------------------------------------------------------

#[test]
fn reading_the_history_never_writes() {
    let out = run(portscope().args(["history", "--db", "/dev/null"]));
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(!Path::new("/dev/null-journal").exists());
    assert!(!Path::new("/dev/null-wal").exists());
}

#[test]
fn no_history_wins_over_portscope_db() {
    if skip_without_root("no_history_wins_over_portscope_db") {
        return;
    }
    let ns = Netns::new("h11q");
    let dir = Dir::new(0o755, 0);
    let db = dir.join("h.db");
    let out = run(portscope_in(&ns)
        .args(["watch", "--for", "300ms", "--no-history"])
        .env("PORTSCOPE_DB", &db));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!db.exists());
}

#[test]
fn small_edges_are_usage_errors_or_honest() {
    let out = run(portscope().args(["list", "-p", "0"]));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(portscope().args(["scan", "fd00::/0", "-p", "1"]));
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(stderr(&out).contains("2^128"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("340282366920938463463374607431768211455"));
}

#[test]
fn an_unresolvable_name_in_a_target_list_is_skipped() {
    if skip_without_root("an_unresolvable_name_in_a_target_list_is_skipped") {
        return;
    }
    // Inside a namespace with no route out, so the lookup never leaves the machine.
    let ns = Netns::new("h11i");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 7443);
    assert_eq!(first_line(&mut srv), "7443");
    let dir = Dir::new(0o755, 0);
    let list = dir.join("targets.txt");
    std::fs::write(&list, "no-such-host.invalid\n127.0.0.1\n").unwrap();
    let out = run(portscope_in(&ns)
        .args(["scan", "-p", "7443", "--json", "-iL"])
        .arg(&list));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-host.invalid"), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("7443"));
}

#[test]
fn a_trickled_banner_is_read_whole() {
    if skip_without_root("a_trickled_banner_is_read_whole") {
        return;
    }
    let ns = Netns::new("h11g");
    let script = "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.bind(('127.0.0.1',7444));s.listen(8)\nprint(7444,flush=True)\n\
                  while True:\n\
                  \x20   c,_=s.accept()\n\
                  \x20   try:\n\
                  \x20       for b in b'220 trickle ESMTP\\r\\n':\n\
                  \x20           c.send(bytes([b]));time.sleep(0.02)\n\
                  \x20   except OSError:\n\
                  \x20       pass\n\
                  \x20   c.close()\n";
    let mut srv = support::python(Some(&ns), script);
    assert_eq!(first_line(&mut srv), "7444");
    let out = run(portscope_in(&ns).args(["scan", "127.0.0.1", "-p", "7444", "--banner", "--json"]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("220 trickle ESMTP"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
