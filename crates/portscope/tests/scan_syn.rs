//! `portscope scan -sS` and `-sU` against namespaces this test creates: a scanner namespace and a
//! target namespace joined by a veth pair (198.18.0.0/24 and fd00:17::/64), real listeners, real
//! UDP responders, real nftables loss and redirect rules. Nothing leaves those namespaces. Also
//! checks that the SYN scan's firewall table is gone after the scan, after SIGINT, and (removed by
//! the next scan) after SIGKILL.

use crate::support;

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use support::{
    Guard, Netns, accepting_listeners, first_line, nft, run, skip_without_root, veth_pair, wait_until,
};

const TARGET_V4: &str = "198.18.0.2";
const TARGET_V6: &str = "fd00:17::2";

/// (port, protocol) → (state, reason).
type States = BTreeMap<(u16, String), (String, String)>;

struct Lab {
    scanner: Netns,
    target: Netns,
    _listeners: Option<Guard>,
}

impl Lab {
    fn new(open_v4: &[u16], open_v6: &[u16]) -> Lab {
        let scanner = Netns::new("syn");
        let target = Netns::new("syn");
        veth_pair(
            &scanner,
            &["198.18.0.1/24", "fd00:17::1/64"],
            &target,
            &[&format!("{TARGET_V4}/24"), &format!("{TARGET_V6}/64")],
        );
        let endpoints: Vec<String> = open_v4
            .iter()
            .map(|p| format!("{TARGET_V4}:{p}"))
            .chain(open_v6.iter().map(|p| format!("[{TARGET_V6}]:{p}")))
            .collect();
        let listeners = (!endpoints.is_empty()).then(|| accepting_listeners(&target, &endpoints));
        Lab {
            scanner,
            target,
            _listeners: listeners,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = self.scanner.command(env!("CARGO_BIN_EXE_portscope"));
        cmd.env("NO_COLOR", "1").arg("scan").args(args);
        cmd
    }

    fn scan(&self, args: &[&str]) -> Output {
        run(&mut self.command(args))
    }

    /// `--json --all` → (port, protocol) → (state, reason), and the document.
    fn states(&self, args: &[&str]) -> (States, Value) {
        let mut all = args.to_vec();
        all.extend(["--json", "--all"]);
        let out = self.scan(&all);
        assert!(
            out.status.success(),
            "scan {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("scan --json prints JSON");
        let mut states = BTreeMap::new();
        for host in doc["hosts"].as_array().expect("hosts") {
            for port in host["ports"].as_array().expect("ports") {
                states.insert(
                    (
                        port["port"].as_u64().expect("port") as u16,
                        port["protocol"].as_str().expect("protocol").to_string(),
                    ),
                    (
                        port["state"].as_str().expect("state").to_string(),
                        port["reason"].as_str().expect("reason").to_string(),
                    ),
                );
            }
        }
        (states, doc)
    }

    /// The scan tables left in the scanner's namespace.
    fn scan_tables(&self) -> Vec<String> {
        let out = run(self.scanner.command("nft").args(["list", "tables", "inet"]));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("portscope_scan_"))
            .map(str::to_string)
            .collect()
    }
}

fn open_of(states: &States, proto: &str) -> Vec<u16> {
    states
        .iter()
        .filter(|((_, p), (s, _))| p == proto && s == "open")
        .map(|((port, _), _)| *port)
        .collect()
}

#[test]
fn syn_scan_finds_open_and_closed_ports_v4_and_v6() {
    if skip_without_root("syn_scan_finds_open_and_closed_ports_v4_and_v6") {
        return;
    }
    let open = [22, 80, 443, 1999, 31337, 60000];
    let lab = Lab::new(&open, &[22, 8080]);
    let (states, doc) = lab.states(&[TARGET_V4, "-p", "1-2000,31337,60000", "-sS"]);
    assert_eq!(open_of(&states, "tcp"), open);
    for ((port, _), (state, reason)) in &states {
        if open.contains(port) {
            assert_eq!(reason, "syn-ack");
        } else {
            assert_eq!(
                (state.as_str(), reason.as_str()),
                ("closed", "reset"),
                "port {port}"
            );
        }
    }
    assert_eq!(states.len(), 2002);
    assert!(doc["stats"]["probes"].as_u64().unwrap() >= 2002 + open.len() as u64);
    assert!(
        lab.scan_tables().is_empty(),
        "the firewall table outlived the scan"
    );

    let (states, _) = lab.states(&[TARGET_V6, "-p", "1-1000,8080", "-sS"]);
    assert_eq!(open_of(&states, "tcp"), [22, 8080]);
    assert_eq!(states.values().filter(|(s, _)| s == "closed").count(), 999);

    // XML says what kind of scan it was, with nmap's reasons.
    let out = lab.scan(&[TARGET_V4, "-p", "21-23", "-sS", "-oX", "-"]);
    let xml = String::from_utf8_lossy(&out.stdout);
    assert!(xml.contains(r#"<scaninfo type="syn" protocol="tcp""#), "{xml}");
    assert!(
        xml.contains(r#"portid="22"><state state="open" reason="syn-ack""#),
        "{xml}"
    );
    assert!(
        xml.contains(r#"portid="21"><state state="closed" reason="reset""#),
        "{xml}"
    );
    // The table shows the reason too.
    let out = lab.scan(&[TARGET_V4, "-p", "22", "-sS", "--reason"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("22/tcp") && table.contains("syn-ack"), "{table}");
}

#[test]
fn syn_scan_reads_firewalls_and_loss() {
    if skip_without_root("syn_scan_reads_firewalls_and_loss") {
        return;
    }
    let open = [21, 22, 25, 80, 110, 143, 443, 993, 1500, 2500];
    let lab = Lab::new(&open, &[]);
    // A dropped port, a rejected one, and 10% loss both ways with the RSTs rate-limited.
    nft(
        &lab.target,
        "table inet t17 {\n chain input {\n  type filter hook input priority 0;\n  \
         tcp dport 2001 drop\n  tcp dport 2002 reject with icmp type admin-prohibited\n  \
         meta l4proto tcp numgen random mod 10 == 0 drop\n }\n chain output {\n  \
         type filter hook output priority 0;\n  meta l4proto tcp numgen random mod 10 == 0 drop\n  \
         tcp flags & rst == rst limit rate over 2000/second burst 100 packets drop\n }\n}\n",
    );
    let (states, _) = lab.states(&[TARGET_V4, "-p", "1-3000", "-sS"]);
    assert_eq!(
        open_of(&states, "tcp"),
        open,
        "every open port found, no false one"
    );
    assert_eq!(
        states[&(2001, "tcp".into())],
        ("filtered".into(), "no-response".into())
    );
    assert_eq!(
        states[&(2002, "tcp".into())],
        ("filtered".into(), "admin-prohibited".into())
    );
    assert!(lab.scan_tables().is_empty());
}

#[test]
fn a_host_answering_every_port_is_summarised() {
    if skip_without_root("a_host_answering_every_port_is_summarised") {
        return;
    }
    let lab = Lab::new(&[80], &[]);
    nft(
        &lab.target,
        "table ip t17nat {\n chain pre {\n  type nat hook prerouting priority -100;\n  \
         tcp dport 1-65535 redirect to :80\n }\n}\n",
    );
    let out = lab.scan(&[TARGET_V4, "-p", "1-500", "-sS"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("this host answered 500 of 500 ports as open"),
        "{table}"
    );
    assert!(
        table.lines().count() < 10,
        "the open ports are not listed: {table}"
    );
    let (_, doc) = lab.states(&[TARGET_V4, "-p", "1-500", "-sS"]);
    assert_eq!(doc["hosts"][0]["answers_everything"]["open"], 500);
}

/// Starts a scan that takes long (the target drops everything), waits for its firewall table.
fn slow_scan(lab: &Lab) -> Guard {
    nft(
        &lab.target,
        "table inet t17drop {\n chain input {\n  type filter hook input priority 0;\n  meta l4proto tcp drop\n }\n}\n",
    );
    let mut cmd = lab.command(&[TARGET_V4, "-p-", "-sS", "--max-retries", "6"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let guard = Guard::spawn(&mut cmd);
    assert!(
        wait_until(20.0, || !lab.scan_tables().is_empty()),
        "the scan's firewall table never appeared"
    );
    guard
}

/// The pid of the portscope process under `ip netns exec` (which execs it: the same pid).
fn send(guard: &Guard, signal: i32) {
    support::send_signal(guard.pid(), signal);
}

#[test]
fn the_firewall_rule_goes_after_sigint_and_after_sigkill() {
    if skip_without_root("the_firewall_rule_goes_after_sigint_and_after_sigkill") {
        return;
    }
    let lab = Lab::new(&[], &[]);
    let mut scan = slow_scan(&lab);
    send(&scan, libc::SIGINT);
    let status = scan.0.wait().expect("wait for the scan");
    assert_eq!(status.code(), Some(130), "SIGINT ends the scan with 128 + 2");
    assert!(lab.scan_tables().is_empty(), "the table outlived SIGINT");

    let mut scan = slow_scan(&lab);
    send(&scan, libc::SIGKILL);
    let _ = scan.0.wait();
    assert_eq!(lab.scan_tables().len(), 1, "SIGKILL leaves the table behind");
    // The next scan removes it, and leaves nothing of its own.
    // The target still drops every TCP segment (slow_scan's rule), so the scan says the host
    // seems down (exit 6): what matters here is the table.
    let out = lab.scan(&[TARGET_V4, "-p", "1", "-sS", "--max-retries", "0"]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("seems down"));
    assert!(lab.scan_tables().is_empty(), "the leftover table was not removed");
}

/// DNS, NTP and SNMP responders (each answers any datagram with a minimal valid reply) and two
/// UDP listeners that never answer, in the target namespace.
fn udp_services(ns: &Netns) -> Guard {
    let script = "import socket,selectors,time\n\
        sel=selectors.DefaultSelector()\n\
        def reply(port,data):\n\
        \x20   if port==53: return data[:2]+b'\\x81\\x80'+data[4:6]+b'\\x00\\x00\\x00\\x00\\x00\\x00'+data[12:]\n\
        \x20   if port==123: return b'\\x24\\x02\\x06\\xe9'+b'\\x00'*44\n\
        \x20   if port==161: return b'\\x30\\x0c\\x02\\x01\\x01\\x04\\x06public\\xa2\\x00'\n\
        \x20   return None\n\
        for port in (53,123,161,69,500):\n\
        \x20   s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
        \x20   s.bind(('198.18.0.2',port)); s.setblocking(False)\n\
        \x20   sel.register(s,selectors.EVENT_READ,port)\n\
        print('ready',flush=True)\n\
        end=time.time()+300\n\
        while time.time()<end:\n\
        \x20   for key,_ in sel.select(1):\n\
        \x20       try:\n\
        \x20           data,peer=key.fileobj.recvfrom(2048)\n\
        \x20       except OSError:\n\
        \x20           continue\n\
        \x20       r=reply(key.data,data)\n\
        \x20       if r: key.fileobj.sendto(r,peer)\n";
    let mut cmd = ns.command("/usr/bin/python3");
    cmd.args(["-c", script]).stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut guard), "ready");
    guard
}

#[test]
fn udp_scan_tells_open_closed_and_silent_ports() {
    if skip_without_root("udp_scan_tells_open_closed_and_silent_ports") {
        return;
    }
    let lab = Lab::new(&[22], &[]);
    let _services = udp_services(&lab.target);
    // Without the ICMP rate limit first: every closed port answers at once.
    let out = run(lab
        .target
        .command("sysctl")
        .args(["-qw", "net.ipv4.icmp_ratelimit=0"]));
    assert!(out.status.success());
    let (states, _) = lab.states(&[TARGET_V4, "-sU", "--top-ports", "100"]);
    assert_eq!(open_of(&states, "udp"), [53, 123, 161]);
    for port in [53, 123, 161] {
        assert_eq!(states[&(port, "udp".into())].1, "udp-response");
    }
    for port in [69, 500] {
        assert_eq!(
            states[&(port, "udp".into())],
            ("open|filtered".into(), "no-response".into())
        );
    }
    assert_eq!(
        states
            .values()
            .filter(|s| *s == &("closed".to_string(), "port-unreach".to_string()))
            .count(),
        95
    );
    assert!(states.keys().all(|(_, p)| p == "udp"), "-sU alone scans UDP only");

    // With Linux's default limit (a burst of ~6 errors, then one a second), a few ports: the
    // engine waits for the truth instead of calling closed ports open|filtered.
    let out = run(lab
        .target
        .command("sysctl")
        .args(["-qw", "net.ipv4.icmp_ratelimit=1000"]));
    assert!(out.status.success());
    let (states, _) = lab.states(&[TARGET_V4, "-sU", "-p", "53,69,123,161,500,1-6"]);
    assert_eq!(open_of(&states, "udp"), [53, 123, 161]);
    let closed = states.values().filter(|(s, _)| s == "closed").count();
    assert_eq!(closed, 6, "{states:?}");

    // -sS -sU together: both protocols in one report.
    let (states, _) = lab.states(&[TARGET_V4, "-sS", "-sU", "-p", "22,53"]);
    assert_eq!(states[&(22, "tcp".into())].0, "open");
    assert_eq!(states[&(53, "udp".into())].0, "open");
    assert_eq!(states[&(22, "udp".into())].0, "closed");
}

#[test]
fn shards_split_the_ports_and_merge_with_cat() {
    if skip_without_root("shards_split_the_ports_and_merge_with_cat") {
        return;
    }
    let open = [5, 77, 150, 299];
    let lab = Lab::new(&open, &[]);
    let mut lines = Vec::new();
    for shard in ["1/3", "2/3", "3/3"] {
        let out = lab.scan(&[
            TARGET_V4,
            "-p",
            "1-300",
            "-sS",
            "--shard",
            shard,
            "--json-lines",
            "--all",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let n = text.lines().count();
        assert!(
            (99..=101).contains(&n),
            "shard {shard} has a third of the ports: {n}"
        );
        lines.extend(text.lines().map(str::to_string));
    }
    let mut ports: Vec<u64> = lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("a JSON line")["port"]
                .as_u64()
                .expect("port")
        })
        .collect();
    ports.sort();
    assert_eq!(ports, (1..=300).collect::<Vec<u64>>(), "every port exactly once");
    let mut found: Vec<u64> = lines
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .filter(|v| v["state"] == "open")
        .map(|v| v["port"].as_u64().expect("port"))
        .collect();
    found.sort();
    assert_eq!(found, open.map(u64::from));
    assert!(Lab::scan(&lab, &[TARGET_V4, "--shard", "4/3"]).status.code() == Some(2));
}

#[test]
fn an_interrupted_scan_resumes_from_its_file() {
    if skip_without_root("an_interrupted_scan_resumes_from_its_file") {
        return;
    }
    let open = [22, 4000];
    let lab = Lab::new(&open, &[]);
    // Ports 3000-3999 are dropped: the second run must still report them filtered.
    nft(
        &lab.target,
        "table inet t17r {\n chain input {\n  type filter hook input priority 0;\n  tcp dport 3000-3999 drop\n }\n}\n",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("scan.resume");
    let file_arg = file.to_str().expect("utf-8 path");
    // At 1000 probes a second the first run takes at least 5 s: time to interrupt it.
    let mut cmd = lab.command(&[
        TARGET_V4, "-p", "1-5000", "-sS", "--resume", file_arg, "--rate", "1000",
    ]);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut scan = Guard::spawn(&mut cmd);
    // Some of the closed ports are written out (the file is buffered): the scan is under way.
    assert!(wait_until(30.0, || std::fs::metadata(&file).is_ok_and(|m| m.len() > 0)));
    send(&scan, libc::SIGINT);
    assert_eq!(scan.0.wait().expect("wait").code(), Some(130));
    let held = std::fs::read_to_string(&file).expect("resume file");
    let first = held.lines().count();
    assert!(
        first > 0 && first < 5000,
        "the first run settled part of the ports: {first}"
    );

    let out = lab.scan(&[
        TARGET_V4,
        "-p",
        "1-5000",
        "-sS",
        "--resume",
        file_arg,
        "--json",
        "--max-retries",
        "1",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let host = &doc["hosts"][0];
    let ports: Vec<u64> = host["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .filter(|p| p["state"] == "open")
        .map(|p| p["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(ports, [22, 4000]);
    assert_eq!(host["filtered"], 1000);
    assert_eq!(host["closed"], 5000 - 1000 - 2);
    // First tries (probes less retries) cover only what the file did not hold, plus the two
    // confirmations of the open ports.
    let stats = &doc["stats"];
    let first_tries = stats["probes"].as_u64().expect("probes") - stats["retries"].as_u64().expect("retries");
    assert!(
        first_tries <= 5000 + 2 - first as u64,
        "the second run skipped what the file held ({first} lines): {stats}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("file").lines().count(),
        5000
    );
}
