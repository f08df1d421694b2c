//! The /proc parsers on fixture bytes: well-formed samples give the right values; truncated and
//! malformed ones give an error (or nothing), never a panic.

use std::net::IpAddr;
use std::path::PathBuf;

use portscope_core::model::{Protocol, SocketState, Supervisor};
use portscope_linux::{cgroup, fd_table, proc_net, process, users};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/proc")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn stat_with_parentheses_and_spaces_in_comm() {
    let stat = process::parse_stat(&fixture("stat")).unwrap();
    assert_eq!(stat.comm, "my (odd) prog");
    assert_eq!(stat.ppid, 1);
    assert_eq!(stat.start_ticks, 123456);
}

#[test]
fn stat_truncated_or_garbage_is_an_error() {
    let bytes = fixture("stat");
    for cut in [0, 5, 20, 40] {
        assert!(process::parse_stat(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    assert!(process::parse_stat(b"\xff\xfe garbage").is_err());
}

#[test]
fn status_real_uid() {
    assert_eq!(process::parse_status_uid(&fixture("status")), Ok(1000));
    assert!(process::parse_status_uid(b"Name:\tx\n").is_err());
    assert!(process::parse_status_uid(b"Uid:\tabc\t0\n").is_err());
    assert!(process::parse_status_uid(b"Uid:").is_err());
}

#[test]
fn cmdline_and_exe_link() {
    assert_eq!(
        process::parse_cmdline(b"nginx: master\0-g\0daemon off;\0"),
        ["nginx: master", "-g", "daemon off;"]
    );
    assert!(process::parse_cmdline(b"").is_empty());
    assert_eq!(
        process::parse_exe_link(b"/usr/sbin/nginx"),
        (PathBuf::from("/usr/sbin/nginx"), false)
    );
    assert_eq!(
        process::parse_exe_link(b"/tmp/x (deleted)"),
        (PathBuf::from("/tmp/x"), true)
    );
    assert_eq!(
        process::parse_btime(b"cpu 1 2\nbtime 1700000000\n"),
        Some(1_700_000_000)
    );
    assert_eq!(process::parse_btime(b"btime x\n"), None);
    assert_eq!(process::start_time_unix(250, 1_700_000_000, 100), 1_700_000_002);
}

#[test]
fn cgroup_supervisors() {
    let unit = |name| cgroup::supervisor(&fixture(name));
    assert_eq!(
        unit("cgroup-v2-service"),
        Some(Supervisor::Systemd {
            unit: "nginx.service".into()
        })
    );
    assert_eq!(
        unit("cgroup-v2-user-service"),
        Some(Supervisor::SystemdUser {
            unit: "syncthing.service".into()
        })
    );
    assert_eq!(
        unit("cgroup-v2-session"),
        None,
        "a login session is not a supervisor"
    );
    let docker_id = "3f2b4a9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a";
    for name in ["cgroup-v2-docker", "cgroup-v1-docker"] {
        assert_eq!(
            unit(name),
            Some(Supervisor::Container {
                runtime: "docker".into(),
                id: docker_id.into()
            }),
            "{name}"
        );
    }
    assert_eq!(cgroup::supervisor(b"0::/\n"), None);
    assert_eq!(cgroup::supervisor(b"\xff\xff"), None);
}

#[test]
fn proc_net_tcp_table() {
    let sockets = proc_net::parse(Protocol::Tcp, &fixture("net-tcp")).unwrap();
    assert_eq!(sockets.len(), 3);
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    assert_eq!((sockets[0].local.address, sockets[0].local.port), (lo, 8080));
    assert_eq!(sockets[0].state, SocketState::Listen);
    assert_eq!(sockets[0].inode, 4242);
    assert_eq!(sockets[1].state, SocketState::Established);
    assert_eq!(sockets[1].uid, 1000);
    assert_eq!(sockets[2].state, SocketState::TimeWait);
    assert_eq!(sockets[2].inode, 0);
}

#[test]
fn proc_net_udp6_table() {
    let sockets = proc_net::parse(Protocol::Udp, &fixture("net-udp6")).unwrap();
    assert_eq!(sockets.len(), 1);
    assert_eq!(sockets[0].local.address, "::1".parse::<IpAddr>().unwrap());
    assert_eq!(sockets[0].local.port, 5353);
    assert_eq!(sockets[0].state, SocketState::Unconnected);
}

#[test]
fn proc_net_malformed_rows_are_errors() {
    let text = fixture("net-tcp");
    let header_and_half_row = &text[..text.iter().position(|&b| b == b'\n').unwrap() + 30];
    assert!(proc_net::parse(Protocol::Tcp, header_and_half_row).is_err());
    assert!(proc_net::parse(Protocol::Tcp, b"header\n   0: ZZZZ:1 00000000:0000 0A\n").is_err());
    assert!(proc_net::parse(Protocol::Udp, b"header\n").unwrap().is_empty());
}

#[test]
fn socket_links() {
    assert_eq!(fd_table::parse_socket_link(b"socket:[12345]"), Some(12345));
    for bad in [
        &b"socket:[]"[..],
        b"socket:[12a]",
        b"pipe:[1]",
        b"socket:[1",
        b"/dev/null",
        b"socket:[99999999999999999999999]",
    ] {
        assert_eq!(
            fd_table::parse_socket_link(bad),
            None,
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn passwd_skips_broken_lines() {
    let table = users::parse_passwd(&fixture("passwd"));
    assert_eq!(table.get(&0).map(String::as_str), Some("root"));
    assert_eq!(table.get(&65534).map(String::as_str), Some("nobody"));
    assert_eq!(table.len(), 2);
}
