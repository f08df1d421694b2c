//! `portscope audit` against real situations: each test stages one (a deleted binary that listens,
//! a shell talking through a socket, a stranger on port 80, a listener on 31337, …) with real
//! processes and sockets, runs the built binary and checks the finding, its severity and reason.
//!
//! Situations inside a namespace of their own, where the whole report can be asserted, are data
//! files played by tests/audit_scenarios.rs. Other engineers' tests run on this host at the same time, so on the host a test only looks at
//! findings about its own processes; inside a namespace it owns, it may assert the whole report.

use crate::support;

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{GroupGuard, Guard, Netns, first_line, portscope, run, skip_without_root};

/// The distribution's python3 binary, not a user-level shim: the tests need a packaged program.
fn system_python() -> PathBuf {
    std::fs::canonicalize("/usr/bin/python3").expect("/usr/bin/python3 is installed")
}

/// A Python program that listens on HOST:PORT over TCP, prints the port, and sleeps. `prelude`
/// runs first (e.g. to rename the process).
fn listener_script(host: &str, port: u16, prelude: &str) -> String {
    format!(
        "import socket,time\n{prelude}\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{host}',{port}))\ns.listen(8)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)\n"
    )
}

fn spawn_listener(mut cmd: Command) -> (Guard, u16) {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped());
    // A freshly copied binary can be briefly "busy": a child that another test thread forked
    // meanwhile holds our write descriptor until it execs. Retry for up to a second.
    let mut attempts = 0;
    let child = loop {
        match cmd.spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("spawn {cmd:?}: {e}"),
        }
    };
    let mut guard = Guard(child);
    let port = first_line(&mut guard).parse().expect("listener printed its port");
    (guard, port)
}

/// Runs `audit --json` plus `extra` through `cmd` and returns the report and the exit code.
fn audit(mut cmd: Command, extra: &[&str]) -> (Value, i32) {
    let out = run(cmd.arg("audit").arg("--json").args(extra));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "audit --json printed no JSON ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out.status.code().expect("exited"))
}

fn audit_host(extra: &[&str]) -> (Value, i32) {
    audit(portscope(), extra)
}

fn findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .collect()
}

fn about_pid(report: &Value, pid: u32) -> Vec<&Value> {
    findings(report)
        .into_iter()
        .filter(|f| f["process"]["pid"].as_u64() == Some(u64::from(pid)))
        .collect()
}

fn find<'a>(list: &[&'a Value], check: &str) -> &'a Value {
    list.iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no {check} finding in {list:#?}"))
}

fn reason(finding: &Value) -> &str {
    finding["reason"].as_str().expect("reason")
}

/// Copies the system python to a fresh temporary directory as `srv`.
fn copied_python(dir: &Path) -> PathBuf {
    let copy = dir.join("srv");
    std::fs::copy(system_python(), &copy).expect("copy python3");
    copy
}

fn python_from(exe: &Path, script: &str) -> Command {
    let mut cmd = Command::new(exe);
    // A copied interpreter cannot find its standard library next to itself.
    cmd.env("PYTHONHOME", "/usr").args(["-c", script]);
    cmd
}

