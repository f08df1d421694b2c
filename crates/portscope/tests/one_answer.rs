//! One answer everywhere (issue 22): the wrong answers that came from each command assembling its
//! own pipeline, reproduced live in namespaces the tests make. Each test names the case it covers.
//! portscope runs host-wide here where the case needs it (a namespace only a socket keeps is found
//! only from a look at every namespace), and the assertions select the tests' own pids and ports.

use crate::support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{
    Cgroup, Guard, Netns, cgroup2_mount, first_line, json_ok, portscope, portscope_in, run, skip_without_root,
};

const PYTHON: &str = "/usr/bin/python3";

fn listener_script(port: u16) -> String {
    format!(
        "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',{port}));s.listen(8)\n\
         print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n"
    )
}

/// (namespace inode, port, pid) of every listener the tests' `pids` hold in a `list --json` output.
fn listeners_of(out: &Value, pids: &[u32]) -> BTreeSet<(u64, u64, u64)> {
    out.as_array()
        .expect("a JSON array")
        .iter()
        .filter(|e| e["state"] == "LISTEN")
        .flat_map(|e| {
            e["holders"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|h| h["pid"].as_u64())
                .filter(|pid| pids.iter().any(|p| u64::from(*p) == *pid))
                .map(|pid| {
                    (
                        e["netns"]["inode"].as_u64().unwrap_or(0),
                        e["local"]["port"].as_u64().unwrap_or(0),
                        pid,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Case 1: `list -l` missed the listener of a namespace only a socket keeps (the cross-view ran
/// only when every state was asked for). Three kinds of namespace, one listener each: an
/// `ip netns` one, an `unshare -n` one, and one a process made, bound in and left.
#[test]
fn list_l_and_list_show_the_same_listeners_in_every_kind_of_namespace() {
    if skip_without_root("list_l_and_list_show_the_same_listeners") {
        return;
    }
    let named = Netns::new("one1");
    let mut in_named = Guard::spawn(
        named
            .command(PYTHON)
            .args(["-c", &listener_script(0)])
            .stdout(Stdio::piped()),
    );
    let named_port = first_line(&mut in_named);

    let mut anonymous = Guard::spawn(
        Command::new("unshare")
            .args(["-n", PYTHON, "-c", &listener_script(0)])
            .stdout(Stdio::piped()),
    );
    let anonymous_port = first_line(&mut anonymous);

    let kept = Netns::new("one1k");
    let script = format!(
        "import ctypes,os,socket,time\n\
         libc=ctypes.CDLL(None,use_errno=True)\n\
         home=os.open('/proc/self/ns/net',os.O_RDONLY)\n\
         there=os.open('/run/netns/{name}',os.O_RDONLY)\n\
         assert libc.setns(there,0x40000000)==0\n\
         s=socket.socket();s.bind(('0.0.0.0',0));s.listen(4)\n\
         assert libc.setns(home,0x40000000)==0\n\
         os.close(there)\n\
         print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n",
        name = kept.name
    );
    let mut socket_only = Guard::spawn(Command::new(PYTHON).args(["-c", &script]).stdout(Stdio::piped()));
    let socket_only_port = first_line(&mut socket_only);
    drop(kept); // the namespace now lives only through the socket

    let pids = [in_named.pid(), anonymous.pid(), socket_only.pid()];
    let every = listeners_of(&json_ok(&run(portscope().args(["list", "--json"]))), &pids);
    let listening = listeners_of(&json_ok(&run(portscope().args(["list", "-l", "--json"]))), &pids);
    let ports: BTreeSet<u64> = every.iter().map(|(_, port, _)| *port).collect();
    for port in [&named_port, &anonymous_port, &socket_only_port] {
        assert!(
            ports.contains(&port.parse::<u64>().unwrap()),
            "port {port} in `list`: {every:?}"
        );
    }
    assert_eq!(listening, every, "`list -l` and `list` list the same listeners");

    // The table too.
    let table = String::from_utf8(run(portscope().args(["list", "-l"]).env("NO_COLOR", "1")).stdout).unwrap();
    for port in [&named_port, &anonymous_port, &socket_only_port] {
        assert!(table.contains(&format!(":{port} ")), "{port}: {table}");
    }
}

/// Case 9: a running `portscope scan -sS` holds raw and packet sockets; its executable is
/// portscope's own, so it is no finding. A copy of the binary under /tmp is another file and is
/// judged like any program: identity is the file, not the name.
#[test]
fn portscope_itself_is_no_finding_but_a_copy_of_it_is_judged() {
    if skip_without_root("portscope_itself_is_no_finding") {
        return;
    }
    let ns = Netns::new("one9");
    let scan = |program: &Path| {
        let mut cmd = ns.command(program.to_str().unwrap());
        cmd.args(["scan", "-sS", "127.0.0.1", "-p", "1-65535", "--rate", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Guard::spawn(&mut cmd)
    };
    let own = scan(Path::new(env!("CARGO_BIN_EXE_portscope")));
    let dir = tempfile::Builder::new()
        .prefix("ps-one9-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let copy: PathBuf = dir.path().join("portscope");
    std::fs::copy(env!("CARGO_BIN_EXE_portscope"), &copy).expect("copy the binary");
    let copied = scan(&copy);
    // Both hold their raw sockets once the scan starts.
    let holds_raw = |pid: u32| {
        let out = run(portscope().args(["list", "-A", "--json", "--pid", &pid.to_string()]));
        json_ok(&out).as_array().is_some_and(|a| {
            a.iter()
                .any(|e| e["protocol"] == "raw" || e["protocol"] == "packet")
        })
    };
    assert!(
        support::wait_until(10.0, || holds_raw(own.pid()) && holds_raw(copied.pid())),
        "both scans hold raw sockets"
    );
    // Exit 1 when something else on the machine is an alert: only the JSON matters here.
    let out = run(portscope().args(["audit", "--json"]));
    let report: Value = serde_json::from_slice(&out.stdout).expect("audit's JSON");
    let about = |pid: u32| -> Vec<String> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["process"]["pid"].as_u64() == Some(u64::from(pid)))
            .map(|f| f["check"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(about(own.pid()), Vec::<String>::new(), "portscope is no finding");
    assert!(
        !about(copied.pid()).is_empty(),
        "a copy in /tmp is judged: {report}"
    );
    drop(own);
    drop(copied);
}

/// Case 7: audit and close printed different "stop this" commands for the same container, and
/// `list --json` carried no verdicts. A listener run from a copy of python3 in /dev/shm, inside a
/// cgroup laid out as Docker's (`docker/<64 hex>`): audit's close list, its next step, close's
/// plan, list's JSON and explain all name the one command, `docker stop ID`.
#[test]
fn every_command_suggests_the_same_stop_command_for_a_container() {
    if skip_without_root("every_command_suggests_the_same_stop_command") {
        return;
    }
    let Some(mount) = cgroup2_mount() else {
        eprintln!("skipping every_command_suggests_the_same_stop_command: no cgroup2 mount");
        return;
    };
    let id = format!("{:064x}", u128::from(std::process::id()) * 0x9e37_79b9_7f4a_7c15);
    // The cgroupfs driver's layout, /docker/<id>; the test's own id, removed on drop.
    let dir = mount.join("docker").join(&id);
    if let Err(err) = std::fs::create_dir_all(&dir) {
        eprintln!("skipping every_command_suggests_the_same_stop_command: cannot create a cgroup: {err}");
        return;
    }
    let _cgroup = Cgroup(dir.clone());

    let ns = Netns::new("one7");
    // A file right in /dev/shm (a private directory under it is only a warning).
    let shm = tempfile::Builder::new()
        .prefix("ps-one7-")
        .tempfile_in("/dev/shm")
        .expect("a file in /dev/shm");
    let exe = shm.path().to_path_buf();
    std::fs::copy(PYTHON, &exe).expect("copy python3");
    std::fs::set_permissions(&exe, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let shm = shm.into_temp_path();
    let mut child = Guard::spawn(
        ns.command(exe.to_str().unwrap())
            .args(["-c", &listener_script(0)])
            .stdout(Stdio::piped()),
    );
    let port = first_line(&mut child);
    if let Err(err) = std::fs::write(dir.join("cgroup.procs"), child.pid().to_string()) {
        eprintln!(
            "skipping every_command_suggests_the_same_stop_command: cannot move into the cgroup: {err}"
        );
        return;
    }
    let stop = format!("docker stop {id}");

    let audit = run(portscope_in(&ns).args(["audit"]));
    let text = String::from_utf8_lossy(&audit.stdout);
    assert!(
        text.contains(&format!("  {stop}    #")),
        "audit's close list: {text}"
    );
    // An alert: audit exits 1.
    let report: Value = serde_json::from_slice(&run(portscope_in(&ns).args(["audit", "--json"])).stdout)
        .expect("audit's JSON");
    let finding = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["process"]["pid"].as_u64() == Some(u64::from(child.pid())) && f["severity"] == "alert")
        .unwrap_or_else(|| panic!("an alert about {}: {report}", child.pid()));
    assert!(
        finding["next_step"].as_str().unwrap().ends_with(&stop),
        "{finding}"
    );

    let plan = json_ok(&run(portscope_in(&ns).args([
        "close",
        &port,
        "--dry-run",
        "--json",
    ])));
    assert_eq!(plan["plan"]["targets"][0]["advice"], stop.as_str(), "{plan}");

    let list = json_ok(&run(portscope_in(&ns).args(["list", "-l", "--json", "-p", &port])));
    let entry = &list[0];
    assert_eq!(
        entry["verdict"], "alert",
        "list --json carries the table's verdict: {entry}"
    );
    assert!(
        entry["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["close"] == stop.as_str()),
        "{entry}"
    );
    // The table shows the same verdict.
    let table = String::from_utf8(run(portscope_in(&ns).args(["list", "-l"])).stdout).unwrap();
    let row = table
        .lines()
        .find(|l| l.contains(&format!(":{port} ")))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(row.starts_with("ALERT"), "{row}");
    // explain leads the holder with the same verdict and names the same command.
    let text = String::from_utf8(run(portscope_in(&ns).args(["explain", &port])).stdout).unwrap();
    assert!(text.contains("verdict: ALERT"), "{text}");
    assert!(text.contains(&format!("to stop it: {stop}")), "{text}");
    drop(child);
    drop(shm);
}

/// Case 8: the default `list -l` ran the whole audit again, reading every process a second time
/// (579 files opened against 134 for `--json`). Now both render one inspection: the table opens
/// no more files than the JSON (counted with strace, with slack for processes that come and go
/// while other tests run).
#[test]
fn the_table_opens_no_more_files_than_the_json() {
    if skip_without_root("the_table_opens_no_more_files_than_the_json") {
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("skipping the_table_opens_no_more_files_than_the_json: no strace");
        return;
    }
    let ns = Netns::new("one8");
    let _listener = Guard::spawn(
        ns.command(PYTHON)
            .args(["-c", &listener_script(0)])
            .stdout(Stdio::piped()),
    );
    let opened = |args: &[&str]| -> usize {
        let log = tempfile::NamedTempFile::new().expect("temp file");
        let mut cmd = ns.command("strace");
        cmd.args(["-f", "-qq", "-e", "trace=open,openat,openat2", "-o"])
            .arg(log.path())
            .arg(env!("CARGO_BIN_EXE_portscope"))
            .args(args)
            .env("NO_COLOR", "1")
            // cargo's library path makes the loader try a dozen directories per library.
            .env_remove("LD_LIBRARY_PATH");
        let out = run(&mut cmd);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read_to_string(log.path()).unwrap().lines().count()
    };
    // Other tests start and end processes meanwhile (each one more /proc entry to read): each
    // round runs the two back to back, and the closest round counts.
    let rounds: Vec<(usize, usize)> = (0..4)
        .map(|_| (opened(&["list", "-l", "--json"]), opened(&["list", "-l"])))
        .collect();
    assert!(
        rounds.iter().any(|&(json, table)| table <= json + json / 10 + 20),
        "files opened (JSON, table) per round: {rounds:?}"
    );
}

/// Case 4: when every row came from one namespace the NETNS column vanished, so a container's
/// listener read as the host's. From the host, `list -p PORT` for a listener in an `ip netns`
/// namespace names that namespace on its row.
#[test]
fn a_row_outside_portscopes_namespace_says_where_it_is() {
    if skip_without_root("a_row_outside_portscopes_namespace_says_where_it_is") {
        return;
    }
    let ns = Netns::new("one4");
    let mut listener = Guard::spawn(
        ns.command(PYTHON)
            .args(["-c", &listener_script(0)])
            .stdout(Stdio::piped()),
    );
    let port = first_line(&mut listener);
    let pid = listener.pid().to_string();
    for args in [&["list", "-p", &port][..], &["list", "-l", "--pid", &pid]] {
        let out = run(portscope().args(args).env("NO_COLOR", "1"));
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(
            table.lines().next().unwrap_or_default().contains("NETNS"),
            "{table}"
        );
        let row = table
            .lines()
            .find(|l| l.contains(&format!("{pid}/")))
            .unwrap_or_else(|| panic!("{args:?}: {table}"));
        assert!(row.contains(&ns.name), "{row}");
    }
}

/// Case 7: the summary read "5921 connections held by 6 programs" when most were ownerless
/// TIME-WAIT. Now it says how many no process holds.
#[test]
fn the_summary_counts_closing_connections_apart() {
    if skip_without_root("the_summary_counts_closing_connections_apart") {
        return;
    }
    let ns = Netns::new("one7c");
    // 50 connections the client closes first (its side waits in TIME-WAIT), one kept open.
    let script = "import socket,time\n\
                  s=socket.socket();s.bind(('127.0.0.1',0));s.listen(64)\n\
                  for _ in range(50):\n    c=socket.create_connection(s.getsockname());a,_=s.accept();c.close();a.close()\n\
                  k=socket.create_connection(s.getsockname());b,_=s.accept()\n\
                  print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n";
    let mut guard = Guard::spawn(ns.command(PYTHON).args(["-c", script]).stdout(Stdio::piped()));
    let _port = first_line(&mut guard);
    let out = run(portscope_in(&ns).args(["list"]));
    let text = String::from_utf8(out.stdout).unwrap();
    let summary = text
        .lines()
        .find(|l| l.contains(" listening, "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        summary.starts_with("1 listening, 52 connections: 2 held by 1 program"),
        "{summary}"
    );
    assert!(summary.contains("50 closing with no process"), "{summary}");
}
