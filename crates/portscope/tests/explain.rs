//! `portscope explain` end to end: real sockets held by real processes that this test starts, on
//! the host loopback (sockets the test itself opened) or inside its own network namespace.

use crate::support;

use std::net::{TcpListener, UdpSocket};

use serde_json::Value;
use support::{
    Guard, Netns, first_line, portscope, portscope_in, python_listener, run, skip_without_root, veth_pair,
};

fn explain(args: &[&str]) -> (i32, String, String) {
    let out = run(portscope()
        .arg("explain")
        .args(args)
        .env_remove("PORTSCOPE_SERVICES"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn names_the_process_that_holds_the_port() {
    let mut child = python_listener(None, "tcp", "127.0.0.1", 0);
    let port = first_line(&mut child);
    let target = format!("127.0.0.1:{port}");
    let (code, text, stderr) = explain(&[&target]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains(&format!("tcp 127.0.0.1:{port} LISTEN")), "{text}");
    assert!(
        text.contains(&format!("held by PID {} python3", child.pid())),
        "{text}"
    );
    assert!(text.contains("A port number alone proves nothing"), "{text}");

    let (_, json, _) = explain(&[&format!("{port}/tcp"), "--json"]);
    let value: Value = serde_json::from_str(&json).expect("explain --json prints JSON");
    let pids: Vec<u64> = value["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .flat_map(|s| s["holders"].as_array().cloned().unwrap_or_default())
        .filter_map(|h| h["pid"].as_u64())
        .collect();
    assert!(pids.contains(&u64::from(child.pid())), "{value}");
    assert!(
        value["caveat"]
            .as_str()
            .is_some_and(|c| c.contains("proves nothing"))
    );
}

#[test]
fn names_this_test_for_its_own_udp_socket() {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let (code, text, stderr) = explain(&[&format!("127.0.0.1:{port}"), "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let value: Value = serde_json::from_str(&text).expect("JSON");
    let holders: Vec<Value> = value["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .filter(|s| s["protocol"] == "udp")
        .flat_map(|s| s["holders"].as_array().cloned().unwrap_or_default())
        .collect();
    assert!(
        holders
            .iter()
            .any(|h| h["pid"].as_u64() == Some(u64::from(std::process::id()))),
        "{value}"
    );
}

#[test]
fn another_address_is_not_claimed() {
    // A listener on 127.0.0.1 does not hold the same port on ::1.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (code, text, _) = explain(&[&format!("[::1]:{port}/tcp"), "--json"]);
    assert_eq!(code, 0, "{text}");
    let value: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(value["transport"], "tcp");
    let mine = value["sockets"]
        .as_array()
        .expect("sockets")
        .iter()
        .any(|s| s["local"]["address"] == "127.0.0.1");
    assert!(!mine, "{value}");
}

#[test]
fn explains_abuse_and_range_for_a_newcomer() {
    let (code, text, _) = explain(&["31337"]);
    assert_eq!(code, 0);
    assert!(text.contains("registered port"), "{text}");
    assert!(
        text.contains("Back Orifice") && text.contains("not proof"),
        "{text}"
    );
    assert!(text.contains("On this machine now"), "{text}");
    let (_, text, _) = explain(&["80/dccp"]);
    assert!(text.contains("dccp sockets were not inspected"), "{text}");
    let (_, text, _) = explain(&["80/sctp"]);
    assert!(!text.contains("not inspected"), "SCTP sockets are: {text}");
    let (_, text, _) = explain(&["ssh"]);
    assert!(text.starts_with("Port 22 "), "{text}");
}

#[test]
fn refuses_ranges_and_unknown_names() {
    let (code, _, stderr) = explain(&["6000-6010"]);
    assert_eq!((code, stderr.lines().count()), (2, 1), "{stderr}");
    let (code, _, stderr) = explain(&["x11"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = explain(&["no-such-service-anywhere"]);
    assert_eq!((code, stderr.lines().count()), (6, 1), "{stderr}");
    let (code, _, _) = explain(&["99999"]);
    assert_eq!(code, 2);
}

#[test]
fn list_marks_abused_ports_inside_a_namespace() {
    if skip_without_root("list_marks_abused_ports_inside_a_namespace") {
        return;
    }
    let ns = Netns::new("kn");
    let mut child = python_listener(Some(&ns), "tcp", "127.0.0.1", 31337);
    assert_eq!(first_line(&mut child), "31337");
    let out = run(ns
        .command(env!("CARGO_BIN_EXE_portscope"))
        .args(["list", "-l", "-p", "31337", "--json"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let value: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let entry = &value[0];
    assert_eq!(entry["service"], "eldim", "{value}");
    assert!(
        entry["abuse"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["family"] == "Back Orifice 2000")),
        "{value}"
    );

    let out = run(ns
        .command(env!("CARGO_BIN_EXE_portscope"))
        .args(["list", "-l", "-p", "31337"])
        .env("NO_COLOR", "1"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("eldim \u{b7} ") && text.contains(" port"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("proves nothing"));

    // Inside the namespace, explain names the holder too.
    let out = run(ns
        .command(env!("CARGO_BIN_EXE_portscope"))
        .args(["explain", "127.0.0.1:31337"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("held by PID {} python3", child.pid())),
        "{text}"
    );
}

#[test]
fn a_port_only_connected_to_names_the_process_and_comes_first() {
    if skip_without_root("a_port_only_connected_to_names_the_process_and_comes_first") {
        return;
    }
    // A "reverse shell": a process in `here` holding a connection to 4444 in `there`.
    let here = Netns::new("exh");
    let there = Netns::new("ext");
    veth_pair(&here, &["198.18.14.1/24"], &there, &["198.18.14.2/24"]);
    let mut server = python_listener(Some(&there), "tcp", "198.18.14.2", 4444);
    assert_eq!(first_line(&mut server), "4444");
    let script = "import socket,os,time\ns=socket.create_connection(('198.18.14.2',4444))\n\
                  os.dup2(s.fileno(),0)\nprint('up',flush=True)\ntime.sleep(120)\n";
    let mut cmd = here.command("python3");
    cmd.args(["-c", script]).stdout(std::process::Stdio::piped());
    let mut shell = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut shell), "up");

    let out = run(portscope_in(&here).args(["--netns", "current", "explain", "4444"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("held by PID {} python3", shell.pid())),
        "{text}"
    );
    assert!(text.contains("198.18.14.2:4444"), "{text}");
    assert!(text.contains("portscope close 4444 --remote"), "{text}");
    let now = text.find("On this machine now").expect("now section");
    let range = text.find("Range:").expect("range");
    assert!(now < range, "what is here comes first: {text}");

    let out = run(portscope_in(&here).args(["--netns", "current", "explain", "4444", "--json"]));
    let value: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(value["outgoing"], 1, "{value}");
    assert_eq!(
        value["outgoing_sockets"][0]["holders"][0]["pid"],
        shell.pid(),
        "{value}"
    );
}
