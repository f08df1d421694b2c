//! `watch --webhook` and `watch --syslog` against real receivers: an HTTP server (Debian's
//! python3 `http.server`) inside the test's own network namespace, reached on that namespace's
//! loopback, and a unix datagram socket this test binds. The server is also tried down at first
//! and slow; the watcher must print every event regardless.

use crate::support;
use crate::watch::Watch;

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use support::{Guard, Netns, first_line, skip_without_root};

/// An HTTP server on `address`:`port` in `ns` that answers every POST with 204 after `delay`
/// seconds (one request at a time) and appends `{"path", "token", "body"}` to `record`, one JSON
/// object per line, once the request is read.
fn hook_server(ns: &Netns, address: &str, port: u16, record: &Path, delay: f64) -> Guard {
    const SCRIPT: &str = r#"
import http.server, json, sys, time
address, port, record, delay = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        with open(record, 'a') as f:
            f.write(json.dumps({'path': self.path, 'token': self.headers.get('X-Token'),
                                'body': json.loads(body)}) + '\n')
        time.sleep(delay)
        self.send_response(204)
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer((address, port), Hook)
print(port, flush=True)
server.serve_forever()
"#;
    let mut cmd = ns.command("/usr/bin/python3");
    cmd.args(["-c", SCRIPT, address, &port.to_string()])
        .arg(record)
        .arg(delay.to_string())
        .stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(
        first_line(&mut guard),
        port.to_string(),
        "the hook server started"
    );
    guard
}

/// The requests the server recorded so far.
fn recorded(record: &Path) -> Vec<Value> {
    std::fs::read_to_string(record)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a recorded request"))
        .collect()
}

/// The recorded request bodies about `port`.
fn bodies_for(record: &Path, port: u64) -> Vec<Value> {
    recorded(record)
        .into_iter()
        .map(|r| r["body"].clone())
        .filter(|b| b["port"] == port)
        .collect()
}

/// A python3 that holds a TCP listener on each of `ports` (127.0.0.1) until killed, after naming
/// itself `comm` (prctl PR_SET_NAME: any process may call itself anything).
fn listeners(ns: &Netns, ports: &[u16], comm: &[u8]) -> Guard {
    let comm: String = comm.iter().map(|b| format!("\\x{b:02x}")).collect();
    let script = format!(
        "import ctypes,socket,time\nctypes.CDLL(None).prctl(15,b'{comm}',0,0,0)\nsocks=[]\n\
         for p in {ports:?}:\n    s=socket.socket()\n    s.bind(('127.0.0.1',p))\n    s.listen(4)\n    socks.append(s)\n\
         print('ready',flush=True)\ntime.sleep(120)\n"
    );
    let mut cmd = ns.command("/usr/bin/python3");
    cmd.args(["-c", &script]).stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut guard), "ready");
    guard
}

/// The `sink_stats` line a watch printed at exit for `sink`.
fn stats<'a>(rest: &'a [Value], sink: &str) -> &'a Value {
    rest.iter()
        .find(|v| v["event"] == "sink_stats" && v["sink"] == sink)
        .unwrap_or_else(|| panic!("no sink_stats for {sink} in {rest:?}"))
}

#[test]
fn each_event_is_posted_as_the_json_watch_prints() {
    if skip_without_root("each_event_is_posted_as_the_json_watch_prints") {
        return;
    }
    let ns = Netns::new("wh1");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("posts.jsonl");
    let _server = hook_server(&ns, "127.0.0.1", 8101, &record, 0.0);
    let watch = Watch::start(
        &ns,
        &[
            "--no-history",
            "--interval",
            "200ms",
            "--webhook",
            "http://127.0.0.1:8101/hook?from=test",
            "--webhook-header",
            "X-Token: secret-1",
        ],
    );
    let listener = listeners(&ns, &[7101], b"hooked");
    let opened = watch.next_event();
    drop(listener);
    let closed = watch.next_event();
    assert_eq!(
        (&opened["event"], &closed["event"]),
        (&"opened".into(), &"closed".into())
    );
    assert!(
        support::wait_until(20.0, || bodies_for(&record, 7101).len() == 2),
        "{:?}",
        recorded(&record)
    );
    // The same JSON, in the same order, as --json-lines printed it.
    assert_eq!(bodies_for(&record, 7101), [opened.clone(), closed]);
    assert_eq!(opened["owner"]["program"], "hooked");
    for request in recorded(&record) {
        assert_eq!(request["path"], "/hook?from=test");
        assert_eq!(request["token"], "secret-1");
    }
    let rest = watch.stop();
    let stats = stats(&rest, "webhook");
    assert_eq!(
        (&stats["delivered"], &stats["dropped"], &stats["failed"]),
        (&2.into(), &0.into(), &0.into()),
        "{stats}"
    );
}

