//! Tables never hide a port: at 80 columns (and 200), with an `ip netns` namespace, an anonymous
//! one (`unshare -n`) started inside it, IPv6 listeners on fd00::/8 and a program with a long
//! name and path, every listener's full port number appears in `list`, `list -a` and `audit`.
//! portscope looks at the whole host, as a user would: only a host-wide look finds a namespace
//! that nothing but a process points to (`PORTSCOPE_NETNS=current` stays in one). Whatever
//! else runs on the machine only adds rows; the assertions are about this test's ports.

use crate::support;

use std::process::Stdio;

use support::{GroupGuard, Guard, Netns, first_line, portscope, run, skip_without_root};

const PYTHON: &str = "/usr/bin/python3";

/// Binds a TCP listener at port 0 on each address given (IPv4, or IPv6 without brackets),
/// prints the ports on one line, and sleeps.
const LISTENERS: &str = "import socket,sys,time\nkeep=[]\n\
    for host in sys.argv[1:]:\n\
    \x20   s=socket.socket(socket.AF_INET6 if ':' in host else socket.AF_INET)\n\
    \x20   s.bind((host,0));s.listen(8);keep.append(s)\n\
    print(' '.join(str(s.getsockname()[1]) for s in keep),flush=True)\ntime.sleep(120)\n";

/// A directory of the test's own, removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ports(line: &str) -> Vec<u16> {
    line.split_whitespace()
        .map(|p| p.parse().unwrap_or_else(|_| panic!("a port in {line:?}")))
        .collect()
}

/// Whether `text` shows `:PORT` whole: not followed by another digit.
fn shows_port(text: &str, port: u16) -> bool {
    let needle = format!(":{port}");
    text.match_indices(&needle).any(|(at, _)| {
        !text[at + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

#[test]
fn at_80_columns_every_listener_keeps_its_port() {
    if skip_without_root("at_80_columns_every_listener_keeps_its_port") {
        return;
    }
    let ns = Netns::new("widths");
    ns.ip(&["addr", "add", "198.18.0.1/32", "dev", "lo"]);
    ns.ip(&[
        "-6",
        "addr",
        "add",
        "fd00:1234:5678::abcd/128",
        "dev",
        "lo",
        "nodad",
    ]);

    // A program with a long name and path: a copy of Python in /tmp, which audit flags, so
    // that its finding names its listeners.
    let dir = TempDir(std::env::temp_dir().join(format!("ps-widths-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let long = dir.0.join("a-very-long-program-name-for-width-tests");
    std::fs::copy(PYTHON, &long).expect("copy python3");
    let long = long.to_str().expect("UTF-8 path");
    let mut named = Guard::spawn(
        ns.command(long)
            .env("PYTHONHOME", "/usr")
            .args(["-c", LISTENERS, "198.18.0.1", "fd00:1234:5678::abcd", "127.0.0.1"])
            .stdout(Stdio::piped()),
    );
    let mut expected = ports(&first_line(&mut named));

    // An anonymous namespace made inside the test's one, with a long IPv6 address of its own.
    let inner = "ip link set lo up && \
                 ip -6 addr add fd00:1234:5678:9abc:def0:1234:5678:9abc/128 dev lo nodad && \
                 exec \"$0\" \"$@\"";
    let mut anonymous = GroupGuard::spawn(
        ns.command("unshare")
            .env("PYTHONHOME", "/usr")
            .args(["-n", "sh", "-c", inner, long, "-c", LISTENERS])
            .args(["fd00:1234:5678:9abc:def0:1234:5678:9abc", "0.0.0.0"])
            .stdout(Stdio::piped()),
    );
    let line = {
        use std::io::BufRead;
        let stdout = anonymous.0.stdout.take().expect("piped stdout");
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the anonymous listener's ports");
        line
    };
    expected.extend(ports(&line));
    assert_eq!(expected.len(), 5, "every listener started: {expected:?}");
    let inode = std::fs::read_link(format!("/proc/{}/ns/net", anonymous.pid()))
        .expect("the anonymous namespace")
        .to_string_lossy()
        .trim_start_matches("net:[")
        .trim_end_matches(']')
        .parse::<u64>()
        .expect("net:[INODE]");
    let short = format!("ns:{:06}", inode % 1_000_000);

    for columns in ["80", "200"] {
        for args in [&["list"][..], &["list", "-a"], &["audit"]] {
            let out = run(portscope().env("COLUMNS", columns).args(args));
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // audit exits 1: the copies from /tmp are alerts.
            assert!(matches!(out.status.code(), Some(0 | 1)), "{args:?}: {stderr}");
            for port in &expected {
                assert!(
                    shows_port(&stdout, *port),
                    "COLUMNS={columns} {args:?}: port {port} is not shown whole:\n{stdout}\n{stderr}"
                );
            }
            let anonymous_rows: Vec<&str> = stdout
                .lines()
                // Table rows, not the sentences under them.
                .filter(|l| !l.starts_with(' ') && expected[3..].iter().any(|p| shows_port(l, *p)))
                .collect();
            assert!(
                anonymous_rows.iter().all(|l| l.contains(&short)),
                "COLUMNS={columns} {args:?}: the anonymous namespace reads {short}: {anonymous_rows:?}"
            );
            assert!(
                !stdout.contains(&format!("net:[{inode}]")),
                "tables use the short label:\n{stdout}"
            );
        }
    }
}
