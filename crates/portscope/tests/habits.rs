//! What people type from ss, netstat and lsof habits, and the output formats they reuse: each
//! habit must give the same rows as portscope's own spelling. Every test stages its sockets in a
//! network namespace of its own (listeners, an established connection, a TIME-WAIT), so the rows
//! compared are exactly the test's.

use crate::support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use support::{Guard, Netns, portscope_in, run, skip_without_root, wait_until};

/// Debian's python3: the staging scripts and the CSV reader must not depend on a user's PATH.
const PYTHON: &str = "/usr/bin/python3";

/// Stages, inside `ns`: a TCP listener on 127.0.0.1:8443 with one established connection to it,
/// a UDP socket bound to 0.0.0.0:5353, and a TIME-WAIT on 127.0.0.1:8444 (the client closed
/// first). Prints "ready" once all are in place.
fn stage(ns: &Netns) -> Guard {
    let script = "import socket,time\n\
        s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
        s.bind(('127.0.0.1',8443));s.listen(8)\n\
        c=socket.create_connection(('127.0.0.1',8443));a,_=s.accept()\n\
        u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);u.bind(('0.0.0.0',5353))\n\
        t=socket.socket();t.bind(('127.0.0.1',8444));t.listen(1)\n\
        d=socket.create_connection(('127.0.0.1',8444));e,_=t.accept();d.close();time.sleep(0.2);e.close()\n\
        print('ready',flush=True)\ntime.sleep(120)\n";
    let mut cmd = ns.command(PYTHON);
    cmd.args(["-c", script]).stdout(std::process::Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(support::first_line(&mut guard), "ready");
    guard
}

