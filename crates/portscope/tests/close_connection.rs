//! `close --connection` cuts one established connection of a test pair inside a network namespace
//! the test created, while the listener and its program stay up.

use crate::support;

use std::io::{BufRead, BufReader};

use support::{Netns, portscope_in, python, run, skip_without_root};

const PAIR: &str = "import socket,time\nl=socket.socket()\nl.bind(('127.0.0.1',0));l.listen(4)\n\
c=socket.create_connection(l.getsockname())\na,_=l.accept()\n\
print(l.getsockname()[1],c.getsockname()[1],flush=True)\nc.settimeout(60)\n\
try:\n    c.recv(1)\n    print('client eof',flush=True)\n\
except OSError as e:\n    print('client errno',e.errno,flush=True)\ntime.sleep(120)\n";

#[test]
fn cutting_one_connection_leaves_the_listener_open() {
    if skip_without_root("cutting_one_connection_leaves_the_listener_open") {
        return;
    }
    let ns = Netns::new("closec");
    let mut pair = python(Some(&ns), PAIR);
    let mut lines = BufReader::new(pair.0.stdout.take().expect("stdout is piped")).lines();
    let first = lines.next().expect("a line").expect("readable");
    let ports: Vec<u16> = first
        .split_whitespace()
        .map(|p| p.parse().expect("a port"))
        .collect();
    let (listen, client) = (ports[0], ports[1]);
    let local = format!("127.0.0.1:{client}");
    let remote = format!("127.0.0.1:{listen}");

    let out = run(portscope_in(&ns).args(["close", "--connection", &local, &remote, "--yes"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(4) && stderr.contains("CONFIG_INET_DIAG_DESTROY") {
        eprintln!(
            "skipping cutting_one_connection_leaves_the_listener_open: {}",
            stderr.trim()
        );
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cut 1 of 1"));

    // The client saw its connection aborted (ECONNABORTED), and the program is still running.
    let second = lines.next().expect("a line").expect("readable");
    assert_eq!(second, format!("client errno {}", libc::ECONNABORTED));
    assert!(matches!(pair.0.try_wait(), Ok(None)));

    let out = run(portscope_in(&ns).args(["list", "--json", "-t"]));
    let sockets: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    let listening = sockets
        .iter()
        .any(|s| s["state"] == "LISTEN" && s["local"]["port"] == listen);
    assert!(listening, "the listener stays open: {sockets:?}");
    let client_left = sockets
        .iter()
        .any(|s| s["state"] == "ESTABLISHED" && s["local"]["port"] == client);
    assert!(!client_left, "the cut connection is gone: {sockets:?}");

    let out = run(portscope_in(&ns).args(["close", "--connection", &local, &remote, "--yes"]));
    assert_eq!(out.status.code(), Some(6), "nothing left to cut");
}

const TWO_CLIENTS: &str = "import socket,time\nl=socket.socket()\nl.bind(('127.0.0.1',0));l.listen(4)\n\
c1=socket.create_connection(l.getsockname())\nc2=socket.create_connection(l.getsockname())\n\
a1,_=l.accept()\na2,_=l.accept()\nprint(l.getsockname()[1],flush=True)\ntime.sleep(120)\n";

#[test]
fn all_from_cuts_every_connection_to_the_port() {
    if skip_without_root("all_from_cuts_every_connection_to_the_port") {
        return;
    }
    let ns = Netns::new("closec");
    let mut pair = python(Some(&ns), TWO_CLIENTS);
    let listen: u16 = support::first_line(&mut pair).parse().expect("a port");
    let port = listen.to_string();

    let out =
        run(portscope_in(&ns).args(["close", &port, "--all-from", "127.0.0.0/8", "--dry-run", "--json"]));
    let plan = support::json_ok(&out);
    // The two accepted sockets on the listener's port; the clients' own ends are on other ports.
    assert_eq!(plan["connections"].as_array().map(Vec::len), Some(2), "{plan}");
    assert_eq!(plan["connections"][0]["pid"], pair.pid());

    let out = run(portscope_in(&ns).args(["close", &port, "--all-from", "127.0.0.1", "--yes"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(4) && stderr.contains("CONFIG_INET_DIAG_DESTROY") {
        eprintln!(
            "skipping all_from_cuts_every_connection_to_the_port: {}",
            stderr.trim()
        );
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cut 2 of 2"));
    assert!(matches!(pair.0.try_wait(), Ok(None)));
    let out = run(portscope_in(&ns).args(["list", "--json", "-t", "-l", "-p", &port]));
    let sockets: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(sockets.len(), 1, "the listener stays open: {sockets:?}");
}
