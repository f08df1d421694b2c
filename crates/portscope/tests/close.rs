//! `portscope close` against real processes. Every process signalled here was started by the test,
//! inside a network namespace the test created, so no other process on the machine can match.

use crate::support;

use std::process::Stdio;
use std::time::Duration;

use support::{
    GroupGuard, Guard, Netns, first_line, portscope_in, python, run, skip_without_root, wait_until,
};

/// A TCP listener on 127.0.0.1 inside `ns`; prints its port. `prelude` runs first (e.g. to
/// ignore SIGTERM).
fn listener(ns: &Netns, prelude: &str) -> (Guard, u16) {
    let script = format!(
        "import socket,signal,time\n{prelude}\ns=socket.socket()\n\
         s.bind(('127.0.0.1',0));s.listen(16)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)\n"
    );
    let mut guard = python(Some(ns), &script);
    let port = first_line(&mut guard).parse().expect("listener printed its port");
    (guard, port)
}

/// Asserts that portscope refused for safety (exit 5) and returns its one line.
fn refusal(out: &std::process::Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stderr_line(out)
}

fn stderr_line(out: &std::process::Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "expected one line on stderr, got: {stderr}"
    );
    stderr
}

/// Sockets on `port` inside `ns`, as `list --json` reports them.
fn sockets_on(ns: &Netns, port: u16) -> Vec<serde_json::Value> {
    let out = run(portscope_in(ns).args(["list", "--json", "-p", &port.to_string()]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("list --json is JSON")
}

fn still_running(guard: &mut Guard) -> bool {
    matches!(guard.0.try_wait(), Ok(None))
}

#[test]
fn sigterm_stops_the_holder_and_frees_the_port() {
    if skip_without_root("sigterm_stops_the_holder_and_frees_the_port") {
        return;
    }
    let ns = Netns::new("close");
    let (mut child, port) = listener(&ns, "");
    let out = run(portscope_in(&ns).args(["close", &port.to_string(), "--tcp", "--yes", "--json"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("close --json is JSON");
    assert_eq!(report["report"]["port_free"], true);
    assert_eq!(report["report"]["targets"][0]["pid"], child.pid());
    assert_eq!(report["report"]["targets"][0]["outcome"], "exited");
    let status = child.0.wait().expect("child is reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(sockets_on(&ns, port).is_empty());
}

#[test]
fn a_holder_that_ignores_sigterm_is_killed_only_with_force() {
    if skip_without_root("a_holder_that_ignores_sigterm_is_killed_only_with_force") {
        return;
    }
    let ns = Netns::new("close");
    let (mut child, port) = listener(&ns, "signal.signal(signal.SIGTERM, signal.SIG_IGN)");
    let port_arg = port.to_string();

    let out = run(portscope_in(&ns).args(["close", &port_arg, "--yes", "--timeout", "500ms"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "without --force: {stdout}");
    assert!(stdout.contains("pass --force"), "{stdout}");
    assert!(stdout.contains("is still open"), "{stdout}");
    assert!(still_running(&mut child));
    assert_eq!(sockets_on(&ns, port).len(), 1);

    let out = run(portscope_in(&ns).args(["close", &port_arg, "--yes", "--force", "--timeout", "500ms"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "with --force: {stdout}");
    assert!(stdout.contains("killed with SIGKILL"), "{stdout}");
    let status = child.0.wait().expect("child is reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(sockets_on(&ns, port).is_empty());
}

#[test]
fn dry_run_signals_nothing() {
    if skip_without_root("dry_run_signals_nothing") {
        return;
    }
    let ns = Netns::new("close");
    let (mut child, port) = listener(&ns, "");
    let out = run(portscope_in(&ns).args(["close", &port.to_string(), "--dry-run"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        stdout.contains(&child.pid().to_string()) && stdout.contains("SIGTERM"),
        "{stdout}"
    );
    assert!(stdout.contains("dry run"), "{stdout}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(still_running(&mut child));
}

#[test]
fn refuses_without_yes_when_stdin_is_not_a_terminal() {
    if skip_without_root("refuses_without_yes_when_stdin_is_not_a_terminal") {
        return;
    }
    let ns = Netns::new("close");
    let (mut child, port) = listener(&ns, "");
    let out = run(portscope_in(&ns)
        .args(["close", &port.to_string()])
        .stdin(Stdio::null()));
    assert_eq!(out.status.code(), Some(5));
    let line = stderr_line(&out);
    assert!(line.contains("--yes"), "{line}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(still_running(&mut child));
}

#[test]
fn refuses_to_stop_itself() {
    if skip_without_root("refuses_to_stop_itself") {
        return;
    }
    let ns = Netns::new("close");
    // Python binds the port and then becomes portscope, which inherits the socket.
    let script = format!(
        "import os,socket\ns=socket.socket()\ns.bind(('127.0.0.1',0));s.listen(4)\n\
         os.set_inheritable(s.fileno(),True)\n\
         os.execv('{bin}',['portscope','close',str(s.getsockname()[1]),'--yes'])\n",
        bin = env!("CARGO_BIN_EXE_portscope")
    );
    let out = run(ns.command("python3").args(["-c", &script]).env("NO_COLOR", "1"));
    let line = refusal(&out);
    assert!(line.contains("portscope itself"), "{line}");
}

#[test]
fn refuses_to_stop_its_parent() {
    if skip_without_root("refuses_to_stop_its_parent") {
        return;
    }
    let ns = Netns::new("close");
    let script = format!(
        "import socket,subprocess,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0));s.listen(4)\n\
         r=subprocess.run(['{bin}','close',str(s.getsockname()[1]),'--yes'])\nsys.exit(r.returncode)\n",
        bin = env!("CARGO_BIN_EXE_portscope")
    );
    let out = run(ns.command("python3").args(["-c", &script]).env("NO_COLOR", "1"));
    let line = refusal(&out);
    assert!(line.contains("a parent of portscope"), "{line}");
}

#[test]
fn refuses_to_stop_pid_1() {
    if skip_without_root("refuses_to_stop_pid_1") {
        return;
    }
    let ns = Netns::new("close");
    // In a new PID namespace the Python process is PID 1, and it holds the port.
    let script = format!(
        "import os,socket,subprocess,sys\nassert os.getpid()==1\ns=socket.socket()\n\
         s.bind(('127.0.0.1',0));s.listen(4)\n\
         r=subprocess.run(['{bin}','close',str(s.getsockname()[1]),'--yes'])\nsys.exit(r.returncode)\n",
        bin = env!("CARGO_BIN_EXE_portscope")
    );
    let out = run(ns
        .command("unshare")
        .args(["--pid", "--fork", "--mount-proc", "python3", "-c", &script])
        .env("NO_COLOR", "1"));
    if out.status.code() != Some(5) && String::from_utf8_lossy(&out.stderr).contains("unshare:") {
        eprintln!(
            "skipping refuses_to_stop_pid_1: cannot create a PID namespace here: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    let line = refusal(&out);
    assert!(line.contains("PID 1"), "{line}");
}

#[test]
fn another_users_listener_is_out_of_reach_without_root() {
    if skip_without_root("another_users_listener_is_out_of_reach_without_root") {
        return;
    }
    let ns = Netns::new("close");
    let (mut child, port) = listener(&ns, "");
    // The listener is root's; portscope runs as nobody.
    let out = run(ns
        .command("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_portscope"),
        ])
        .args(["close", &port.to_string(), "--yes"])
        .env("NO_COLOR", "1"));
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stderr_line(&out);
    assert!(line.contains("run as root"), "{line}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(still_running(&mut child));
}

#[test]
fn a_listener_that_comes_back_is_reported() {
    if skip_without_root("a_listener_that_comes_back_is_reported") {
        return;
    }
    let ns = Netns::new("close");
    // A stand-in for a supervisor: restarts the listener whenever it exits.
    let script = "import socket,time\ns=socket.socket()\n\
                  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.bind(('127.0.0.1',8080));s.listen(4)\ntime.sleep(120)\n";
    let loop_script = format!("for i in 1 2 3; do python3 -c \"{script}\"; sleep 0.2; done");
    let _supervisor = GroupGuard::spawn(ns.command("bash").args(["-c", &loop_script]));
    assert!(
        wait_until(10.0, || sockets_on(&ns, 8080).len() == 1),
        "the listener did not start"
    );
    let out = run(portscope_in(&ns).args(["close", "8080", "--tcp", "--yes", "--watch", "8s"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("came back"), "{stdout}");
}

#[test]
fn a_udp_port_is_closed_too() {
    if skip_without_root("a_udp_port_is_closed_too") {
        return;
    }
    let ns = Netns::new("close");
    let mut child = support::python_listener(Some(&ns), "udp", "127.0.0.1", 0);
    let port: u16 = first_line(&mut child).parse().expect("a port");
    let out = run(portscope_in(&ns).args(["close", &port.to_string(), "--udp", "--yes"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains(&format!("udp port {port} is free")), "{stdout}");
    assert!(sockets_on(&ns, port).is_empty());
}

#[test]
fn nothing_listening_is_not_found() {
    if skip_without_root("nothing_listening_is_not_found") {
        return;
    }
    let ns = Netns::new("close");
    let out = run(portscope_in(&ns).args(["close", "8080", "--yes"]));
    assert_eq!(out.status.code(), Some(6));
    stderr_line(&out);
    let out = run(portscope_in(&ns).args(["close", "0"]));
    assert_eq!(out.status.code(), Some(2));
    stderr_line(&out);
}

/// Runs `portscope ARGS` on a pseudo-terminal (util-linux `script`) inside `ns`, typing `answer`.
fn on_a_terminal(ns: &Netns, args: &str, answer: &str) -> Option<std::process::Output> {
    use std::io::Write;
    let command = format!("{} {args}", env!("CARGO_BIN_EXE_portscope"));
    let mut child = ns
        .command("script")
        .args(["-qec", &command, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child.stdin.take()?.write_all(answer.as_bytes()).ok()?;
    child.wait_with_output().ok()
}

#[test]
fn asks_on_a_terminal_and_acts_only_on_yes() {
    if skip_without_root("asks_on_a_terminal_and_acts_only_on_yes") {
        return;
    }
    let ns = Netns::new("close");
    let (mut child, port) = listener(&ns, "");
    let Some(out) = on_a_terminal(&ns, &format!("close {port}"), "n\n") else {
        eprintln!("skipping asks_on_a_terminal_and_acts_only_on_yes: util-linux `script` is not available");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(5), "{text}");
    assert!(text.contains("[y/N]") && text.contains("not confirmed"), "{text}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(still_running(&mut child));

    let out = on_a_terminal(&ns, &format!("close {port}"), "y\n").expect("ran before");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("is free"), "{text}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.0.wait().expect("reaped").signal(), Some(libc::SIGTERM));
}

/// A client inside `ns` connected to `port` on 127.0.0.1 and holding the connection on its
/// standard input and output, as a reverse shell does; prints its local port.
fn caller(ns: &Netns, port: u16) -> (Guard, u16) {
    let script = format!(
        "import socket,os,time\ns=socket.create_connection(('127.0.0.1',{port}))\n\
         os.dup2(s.fileno(),0);os.dup2(s.fileno(),1)\n\
         os.write(2,(str(s.getsockname()[1])+'\\n').encode())\ntime.sleep(120)\n"
    );
    let mut cmd = ns.command("python3");
    cmd.args(["-c", &script])
        .stderr(Stdio::piped())
        .stdout(Stdio::null());
    let mut guard = Guard::spawn(&mut cmd);
    use std::io::BufRead;
    let stderr = guard.0.stderr.take().expect("stderr piped");
    let mut line = String::new();
    std::io::BufReader::new(stderr)
        .read_line(&mut line)
        .expect("caller printed its port");
    (guard, line.trim().parse().expect("a port"))
}

#[test]
fn close_pid_stops_a_process_that_only_holds_a_connection() {
    if skip_without_root("close_pid_stops_a_process_that_only_holds_a_connection") {
        return;
    }
    let ns = Netns::new("closepid");
    let (mut server, port) = listener(&ns, "");
    let (mut shell, _) = caller(&ns, port);
    let pid = shell.pid().to_string();
    // `close` on the remote port has nothing listening here to stop, but names the connection.
    let out = run(portscope_in(&ns).args(["close", &port.to_string(), "--remote", "--dry-run"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan = String::from_utf8_lossy(&out.stdout);
    assert!(plan.contains(&format!("{pid}/python3")), "{plan}");
    // The audit names the exact command, and it works.
    let out = run(portscope_in(&ns).args(["audit", "--fail-on", "info"]));
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(audit.contains(&format!("portscope close --pid {pid}")), "{audit}");
    let out = run(portscope_in(&ns).args(["close", "--pid", &pid, "--yes", "--json"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["report"]["targets"][0]["pid"], shell.pid());
    assert_eq!(report["report"]["port_free"], true, "{report}");
    let status = shell.0.wait().expect("reaped");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(still_running(&mut server), "only the chosen process is stopped");
    let out = run(portscope_in(&ns).args(["close", "--pid", &pid, "--yes"]));
    assert_eq!(out.status.code(), Some(6), "a gone process is not found");
    stderr_line(&out);
}

/// The PIDs a close plan in JSON would stop, with each one's namespace labels.
fn planned(plan: &serde_json::Value) -> Vec<(u64, Vec<String>)> {
    plan["plan"]["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .map(|t| {
            let labels = t["netns"]
                .as_array()
                .expect("a target's netns list")
                .iter()
                .map(|n| n["label"].as_str().expect("label").to_string())
                .collect();
            (t["pid"].as_u64().expect("pid"), labels)
        })
        .collect()
}

// Wrong answer #3 of issue 22: `close PORT` planned to stop two holders in two namespaces, shown
// as one server. Now it refuses (exit 5) and lists both, unless --netns picks one or
// --all-namespaces asks for all. portscope runs inside `ns` and looks at every namespace; the
// assertions name only the two listeners this test started.
#[test]
fn a_port_held_in_two_namespaces_is_refused_unless_one_or_all_are_chosen() {
    if skip_without_root("a_port_held_in_two_namespaces_is_refused_unless_one_or_all_are_chosen") {
        return;
    }
    let ns = Netns::new("c22");
    let (mut named, port) = listener(&ns, "");
    let mut anonymous = support::anonymous_listener_from(&ns, port);
    let (named_pid, anon_pid) = (named.pid(), anonymous.pid());
    let anon_label = format!("net:[{}]", support::netns_inode(anon_pid));
    let port = port.to_string();
    let close = |args: &[&str]| {
        run(portscope_in(&ns)
            .args(["--netns", "all", "close", &port, "--tcp"])
            .args(args))
    };

    let out = close(&["--dry-run"]);
    let line = refusal(&out);
    assert!(line.contains("2 network namespaces"), "{line}");
    assert!(
        line.contains("--netns") && line.contains("--all-namespaces"),
        "{line}"
    );
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("NETNS"), "{table}");
    // The table's short label: the name, or `ns:` and the inode's last six digits.
    let anon_inode: u64 = anon_label
        .trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .expect("net:[INODE]");
    let anon_short = format!("ns:{:06}", anon_inode % 1_000_000);
    // The refusal names each namespace as the table does, and `--netns` takes that label.
    assert!(line.contains(&anon_short) && line.contains(&ns.name), "{line}");
    for (pid, label) in [(named_pid, ns.name.as_str()), (anon_pid, anon_short.as_str())] {
        let row = table
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(pid.to_string().as_str()))
            .unwrap_or_else(|| panic!("pid {pid} in {table}"));
        assert!(row.starts_with(label), "{row}");
    }
    // Without --dry-run and with --yes: refused the same way, before any signal.
    let out = close(&["--yes"]);
    refusal(&out);
    assert!(still_running(&mut named) && still_running(&mut anonymous));
    // The JSON plan carries each holder's namespace.
    let out = close(&["--dry-run", "--json"]);
    refusal(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON plan");
    let targets = planned(&plan);
    assert!(
        targets.contains(&(u64::from(anon_pid), vec![anon_label.clone()])),
        "{plan}"
    );
    assert!(
        targets.contains(&(u64::from(named_pid), vec![ns.name.clone()])),
        "{plan}"
    );
    let socket = plan["plan"]["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .find(|s| s["netns"]["label"] == anon_label.as_str())
        .unwrap_or_else(|| panic!("the anonymous socket in {plan}"));
    assert_eq!(socket["netns"]["kind"], "anonymous");
    assert_eq!(socket["netns"]["inode"], support::netns_inode(anon_pid));

    // --all-namespaces plans both.
    let out = close(&["--all-namespaces", "--dry-run", "--json"]);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON plan");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pids: Vec<u64> = planned(&plan).into_iter().map(|t| t.0).collect();
    assert!(
        pids.contains(&u64::from(named_pid)) && pids.contains(&u64::from(anon_pid)),
        "{plan}"
    );

    // --netns picks one: its own namespace by name plans only the named holder, with no NETNS
    // column (it is portscope's own namespace).
    let out = run(portscope_in(&ns).args(["--netns", &ns.name, "close", &port, "--tcp", "--dry-run"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("PID"), "{table}");
    assert!(table.contains(&format!("{named_pid} ")), "{table}");
    assert!(!table.contains(&format!("{anon_pid} ")), "{table}");
    // Its full label selects it too (dry run); then, by the short label the refusal named, for
    // real: only it is stopped, and the port is free there.
    let out = run(portscope_in(&ns).args(["--netns", &anon_label, "close", &port, "--tcp", "--dry-run"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("{anon_pid} ")), "{table}");
    assert!(!table.contains(&format!("{named_pid} ")), "{table}");
    let out = run(portscope_in(&ns).args(["--netns", &anon_short, "close", &port, "--tcp", "--yes"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("NETNS"),
        "the holder is not in portscope's namespace: {text}"
    );
    assert!(text.contains(&anon_short), "{text}");
    assert!(text.contains("is free"), "{text}");
    let status = anonymous.0.wait().expect("reaped");
    assert!(
        !status.success(),
        "the anonymous listener was stopped by a signal"
    );
    assert!(
        still_running(&mut named),
        "the other namespace's holder is untouched"
    );
}
