//! `portscope explain` end to end: real sockets held by real processes that this test starts, on
//! the host loopback (sockets the test itself opened) or inside its own network namespace.

use crate::support;

use std::net::{TcpListener, UdpSocket};

use serde_json::Value;
use support::{
    Guard, Netns, first_line, portscope, portscope_in, python, python_listener, run, skip_without_root,
    veth_pair,
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

/// True when `text` names a PID only by number: no placeholder such as `--pid PID` or `PID N`.
fn every_pid_is_a_number(text: &str) -> bool {
    text.match_indices("PID").all(|(i, _)| {
        text[i + 3..]
            .strip_prefix(' ')
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Waits up to `seconds` for a child's first stdout line, so that a stuck helper fails the test
/// instead of hanging it.
fn first_line_within(guard: &mut Guard, seconds: u64) -> String {
    let stdout = guard.0.stdout.take().expect("child stdout is piped");
    support::line_channel(stdout)
        .recv_timeout(std::time::Duration::from_secs(seconds))
        .unwrap_or_else(|e| panic!("no line from the child within {seconds}s: {e}"))
}

#[test]
fn a_busy_port_is_summarised_in_a_few_lines() {
    if skip_without_root("a_busy_port_is_summarised_in_a_few_lines") {
        return;
    }
    // A server on 7301 that keeps the first 300 connections and closes every later one first, so
    // that the later ones end in TIME-WAIT on its side (local port 7301, no process left).
    let ns = Netns::new("exb");
    let server = "import socket,time\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_STREAM)\n\
        s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
        s.bind(('127.0.0.1',7301));s.listen(1024);s.settimeout(1)\n\
        print('up',flush=True)\n\
        held=[];end=time.time()+120\n\
        while time.time()<end:\n\
        \x20   try:\n\
        \x20       c,_=s.accept()\n\
        \x20   except OSError:\n\
        \x20       continue\n\
        \x20   if len(held)<300: held.append(c)\n\
        \x20   else: c.close()\n";
    let mut server = python(Some(&ns), server);
    assert_eq!(first_line_within(&mut server, 20), "up");
    // A client holding 300 connections open, then 3000 short ones (bounded to 30 s).
    let client = "import socket,time\n\
        held=[socket.create_connection(('127.0.0.1',7301)) for _ in range(300)]\n\
        end=time.time()+30\n\
        for _ in range(3000):\n\
        \x20   if time.time()>end: break\n\
        \x20   c=socket.create_connection(('127.0.0.1',7301));c.settimeout(5)\n\
        \x20   try: c.recv(1)\n\
        \x20   except OSError: pass\n\
        \x20   c.close()\n\
        print('ready',flush=True)\n\
        time.sleep(120)\n";
    let mut client = python(Some(&ns), client);
    assert_eq!(first_line_within(&mut client, 60), "ready");

    let out = run(portscope_in(&ns).args(["explain", "7301", "--json"]));
    let value = support::json_ok(&out);
    let sockets = value["sockets"].as_array().expect("sockets");
    let time_wait = sockets.iter().filter(|s| s["state"] == "TIME_WAIT").count();
    assert!(time_wait >= 2500, "{time_wait} TIME-WAIT sockets");
    assert!(sockets.len() >= time_wait + 301, "--json keeps every socket");
    // The client's 300 held connections. Under load one short connection may still be closing on
    // the client's side (LAST-ACK, or TIME-WAIT after a timed-out read): that one is not held.
    let outgoing = value["outgoing_sockets"].as_array().expect("outgoing_sockets");
    let established = outgoing.iter().filter(|s| s["state"] == "ESTABLISHED").count();
    assert_eq!(established, 300, "{} outgoing sockets", outgoing.len());
    assert!(outgoing.len() <= 303, "{} outgoing sockets", outgoing.len());
    let summary = &value["summary"];
    assert_eq!(summary["listeners"], 1, "{summary}");
    assert_eq!(summary["connections"][0]["pid"], server.pid(), "{summary}");
    assert_eq!(summary["connections"][0]["count"], 300, "{summary}");
    assert_eq!(summary["connections"][1]["no_process"], "finishing", "{summary}");
    assert_eq!(summary["outgoing"][0]["pid"], client.pid(), "{summary}");
    let holders: Vec<u64> = summary["holders"]
        .as_array()
        .expect("holders")
        .iter()
        .filter_map(|h| h["pid"].as_u64())
        .collect();
    assert_eq!(holders, [u64::from(server.pid()), u64::from(client.pid())]);

    let out = run(portscope_in(&ns).args(["explain", "7301"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().count() <= 40,
        "{} lines:\n{text}",
        text.lines().count()
    );
    assert!(text.contains("tcp 127.0.0.1:7301 LISTEN"), "{text}");
    assert!(
        text.contains(&format!("held by PID {} python3", server.pid())),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "300 connections from 127.0.0.1 (ESTAB 300), held by PID {}",
            server.pid()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{time_wait} TIME-WAIT from 127.0.0.1 with no process (the kernel is finishing them)"
        )) || text.contains("TIME-WAIT") && text.contains("with no process"),
        "{text}"
    );
    assert!(
        text.contains("300 connections to 127.0.0.1:7301 (ESTAB 300)"),
        "{text}"
    );
    assert!(
        text.contains(&format!("held by PID {} python3", client.pid())),
        "{text}"
    );
    assert!(text.contains("verdict: "), "{text}");
    assert!(
        text.contains(&format!("to stop it: portscope close --pid {}", server.pid())),
        "{text}"
    );
    assert!(text.contains("portscope close 7301 --remote"), "{text}");
    assert!(every_pid_is_a_number(&text), "a PID placeholder: {text}");
}

/// A copy of python3 under /dev/shm, removed on drop.
struct ShmCopy(std::path::PathBuf);

impl ShmCopy {
    fn new() -> ShmCopy {
        let path = std::path::PathBuf::from(format!("/dev/shm/ps-explain-{}-python3", std::process::id()));
        std::fs::copy("/usr/bin/python3", &path).expect("copy python3 to /dev/shm");
        ShmCopy(path)
    }
}

impl Drop for ShmCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn an_alert_holder_gets_its_verdict_and_a_close_command_that_works() {
    if skip_without_root("an_alert_holder_gets_its_verdict_and_a_close_command_that_works") {
        return;
    }
    let ns = Netns::new("exa");
    let copy = ShmCopy::new();
    let script = "import socket,time\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_STREAM)\n\
        s.bind(('0.0.0.0',7302));s.listen(8)\n\
        print('up',flush=True)\ntime.sleep(120)\n";
    let mut cmd = ns.command(copy.0.to_str().expect("UTF-8 path"));
    cmd.args(["-c", script]).stdout(std::process::Stdio::piped());
    let mut listener = Guard::spawn(&mut cmd);
    assert_eq!(first_line_within(&mut listener, 20), "up");
    let pid = listener.pid();

    // From the host's namespace, looking into the test's: the line says where the socket is.
    let out = run(portscope().args(["--netns", &ns.name, "explain", "7302"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "tcp 0.0.0.0:7302 LISTEN in network namespace {}",
            ns.name
        )),
        "{text}"
    );
    assert!(text.contains(&format!("held by PID {pid} ")), "{text}");
    assert!(text.contains("verdict: ALERT \u{2014} "), "{text}");
    assert!(text.contains("/dev/shm"), "{text}");
    assert!(every_pid_is_a_number(&text), "a PID placeholder: {text}");
    let stop = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("to stop it: "))
        .expect("a stop command");
    assert_eq!(stop, format!("portscope close --pid {pid}"), "{text}");

    let out = run(portscope().args(["--netns", &ns.name, "explain", "7302", "--json"]));
    let value = support::json_ok(&out);
    let holder = &value["summary"]["holders"][0];
    assert_eq!(holder["pid"], pid, "{value}");
    assert_eq!(holder["verdict"], "alert", "{value}");
    assert_eq!(holder["stop"], stop, "{value}");

    // The command runs as printed (plus --yes, as a script would) and stops the listener.
    let mut words = stop.split(' ');
    assert_eq!(words.next(), Some("portscope"));
    let out = run(portscope().args(words).arg("--yes"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        support::wait_until(10.0, || matches!(listener.0.try_wait(), Ok(Some(_)))),
        "the listener still runs after `{stop} --yes`"
    );
}

#[test]
fn a_malware_family_answers_with_its_ports_and_sources() {
    let (code, text, stderr) = explain(&["NetBus"]);
    assert_eq!(code, 0, "{stderr}");
    for want in [
        "12345/tcp",
        "12346/tcp",
        "source: https://",
        "portscope explain 12345",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    let (code, json, stderr) = explain(&["back orifice", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&json).expect("JSON");
    let rows = answer["abuse"].as_array().expect("abuse rows");
    assert!(rows.iter().any(|r| r["port"] == 31337), "{json}");
    // A kind works too.
    let (code, text, stderr) = explain(&["trojan"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("31337") && text.contains("27374"), "{text}");
}

#[test]
fn common_usage_first_and_the_registry_name_marked() {
    let (code, text, stderr) = explain(&["8000"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(text.contains("Usage: http-alt"), "{text}");
    assert!(text.contains("irdmi") && text.contains("registry name"), "{text}");
}

/// The knowledge part of `explain 31337`, text and JSON, as recorded for the Windows build to
/// match (tests/windows.rs).
#[test]
fn explain_31337_knowledge_is_the_answer_recorded_for_windows() {
    use crate::recorded;
    let text = support::run(
        support::portscope()
            .args(["explain", "31337"])
            .env_remove("PORTSCOPE_SERVICES"),
    );
    assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
    assert_eq!(
        recorded::knowledge_text(&String::from_utf8_lossy(&text.stdout)),
        recorded::EXPLAIN_31337_TEXT,
        "regenerate crates/portscope/tests/recorded/explain-31337.txt from `portscope explain 31337` (Range: to the caveat)"
    );
    let json = support::json_ok(&support::run(
        support::portscope()
            .args(["explain", "31337", "--json"])
            .env_remove("PORTSCOPE_SERVICES"),
    ));
    let want: serde_json::Value = serde_json::from_str(recorded::EXPLAIN_31337_JSON).unwrap();
    assert_eq!(recorded::knowledge_json(&json), want);
}
