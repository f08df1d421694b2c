//! `list` on real sockets and real processes: the library's snapshot and the binary's JSON must
//! find every socket this test opens, with the right state, inode, pid and executable.

use crate::support;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::process::{Command, Stdio};

use portscope_core::model::{Protocol, Snapshot, Socket, SocketState};
use portscope_core::platform::Query;
use serde_json::Value;
use support::{Guard, portscope, run, wait_until};

/// The inode of a socket descriptor: the key /proc/PID/fd and sock_diag share.
fn inode(fd: impl AsFd) -> u64 {
    rustix::fs::fstat(fd).expect("fstat socket").st_ino
}

/// The sockets this test opens: every protocol, family and interesting state.
struct OwnSockets {
    tcp_listeners: Vec<TcpListener>,
    udp: Vec<UdpSocket>,
    /// (client, accepted server side)
    connections: Vec<(TcpStream, TcpStream)>,
}

fn ipv6_loopback_available() -> bool {
    TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

fn open_own_sockets() -> OwnSockets {
    let mut hosts: Vec<std::net::IpAddr> = vec![Ipv4Addr::LOCALHOST.into()];
    if ipv6_loopback_available() {
        hosts.push(Ipv6Addr::LOCALHOST.into());
    } else {
        eprintln!("note: no IPv6 loopback here; IPv6 cases skipped");
    }
    let mut own = OwnSockets {
        tcp_listeners: Vec::new(),
        udp: Vec::new(),
        connections: Vec::new(),
    };
    for host in hosts {
        let listener = TcpListener::bind(SocketAddr::new(host, 0)).unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        own.connections.push((client, server));
        own.tcp_listeners.push(listener);
        own.udp.push(UdpSocket::bind(SocketAddr::new(host, 0)).unwrap());
    }
    own
}

/// (inode, protocol, local, remote or None, expected state) for every socket opened.
fn expectations(own: &OwnSockets) -> Vec<(u64, Protocol, SocketAddr, Option<SocketAddr>, SocketState)> {
    let mut out = Vec::new();
    for l in &own.tcp_listeners {
        out.push((
            inode(l),
            Protocol::Tcp,
            l.local_addr().unwrap(),
            None,
            SocketState::Listen,
        ));
    }
    for u in &own.udp {
        out.push((
            inode(u),
            Protocol::Udp,
            u.local_addr().unwrap(),
            None,
            SocketState::Unconnected,
        ));
    }
    for (client, server) in &own.connections {
        for s in [client, server] {
            out.push((
                inode(s),
                Protocol::Tcp,
                s.local_addr().unwrap(),
                Some(s.peer_addr().unwrap()),
                SocketState::Established,
            ));
        }
    }
    out
}

fn find(snapshot: &Snapshot, inode: u64) -> Option<&Socket> {
    snapshot.sockets.iter().find(|s| s.inode == inode)
}

#[test]
fn library_finds_own_sockets_with_state_inode_pid_and_exe() {
    let own = open_own_sockets();
    let snap = portscope::host::platform(portscope_core::platform::NetnsSelection::Current)
        .snapshot(&Query::default())
        .expect("snapshot");
    let me = std::process::id();
    let exe = std::env::current_exe().unwrap();
    for (ino, protocol, local, remote, state) in expectations(&own) {
        let socket = find(&snap, ino).unwrap_or_else(|| panic!("socket inode {ino} ({local}) not listed"));
        assert_eq!(socket.protocol, protocol, "{local}");
        assert_eq!(socket.local.address, local.ip());
        assert_eq!(socket.local.port, local.port());
        if let Some(remote) = remote {
            assert_eq!(socket.remote.address, remote.ip());
            assert_eq!(socket.remote.port, remote.port());
        }
        assert_eq!(socket.state, state, "{local}");
        let holder = socket
            .holders
            .iter()
            .find(|h| h.process.pid == me)
            .unwrap_or_else(|| {
                panic!(
                    "{local}: this test process not among holders {:?}",
                    socket.holders
                )
            });
        assert_eq!(holder.process.exe.as_deref(), Some(exe.as_path()));
        assert!(!holder.process.exe_deleted);
        assert_eq!(holder.fds.len(), 1);
    }
}

#[test]
fn kernel_side_filters_keep_only_what_was_asked() {
    let own = open_own_sockets();
    let listening = Query {
        states: portscope_core::platform::StateFilter::Listening,
        udp: false,
        ..Query::default()
    };
    let snap = portscope::host::platform(portscope_core::platform::NetnsSelection::Current)
        .snapshot(&listening)
        .unwrap();
    assert!(
        snap.sockets
            .iter()
            .all(|s| s.protocol == Protocol::Tcp && s.state == SocketState::Listen)
    );
    for l in &own.tcp_listeners {
        assert!(find(&snap, inode(l)).is_some());
    }
    let (client, _) = &own.connections[0];
    assert!(
        find(&snap, inode(client)).is_none(),
        "an established socket passed the listening filter"
    );
}

fn list_json(args: &[&str]) -> Vec<Value> {
    let out = run(portscope().arg("list").arg("--json").args(args));
    assert!(
        out.status.success(),
        "list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .expect("valid JSON")
        .as_array()
        .expect("array")
        .clone()
}

#[test]
fn binary_json_lists_own_sockets_with_every_field() {
    let own = open_own_sockets();
    let me = std::process::id().to_string();
    let entries = list_json(&["--pid", &me]);
    for (ino, protocol, local, _, state) in expectations(&own) {
        let entry = entries
            .iter()
            .find(|e| e["inode"] == ino)
            .unwrap_or_else(|| panic!("{local} (inode {ino}) missing from list --json"));
        assert_eq!(entry["protocol"], protocol.as_str());
        assert_eq!(entry["local"]["port"], local.port());
        assert_eq!(entry["state"], serde_json::to_value(state).unwrap());
        let holder = &entry["holders"][0];
        assert_eq!(holder["pid"], std::process::id());
        for field in [
            "ppid",
            "name",
            "exe",
            "exe_deleted",
            "cmdline",
            "uid",
            "user",
            "start_time",
            "fds",
        ] {
            assert!(holder.get(field).is_some(), "holder field {field} missing");
        }
        for field in [
            "family",
            "remote",
            "uid",
            "recv_queue",
            "send_queue",
            "interface",
            "service",
        ] {
            assert!(entry.get(field).is_some(), "socket field {field} missing");
        }
    }
    // Filters narrow the list: --udp shows no TCP socket, --port shows only that port.
    let port = own.tcp_listeners[0].local_addr().unwrap().port();
    let by_port = list_json(&["--pid", &me, "--tcp", "--port", &port.to_string()]);
    assert!(!by_port.is_empty());
    assert!(
        by_port
            .iter()
            .all(|e| e["local"]["port"] == port || e["remote"]["port"] == port)
    );
    assert!(
        list_json(&["--pid", &me, "--udp"])
            .iter()
            .all(|e| e["protocol"] == "udp")
    );
}

#[test]
fn binary_table_shows_program_and_state() {
    let own = open_own_sockets();
    let port = own.tcp_listeners[0].local_addr().unwrap().port();
    let me = std::process::id();
    let out = run(portscope().args(["list", "--tcp", "--listening", "--port", &port.to_string()]));
    let text = String::from_utf8(out.stdout).unwrap();
    let header = text.lines().next().unwrap();
    assert!(header.starts_with("VERDICT  PROTO"), "{text}");
    let row = text
        .lines()
        .find(|l| l.contains(&format!("127.0.0.1:{port}")))
        .expect(&text);
    assert!(row.contains("LISTEN") && row.contains(&format!("{me}/")), "{row}");
    assert!(!text.contains('\x1b'), "colour codes without a terminal");
}

/// Copies an executable to a fresh directory so the test can delete it while it runs.
fn copied_executable(original: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("copied-sleep");
    std::fs::copy(original, &path).unwrap();
    (dir, path)
}

fn sleep_path() -> String {
    let out = run(Command::new("sh").args(["-c", "command -v sleep"]));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn deleted_executable_is_marked_deleted() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let (dir, exe) = copied_executable(&sleep_path());
    // The child inherits the listener as its stdin and so holds the socket too.
    let child = Guard::spawn_with_stdio(
        Command::new(&exe)
            .arg("30")
            .stdin(Stdio::from(OwnedFd::from(listener.try_clone().unwrap()))),
    );
    let pid = child.pid();
    // Between fork and exec the child still holds the test's own (close-on-exec) descriptors.
    let execd = wait_until(5.0, || {
        std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|p| p == exe)
    });
    assert!(execd, "the child did not exec {}", exe.display());
    std::fs::remove_file(&exe).unwrap();
    let ino = inode(&listener);
    let snap = portscope::host::platform(portscope_core::platform::NetnsSelection::Current)
        .snapshot(&Query::default())
        .unwrap();
    let socket = find(&snap, ino).expect("listener listed");
    let holder = socket
        .holders
        .iter()
        .find(|h| h.process.pid == pid)
        .expect("child holds the socket");
    assert!(holder.process.exe_deleted, "{:?}", holder.process);
    assert_eq!(holder.process.exe.as_deref(), Some(exe.as_path()));
    assert_eq!(holder.fds, vec![0]);
    drop(child);
    drop(dir);
}

#[test]
fn socket_shared_after_fork_lists_both_processes() {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let child = Guard::spawn_with_stdio(
        Command::new(sleep_path())
            .arg("30")
            .stdin(Stdio::from(OwnedFd::from(listener.try_clone().unwrap()))),
    );
    let ino = inode(&listener);
    let me = std::process::id();
    // The child may still be between fork and exec: wait until it shows up as a holder.
    let both = wait_until(5.0, || {
        let snap = portscope::host::platform(portscope_core::platform::NetnsSelection::Current)
            .snapshot(&Query::default())
            .unwrap();
        let pids: Vec<u32> = find(&snap, ino)
            .unwrap()
            .holders
            .iter()
            .map(|h| h.process.pid)
            .collect();
        pids.contains(&me) && pids.contains(&child.pid())
    });
    assert!(both, "parent and child must both be listed");
    let out = list_json(&["--port", &listener.local_addr().unwrap().port().to_string()]);
    let entry = out.iter().find(|e| e["inode"] == ino).unwrap();
    let pids: Vec<u64> = entry["holders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["pid"].as_u64().unwrap())
        .collect();
    assert!(
        pids.contains(&u64::from(me)) && pids.contains(&u64::from(child.pid())),
        "{pids:?}"
    );
}

#[test]
fn bad_input_is_said_first_and_exits_2() {
    for args in [
        ["--port", "70000"],
        ["--port", "nosuchservice"],
        ["--pid", "-1"],
        ["--pid", "x"],
    ] {
        let out = run(portscope().arg("list").args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.starts_with("portscope: "), "{stderr}");
        assert!(stderr.contains(args[1]), "the value is quoted: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn without_root_lists_sockets_and_says_what_is_missing() {
    if !support::is_root() || Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipping: needs root and setpriv to drop to an unprivileged user");
        return;
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let out = run(Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(env!("CARGO_BIN_EXE_portscope"))
        .args(["list", "--json", "--port", &port]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let entry = entries
        .iter()
        .find(|e| e["inode"] == inode(&listener))
        .expect("socket still listed");
    assert_eq!(
        entry["holders"].as_array().unwrap().len(),
        0,
        "root's process is hidden from nobody"
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("run as root"), "{stderr}");
    // The note names who hid their sockets: root's processes, pid 1 first.
    assert!(stderr.contains("pid 1 ("), "{stderr}");
    // A rootless namespace of nobody's (another test's, say) adds its own line about namespaces
    // nobody may not enter; the hidden owners are said once.
    let owners = stderr
        .lines()
        .filter(|l| !l.contains("network namespace(s) were skipped"));
    assert_eq!(owners.count(), 1, "{stderr}");
}

#[test]
fn completions_and_man_page_come_from_the_cli() {
    let out = run(portscope().args(["completions", "bash"]));
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("portscope"));
    let out = run(portscope().arg("man"));
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains(".TH portscope"));
    // Each command has a page of its own, named as `man portscope-list` looks it up, with its
    // own flags and the global ones; list's has its examples.
    let commands = run(portscope().args(["man", "--list"]));
    let commands = String::from_utf8_lossy(&commands.stdout).into_owned();
    assert!(commands.lines().count() >= 11, "{commands}");
    for command in commands.lines() {
        let out = run(portscope().args(["man", command]));
        let page = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "man {command}");
        assert!(page.contains(&format!(".TH portscope-{command} 1")), "{page}");
        assert!(page.contains("\\-\\-netns"), "{page}");
    }
    let list = run(portscope().args(["man", "list"]));
    let list = String::from_utf8_lossy(&list.stdout);
    for flag in ["\\-\\-state", "\\-\\-format", "\\-\\-no\\-header", "\\-tulpn"] {
        assert!(list.contains(flag), "{flag} missing from portscope-list(1)");
    }
    // The completions carry the new flags too.
    let bash = run(portscope().args(["completions", "bash"]));
    let bash = String::from_utf8_lossy(&bash.stdout);
    assert!(bash.contains("--state") && bash.contains("--format") && bash.contains("--no-header"));
    let out = run(portscope().args(["man", "nosuch"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_dual_stack_listener_counts_as_ipv4_and_its_ipv4_clients_print_as_ipv4() {
    if support::skip_without_root("a_dual_stack_listener_counts_as_ipv4") {
        return;
    }
    let ns = support::Netns::new("ds14");
    // [::]:7440 with IPV6_V6ONLY off, and an IPv4 client of it, both inside the namespace.
    let script = "import socket,time\ns=socket.socket(socket.AF_INET6)\n\
                  s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n\
                  s.bind(('::',7440));s.listen(4)\n\
                  c=socket.create_connection(('127.0.0.1',7440))\na,_=s.accept()\n\
                  print(c.getsockname()[1],flush=True)\ntime.sleep(120)\n";
    let mut child = support::python(Some(&ns), script);
    let client_port = support::first_line(&mut child);
    let out = run(support::portscope_in(&ns).args(["list", "-4", "-p", "7440"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(" *:7440 "), "{text}");
    assert!(text.contains(&format!("127.0.0.1:{client_port}")), "{text}");
    assert!(!text.contains("::ffff:"), "{text}");
    let out = run(support::portscope_in(&ns).args(["list", "--json", "-l", "-p", "7440"]));
    let value: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(value[0]["dual_stack"], true, "{value}");
}

/// A Python http.server on 8000 and a notebook-style server on 8888 show the names people use
/// (`http-alt`), not the registry's `irdmi` and `ddi-tcp-1`.
#[test]
fn service_shows_common_usage_over_registry_names() {
    if support::skip_without_root("service_shows_common_usage_over_registry_names") {
        return;
    }
    let ns = support::Netns::new("common");
    let _web = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 8000);
    let _nb = support::python_listener(Some(&ns), "tcp", "127.0.0.1", 8888);
    assert!(wait_until(5.0, || {
        let out = run(support::portscope_in(&ns).args(["list", "--json", "--listening"]));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        rows.len() >= 2
    }));
    let out = run(support::portscope_in(&ns)
        .args(["list", "--json", "--listening"])
        .env_remove("PORTSCOPE_SERVICES"));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    for port in [8000, 8888] {
        let row = rows
            .iter()
            .find(|r| r["local"]["port"] == port)
            .unwrap_or_else(|| panic!("{port} not listed: {rows:?}"));
        assert_eq!(row["service"], "http-alt", "{row}");
    }
    let out = run(support::portscope_in(&ns).args(["list", "--listening"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("http-alt") && !text.contains("irdmi"), "{text}");
}
