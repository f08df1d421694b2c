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
    // Some of the closed ports are written out after the header (the header goes out at once,
    // the ports a buffer at a time): the scan is under way. Waiting for the header alone let a
    // loaded machine interrupt the scan before it had settled a port.
    assert!(wait_until(30.0, || {
        std::fs::read_to_string(&file).is_ok_and(|held| held.lines().count() > 1)
    }));
    send(&scan, libc::SIGINT);
    assert_eq!(scan.0.wait().expect("wait").code(), Some(130));
    let held = std::fs::read_to_string(&file).expect("resume file");
    // The first line names the scan the file belongs to; every other line is a settled port.
    assert!(held.starts_with("{\"portscope_resume\":1,"), "{held}");
    let first = held.lines().count() - 1;
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
        5000 + 1
    );
}

/// Issue 23, point 14: a resume file with a line for a host this scan never targeted (or written
/// by another scan) was mixed in, and the stranger reported open. Staged: a file holding
/// "198.18.0.77:4444 open", then a file of a scan of other ports.
#[test]
fn a_resume_file_of_another_scan_is_refused() {
    if skip_without_root("a_resume_file_of_another_scan_is_refused") {
        return;
    }
    use std::os::unix::fs::OpenOptionsExt;
    let lab = Lab::new(&[22], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("planted.resume");
    let file_arg = file.to_str().expect("utf-8 path");
    let planted = "{\"host\":\"198.18.0.77\",\"port\":4444,\"protocol\":\"tcp\",\"state\":\"open\",\"reason\":\"syn-ack\"}\n";
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)
        .and_then(|mut f| std::io::Write::write_all(&mut f, planted.as_bytes()))
        .expect("write the planted file");
    let refused = |out: &Output, what: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
        assert!(stderr.contains("resume file"), "{what}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("198.18.0.77"),
            "{what}: the planted host was reported"
        );
    };
    let out = lab.scan(&[TARGET_V4, "-p", "22", "-sS", "--resume", file_arg, "--json"]);
    refused(&out, "a planted line");
    assert_eq!(
        std::fs::read_to_string(&file).expect("file"),
        planted,
        "a refused file is left as it was"
    );

    // A file written by a scan of port 22, given to a scan of ports 22 and 80.
    let own = dir.path().join("own.resume");
    let own_arg = own.to_str().expect("utf-8 path");
    let first = lab.scan(&[TARGET_V4, "-p", "22", "-sS", "--resume", own_arg, "--json"]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = lab.scan(&[TARGET_V4, "-p", "22,80", "-sS", "--resume", own_arg, "--json"]);
    refused(&out, "another scan's file");
    // The same scan again takes its own file.
    let again = lab.scan(&[TARGET_V4, "-p", "22", "-sS", "--resume", own_arg, "--json"]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let doc: Value = serde_json::from_slice(&again.stdout).expect("JSON");
    assert_eq!(doc["hosts"][0]["open"], 1, "{doc}");
}

/// Issue 23, point 17b: a SYN scan of the scanner's own addresses listed its own four reserved
/// source ports as "filtered no-response" (the kernel's resets from them were dropped by the
/// scan's own firewall rule). Staged in the scanner's namespace, on its loopback and its own
/// IPv4 and IPv6 addresses: every port is closed, as -sT and nmap see it.
#[test]
fn a_syn_scan_of_its_own_addresses_reports_no_phantom_ports() {
    if skip_without_root("a_syn_scan_of_its_own_addresses_reports_no_phantom_ports") {
        return;
    }
    let lab = Lab::new(&[], &[]);
    for own in ["127.0.0.1", "198.18.0.1", "fd00:17::1"] {
        // The reserved ports are 40000-60000; the whole range for loopback.
        let ports = if own == "127.0.0.1" { "-" } else { "40000-60001" };
        let (states, _) = lab.states(&[own, "-p", ports, "-sS", "--max-retries", "1"]);
        let not_closed: Vec<_> = states.iter().filter(|(_, (s, _))| s != "closed").collect();
        assert!(not_closed.is_empty(), "{own}: {not_closed:?}");
        let expected = if own == "127.0.0.1" { 65535 } else { 20002 };
        assert_eq!(states.len(), expected, "{own}");
    }
}

/// Issue 23, point 13: the SYN engine read answers off a raw socket, which is handed packets
/// before the kernel checks their checksums. Staged over IPv4 and IPv6: the scanner probes
/// 198.18.0.99 and fd00:17::99, routed through the target namespace, where no host has those
/// addresses; an attacker there reads each probe off the link and answers it with a forged
/// SYN-ACK (ports 1-50), reset (51-100) or ICMP/ICMPv6 admin-prohibited (101-150), each with a
/// wrong checksum, so the scanner's kernel drops them all. Ports 151 and 152 get a SYN-ACK and a
/// reset with right checksums: proof that the forger's answers reach the scanner at all.
#[test]
fn answers_with_wrong_checksums_are_not_believed() {
    if skip_without_root("answers_with_wrong_checksums_are_not_believed") {
        return;
    }
    let lab = Lab::new(&[], &[]);
    lab.scanner
        .ip(&["route", "add", "198.18.0.99/32", "via", TARGET_V4]);
    lab.scanner
        .ip(&["-6", "route", "add", "fd00:17::99/128", "via", TARGET_V6]);
    let forger = "import socket,struct,time\n\
        def csum(b):\n\
        \x20   if len(b)%2: b+=b'\\0'\n\
        \x20   t=sum(struct.unpack('!%dH'%(len(b)//2),b))\n\
        \x20   while t>>16: t=(t&0xffff)+(t>>16)\n\
        \x20   return (~t)&0xffff\n\
        def ip4(src,dst,proto,payload):\n\
        \x20   h=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(payload),0,0x4000,64,proto,0,src,dst)\n\
        \x20   return h[:10]+struct.pack('!H',csum(h))+h[12:]+payload\n\
        def ip6(src,dst,proto,payload):\n\
        \x20   return struct.pack('!IHBB16s16s',0x60000000,len(payload),proto,64,src,dst)+payload\n\
        def pseudo(v6,src,dst,proto,n):\n\
        \x20   return src+dst+(struct.pack('!IxxxB',n,proto) if v6 else struct.pack('!BBH',0,proto,n))\n\
        r=socket.socket(socket.AF_PACKET,socket.SOCK_DGRAM,socket.htons(3))\n\
        r.bind(('veth0',3))\n\
        r.settimeout(0.5)\n\
        s4=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\n\
        s6=socket.socket(socket.AF_INET6,socket.SOCK_RAW,socket.IPPROTO_RAW)\n\
        ph4=socket.inet_pton(socket.AF_INET,'198.18.0.99')\n\
        ph6=socket.inet_pton(socket.AF_INET6,'fd00:17::99')\n\
        me4=socket.inet_pton(socket.AF_INET,'198.18.0.2')\n\
        me6=socket.inet_pton(socket.AF_INET6,'fd00:17::2')\n\
        print('ready',flush=True)\n\
        end=time.time()+120\n\
        while time.time()<end:\n\
        \x20   try:\n\
        \x20       pkt,addr=r.recvfrom(2048)\n\
        \x20   except socket.timeout:\n\
        \x20       continue\n\
        \x20   if addr[2]==socket.PACKET_OUTGOING or len(pkt)<40: continue\n\
        \x20   v6=pkt[0]>>4==6\n\
        \x20   if v6:\n\
        \x20       if len(pkt)<60 or pkt[6]!=6 or pkt[24:40]!=ph6: continue\n\
        \x20       hl,src,ph,me=40,pkt[8:24],ph6,me6\n\
        \x20   else:\n\
        \x20       if pkt[9]!=6 or pkt[16:20]!=ph4: continue\n\
        \x20       hl,src,ph,me=(pkt[0]&15)*4,pkt[12:16],ph4,me4\n\
        \x20   tcp=pkt[hl:]\n\
        \x20   sport,dport,seq=struct.unpack('!HHI',tcp[:8])\n\
        \x20   if tcp[13]!=0x02 or dport>152: continue\n\
        \x20   if dport<=100 or dport>150:\n\
        \x20       flags=0x12 if dport<=50 or dport==151 else 0x14\n\
        \x20       seg=struct.pack('!HHIIBBHHH',dport,sport,7 if flags==0x12 else 0,(seq+1)&0xffffffff,0x50,flags,1024,0,0)\n\
        \x20       c=csum(pseudo(v6,ph,src,6,len(seg))+seg)\n\
        \x20       if dport<=150: c^=0x5a5a\n\
        \x20       seg=seg[:16]+struct.pack('!H',c)+seg[18:]\n\
        \x20       out=ip6(ph,src,6,seg) if v6 else ip4(ph,src,6,seg)\n\
        \x20   elif v6:\n\
        \x20       icmp=struct.pack('!BBHI',1,1,0,0)+pkt[:hl+24]\n\
        \x20       c=csum(pseudo(True,me,src,58,len(icmp))+icmp)^0x5a5a\n\
        \x20       out=ip6(me,src,58,icmp[:2]+struct.pack('!H',c)+icmp[4:])\n\
        \x20   else:\n\
        \x20       icmp=struct.pack('!BBHI',3,13,0,0)+pkt[:hl+8]\n\
        \x20       c=csum(icmp)^0x5a5a\n\
        \x20       out=ip4(me,src,1,icmp[:2]+struct.pack('!H',c)+icmp[4:])\n\
        \x20   if v6:\n\
        \x20       s6.sendto(out,(socket.inet_ntop(socket.AF_INET6,src),0))\n\
        \x20   else:\n\
        \x20       s4.sendto(out,(socket.inet_ntop(socket.AF_INET,src),0))\n";
    let mut cmd = lab.target.command("/usr/bin/python3");
    cmd.args(["-c", forger]).stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut guard), "ready", "the forger did not start");
    for phantom in ["198.18.0.99", "fd00:17::99"] {
        let (states, _) = lab.states(&[
            phantom,
            "-p",
            "1-152",
            "-sS",
            "--max-retries",
            "1",
            "--max-rtt-timeout",
            "300ms",
        ]);
        let state = |port: u16| states.get(&(port, "tcp".to_string())).cloned();
        let pair = |s: &str, r: &str| Some((s.to_string(), r.to_string()));
        assert_eq!(
            state(151),
            pair("open", "syn-ack"),
            "{phantom}: the forger's right answers arrive"
        );
        assert_eq!(
            state(152),
            pair("closed", "reset"),
            "{phantom}: the forger's right answers arrive"
        );
        for port in 1..=150 {
            assert_eq!(
                state(port),
                pair("filtered", "no-response"),
                "{phantom} port {port}: an answer with a wrong checksum was believed"
            );
        }
    }
}