#[test]
fn a_server_that_is_down_at_first_gets_the_event_once_it_is_up() {
    if skip_without_root("a_server_that_is_down_at_first_gets_the_event_once_it_is_up") {
        return;
    }
    // The server's namespace, across a veth from the watcher's.
    let ns = Netns::new("wh2");
    let server_ns = Netns::new("wh2s");
    support::veth_pair(&ns, &["198.18.77.1/24"], &server_ns, &["198.18.77.2/24"]);
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("posts.jsonl");
    let watch = Watch::start(
        &ns,
        &[
            "--no-history",
            "--interval",
            "200ms",
            "--webhook",
            "http://198.18.77.2:8102/",
        ],
    );
    let _listener = listeners(&ns, &[7102], b"early");
    let opened = watch.next_event();
    assert_eq!(opened["port"], 7102);
    // Nothing listens on 8102 yet: the first tries are refused, and the watcher says so once.
    let retrying = watch
        .stderr
        .recv_timeout(Duration::from_secs(20))
        .expect("a note about the webhook");
    assert!(
        retrying.contains("--webhook http://198.18.77.2:8102/") && retrying.contains("retrying"),
        "{retrying}"
    );
    let _server = hook_server(&server_ns, "198.18.77.2", 8102, &record, 0.0);
    assert!(
        support::wait_until(30.0, || !bodies_for(&record, 7102).is_empty()),
        "the retries never delivered: {:?}",
        recorded(&record)
    );
    assert_eq!(bodies_for(&record, 7102), [opened]);
    // The next note says that delivery resumed: nothing was said per failed try.
    let again = watch
        .stderr
        .recv_timeout(Duration::from_secs(20))
        .expect("a note that delivery resumed");
    assert!(again.contains("delivering again"), "{again}");
    let rest = watch.stop();
    let stats = stats(&rest, "webhook");
    assert_eq!(
        (&stats["delivered"], &stats["failed"]),
        (&1.into(), &0.into()),
        "{stats}"
    );
}

#[test]
fn a_slow_server_never_delays_watch_and_drops_are_counted() {
    if skip_without_root("a_slow_server_never_delays_watch_and_drops_are_counted") {
        return;
    }
    let ns = Netns::new("wh3");
    let dir = tempfile::tempdir().unwrap();
    let record = dir.path().join("posts.jsonl");
    // 1.5 s per request, one at a time; two events may wait.
    let _server = hook_server(&ns, "127.0.0.1", 8103, &record, 1.5);
    let watch = Watch::start(
        &ns,
        &[
            "--no-history",
            "--interval",
            "200ms",
            "--webhook",
            "http://127.0.0.1:8103/",
            "--webhook-queue",
            "2",
        ],
    );
    let ports: Vec<u16> = (7201..7209).collect();
    let _listeners = listeners(&ns, &ports, b"burst");
    // Eight events in one look, every one printed while the server sleeps on the first.
    let printed: Vec<u64> = (0..ports.len())
        .map(|_| watch.next_event()["port"].as_u64().unwrap())
        .collect();
    assert_eq!(printed, ports.iter().map(|&p| u64::from(p)).collect::<Vec<_>>());
    // The burst of drops is said once on stderr, and as one line on stdout when it ends.
    let note = watch
        .stderr
        .recv_timeout(Duration::from_secs(20))
        .expect("a note about drops");
    assert!(
        note.contains("dropping events") && note.contains("2 events wait"),
        "{note}"
    );
    let dropped = watch.next_event();
    assert_eq!(dropped["event"], "sink_dropped", "{dropped}");
    assert_eq!(dropped["sink"], "webhook");
    let burst = dropped["dropped"].as_u64().unwrap();
    // One request in flight and two waiting, at most: five or six of eight dropped.
    assert!((5..=6).contains(&burst), "{dropped}");
    let rest = watch.stop();
    let stats = stats(&rest, "webhook");
    // Both lines as docs/portscope.schema.json documents them.
    for line in [&dropped, stats] {
        crate::schema::validate("watch_sink", line.to_string().as_bytes());
    }
    let count = |field: &str| stats[field].as_u64().unwrap();
    assert_eq!(count("dropped"), burst, "{stats}");
    assert_eq!(
        count("delivered") + count("dropped") + count("failed") + count("unsent"),
        8,
        "{stats}"
    );
    // The server records a request when it has read it, before its answer.
    assert!(recorded(&record).len() as u64 >= count("delivered"), "{stats}");
}

