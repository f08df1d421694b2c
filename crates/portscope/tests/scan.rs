//! `portscope scan` against namespaces this test creates: a scanner namespace and a target
//! namespace joined by a veth pair (198.18.0.0/24 and fd00:6::/64), with real listeners, real
//! nftables DROP rules and real random loss. Nothing leaves those namespaces.

use crate::support;

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;
use support::{Guard, Netns, accepting_listeners, nft, portscope, run, skip_without_root, veth_pair};

const SCANNER_V4: &str = "198.18.0.1";
const TARGET_V4: &str = "198.18.0.2";
const SCANNER_V6: &str = "fd00:6::1";
const TARGET_V6: &str = "fd00:6::2";

/// A scanner namespace and a target namespace on one veth link.
struct Lab {
    scanner: Netns,
    target: Netns,
    _listeners: Option<Guard>,
}

impl Lab {
    fn new(open_v4: &[u16], open_v6: &[u16]) -> Lab {
        let scanner = Netns::new("scan");
        let target = Netns::new("scan");
        veth_pair(
            &scanner,
            &[&format!("{SCANNER_V4}/24"), &format!("{SCANNER_V6}/64")],
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

    /// Runs `portscope scan ARGS…` inside the scanner namespace.
    fn scan(&self, args: &[&str]) -> Output {
        let mut cmd = self.scanner.command(env!("CARGO_BIN_EXE_portscope"));
        cmd.env("NO_COLOR", "1").args(["scan", "--connect"]).args(args);
        run(&mut cmd)
    }

    /// Scans and returns port → (state, reason) for one host from `--json --all`.
    fn states(&self, host: &str, ports: &str, extra: &[&str]) -> (BTreeMap<u16, (String, String)>, Value) {
        let mut args = vec![host, "-p", ports, "--json", "--all"];
        args.extend_from_slice(extra);
        let out = self.scan(&args);
        assert!(
            out.status.success(),
            "scan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_slice(&out.stdout).expect("scan --json prints JSON");
        let mut states = BTreeMap::new();
        for port in doc["hosts"][0]["ports"].as_array().expect("ports array") {
            let n = port["port"].as_u64().expect("port number") as u16;
            let state = port["state"].as_str().expect("state").to_string();
            let reason = port["reason"].as_str().expect("reason").to_string();
            states.insert(n, (state, reason));
        }
        (states, doc)
    }
}

fn open_ports(states: &BTreeMap<u16, (String, String)>) -> Vec<u16> {
    states
        .iter()
        .filter(|(_, (s, _))| s == "open")
        .map(|(p, _)| *p)
        .collect()
}

#[test]
fn classifies_open_closed_and_filtered_over_ipv4_and_ipv6() {
    if skip_without_root("classifies_open_closed_and_filtered_over_ipv4_and_ipv6") {
        return;
    }
    let open = [22, 80, 8080, 31337, 65535];
    let closed = [23, 81, 9999, 40000];
    let filtered = [25, 3306, 50000];
    let lab = Lab::new(&open, &open);
    nft(
        &lab.target,
        "table inet scantest {\n chain input {\n type filter hook input priority 0;\n \
         tcp dport { 25, 3306, 50000 } drop\n }\n}\n",
    );
    let spec = "22,23,25,80,81,3306,8080,9999,31337,40000,50000,65535";
    for host in [TARGET_V4, TARGET_V6] {
        let (states, _) = lab.states(host, spec, &["--max-rtt-timeout", "300ms"]);
        assert_eq!(states.len(), 12, "{host}: every port reported: {states:?}");
        for port in open {
            assert_eq!(states[&port], ("open".into(), "syn-ack".into()), "{host}:{port}");
        }
        for port in closed {
            assert_eq!(
                states[&port],
                ("closed".into(), "conn-refused".into()),
                "{host}:{port}"
            );
        }
        for port in filtered {
            assert_eq!(
                states[&port],
                ("filtered".into(), "no-response".into()),
                "{host}:{port}"
            );
        }
    }
}

#[test]
fn full_range_finds_exactly_the_listeners() {
    if skip_without_root("full_range_finds_exactly_the_listeners") {
        return;
    }
    let open = [1, 22, 443, 1024, 32768, 49152, 60999, 65535];
    let lab = Lab::new(&open, &[]);
    let out = lab.scan(&[TARGET_V4, "-p-", "--json"]);
    let doc = support::json_ok(&out);
    let host = &doc["hosts"][0];
    let found = listed_ports(host);
    assert_eq!(found, open.iter().map(|p| u64::from(*p)).collect::<Vec<_>>());
    assert_eq!(host["closed"].as_u64(), Some(65535 - open.len() as u64));
}

#[test]
fn random_loss_still_finds_every_open_port() {
    if skip_without_root("random_loss_still_finds_every_open_port") {
        return;
    }
    let open: Vec<u16> = (0..20).map(|i| 1000 + i * 97).collect();
    let lab = Lab::new(&open, &[]);
    // 10% of the packets reaching the target and 10% of those it sends vanish.
    nft(
        &lab.target,
        "table inet scanloss {\n\
           chain input {\n type filter hook input priority 0;\n meta l4proto tcp numgen random mod 10 == 0 drop\n }\n\
           chain output {\n type filter hook output priority 0;\n meta l4proto tcp numgen random mod 10 == 0 drop\n }\n}\n",
    );
    let (states, _) = lab.states(TARGET_V4, "1-4000", &[]);
    assert_eq!(states.len(), 4000);
    assert_eq!(
        open_ports(&states),
        open,
        "every listener found, nothing else open"
    );
}

#[test]
fn a_self_connect_is_closed_not_open() {
    if skip_without_root("a_self_connect_is_closed_not_open") {
        return;
    }
    let lab = Lab::new(&[], &[]);
    // With one local port left, a connect to our own address on that port is a TCP simultaneous
    // open with itself: the handshake "succeeds" although nothing listens.
    let out = run(lab
        .target
        .command("sysctl")
        .args(["-qw", "net.ipv4.ip_local_port_range=40001 40001"]));
    assert!(out.status.success());
    let mut cmd = lab.target.command(env!("CARGO_BIN_EXE_portscope"));
    cmd.args(["scan", "--connect", TARGET_V4, "-p", "40001", "--json"]);
    let out = run(&mut cmd);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let port = &doc["hosts"][0]["ports"][0];
    assert_eq!(port["state"], "closed");
    assert_eq!(port["reason"], "self-connect");
}

#[test]
fn out_of_file_descriptors_loses_no_port() {
    if skip_without_root("out_of_file_descriptors_loses_no_port") {
        return;
    }
    let open = [7, 99, 500, 1999];
    let lab = Lab::new(&open, &[]);
    // Dropped ports keep sockets open until they time out, so the descriptors run out.
    nft(
        &lab.target,
        "table inet scantest {\n chain input {\n type filter hook input priority 0;\n \
         tcp dport 1500-1530 drop\n }\n}\n",
    );
    // 90 descriptors inherited open under a limit of 100: fewer remain than portscope plans for,
    // so socket() fails with EMFILE mid-scan and the probes must be queued again, not lost.
    let script = format!(
        "for i in $(seq 10 99); do eval \"exec $i</dev/null\"; done; \
         exec prlimit --nofile=100:100 {} scan --connect {TARGET_V4} -p 1-2000 --json",
        env!("CARGO_BIN_EXE_portscope")
    );
    let out = run(lab.scanner.command("bash").args(["-c", &script]));
    let doc = support::json_ok(&out);
    let host = &doc["hosts"][0];
    let found = listed_ports(host);
    assert_eq!(found, vec![7, 99, 500, 1999]);
    assert_eq!(host["closed"].as_u64(), Some(1965));
    assert_eq!(host["filtered"].as_u64(), Some(31));
    assert!(
        doc["stats"]["deferred"].as_u64().unwrap_or(0) > 0,
        "EMFILE was hit: {}",
        doc["stats"]
    );
}

#[test]
fn xml_is_well_formed_and_carries_nmaps_fields() {
    if skip_without_root("xml_is_well_formed_and_carries_nmaps_fields") {
        return;
    }
    let lab = Lab::new(&[22, 80], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let xml_path = dir.path().join("scan.xml");
    let grep_path = dir.path().join("scan.gnmap");
    let xml = xml_path.to_str().expect("utf-8 path");
    let gnmap = grep_path.to_str().expect("utf-8 path");
    let out = lab.scan(&[TARGET_V4, "-p", "20-25,80", "-oX", xml, "-oG", gnmap]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Python's parser rejects anything that is not well-formed; the script prints what nmap's
    // consumers read from it.
    let check = "import sys,xml.etree.ElementTree as ET\n\
        r=ET.parse(sys.argv[1]).getroot()\n\
        assert r.tag=='nmaprun', r.tag\n\
        print(r.get('scanner'), r.find('scaninfo').get('type'), r.find('runstats/finished').get('exit'))\n\
        for h in r.findall('host'):\n\
        \x20 print(h.find('status').get('state'), h.find('address').get('addr'), h.find('address').get('addrtype'))\n\
        \x20 for p in h.findall('ports/port'):\n\
        \x20   s=p.find('state'); v=p.find('service')\n\
        \x20   print(p.get('protocol'), p.get('portid'), s.get('state'), s.get('reason'), v.get('name'))\n\
        \x20 for e in h.findall('ports/extraports'):\n\
        \x20   print('extra', e.get('state'), e.get('count'))\n";
    let out = run(std::process::Command::new("python3").args(["-c", check, xml]));
    assert!(
        out.status.success(),
        "XML did not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "portscope connect success",
            "up 198.18.0.2 ipv4",
            "tcp 20 closed conn-refused ftp-data",
            "tcp 21 closed conn-refused ftp",
            "tcp 22 open syn-ack ssh",
            "tcp 23 closed conn-refused telnet",
            "tcp 24 closed conn-refused unknown",
            "tcp 25 closed conn-refused smtp",
            "tcp 80 open syn-ack http",
        ],
        "{text}"
    );
    let gnmap = std::fs::read_to_string(&grep_path).expect("greppable output written");
    assert!(
        gnmap.contains("Host: 198.18.0.2 ()\tPorts: 20/closed/tcp//ftp-data///")
            && gnmap.contains("22/open/tcp//ssh///"),
        "{gnmap}"
    );
}

#[test]
fn names_resolve_from_the_hosts_file_and_unknown_names_fail_cleanly() {
    if skip_without_root("names_resolve_from_the_hosts_file_and_unknown_names_fail_cleanly") {
        return;
    }
    let lab = Lab::new(&[8080], &[]);
    // `ip netns exec` bind-mounts /etc/netns/NAME/hosts over /etc/hosts: a name that resolves
    // without any DNS server.
    let dir = std::path::PathBuf::from("/etc/netns").join(&lab.scanner.name);
    std::fs::create_dir_all(&dir).expect("create /etc/netns/NAME");
    let _cleanup = RemoveDir(dir.clone());
    std::fs::write(dir.join("hosts"), format!("{TARGET_V4} web.scantest.test\n")).expect("write hosts");
    let out = lab.scan(&["web.scantest.test", "-p", "8080,8081"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("web.scantest.test (198.18.0.2)"), "{stdout}");
    assert!(stdout.contains("8080/tcp"), "{stdout}");

    let out = lab.scan(&["missing.scantest.test", "-p", "80"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("portscope: cannot resolve host \"missing.scantest.test\""),
        "{stderr}"
    );
}

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn target_lists_ranges_and_exclusions() {
    if skip_without_root("target_lists_ranges_and_exclusions") {
        return;
    }
    let lab = Lab::new(&[443], &[443]);
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("targets.txt");
    std::fs::write(
        &list,
        format!("# lab hosts\n{TARGET_V4}\n{TARGET_V6} 198.18.0.1-2\n"),
    )
    .expect("write list");
    let list = list.to_str().expect("utf-8 path");
    let out = lab.scan(&["-iL", list, "--exclude", "198.18.0.1", "-p", "443", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let hosts: Vec<&str> = doc["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["address"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        hosts,
        [TARGET_V4, TARGET_V6],
        "each host once, the excluded one left out"
    );
    for host in doc["hosts"].as_array().expect("hosts") {
        assert_eq!(host["open"], 1, "{host}");
    }
}

#[test]
fn every_bad_form_exits_2_with_one_line() {
    if skip_without_root("every_bad_form_exits_2_with_one_line") {
        return;
    }
    // In an empty namespace: a case that wrongly got as far as probing or asking DNS reaches
    // nothing.
    let ns = Netns::new("scan");
    let cases = include_str!("scan_cases/bad_args.txt");
    for case in cases
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
        cmd.env("NO_COLOR", "1").arg("scan").args(case.split_whitespace());
        let out = run(&mut cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "`scan {case}`: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "`scan {case}` printed: {stderr}");
        assert!(stderr.starts_with("portscope: "), "`scan {case}`: {stderr}");
        assert!(out.stdout.is_empty(), "`scan {case}` printed on stdout");
    }
}

#[test]
fn refuses_huge_scans_without_force() {
    let out = run(portscope().args(["scan", "10.0.0.0/8", "-p", "1-2"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("more than 2^24"), "{stderr}");
}

/// The port numbers a `--json` host lists, in order.
fn listed_ports(host: &Value) -> Vec<u64> {
    host["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| p["port"].as_u64().unwrap_or(0))
        .collect()
}

#[test]
fn an_unreachable_host_is_reported_down_not_as_nothing_exposed() {
    if skip_without_root("an_unreachable_host_is_reported_down_not_as_nothing_exposed") {
        return;
    }
    let lab = Lab::new(&[31337], &[]);
    // 198.18.0.3 is on the link but nobody has it; an `unreachable` route answers at once
    // (EHOSTUNREACH), as a dead neighbour does after its ARP timeout.
    lab.scanner.ip(&["route", "add", "unreachable", "198.18.0.3/32"]);
    let out = lab.scan(&["198.18.0.3", "-p", "1-100"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("host 198.18.0.3 seems down"), "{stderr}");
    // With one host up, the other is a note and the scan succeeds.
    let out = lab.scan(&["198.18.0.2", "198.18.0.3", "-p", "31337"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 of 2 host(s) seem down"), "{stderr}");
    // An abused port is marked as `list` marks it.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let row = stdout
        .lines()
        .find(|l| l.starts_with("31337/tcp"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(row.contains("\u{b7}") && row.contains(" port"), "{row}");
}

#[test]
fn the_default_scan_finds_the_ports_people_look_for() {
    if skip_without_root("the_default_scan_finds_the_ports_people_look_for") {
        return;
    }
    // Back Orifice 2000, Android's adb, the common alternative web port, NetBus.
    let open = [5555, 8888, 12345, 31337];
    let lab = Lab::new(&open, &[]);
    let out = lab.scan(&[TARGET_V4, "--json"]);
    let doc = support::json_ok(&out);
    let found = listed_ports(&doc["hosts"][0]);
    assert_eq!(
        found,
        open.iter().map(|p| u64::from(*p)).collect::<Vec<_>>(),
        "{doc}"
    );
}
