//! `portscope list` must show every socket `ss -tuanp` shows, with the same owners. Both run
//! inside a network namespace this test creates, so the socket set is exactly the test's own.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;
use support::{Netns, python_listener, run, skip_without_root, wait_until};

/// (protocol, local port, remote port) → pids holding the socket.
type Table = BTreeMap<(String, u64, u64), BTreeSet<u64>>;

fn port_of(endpoint: &str) -> u64 {
    let port = endpoint.rsplit(':').next().unwrap_or("*");
    port.parse().unwrap_or(0)
}

/// Parses `ss -tuanpH`: netid state recv-q send-q local peer [users:(("name",pid=N,fd=M),…)]
fn parse_ss(text: &str) -> Table {
    let mut table = Table::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 {
            continue;
        }
        let pids = line
            .split("pid=")
            .skip(1)
            .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect();
        table.insert(
            (fields[0].to_string(), port_of(fields[4]), port_of(fields[5])),
            pids,
        );
    }
    table
}

fn parse_portscope(json: &[u8]) -> Table {
    let entries: Vec<Value> = serde_json::from_slice(json).expect("list --json");
    entries
        .iter()
        .map(|e| {
            let key = (
                e["protocol"].as_str().unwrap().to_string(),
                e["local"]["port"].as_u64().unwrap(),
                e["remote"]["port"].as_u64().unwrap(),
            );
            let pids = e["holders"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["pid"].as_u64().unwrap())
                .collect();
            (key, pids)
        })
        .collect()
}

#[test]
fn same_sockets_and_owners_as_ss() {
    if skip_without_root("same_sockets_and_owners_as_ss") || Command::new("ss").arg("-V").output().is_err() {
        return;
    }
    let ns = Netns::new("listss");
    let _listeners = [
        python_listener(Some(&ns), "tcp", "127.0.0.1", 8080),
        python_listener(Some(&ns), "tcp", "::1", 8443),
        python_listener(Some(&ns), "udp", "0.0.0.0", 5353),
        python_listener(Some(&ns), "udp", "::", 5355),
    ];
    let ss = || run(ns.command("ss").args(["-tuanpH"]));
    assert!(
        wait_until(10.0, || parse_ss(&String::from_utf8_lossy(&ss().stdout)).len()
            >= 4),
        "listeners up"
    );
    // One established connection, client and server side held by different processes.
    let script = "import socket,time\nc=socket.create_connection(('127.0.0.1',8080))\nprint(1,flush=True)\ntime.sleep(60)";
    let mut client = support::Guard::spawn(
        ns.command("python3")
            .args(["-c", script])
            .stdout(std::process::Stdio::piped()),
    );
    support::first_line(&mut client);

    let ours = run(ns
        .command(env!("CARGO_BIN_EXE_portscope"))
        .args(["list", "--json"]));
    assert!(ours.status.success(), "{}", String::from_utf8_lossy(&ours.stderr));
    let ss_table = parse_ss(&String::from_utf8(ss().stdout).unwrap());
    let our_table = parse_portscope(&ours.stdout);
    assert!(ss_table.len() >= 5, "ss saw {ss_table:?}");
    for (key, pids) in &ss_table {
        let ours = our_table
            .get(key)
            .unwrap_or_else(|| panic!("{key:?} shown by ss, missing from portscope"));
        assert_eq!(ours, pids, "owners of {key:?}");
    }
    assert_eq!(
        our_table.len(),
        ss_table.len(),
        "ours {our_table:?}\nss {ss_table:?}"
    );
}
