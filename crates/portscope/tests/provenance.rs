//! Why a port is open, live: the chain from a listener to what started it, on real processes in
//! network namespaces — a socket held by `systemd-socket-activate`, a listener started from a
//! real SSH session (Debian's sshd in one namespace, a client with a key from another), a process
//! tree of three generations, and a listener a cron-like runner started from /tmp. Every process
//! started here is killed by PID (guards), every namespace and file removed on drop.

use std::process::{Command, Stdio};

use crate::support::{
    Dir, GroupGuard, Guard, Netns, findings_about, json_ok, portscope_in, run, send_signal,
    skip_without_root, stderr, veth_pair, wait_until,
};

const PYTHON: &str = "/usr/bin/python3";

/// Whether something listens on TCP `port` in `ns` (ss, inside the namespace).
fn listening(ns: &Netns, port: u16) -> bool {
    let out = run(ns.command("ss").args(["-Hltn", &format!("sport = :{port}")]));
    !out.stdout.is_empty()
}

/// `portscope ARGS` in `ns`, which must succeed; its stdout.
fn portscope_ok(ns: &Netns, args: &[&str]) -> String {
    let out = run(portscope_in(ns).args(args));
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The holder of the listener on `port` in `list -l --why --json`, with its provenance.
fn holder_on(ns: &Netns, port: u16) -> serde_json::Value {
    let out = run(portscope_in(ns).args(["list", "-l", "--why", "--json", "-p", &port.to_string()]));
    let rows = json_ok(&out);
    rows[0]["holders"][0].clone()
}

/// A Python one-liner that listens on `address:port`, says `ready` and sleeps.
fn listener_script(address: &str, port: u16) -> String {
    format!(
        "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);\
         s.bind(('{address}',{port}));s.listen();print('ready',flush=True);time.sleep(120)"
    )
}

#[test]
fn a_socket_held_by_systemd_socket_activate_is_explained_as_socket_activated() {
    if skip_without_root("a_socket_held_by_systemd_socket_activate_is_explained_as_socket_activated") {
        return;
    }
    let ns = Netns::new("prov-sa");
    ns.ip(&["addr", "add", "198.18.40.1/32", "dev", "lo"]);
    let port = 18040;
    let _activator = GroupGuard::spawn(
        ns.command("/usr/bin/systemd-socket-activate")
            .args([
                "-l",
                &format!("198.18.40.1:{port}"),
                PYTHON,
                "-c",
                "import time; time.sleep(60)",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    assert!(
        wait_until(10.0, || listening(&ns, port)),
        "the activator never listened"
    );

    let text = portscope_ok(&ns, &["list", "-l", "--why"]);
    assert!(
        text.contains("socket-activated by systemd-socket-activate, starts /usr/bin/python3"),
        "{text}"
    );
    let explained = portscope_ok(&ns, &["explain", &port.to_string()]);
    let why = explained.find("Why it is open:").expect("the section");
    let section = &explained[why..];
    assert!(
        section.contains("socket-activated by systemd-socket-activate"),
        "{explained}"
    );
    assert!(
        section.contains("activator starts: /usr/bin/python3 -c import time; time.sleep(60)"),
        "{explained}"
    );
    let holder = holder_on(&ns, port);
    assert_eq!(holder["provenance"]["activation"]["by"], "command", "{holder}");
    assert_eq!(
        holder["provenance"]["activation"]["starts"][0], PYTHON,
        "{holder}"
    );

    // A first connection (inside the namespace): the activator becomes the program, which now
    // holds the socket it received (LISTEN_FDS, LISTEN_PID in its environment).
    let connect =
        format!("import socket;c=socket.create_connection(('198.18.40.1',{port}),timeout=5);c.close()");
    let out = run(ns.command(PYTHON).args(["-c", &connect]));
    assert!(out.status.success(), "connect: {}", stderr(&out));
    assert!(
        wait_until(10.0, || holder_on(&ns, port)["name"] == "python3"),
        "the activator did not start the program"
    );
    let holder = holder_on(&ns, port);
    assert_eq!(holder["provenance"]["activation"]["by"], "inherited", "{holder}");
    let text = portscope_ok(&ns, &["list", "-l", "--why"]);
    assert!(text.contains("python3: socket-activated"), "{text}");
}

/// Debian's sshd, in a namespace of its own, with its own configuration and keys in a
/// temporary directory; killed by PID on drop (its session processes with it).
struct Sshd {
    _guard: Guard,
    dir: Dir,
    /// Dropped after the server is stopped (fields drop in order).
    _privsep: Option<MadeDir>,
}

/// A directory this test made where the machine had none; removed on drop if still empty.
struct MadeDir(&'static str);

impl MadeDir {
    fn make(path: &'static str) -> Option<MadeDir> {
        if std::path::Path::new(path).exists() {
            return None;
        }
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        Some(MadeDir(path))
    }
}

impl Drop for MadeDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(self.0);
    }
}

impl Sshd {
    fn start(ns: &Netns, address: &str, port: u16) -> Sshd {
        let dir = Dir::new(0o700, 0);
        for key in ["host_key", "client_key"] {
            let out = run(Command::new("/usr/bin/ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-f"])
                .arg(dir.join(key)));
            assert!(out.status.success(), "ssh-keygen: {}", stderr(&out));
        }
        std::fs::copy(dir.join("client_key.pub"), dir.join("authorized_keys")).expect("authorized_keys");
        let config = format!(
            "Port {port}\nListenAddress {address}\nHostKey {dir}/host_key\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nPermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             UsePAM no\nStrictModes no\n",
            dir = dir.path.display()
        );
        std::fs::write(dir.join("sshd_config"), config).expect("sshd_config");
        // sshd's privilege separation directory (compiled in); the package's service makes it, so
        // where no service did, the test makes it and takes it away again.
        let privsep = MadeDir::make("/run/sshd");
        let guard = Guard::spawn(
            ns.command("/usr/sbin/sshd")
                .arg("-D")
                .arg("-e")
                .arg("-f")
                .arg(dir.join("sshd_config"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        assert!(wait_until(10.0, || listening(ns, port)), "sshd never listened");
        Sshd {
            _guard: guard,
            dir,
            _privsep: privsep,
        }
    }
}

#[test]
fn a_listener_started_from_an_ssh_session_names_the_client_and_the_user() {
    if skip_without_root("a_listener_started_from_an_ssh_session_names_the_client_and_the_user") {
        return;
    }
    let server = Netns::new("prov-sshd");
    let client = Netns::new("prov-sshc");
    veth_pair(&server, &["198.18.41.1/24"], &client, &["198.18.41.2/24"]);
    let sshd = Sshd::start(&server, "198.18.41.1", 2222);
    let port = 18041;
    let remote = format!("{PYTHON} -c \"{}\"", listener_script("198.18.41.1", port));
    let mut ssh = GroupGuard::spawn(
        client
            .command("/usr/bin/ssh")
            .arg("-i")
            .arg(sshd.dir.join("client_key"))
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "ConnectTimeout=10",
                "-o",
                "LogLevel=ERROR",
                "-p",
                "2222",
                "root@198.18.41.1",
                &remote,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let lines = crate::support::line_channel(ssh.0.stdout.take().expect("piped"));
    let ready = lines.recv_timeout(std::time::Duration::from_secs(20));
    assert_eq!(ready.as_deref(), Ok("ready"), "the remote listener did not start");

    let holder = holder_on(&server, port);
    let pid = holder["pid"].as_u64().expect("pid") as u32;
    let session = &holder["provenance"]["ssh"];
    // Killed by PID whatever the assertions say: the listener, then the session's sshd.
    let _listener = KillOnDrop(pid);
    let _session = session["pid"].as_u64().map(|p| KillOnDrop(p as u32));
    assert_eq!(session["remote"]["address"], "198.18.41.2", "{holder}");
    assert_eq!(session["local"]["port"], 2222, "{holder}");
    assert_eq!(session["source"], "socket", "{holder}");
    assert_eq!(session["user"], "root", "{holder}");
    let client_port = session["remote"]["port"].as_u64().expect("the client's port");

    let line = format!("SSH session from 198.18.41.2:{client_port} as root");
    let text = portscope_ok(&server, &["list", "-l", "--why"]);
    assert!(text.contains(&format!("PID {pid} python3: {line}")), "{text}");
    let explained = portscope_ok(&server, &["explain", &port.to_string()]);
    assert!(explained.contains(&line), "{explained}");
    let sshd_pid = session["pid"].as_u64().expect("the session's sshd");
    assert!(
        explained.contains(&format!("to stop it for good: kill {sshd_pid}")),
        "{explained}"
    );
    drop(sshd);
}

/// Sends SIGKILL to a process this test started (by PID) when dropped.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::panic::catch_unwind(|| send_signal(self.0, libc::SIGKILL));
    }
}

#[test]
fn a_tree_of_three_generations_is_shown_in_order() {
    if skip_without_root("a_tree_of_three_generations_is_shown_in_order") {
        return;
    }
    let ns = Netns::new("prov-tree");
    let port = 18042;
    // sh (outer) → sh (inner) → python3: `; true` keeps each shell from exec'ing its command.
    let inner = format!("{PYTHON} -c \\\"{}\\\"; true", listener_script("127.0.0.1", port));
    let outer = format!("/bin/sh -c \"{inner}\"; true");
    let shells = GroupGuard::spawn(ns.command("/bin/sh").args(["-c", &outer]).stdout(Stdio::null()));
    assert!(
        wait_until(10.0, || listening(&ns, port)),
        "the listener never started"
    );

    let holder = holder_on(&ns, port);
    let chain = holder["provenance"]["chain"].as_array().expect("a chain").clone();
    let inner_pid = holder["ppid"].as_u64().expect("ppid");
    assert_eq!(chain[0]["pid"].as_u64(), Some(inner_pid), "{holder}");
    assert_eq!(
        chain[1]["pid"].as_u64(),
        Some(u64::from(shells.pid())),
        "{holder}"
    );
    assert_eq!(chain[0]["exe"], chain[1]["exe"], "two shells");

    let explained = portscope_ok(&ns, &["explain", &port.to_string()]);
    let python = explained
        .find(&format!(
            "PID {} python3: started by sh (PID {inner_pid}",
            holder["pid"]
        ))
        .expect("the holder's line");
    let first = explained
        .find(&format!("process tree: \u{2190} PID {inner_pid} sh"))
        .expect("the parent");
    let second = explained
        .find(&format!("\u{2190} PID {} sh", shells.pid()))
        .expect("the grandparent");
    assert!(python < first && first < second, "{explained}");
}

#[test]
fn a_listener_a_cron_like_runner_started_from_tmp_is_marked_by_audit() {
    if skip_without_root("a_listener_a_cron_like_runner_started_from_tmp_is_marked_by_audit") {
        return;
    }
    let ns = Netns::new("prov-cron");
    let port = 18043;
    // A runner whose executable is named `cron` (a copy of dash), running a job script from /tmp.
    let dir = Dir::new(0o755, 0);
    let runner = dir.join("cron");
    std::fs::copy("/usr/bin/dash", &runner).expect("copy dash");
    let job = dir.join("job.sh");
    std::fs::write(
        &job,
        format!("{PYTHON} -c \"{}\"\n", listener_script("127.0.0.1", port)),
    )
    .expect("job");
    let runner_path = runner.to_str().expect("UTF-8 path");
    let job_path = job.to_str().expect("UTF-8 path");
    let cron = GroupGuard::spawn(
        ns.command(runner_path)
            .args(["-c", &format!("/bin/sh {job_path}; true")])
            .stdout(Stdio::null()),
    );
    assert!(
        wait_until(10.0, || listening(&ns, port)),
        "the job never listened"
    );

    let holder = holder_on(&ns, port);
    let pid = holder["pid"].as_u64().expect("pid") as u32;
    let scheduler = &holder["provenance"]["scheduler"];
    assert_eq!(scheduler["kind"], "cron", "{holder}");
    assert_eq!(scheduler["pid"].as_u64(), Some(u64::from(cron.pid())), "{holder}");
    let text = portscope_ok(&ns, &["list", "-l", "--why"]);
    assert!(
        text.contains(&format!("PID {pid} python3: started by cron for root")),
        "{text}"
    );

    let out = run(portscope_in(&ns).args(["audit", "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let found = findings_about(&report, pid, "origin");
    assert_eq!(found.len(), 1, "{report}");
    assert_eq!(found[0]["severity"], "alert", "{report}");
    let reason = found[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(job_path) && reason.contains("cron for root"),
        "{reason}"
    );
    let next = found[0]["next_step"].as_str().unwrap_or_default();
    assert!(next.contains("crontab -l -u root"), "{next}");
}

#[test]
fn close_names_the_cron_like_runner_that_brings_a_listener_back() {
    if skip_without_root("close_names_the_cron_like_runner_that_brings_a_listener_back") {
        return;
    }
    let ns = Netns::new("prov-back");
    let port = 18044;
    let dir = Dir::new(0o755, 0);
    let runner = dir.join("cron");
    std::fs::copy("/usr/bin/dash", &runner).expect("copy dash");
    // The runner starts the job again when it exits, three times at most.
    let job = format!("{PYTHON} -c \"{}\"", listener_script("127.0.0.1", port));
    let _cron = GroupGuard::spawn(
        ns.command(runner.to_str().expect("UTF-8 path"))
            .args(["-c", &format!("for i in 1 2 3; do {job}; sleep 0.2; done")])
            .stdout(Stdio::null()),
    );
    assert!(
        wait_until(10.0, || listening(&ns, port)),
        "the job never listened"
    );
    let out = run(portscope_in(&ns).args(["close", &port.to_string(), "--tcp", "--yes", "--watch", "8s"]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("came back"), "{stdout}");
    assert!(
        stdout.contains("it comes back from cron runs the job again at its next time (job of root)"),
        "{stdout}"
    );
    assert!(stdout.contains("crontab -l -u root"), "{stdout}");
    assert!(
        stderr(&out).contains("comes back from cron runs the job again"),
        "{}",
        stderr(&out)
    );
}
