//! Shared test fixtures: real network namespaces, real child processes, the built binary.
//! Everything created here is removed on drop, by name or PID.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The portscope binary built for this test run.
pub fn portscope() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_portscope"));
    cmd.env("NO_COLOR", "1")
        .env_remove("PORTSCOPE_NETNS")
        .env_remove("COLUMNS");
    cmd
}

/// Asserts that a command exited 0 (showing its stderr if not) and parses its stdout as JSON.
pub fn json_ok(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

/// Runs a command and returns its output, panicking with stderr if it could not start.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Returns true (and prints why) when a test that needs root must be skipped.
pub fn skip_without_root(test: &str) -> bool {
    if is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root (network namespaces, other users' processes)");
    true
}

/// A network namespace owned by one test, with its loopback up. Deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `ps-<tag>-<pid>-<n>`; unique across parallel tests and concurrent test runs.
    pub fn new(tag: &str) -> Netns {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("ps-{tag}-{}-{n}", std::process::id());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success());
        assert!(matches!(ok, Ok(true)), "ip netns add {name} failed");
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// Runs `ip -n NAME ARGS…` and asserts success.
    pub fn ip(&self, args: &[&str]) {
        let out = run(Command::new("ip").arg("-n").arg(&self.name).args(args));
        assert!(
            out.status.success(),
            "ip -n {} {args:?}: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A command that runs inside the namespace (`ip netns exec NAME PROGRAM`). A portscope run
    /// this way looks at this namespace only (`PORTSCOPE_NETNS=current`), so a test's namespace
    /// is its whole world, whatever other tests run at the same time.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program])
            .env("PORTSCOPE_NETNS", "current");
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

/// A child process killed and reaped on drop.
pub struct Guard(pub Child);

impl Guard {
    /// Spawns with stdin from /dev/null.
    pub fn spawn(cmd: &mut Command) -> Guard {
        Guard::spawn_with_stdio(cmd.stdin(Stdio::null()))
    }

    /// Spawns with the standard streams the caller set up (e.g. a socket as stdin).
    pub fn spawn_with_stdio(cmd: &mut Command) -> Guard {
        Guard(cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}")))
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls `check` every 20 ms for up to `seconds`; true as soon as it holds.
pub fn wait_until(seconds: f64, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds);
    while std::time::Instant::now() < deadline {
        if check() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    check()
}

/// A Python one-liner listener: binds PROTO (tcp/udp) on HOST:PORT and sleeps. Returns the guard.
/// PORT 0 picks a free port; read it back with `portscope list --pid`.
pub fn python_listener(cmd_prefix: Option<&Netns>, proto: &str, host: &str, port: u16) -> Guard {
    let kind = if proto == "udp" {
        "SOCK_DGRAM"
    } else {
        "SOCK_STREAM"
    };
    let family = if host.contains(':') { "AF_INET6" } else { "AF_INET" };
    let listen = if proto == "udp" { "" } else { "s.listen(16);" };
    let script = format!(
        "import socket,time,sys\ns=socket.socket(socket.{family},socket.{kind})\n\
         s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('{host}',{port}));{listen}\n\
         print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n"
    );
    let mut cmd = match cmd_prefix {
        Some(ns) => ns.command("python3"),
        None => Command::new("python3"),
    };
    cmd.args(["-c", &script]).stdout(Stdio::piped());
    Guard::spawn(&mut cmd)
}

/// Reads the first line a child printed on stdout (e.g. the port a listener bound).
pub fn first_line(guard: &mut Guard) -> String {
    use std::io::BufRead;
    let stdout = guard.0.stdout.take().expect("child stdout is piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read child stdout");
    line.trim().to_string()
}

/// Forwards each line a child writes on a pipe to a channel, from a thread of its own, so a test
/// can wait for a line with a timeout.
pub fn line_channel(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Sends `signal` (e.g. `libc::SIGINT`) to a process this test started.
pub fn send_signal(pid: u32, signal: i32) {
    let target = rustix::process::Pid::from_raw(pid as i32).expect("a positive pid");
    let signal = rustix::process::Signal::from_named_raw(signal).expect("a named signal");
    rustix::process::kill_process(target, signal)
        .unwrap_or_else(|e| panic!("kill({pid}, {signal:?}) failed: {e}"));
}

/// The portscope binary, run inside a network namespace and looking at that namespace only
/// (`PORTSCOPE_NETNS=current`), as `ss` would: a test's namespace is its whole world.
pub fn portscope_in(ns: &Netns) -> Command {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
    cmd.env("NO_COLOR", "1").env_remove("COLUMNS");
    cmd
}

/// Runs a Python script (inside `ns` when given) with stdout piped; killed and reaped on drop.
pub fn python(ns: Option<&Netns>, script: &str) -> Guard {
    let mut cmd = match ns {
        Some(ns) => ns.command("python3"),
        None => Command::new("python3"),
    };
    cmd.args(["-c", script]).stdout(Stdio::piped());
    Guard::spawn(&mut cmd)
}

/// A child started in a process group of its own; on drop the whole group (the child and every
/// descendant it started) is killed with SIGKILL, and the child is reaped.
pub struct GroupGuard(pub Child);

impl GroupGuard {
    pub fn spawn(cmd: &mut Command) -> GroupGuard {
        use std::os::unix::process::CommandExt;
        let child = cmd
            .stdin(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        GroupGuard(child)
    }

    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        // The group id is the child's pid, and the child is not reaped yet, so the id is still ours.
        if let Some(pid) = rustix::process::Pid::from_raw(self.0.id() as i32) {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        let _ = self.0.wait();
    }
}

/// Joins two namespaces with a veth pair (`veth0` in each) and puts the given addresses
/// (CIDR form, IPv4 or IPv6) on each end. The pair goes away with the namespaces.
pub fn veth_pair(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) {
    let out = run(Command::new("ip").args([
        "link", "add", "veth0", "netns", &a.name, "type", "veth", "peer", "name", "veth0", "netns", &b.name,
    ]));
    assert!(
        out.status.success(),
        "ip link add veth: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (ns, addrs) in [(a, a_addrs), (b, b_addrs)] {
        for addr in addrs {
            let mut args = vec!["addr", "add", addr, "dev", "veth0"];
            if addr.contains(':') {
                args.push("nodad");
            }
            ns.ip(&args);
        }
        ns.ip(&["link", "set", "veth0", "up"]);
    }
}

/// A Python listener that accepts (and closes) every connection on each `HOST:PORT` given
/// (`[v6]:port` for IPv6), so repeated scans never fill its backlog. Returns once all are bound.
pub fn accepting_listeners(ns: &Netns, endpoints: &[String]) -> Guard {
    let script = "import socket,selectors,sys,time\n\
        sel=selectors.DefaultSelector()\n\
        for spec in sys.argv[1:]:\n\
        \x20   host,port=spec.rsplit(':',1)\n\
        \x20   host=host.strip('[]')\n\
        \x20   s=socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET,socket.SOCK_STREAM)\n\
        \x20   s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
        \x20   s.bind((host,int(port)));s.listen(1024);s.setblocking(False)\n\
        \x20   sel.register(s,selectors.EVENT_READ)\n\
        print('ready',flush=True)\n\
        end=time.time()+300\n\
        while time.time()<end:\n\
        \x20   for key,_ in sel.select(1):\n\
        \x20       try:\n\
        \x20           c,_=key.fileobj.accept();c.close()\n\
        \x20       except OSError:\n\
        \x20           pass\n";
    let mut cmd = ns.command("python3");
    cmd.arg("-c").arg(script).args(endpoints).stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(
        first_line(&mut guard),
        "ready",
        "listeners on {endpoints:?} did not start"
    );
    guard
}

/// Loads an nftables ruleset (`nft -f -`) inside a namespace.
pub fn nft(ns: &Netns, ruleset: &str) {
    use std::io::Write;
    let mut child = ns
        .command("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nft");
    child
        .stdin
        .take()
        .expect("nft stdin")
        .write_all(ruleset.as_bytes())
        .expect("write ruleset");
    let out = child.wait_with_output().expect("wait for nft");
    assert!(
        out.status.success(),
        "nft: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespace inode of a process, from /proc/PID/ns/net.
pub fn netns_inode(pid: u32) -> u64 {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("read ns link");
    link.to_string_lossy()
        .trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse()
        .expect("net:[N]")
}

/// A TCP listener on 0.0.0.0:`port` in an anonymous namespace (`unshare -n`) made from inside
/// `ns`: the same port as `ns`'s own listener, in a namespace that has no name.
pub fn anonymous_listener_from(ns: &Netns, port: u16) -> Guard {
    let script = format!(
        "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',{port}));s.listen(8)\n\
         print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n"
    );
    let mut guard = Guard::spawn(
        ns.command("unshare")
            .args(["-n", "/usr/bin/python3", "-c", &script])
            .stdout(Stdio::piped()),
    );
    assert_eq!(
        first_line(&mut guard),
        port.to_string(),
        "the anonymous listener bound"
    );
    guard
}

/// A cgroup a test created; removed on drop (after its processes are gone), with its parent
/// when that is left empty (a `docker/` the test made).
pub struct Cgroup(pub std::path::PathBuf);

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Where the cgroup2 hierarchy is mounted (hybrid hosts: /sys/fs/cgroup/unified).
pub fn cgroup2_mount() -> Option<&'static std::path::Path> {
    ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| p.join("cgroup.procs").exists() && p.join("cgroup.controllers").exists())
}

/// The uid and gid of `nobody`, the other user in the hostile tests.
pub const NOBODY: u32 = 65534;

/// A directory under /tmp with the given mode and owner, removed on drop: where an attacker
/// (nobody) plants links and files.
pub struct Dir {
    pub path: PathBuf,
    _guard: tempfile::TempDir,
}

impl Dir {
    pub fn new(mode: u32, owner: u32) -> Dir {
        use std::os::unix::fs::PermissionsExt;
        let guard = tempfile::Builder::new()
            .prefix("ps-hostile-")
            .tempdir_in("/tmp")
            .unwrap();
        let path = guard.path().to_path_buf();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::os::unix::fs::chown(&path, Some(owner), Some(owner)).unwrap();
        Dir { path, _guard: guard }
    }

    pub fn join(&self, name: impl AsRef<std::path::Path>) -> PathBuf {
        self.path.join(name)
    }
}

/// A root-owned 0600 file with known content: what the planted links point at.
pub fn victim(dir: &Dir) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("victim");
    std::fs::write(&path, "precious\n").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// A finished command's stderr, as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The findings of `check` about process `pid` in an `audit --json` report.
pub fn findings_about(report: &serde_json::Value, pid: u32, check: &str) -> Vec<serde_json::Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["process"]["pid"] == pid && f["check"] == check)
        .cloned()
        .collect()
}