#[test]
fn syslog_lines_are_rfc5424_with_structured_data_and_hostile_names_escaped() {
    if skip_without_root("syslog_lines_are_rfc5424_with_structured_data_and_hostile_names_escaped") {
        return;
    }
    let ns = Netns::new("wsl");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let watch = Watch::start(
        &ns,
        &[
            "--no-history",
            "--interval",
            "200ms",
            "--syslog-socket",
            path.to_str().unwrap(),
            "--syslog-facility",
            "local3",
        ],
    );
    // A program that calls itself `x]"\` newline `=1`.
    let hostile = listeners(&ns, &[7301], b"x]\"\\\n=1");
    let pid = hostile.pid();
    let opened = watch.next_event();
    assert_eq!(
        opened["owner"]["program"], "x]\"\\\n=1",
        "JSON keeps the name as it is"
    );
    let mut buf = vec![0u8; 65536];
    let receive = |buf: &mut Vec<u8>| {
        let n = socket.recv(buf).expect("a syslog datagram");
        String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
    };
    let line = receive(&mut buf);
    assert!(!line.contains('\n'), "{line:?}");
    // local3 (19) * 8 + notice (5); version 1.
    let fields: Vec<&str> = line.splitn(7, ' ').collect();
    assert_eq!(fields[0], "<157>1", "{line}");
    assert!(fields[1].ends_with('Z') && fields[1].contains('T'), "{line}");
    assert_eq!(fields[3], "portscope", "{line}");
    assert!(fields[4].parse::<u32>().is_ok(), "{line}");
    assert_eq!(fields[5], "opened", "{line}");
    let sd = fields[6];
    assert!(sd.starts_with("[portscope@32473 "), "{line}");
    for param in [
        "event=\"opened\"".to_string(),
        "protocol=\"tcp\"".into(),
        "address=\"127.0.0.1\"".into(),
        "port=\"7301\"".into(),
        format!("pid=\"{pid}\""),
        "user=\"root\"".into(),
        // Shown as a terminal shows it (`\\`, `\n`), then `]`, `"` and `\` escaped by RFC 5424.
        r#"program="x\]\"\\\\\\n=1""#.into(),
    ] {
        assert!(sd.contains(&format!(" {param}")), "{param} not in {line}");
    }
    assert!(sd.contains(" exe=\"/usr/bin/python3"), "{line}");
    // The MSG: the event's line, escaped as a terminal shows it, on one line.
    assert!(
        sd.contains(r#"] opened tcp 127.0.0.1:7301 x]"\\\n=1 (pid "#),
        "{line}"
    );
    drop(hostile);
    assert_eq!(watch.next_event()["event"], "closed");
    let closed = receive(&mut buf);
    // local3 * 8 + info (6).
    assert!(
        closed.starts_with("<158>1 ") && closed.contains(" closed [portscope@32473 "),
        "{closed}"
    );
    let rest = watch.stop();
    let stats = stats(&rest, "syslog");
    assert_eq!(
        (&stats["delivered"], &stats["dropped"]),
        (&2.into(), &0.into()),
        "{stats}"
    );
}

/// rsyslog (imuxsock on a socket of this test's, mmpstrucdata) reads what `--syslog` sends: the
/// header fields, and the structured data unescaped to the form a terminal shows.
#[test]
fn rsyslog_parses_the_header_and_the_structured_data() {
    if skip_without_root("rsyslog_parses_the_header_and_the_structured_data") {
        return;
    }
    let ns = Netns::new("wrs");
    let dir = tempfile::tempdir().unwrap();
    let (socket, log) = (dir.path().join("rs.sock"), dir.path().join("out.log"));
    let config = dir.path().join("rsyslog.conf");
    std::fs::write(
        &config,
        format!(
            r#"global(workDirectory="{dir}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{socket}" UseSpecialParser="off" ParseHostname="on")
module(load="mmpstrucdata")
template(name="fields" type="list") {{
  property(name="syslogfacility-text") constant(value="|") property(name="syslogseverity-text")
  constant(value="|") property(name="app-name") constant(value="|") property(name="msgid")
  constant(value="|") property(name="$!rfc5424-sd!portscope@32473!port")
  constant(value="|") property(name="$!rfc5424-sd!portscope@32473!program")
  constant(value="|") property(name="msg") constant(value="\n")
}}
action(type="mmpstrucdata")
action(type="omfile" file="{log}" template="fields")
"#,
            dir = dir.path().display(),
            socket = socket.display(),
            log = log.display(),
        ),
    )
    .unwrap();
    let mut rsyslogd = std::process::Command::new("rsyslogd");
    rsyslogd
        .args(["-n", "-f"])
        .arg(&config)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .stdout(Stdio::null());
    let _rsyslogd = Guard::spawn(&mut rsyslogd);
    assert!(
        support::wait_until(20.0, || socket.exists()),
        "rsyslogd made no socket"
    );
    let watch = Watch::start(
        &ns,
        &[
            "--no-history",
            "--interval",
            "200ms",
            "--syslog-socket",
            socket.to_str().unwrap(),
            "--syslog-facility",
            "local3",
        ],
    );
    let hostile = listeners(&ns, &[7401], b"x]\"\\\n=1");
    let pid = hostile.pid();
    assert_eq!(watch.next_event()["event"], "opened");
    drop(hostile);
    assert_eq!(watch.next_event()["event"], "closed");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        support::wait_until(20.0, || read().lines().count() == 2),
        "{}",
        read()
    );
    let lines: Vec<String> = read().lines().map(String::from).collect();
    // The name as a terminal shows it: `\\` for the backslash, `\n` for the newline.
    let name = r#"x]"\\\n=1"#;
    assert_eq!(
        lines[0],
        format!(
            "local3|notice|portscope|opened|7401|{name}|opened tcp 127.0.0.1:7401 {name} (pid {pid}, user root)"
        ),
    );
    assert!(
        lines[1].starts_with(&format!("local3|info|portscope|closed|7401|{name}|closed ")),
        "{}",
        lines[1]
    );
    watch.stop();
}

#[test]
fn bad_alert_flags_are_one_line_and_exit_2() {
    for args in [
        &["watch", "--webhook", "https://198.18.0.1/"][..],
        &["watch", "--webhook", "198.18.0.1:80"],
        &[
            "watch",
            "--webhook",
            "http://198.18.0.1/",
            "--webhook-header",
            "X-A: b\r\nX-B: c",
        ],
        &["watch", "--webhook", "http://198.18.0.1/", "--webhook-queue", "0"],
        &["watch", "--webhook-queue", "5"],
        &["watch", "--syslog", "--syslog-facility", "nope"],
    ] {
        let out = support::run(support::portscope().args(args));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let out = support::run(support::portscope().args(["watch", "--webhook", "https://198.18.0.1/"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("relay"));
}