#[test]
fn deleted_executable_that_listens_is_an_alert() {
    if skip_without_root("deleted_executable_that_listens_is_an_alert") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    // A dropped payload's directory: one every user can write to, by its mode (a private 0700
    // directory under /tmp is not).
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let exe = copied_python(dir.path());
    let (child, port) = spawn_listener(python_from(&exe, &listener_script("127.0.0.1", 0, "")));
    std::fs::remove_file(&exe).expect("delete the running binary");

    let (report, code) = audit_host(&[]);
    let mine = about_pid(&report, child.pid());
    let deleted = find(&mine, "deleted-exe");
    assert_eq!(deleted["severity"], "alert");
    assert!(
        reason(deleted).contains("was deleted after it started"),
        "{deleted:#}"
    );
    assert!(
        deleted["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["local"]["port"] == port),
        "{deleted:#}"
    );
    let location = find(&mine, "exe-location");
    assert_eq!(location["severity"], "alert");
    assert!(reason(location).contains("every user can write"), "{location:#}");
    assert_eq!(code, 1, "an alert fails the default --fail-on alert");
}

#[test]
fn replaced_executable_is_a_warning() {
    if skip_without_root("replaced_executable_is_a_warning") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = copied_python(dir.path());
    let (child, _port) = spawn_listener(python_from(&exe, &listener_script("127.0.0.1", 0, "")));
    // What an upgrade does: a new file renamed over the old path.
    let fresh = dir.path().join("srv.new");
    std::fs::copy(system_python(), &fresh).expect("copy");
    std::fs::rename(&fresh, &exe).expect("replace");

    let (report, _) = audit_host(&[]);
    let replaced = find(&about_pid(&report, child.pid()), "deleted-exe").clone();
    assert_eq!(replaced["severity"], "warning");
    assert!(reason(&replaced).contains("replaced on disk"), "{replaced:#}");
}

#[test]
fn program_run_from_memory_is_an_alert() {
    if skip_without_root("program_run_from_memory_is_an_alert") {
        return;
    }
    // Fileless execution: the interpreter copies itself into a memfd and executes that.
    let listener = listener_script("127.0.0.1", 0, "");
    let script = format!(
        "import os\nfd=os.memfd_create('payload',0)\nos.write(fd,open('{}','rb').read())\n\
         os.execve(f'/proc/self/fd/{{fd}}',['payload','-c',{listener:?}],{{'PYTHONHOME':'/usr'}})\n",
        system_python().display()
    );
    let mut cmd = Command::new(system_python());
    cmd.args(["-c", &script]);
    let (child, _) = spawn_listener(cmd);
    let (report, code) = audit_host(&[]);
    let memfd = find(&about_pid(&report, child.pid()), "deleted-exe").clone();
    assert_eq!(memfd["severity"], "alert");
    assert!(reason(&memfd).contains("anonymous memory file"), "{memfd:#}");
    assert_eq!(code, 1);
}

#[test]
fn unpackaged_binary_in_a_system_directory_is_a_warning() {
    if skip_without_root("unpackaged_binary_in_a_system_directory_is_a_warning") {
        return;
    }
    if !Path::new("/var/lib/dpkg/info").is_dir() || !Path::new("/usr/src").is_dir() {
        eprintln!("skipping: needs dpkg's database and /usr/src");
        return;
    }
    // A private mount namespace with a tmpfs over /usr/src: the binary sits in a system
    // directory for this process only, and vanishes with it.
    let shell = format!(
        "mount -t tmpfs -o mode=0755 ps-audit /usr/src && cp {} /usr/src/srv && exec env PYTHONHOME=/usr /usr/src/srv -c \"$0\"",
        system_python().display()
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c", &shell])
        .arg(listener_script("127.0.0.1", 0, ""));
    let (child, _) = spawn_listener(cmd);
    let (report, _) = audit_host(&[]);
    let mine = about_pid(&report, child.pid());
    let unpackaged = find(&mine, "unpackaged");
    assert_eq!(unpackaged["severity"], "warning");
    assert!(reason(unpackaged).contains("/usr/src/srv"), "{unpackaged:#}");
    assert!(
        reason(unpackaged).contains("no installed package owns it"),
        "{unpackaged:#}"
    );
    assert!(mine.iter().all(|f| f["check"] != "exe-location"), "{mine:#?}");
}

#[test]
fn shell_with_a_socket_as_stdin_and_stdout_is_an_alert() {
    if skip_without_root("shell_with_a_socket_as_stdin_and_stdout_is_an_alert") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let client = TcpStream::connect(listener.local_addr().unwrap()).expect("connect to our own listener");
    let (server_side, _) = listener.accept().expect("accept");
    let stdin = OwnedFd::from(server_side.try_clone().unwrap());
    let stdout = OwnedFd::from(server_side);
    let child = Command::new("sh")
        .args(["-c", "while read line; do :; done"])
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .spawn()
        .expect("spawn sh");
    let child = Guard(child);

    let (report, code) = audit_host(&[]);
    let shell = find(&about_pid(&report, child.pid()), "shell-socket").clone();
    assert_eq!(shell["severity"], "alert");
    assert!(reason(&shell).contains("standard input and output"), "{shell:#}");
    assert!(reason(&shell).contains("reverse or bind shell"), "{shell:#}");
    assert_eq!(
        shell["sockets"][0]["remote"]["port"],
        client.local_addr().unwrap().port()
    );
    assert_eq!(code, 1);
    drop(client);
}

#[test]
fn shell_with_a_listening_socket_as_stdin_is_an_alert() {
    if skip_without_root("shell_with_a_listening_socket_as_stdin_is_an_alert") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    // The shell stays the holder while its `sleep` runs; both live in a process group of their
    // own, killed as a whole at the end so the sleep does not outlive the test.
    let child = Command::new("sh")
        .args(["-c", "sleep 120; :"])
        .stdin(Stdio::from(OwnedFd::from(listener)))
        .process_group(0)
        .spawn()
        .expect("spawn sh");
    let child = GroupGuard(child);
    let (report, _) = audit_host(&[]);
    let shell = find(&about_pid(&report, child.pid()), "shell-socket").clone();
    assert_eq!(shell["severity"], "alert");
    assert!(
        reason(&shell).contains("listening socket as its standard input"),
        "{shell:#}"
    );
    assert_eq!(shell["sockets"][0]["local"]["port"], port);
}

#[test]
fn listening_network_relay_is_a_warning() {
    if skip_without_root("listening_network_relay_is_a_warning") {
        return;
    }
    // A program whose executable is named nc, listening as `nc -l` would.
    let dir = tempfile::tempdir().expect("tempdir");
    let nc = dir.path().join("nc");
    std::fs::copy(system_python(), &nc).expect("copy");
    let (child, port) = spawn_listener(python_from(&nc, &listener_script("127.0.0.1", 0, "")));
    let (report, _) = audit_host(&[]);
    let relay = find(&about_pid(&report, child.pid()), "shell-socket").clone();
    assert_eq!(relay["severity"], "warning");
    assert!(
        reason(&relay).contains(&format!("network relay) listens on port {port}")),
        "{relay:#}"
    );
}

#[test]
fn bad_allow_file_is_a_usage_error() {
    let mut allow = tempfile::NamedTempFile::new().expect("temp file");
    writeln!(allow, "[[allow]]\nprogram = \"python3\"\nport = \"http\"").unwrap();
    let out = run(portscope().args(["audit", "--allow"]).arg(allow.path()));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("portscope: "), "{stderr}");
    let out = run(portscope().args(["audit", "--allow", "/nonexistent/allow.toml"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such allow-list file"));
}

#[test]
fn packaged_listener_on_loopback_gives_no_warning() {
    if skip_without_root("packaged_listener_on_loopback_gives_no_warning") {
        return;
    }
    let mut cmd = Command::new(system_python());
    cmd.args(["-c", &listener_script("127.0.0.1", 0, "")]);
    let (child, _) = spawn_listener(cmd);
    let (report, _) = audit_host(&[]);
    let mine = about_pid(&report, child.pid());
    assert!(mine.is_empty(), "a packaged program on loopback raised {mine:#?}");
}

#[test]
fn renamed_processes_are_reported() {
    if skip_without_root("renamed_processes_are_reported") {
        return;
    }
    let rename = |name: &str| format!("open('/proc/self/comm','w').write('{name}')");
    let mut cmd = Command::new(system_python());
    cmd.args(["-c", &listener_script("127.0.0.1", 0, &rename("sshd"))]);
    let (sshd, _) = spawn_listener(cmd);
    let mut cmd = Command::new(system_python());
    cmd.args(["-c", &listener_script("127.0.0.1", 0, &rename("kworker/1:2"))]);
    let (kworker, _) = spawn_listener(cmd);

    let (report, _) = audit_host(&[]);
    let fake_sshd = find(&about_pid(&report, sshd.pid()), "masquerade").clone();
    // A packaged interpreter calling itself sshd: a system program's name on another file.
    assert_eq!(fake_sshd["severity"], "alert");
    assert!(
        reason(&fake_sshd).contains("\"sshd\", a system program"),
        "{fake_sshd:#}"
    );
    let fake_kworker = find(&about_pid(&report, kworker.pid()), "masquerade").clone();
    assert_eq!(fake_kworker["severity"], "alert");
    assert!(
        reason(&fake_kworker).contains("kernel thread"),
        "{fake_kworker:#}"
    );
}

#[test]
fn unowned_listener_is_information() {
    if skip_without_root("unowned_listener_is_information") {
        return;
    }
    let ns = Netns::new("audit");
    let mut cmd = ns.command(system_python().to_str().unwrap());
    cmd.args(["-c", &listener_script("127.0.0.1", 0, "")]);
    let (_child, port) = spawn_listener(cmd);
    // portscope in a PID namespace of its own, as in a sandbox: the listener's process is not in
    // its /proc.
    let mut cmd = ns.command("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", env!("CARGO_BIN_EXE_portscope")]);
    let (report, code) = audit(cmd, &[]);
    let all = findings(&report);
    let unowned = find(&all, "unowned");
    assert_eq!(unowned["severity"], "info");
    assert_eq!(unowned["sockets"][0]["local"]["port"], port);
    assert!(unowned["process"].is_null());
    assert_eq!(code, 0);
}

#[test]
fn human_output_has_a_row_per_finding_and_a_summary() {
    if skip_without_root("human_output_has_a_row_per_finding_and_a_summary") {
        return;
    }
    let ns = Netns::new("audit");
    let mut cmd = ns.command(system_python().to_str().unwrap());
    cmd.args(["-c", &listener_script("0.0.0.0", 31337, "")]);
    let (_child, _) = spawn_listener(cmd);
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
    let out = run(cmd.env("NO_COLOR", "1").arg("audit"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Each finding's reason is on the lines under its row, indented.
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.starts_with("    ")).collect();
    assert!(lines[0].starts_with("SEVERITY  CHECK"), "{stdout}");
    assert!(stdout.contains("\n    "), "{stdout}");
    assert!(
        lines[1].starts_with("warning   abuse-port      tcp 0.0.0.0:31337"),
        "{stdout}"
    );
    assert!(lines[2].starts_with("info      all-interfaces"), "{stdout}");
    assert_eq!(lines.last(), Some(&"0 alert, 1 warning, 1 info"), "{stdout}");
    assert!(!stdout.contains('\x1b'));
}