/// `portscope list ARGS --json` inside `ns`, as the set of rows it names.
fn rows(ns: &Netns, args: &[&str]) -> BTreeSet<String> {
    let out = run(portscope_in(ns).arg("list").args(args).arg("--json"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "list {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: Vec<Value> = serde_json::from_slice(&out.stdout).expect("list --json");
    entries.iter().map(row_key).collect()
}

fn row_key(e: &Value) -> String {
    format!(
        "{} {} {}:{} {}:{} {}",
        e["protocol"].as_str().unwrap_or("?"),
        e["state"],
        e["local"]["address"].as_str().unwrap_or("?"),
        e["local"]["port"],
        e["remote"]["address"].as_str().unwrap_or("?"),
        e["remote"]["port"],
        e["inode"],
    )
}

fn staged(tag: &str) -> Option<(Netns, Guard)> {
    if skip_without_root(tag) {
        return None;
    }
    let ns = Netns::new(tag);
    let guard = stage(&ns);
    Some((ns, guard))
}

#[test]
fn ss_flag_bundles_give_the_same_rows_as_the_long_flags() {
    let Some((ns, _staged)) = staged("habits") else {
        return;
    };
    for (bundle, long) in [
        (
            &["-tulpn"][..],
            &["--tcp", "--udp", "--listening", "--numeric"][..],
        ),
        (&["-tlnp"], &["--tcp", "--listening", "--numeric"]),
        (&["-antp"], &["--all", "--numeric", "--tcp"]),
        (&["-lntu"], &["--listening", "--numeric", "--tcp", "--udp"]),
        (
            &["-tulpn", "-4"],
            &["--tcp", "--udp", "--listening", "--numeric", "--ipv4"],
        ),
        (&["-pn", "-6"], &["--numeric", "--ipv6"]),
        (&["-anp"], &["--all", "--numeric"]),
    ] {
        let want = rows(&ns, long);
        assert_eq!(rows(&ns, bundle), want, "{bundle:?} vs {long:?}");
    }
    // The bundles saw something: the staged listener and UDP socket, not two empty lists.
    let listening = rows(&ns, &["-tulpn"]);
    assert!(
        listening.iter().any(|r| r.contains(":8443 ")) && listening.iter().any(|r| r.contains(":5353 ")),
        "{listening:?}"
    );
    // `-p PORT` keeps its meaning, alone and at the end of a bundle.
    let by_port = rows(&ns, &["--port", "5353"]);
    assert_eq!(by_port.len(), 1, "{by_port:?}");
    assert_eq!(rows(&ns, &["-p", "5353"]), by_port);
    assert_eq!(rows(&ns, &["-up", "5353"]), by_port);
    assert_eq!(rows(&ns, &["-p5353"]), by_port);
    assert_eq!(rows(&ns, &["-p", "8443"]), rows(&ns, &["--port", "8443"]));
}

#[test]
fn lsof_dash_i_gives_the_portscope_rows() {
    let Some((ns, _staged)) = staged("habitsi") else {
        return;
    };
    let by_port = rows(&ns, &["--port", "8443"]);
    assert_eq!(
        by_port.len(),
        3,
        "listener and both ends of the connection: {by_port:?}"
    );
    assert_eq!(rows(&ns, &["-i", ":8443"]), by_port);
    assert_eq!(rows(&ns, &["-i:8443"]), by_port);
    assert_eq!(rows(&ns, &[":8443"]), by_port);
    assert_eq!(
        rows(&ns, &["-i", "TCP:8443"]),
        rows(&ns, &["--tcp", "--port", "8443"])
    );
    assert_eq!(rows(&ns, &["-i", "udp"]), rows(&ns, &["--udp"]));
    assert_eq!(rows(&ns, &["-i", "4tcp"]), rows(&ns, &["--ipv4", "--tcp"]));
    // What portscope cannot take from lsof is answered with its own spelling, exit 2.
    let out = run(portscope_in(&ns).args(["list", "-i", "@198.18.0.1:80"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("portscope: ") && stderr.contains("--port"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Every state name and group ss(8) documents, and the spellings ss's parser also takes.
const SS_STATES: &[&str] = &[
    "established",
    "syn-sent",
    "syn-recv",
    "fin-wait-1",
    "fin-wait-2",
    "time-wait",
    "closed",
    "close-wait",
    "last-ack",
    "listening",
    "closing",
    "all",
    "connected",
    "synchronized",
    "bucket",
    "big",
    "close",
    "unconnected",
    "syn-rcv",
    "listen",
];

#[test]
fn ss_state_names_filter_like_ss() {
    let Some((ns, _staged)) = staged("habitss") else {
        return;
    };
    for name in SS_STATES {
        let out = run(portscope_in(&ns).args(["list", "--json", "--state", name]));
        assert_eq!(
            out.status.code(),
            Some(0),
            "--state {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // The client closed first: its end of the 8444 connection waits in TIME-WAIT.
    assert!(
        wait_until(5.0, || !rows(&ns, &["--state", "time-wait"]).is_empty()),
        "no TIME-WAIT"
    );
    let time_wait = rows(&ns, &["--state", "time-wait"]);
    assert!(
        time_wait
            .iter()
            .all(|r| r.contains("\"TIME_WAIT\"") && r.contains(":8444")),
        "{time_wait:?}"
    );
    let established = rows(&ns, &["--state", "established"]);
    assert_eq!(established.len(), 2, "{established:?}");
    assert!(
        established.iter().all(|r| r.contains("\"ESTABLISHED\"")),
        "{established:?}"
    );
    // ss's groups: `connected` is everything but listening and closed, `bucket` the minisockets.
    let connected = rows(&ns, &["--state", "connected"]);
    assert_eq!(connected, &established | &time_wait);
    assert_eq!(rows(&ns, &["--state", "bucket"]), time_wait);
    // Repeated, the states add up, as `ss state A state B` does.
    assert_eq!(
        rows(&ns, &["--state", "established", "--state", "time-wait"]),
        connected
    );
    let listening = rows(&ns, &["--state", "listening"]);
    assert!(
        listening.iter().all(|r| r.contains("\"LISTEN\"")),
        "{listening:?}"
    );
    assert_eq!(listening.len(), 2, "{listening:?}");
    // A name ss does not know: one line, exit 2, the names it takes.
    let out = run(portscope_in(&ns).args(["list", "--state", "half-open"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("time-wait") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn csv_opens_in_pythons_csv_module_with_the_json_rows() {
    let Some((ns, _staged)) = staged("habitscsv") else {
        return;
    };
    let json = run(portscope_in(&ns).args(["list", "--json"]));
    let entries: Vec<Value> = serde_json::from_slice(&json.stdout).expect("list --json");
    assert!(entries.len() >= 5, "{entries:?}");
    let csv = run(portscope_in(&ns).args(["list", "--format", "csv"]));
    assert_eq!(
        csv.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    // Python's csv module reads it back; each row is printed as JSON for the comparison.
    let reader = "import csv,json,sys\nfor r in csv.DictReader(sys.stdin): print(json.dumps(r))\n";
    let mut python = Command::new(PYTHON)
        .args(["-c", reader])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        python.stdin.take().unwrap().write_all(&csv.stdout).unwrap();
    }
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&csv.stdout));
    let parsed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let from_json: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            format!(
                "{} {} {}:{} {}",
                e["protocol"].as_str().unwrap(),
                e["state"].as_str().unwrap(),
                e["local"]["address"].as_str().unwrap(),
                e["local"]["port"],
                e["inode"]
            )
        })
        .collect();
    let from_csv: BTreeSet<String> = parsed
        .iter()
        .map(|r| {
            format!(
                "{} {} {}:{} {}",
                r["proto"].as_str().unwrap(),
                r["state"].as_str().unwrap(),
                r["local_address"].as_str().unwrap(),
                r["local_port"].as_str().unwrap(),
                r["inode"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(parsed.len(), entries.len());
    assert_eq!(from_csv, from_json);
    // The pid column names the holder JSON names.
    for e in &entries {
        let pid = e["holders"][0]["pid"]
            .as_u64()
            .map(|p| p.to_string())
            .unwrap_or_default();
        let inode = e["inode"].to_string();
        let row = parsed
            .iter()
            .find(|r| r["inode"] == inode.as_str())
            .expect("row per inode");
        assert_eq!(row["pid"].as_str().unwrap(), pid, "{row}");
    }
    // --no-header drops the header line and nothing else.
    let bare = run(portscope_in(&ns).args(["list", "--format", "csv", "--no-header"]));
    assert_eq!(
        String::from_utf8_lossy(&bare.stdout).lines().count(),
        String::from_utf8_lossy(&csv.stdout).lines().count() - 1
    );
    // In a table, too: the rows without the VERDICT/PROTO header line, as `ss -H` prints them.
    let table = run(portscope_in(&ns).args(["list", "--all"]));
    let headless = run(portscope_in(&ns).args(["list", "--all", "--no-header"]));
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let headless = String::from_utf8_lossy(&headless.stdout).into_owned();
    assert!(table.starts_with("VERDICT"), "{table}");
    assert_eq!(
        headless.lines().collect::<Vec<_>>(),
        table.lines().skip(1).collect::<Vec<_>>()
    );
}

#[test]
fn summary_counts_the_listed_rows_and_sort_orders_them() {
    let Some((ns, _staged)) = staged("habitsum") else {
        return;
    };
    let json = |args: &[&str]| -> Vec<Value> {
        let out = run(portscope_in(&ns).arg("list").args(args).arg("--json"));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    };
    let entries = json(&[]);
    let counts = json(&["--summary"]);
    let total: u64 = counts.iter().map(|c| c["sockets"].as_u64().unwrap()).sum();
    assert_eq!(total as usize, entries.len(), "{counts:?}");
    let listen = counts
        .iter()
        .find(|c| c["protocol"] == "tcp" && c["state"] == "LISTEN")
        .expect("a tcp LISTEN count");
    assert_eq!(listen["sockets"], 2, "{counts:?}");
    // `-s` as in `ss -s`, also inside a bundle; the table ends with the totals.
    let table = run(portscope_in(&ns).args(["list", "-ts"]));
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("PROTO") && table.contains("Total: "), "{table}");
    // --sort: by local port, then by state; every format sees the same order.
    let sorted = json(&["--sort", "port,state"]);
    let ports: Vec<u64> = sorted
        .iter()
        .map(|e| e["local"]["port"].as_u64().unwrap())
        .collect();
    let mut expected = ports.clone();
    expected.sort();
    assert_eq!(ports, expected);
    assert_eq!(sorted.len(), entries.len());
    let out = run(portscope_in(&ns).args(["list", "--sort", "colour"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("recv-q") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn columns_pick_and_order_what_is_shown() {
    let Some((ns, _staged)) = staged("habitcol") else {
        return;
    };
    let list = |args: &[&str]| {
        let out = run(portscope_in(&ns).arg("list").args(args));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let csv = list(&[
        "--format",
        "csv",
        "--columns",
        "local_port,proto,pid",
        "--sort",
        "port",
    ]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("local_port,proto,pid"), "{csv}");
    let full = list(&["--format", "csv", "--sort", "port"]);
    let expected: Vec<String> = full
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            format!("{},{},{}", f[4], f[0], f[8])
        })
        .collect();
    assert_eq!(lines.map(str::to_string).collect::<Vec<_>>(), expected);
    // In a table the names are its headers, in any case; asking for columns shows every socket.
    let table = list(&["--columns", "state,LOCAL,proto", "-t"]);
    assert_eq!(
        table
            .lines()
            .next()
            .map(str::split_whitespace)
            .map(Iterator::collect::<Vec<_>>),
        Some(vec!["STATE", "LOCAL", "PROTO"]),
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("ESTAB")), "{table}");
    // JSON has every field: a column choice there would be silently ignored, so it is refused.
    for args in [
        &["--json", "--columns", "pid"][..],
        &["--format", "json-lines", "--no-header"],
    ] {
        let out = run(portscope_in(&ns).arg("list").args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let out = run(portscope_in(&ns).args(["list", "--columns", "colour"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("pid/program") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

#[test]
fn tree_puts_each_holder_under_its_parent() {
    if skip_without_root("tree_puts_each_holder_under_its_parent") {
        return;
    }
    let ns = Netns::new("habittree");
    // A shell whose child listens: the listener's row hangs under the shell.
    let listener = "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',8555));s.listen()\nprint('ready',flush=True)\ntime.sleep(120)\n";
    let script = format!("{PYTHON} -c \"{listener}\" & wait");
    let mut cmd = ns.command("/bin/sh");
    cmd.args(["-c", &script]).stdout(std::process::Stdio::piped());
    let mut shell = support::GroupGuard::spawn(&mut cmd);
    let stdout = shell.0.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    let out = run(portscope_in(&ns).args(["list", "--tree"]));
    let tree = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = tree.lines().collect();
    let shell_at = lines
        .iter()
        .position(|l| l.ends_with(&format!("{} sh", shell.pid())))
        .unwrap_or_else(|| panic!("no shell node:\n{tree}"));
    let python_at = lines
        .iter()
        .position(|l| l.contains("─ ") && l.contains(" python3"))
        .unwrap_or_else(|| panic!("no python3 node:\n{tree}"));
    assert_eq!(python_at, shell_at + 1, "{tree}");
    assert!(
        lines[python_at + 1].contains("tcp 127.0.0.1:8555 * LISTEN"),
        "{tree}"
    );
    // The shell's column of branches is deeper than its parent's.
    let depth = |l: &str| l.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
    assert!(depth(lines[python_at]) > depth(lines[shell_at]), "{tree}");
    let out = run(portscope_in(&ns).args(["list", "--tree", "--json"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_command_takes_one_format_flag() {
    let Some((ns, _staged)) = staged("habitfmt") else {
        return;
    };
    // --json stays an alias of --format json.
    let by_flag = run(portscope_in(&ns).args(["audit", "--json"]));
    let by_format = run(portscope_in(&ns).args(["audit", "--format", "json"]));
    let parse = |out: &std::process::Output| -> Value {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)))
    };
    assert_eq!(parse(&by_flag)["findings"], parse(&by_format)["findings"]);
    for command in ["lookup", "explain"] {
        let by_flag = parse(&run(portscope_in(&ns).args([command, "31337", "--json"])));
        let by_format = parse(&run(
            portscope_in(&ns).args([command, "31337", "--format", "json"])
        ));
        assert_eq!(by_flag["abuse"], by_format["abuse"], "{command}");
    }
    // A format a command does not print is one line and exit 2, naming the ones it does.
    for (command, prints) in [
        ("audit", "table or json"),
        ("close", "table or json"),
        ("history", "table or json"),
        ("watch", "table or json-lines"),
        ("lookup", "table or json"),
        ("explain", "table or json"),
        ("scan", "table or json or json-lines"),
    ] {
        // close's port is in the test's own empty namespace, scan's target an address in it; the
        // format is refused before any look or probe.
        let args: &[&str] = match command {
            "close" => &["close", "9", "--dry-run"],
            "lookup" | "explain" => &[command, "31337"],
            "scan" => &["scan", "198.18.0.1", "-p", "9"],
            _ => &[command],
        };
        let out = run(portscope_in(&ns).args(args).args(["--format", "csv"]));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command}: {stderr}");
        assert_eq!(
            stderr.trim(),
            format!("portscope: {command} prints {prints}, not csv"),
            "{command}"
        );
    }
}
