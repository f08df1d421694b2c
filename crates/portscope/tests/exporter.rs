//! `portscope exporter` for real: served inside a network namespace of its own, fetched from
//! inside it, checked with `promtool`, attacked with malformed requests, and scraped by a real
//! Prometheus. Every client runs inside the namespace, on its loopback.

use crate::support;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use support::{GroupGuard, Guard, Netns, first_line, line_channel, portscope_in, run, skip_without_root};

const SYSTEM_PYTHON: &str = "/usr/bin/python3";
const EXPORTER: &str = "127.0.0.1:9750";

/// Fetches a URL from inside the namespace; prints the status, the content type, then the body.
const FETCH: &str = r#"
import sys, urllib.request, urllib.error
headers = {'Accept': sys.argv[2]} if len(sys.argv) > 2 else {}
try:
    r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers=headers), timeout=10)
    status, ctype, body = r.status, r.headers.get('Content-Type', ''), r.read()
except urllib.error.HTTPError as e:
    status, ctype, body = e.code, e.headers.get('Content-Type', ''), e.read()
sys.stdout.write('%d\n%s\n' % (status, ctype)); sys.stdout.flush()
sys.stdout.buffer.write(body)
"#;

/// Debian's python3 inside `ns`, with any proxy settings removed: every request stays on the
/// namespace's own addresses.
fn python_in(ns: &Netns) -> Command {
    let mut cmd = ns.command(SYSTEM_PYTHON);
    for var in [
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

struct Fetched {
    status: u16,
    content_type: String,
    body: String,
}

fn fetch(ns: &Netns, url: &str, accept: Option<&str>) -> Fetched {
    let mut cmd = python_in(ns);
    cmd.args(["-c", FETCH, url]);
    if let Some(accept) = accept {
        cmd.arg(accept);
    }
    let out = run(&mut cmd);
    assert!(
        out.status.success(),
        "fetching {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("the exposition is UTF-8");
    let mut parts = text.splitn(3, '\n');
    Fetched {
        status: parts.next().unwrap_or_default().parse().expect("a status"),
        content_type: parts.next().unwrap_or_default().to_string(),
        body: parts.next().unwrap_or_default().to_string(),
    }
}

/// A running exporter inside `ns`; killed on drop.
struct Exporter {
    guard: Guard,
    _stderr: Receiver<String>,
}

impl Exporter {
    fn start(ns: &Netns, extra: &[&str]) -> Exporter {
        let mut cmd = portscope_in(ns);
        cmd.args(["exporter", "--listen", EXPORTER])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut guard = Guard::spawn(&mut cmd);
        let stderr = line_channel(guard.0.stderr.take().expect("piped stderr"));
        loop {
            let line = stderr
                .recv_timeout(Duration::from_secs(30))
                .expect("the exporter said what it serves within 30 s");
            if line.contains("serving http://") {
                break;
            }
            assert!(line.starts_with("portscope: note:"), "unexpected: {line}");
        }
        Exporter {
            guard,
            _stderr: stderr,
        }
    }

    fn running(&mut self) -> bool {
        matches!(self.guard.0.try_wait(), Ok(None))
    }
}

/// A TCP listener on `port` in `ns`, run by a Python whose process name is set to `name`.
fn named_listener(ns: &Netns, name: &str, port: u16) -> Guard {
    let bytes: Vec<String> = name.bytes().map(|b| b.to_string()).collect();
    let script = format!(
        "import socket,sys,time\n\
         open('/proc/self/comm','wb').write(bytes([{}]))\n\
         s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('127.0.0.1',{port}));s.listen(8)\n\
         print('ready',flush=True)\ntime.sleep(300)\n",
        bytes.join(",")
    );
    let mut cmd = python_in(ns);
    cmd.args(["-c", &script]).stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(first_line(&mut guard), "ready", "the listener did not start");
    guard
}

/// The kernel's name for `pid`, as it stored what the process wrote.
fn comm(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/comm")).expect("read comm");
    let raw = raw.strip_suffix(b"\n").unwrap_or(&raw);
    String::from_utf8(raw.to_vec()).expect("a UTF-8 name")
}

/// The label sets of every sample of `metric` in an exposition.
fn series(text: &str, metric: &str) -> Vec<BTreeMap<String, String>> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .map(|l| portscope_exporter::metrics::parse_labels(l).unwrap_or_else(|| panic!("unparsable: {l:?}")))
        .collect()
}

fn promtool() -> Option<PathBuf> {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn promtool_check_metrics(promtool: &Path, text: &str) -> Output {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    child.wait_with_output().expect("promtool ran")
}

#[test]
fn hostile_process_names_give_valid_exposition() {
    if skip_without_root("hostile_process_names_give_valid_exposition") {
        return;
    }
    let ns = Netns::new("exp");
    // Quotes, a backslash, a line feed, an escape sequence and braces: 14 bytes, within comm's 15.
    let listener = named_listener(&ns, "a\"b\\c\nd\u{1b}[1m}{x", 8443);
    let hostile = comm(listener.pid());
    assert!(
        hostile.contains('\n') && hostile.contains('"'),
        "the kernel kept {hostile:?}"
    );
    let _exporter = Exporter::start(&ns, &[]);

    let classic = fetch(&ns, &format!("http://{EXPORTER}/metrics"), None);
    assert_eq!(classic.status, 200, "{}", classic.body);
    assert!(classic.content_type.starts_with("text/plain; version=0.0.4"));
    let openmetrics = fetch(
        &ns,
        &format!("http://{EXPORTER}/metrics"),
        Some("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"),
    );
    assert!(
        openmetrics
            .content_type
            .starts_with("application/openmetrics-text")
    );
    assert!(openmetrics.body.ends_with("# EOF\n"));

    for text in [&classic.body, &openmetrics.body] {
        let mine: Vec<_> = series(text, "portscope_listening_socket_info")
            .into_iter()
            .filter(|l| l["port"] == "8443")
            .collect();
        assert_eq!(mine.len(), 1, "{text}");
        assert_eq!(mine[0]["process"], hostile, "the name round-trips exactly");
        assert_eq!(
            mine[0]["exe"],
            std::fs::read_link(format!("/proc/{}/exe", listener.pid()))
                .unwrap()
                .to_string_lossy()
        );
        assert_eq!(mine[0]["proto"], "tcp");
        assert_eq!(mine[0]["address"], "127.0.0.1");
        assert!(!mine[0]["netns"].is_empty());
    }
    assert!(classic.body.contains("portscope_build_info{version=\""));

    match promtool() {
        Some(promtool) => {
            let out = promtool_check_metrics(&promtool, &classic.body);
            assert!(
                out.status.success(),
                "promtool check metrics refused the exposition: {}{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                classic.body
            );
        }
        None => eprintln!(
            "skipping promtool check metrics: promtool is not installed (Debian package prometheus)"
        ),
    }
}

/// Sends each case on a connection of its own and reports the status line it got (or `reset`,
/// or `closed` when the server hung up without answering), as JSON.
const ATTACK: &str = r#"
import json, socket, sys, time
ADDR = ('127.0.0.1', 9750)
def exchange(data, hold=0):
    s = socket.create_connection(ADDR, timeout=15)
    try:
        s.sendall(data)
    except OSError:
        pass
    if hold:
        time.sleep(hold)
    out = b''
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    except ConnectionResetError:
        return 'reset'
    except OSError as e:
        return 'error %s' % e
    finally:
        s.close()
    return out.split(b'\r\n', 1)[0].decode('latin1') or 'closed'
cases = {
    'garbage': b'\x00\x01\x02garbage\r\n\r\n',
    'binary': bytes(range(256)) * 4,
    'bad_version': b'GET /metrics HTTP/7.0\r\n\r\n',
    'huge_head': b'GET /metrics HTTP/1.1\r\nX-A: ' + b'a' * (1 << 20) + b'\r\n\r\n',
    'many_headers': b'GET /metrics HTTP/1.1\r\n' + b''.join(b'X-%d: 1\r\n' % i for i in range(200)) + b'\r\n',
    'long_path': b'GET /' + b'a' * 100000 + b' HTTP/1.1\r\n\r\n',
    'body': b'POST /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\nxxxx',
    'traversal': b'GET /../../etc/passwd HTTP/1.1\r\nConnection: close\r\n\r\n',
    'method': b'DELETE /metrics HTTP/1.1\r\nConnection: close\r\n\r\n',
    'health': b'GET /health HTTP/1.1\r\nConnection: close\r\n\r\n',
}
report = {name: exchange(data) for name, data in cases.items()}
# Idle connections above the limit are refused; once they go, the exporter serves again.
idle = []
for _ in range(160):
    try:
        idle.append(socket.create_connection(ADDR, timeout=5))
    except OSError:
        break
time.sleep(0.5)
refused = 0
for s in idle[128:]:
    s.settimeout(5)
    try:
        if s.recv(100).startswith(b'HTTP/1.1 503'):
            refused += 1
    except OSError:
        pass
report['refused_over_limit'] = refused
for s in idle:
    s.close()
time.sleep(0.5)
# A client that never finishes its head does not stop others.
slow = socket.create_connection(ADDR, timeout=5)
slow.sendall(b'GET /metr')
report['ok_after'] = exchange(b'GET /metrics HTTP/1.1\r\nConnection: close\r\n\r\n')
slow.close()
print(json.dumps(report))
"#;

#[test]
fn malformed_and_oversized_requests_leave_it_serving() {
    if skip_without_root("malformed_and_oversized_requests_leave_it_serving") {
        return;
    }
    let ns = Netns::new("exp");
    let mut exporter = Exporter::start(&ns, &[]);
    let out = run(python_in(&ns).args(["-c", ATTACK]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let status = |name: &str| report[name].as_str().unwrap_or_default().to_string();
    for name in ["garbage", "binary", "bad_version", "body"] {
        assert!(status(name).starts_with("HTTP/1.1 400"), "{name}: {report}");
    }
    // Past the limit the server answers 431 and closes while the client is still sending, so
    // the client may see the reset before the answer.
    for name in ["huge_head", "many_headers", "long_path"] {
        let s = status(name);
        assert!(s.starts_with("HTTP/1.1 431") || s == "reset", "{name}: {report}");
    }
    assert!(status("traversal").starts_with("HTTP/1.1 404"), "{report}");
    assert!(status("method").starts_with("HTTP/1.1 405"), "{report}");
    assert!(status("health").starts_with("HTTP/1.1 200"), "{report}");
    assert!(report["refused_over_limit"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(status("ok_after").starts_with("HTTP/1.1 200"), "{report}");
    assert!(exporter.running(), "the exporter died");
    assert_eq!(
        fetch(&ns, &format!("http://{EXPORTER}/metrics"), None).status,
        200
    );
}

#[test]
fn non_loopback_needs_insecure_listen_and_says_so() {
    let out = run(support::portscope().args(["exporter", "--listen", "0.0.0.0:9750"]));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("portscope: refusing to serve metrics on 0.0.0.0:9750"),
        "{stderr}"
    );
    let out = run(support::portscope().args(["exporter", "--cache", "10ms"]));
    assert_eq!(out.status.code(), Some(2));
    // A web config that is missing, or asks for what portscope does not do, is one line, exit 2.
    let dir = tempfile::tempdir().expect("temp dir");
    let unsupported = dir.path().join("web.yml");
    std::fs::write(
        &unsupported,
        "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  client_ca_file: ca.crt\n",
    )
    .unwrap();
    for (file, needle) in [
        (dir.path().join("missing.yml"), "no such web config file"),
        (unsupported, "client_ca_file"),
    ] {
        let out = run(support::portscope().args(["exporter", "--web-config"]).arg(&file));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle), "{stderr}");
    }

    if skip_without_root("non_loopback_needs_insecure_listen_and_says_so (live part)") {
        return;
    }
    let ns = Netns::new("exp");
    ns.ip(&["addr", "add", "198.18.0.1/24", "dev", "lo"]);
    let mut cmd = portscope_in(&ns);
    cmd.args(["exporter", "--listen", "198.18.0.1:9750", "--insecure-listen"])
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let stderr = line_channel(guard.0.stderr.take().expect("piped stderr"));
    let warned = (0..20).any(|_| {
        stderr.recv_timeout(Duration::from_secs(30)).is_ok_and(|l| {
            l.contains("--insecure-listen: serving http://198.18.0.1:9750/metrics without TLS")
        })
    });
    assert!(warned, "no warning on start");
    assert_eq!(fetch(&ns, "http://198.18.0.1:9750/health", None).status, 200);
}

#[test]
fn textfile_is_written_for_node_exporter() {
    if skip_without_root("textfile_is_written_for_node_exporter") {
        return;
    }
    let ns = Netns::new("exp");
    let _listener = named_listener(&ns, "textfile-test", 8443);
    let dir = tempfile::tempdir().expect("temp dir");
    let out = run(portscope_in(&ns)
        .args(["exporter", "--once", "--textfile"])
        .arg(dir.path()));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("portscope.prom")).expect("the file is there");
    assert!(!text.contains("# EOF"));
    let mine = series(&text, "portscope_listening_socket_info");
    assert!(
        mine.iter()
            .any(|l| l["port"] == "8443" && l["process"] == "textfile-test"),
        "{text}"
    );
    let entries = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(entries, 1, "no temporary file is left behind");
    if let Some(promtool) = promtool() {
        let out = promtool_check_metrics(&promtool, &text);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Asks Prometheus's HTTP API (inside the namespace) for an instant query; the JSON answer.
fn query(ns: &Netns, promql: &str) -> Option<serde_json::Value> {
    let script = "import sys,urllib.request,urllib.parse\n\
        u='http://127.0.0.1:9090/api/v1/query?'+urllib.parse.urlencode({'query':sys.argv[1]})\n\
        sys.stdout.write(urllib.request.urlopen(u,timeout=5).read().decode())\n";
    let out = run(python_in(ns).args(["-c", script, promql]));
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).ok())
        .flatten()
}

#[test]
fn prometheus_scrapes_the_exporter() {
    if skip_without_root("prometheus_scrapes_the_exporter") {
        return;
    }
    let Some(prometheus) = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .iter()
        .find(|p| Path::new(p).exists())
    else {
        eprintln!(
            "skipping prometheus_scrapes_the_exporter: prometheus is not installed (Debian package prometheus)"
        );
        return;
    };
    let ns = Netns::new("exp");
    // Prometheus itself must accept (and store exactly) a hostile name from the exposition.
    let listener = named_listener(&ns, "scr\"ap\\e\nd\u{1b}[0m", 8443);
    let name = comm(listener.pid());
    let _exporter = Exporter::start(&ns, &[]);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n  - job_name: portscope\n    static_configs:\n      - targets: ['{EXPORTER}']\n"
        ),
    )
    .expect("write prometheus.yml");
    let mut cmd = ns.command(prometheus);
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .args(["--web.listen-address=127.0.0.1:9090", "--log.level=warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _prometheus = GroupGuard::spawn(&mut cmd);

    // Prometheus starts, scrapes every second, and answers queries: at most 90 s, 2 queries a second.
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut found = None;
    for _ in 0..180 {
        if Instant::now() > deadline {
            break;
        }
        if let Some(answer) = query(&ns, "portscope_listening_socket_info{port=\"8443\"}")
            && let Some(first) = answer["data"]["result"].as_array().and_then(|r| r.first())
        {
            found = Some(first["metric"].clone());
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let metric = found.expect("Prometheus has portscope_listening_socket_info{port=\"8443\"} within 90 s");
    assert_eq!(metric["process"].as_str(), Some(name.as_str()), "{metric}");
    assert_eq!(metric["job"], "portscope");
    assert_eq!(metric["address"], "127.0.0.1");
    assert_eq!(
        metric["exe"],
        std::fs::read_link(format!("/proc/{}/exe", listener.pid()))
            .unwrap()
            .to_string_lossy()
            .as_ref()
    );
    let up = query(&ns, "up{job=\"portscope\"}").expect("up is queryable");
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
}

/// GETs /metrics over TLS (trusting only `ca`) with the given basic-auth user and password (or
/// none); prints the status, or `error ...` when no HTTP answer came.
const TLS_FETCH: &str = r#"
import base64, ssl, sys, urllib.request, urllib.error
url, ca, user = sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None
ctx = ssl.create_default_context(cafile=ca)
req = urllib.request.Request(url)
if user:
    req.add_header('Authorization', 'Basic ' + base64.b64encode(user.encode()).decode())
try:
    r = urllib.request.urlopen(req, timeout=10, context=ctx)
    body = r.read().decode()
    print(r.status, 'portscope_build_info' in body)
except urllib.error.HTTPError as e:
    print(e.code, e.headers.get('WWW-Authenticate'))
except Exception as e:
    print('error', type(e).__name__)
"#;

/// A self-signed certificate for 198.18.0.1 (`tls.crt`, also the CA to trust), its key, and a
/// `web.yml` with both and the user `prometheus` whose password is `password`, all in `dir`.
fn tls_web_config(dir: &Path, password: &str) -> PathBuf {
    let out = run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-days",
            "1",
            "-subj",
            "/CN=portscope-test",
            "-addext",
            "subjectAltName=IP:198.18.0.1",
        ])
        .arg("-keyout")
        .arg(dir.join("tls.key"))
        .arg("-out")
        .arg(dir.join("tls.crt")));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hash = bcrypt::hash(password, 4).expect("bcrypt");
    let web = dir.join("web.yml");
    std::fs::write(
        &web,
        format!(
            "tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    )
    .unwrap();
    web
}

fn have_openssl(test: &str) -> bool {
    let found = support::run(Command::new("sh").args(["-c", "command -v openssl"]))
        .status
        .code()
        == Some(0);
    if !found {
        eprintln!("skipping {test}: openssl is not installed (to make a test certificate)");
    }
    found
}

#[test]
fn web_config_gives_tls_and_basic_auth() {
    if skip_without_root("web_config_gives_tls_and_basic_auth") {
        return;
    }
    if !have_openssl("web_config_gives_tls_and_basic_auth") {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let web = tls_web_config(dir.path(), "s3cret");

    let ns = Netns::new("exp");
    ns.ip(&["addr", "add", "198.18.0.1/32", "dev", "lo"]);
    let mut cmd = portscope_in(&ns);
    cmd.args(["exporter", "--listen", "198.18.0.1:9750", "--web-config"])
        .arg(&web)
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let stderr = line_channel(guard.0.stderr.take().expect("piped stderr"));
    let mut lines = Vec::new();
    while let Ok(line) = stderr.recv_timeout(Duration::from_secs(30)) {
        let done = line.contains("serving ");
        lines.push(line);
        if done {
            break;
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("serving https://198.18.0.1:9750/metrics (basic authentication)")),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("insecure")), "{lines:?}");
    let ca = dir.path().join("tls.crt");
    let get = |user: Option<&str>| {
        let mut cmd = python_in(&ns);
        cmd.args(["-c", TLS_FETCH, "https://198.18.0.1:9750/metrics"])
            .arg(&ca);
        if let Some(user) = user {
            cmd.arg(user);
        }
        String::from_utf8_lossy(&run(&mut cmd).stdout).trim().to_string()
    };
    assert_eq!(get(None), "401 Basic realm=\"portscope\"");
    assert_eq!(get(Some("prometheus:wrong")), "401 Basic realm=\"portscope\"");
    assert_eq!(get(Some("nobody:s3cret")), "401 Basic realm=\"portscope\"");
    assert_eq!(get(Some("prometheus:s3cret")), "200 True");
    // Plain HTTP to the TLS port gets no metrics.
    let plain = fetch_status_or_error(&ns, "http://198.18.0.1:9750/metrics");
    assert_ne!(plain, "200", "plain HTTP was served on the TLS port");
    assert!(matches!(guard.0.try_wait(), Ok(None)), "the exporter died");
}

fn fetch_status_or_error(ns: &Netns, url: &str) -> String {
    let script = "import sys,urllib.request\ntry:\n    print(urllib.request.urlopen(sys.argv[1],timeout=5).status)\nexcept Exception as e:\n    print('error', type(e).__name__)\n";
    String::from_utf8_lossy(&run(python_in(ns).args(["-c", script, url])).stdout)
        .trim()
        .to_string()
}

/// The value of the sample `portscope_port_events_total{kind="KIND"}` in an exposition.
fn events(text: &str, kind: &str) -> u64 {
    let prefix = format!("portscope_port_events_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {kind} events in {text}"))
}

#[test]
fn port_events_are_counted_between_collections() {
    if skip_without_root("port_events_are_counted_between_collections") {
        return;
    }
    let ns = Netns::new("exp");
    let _exporter = Exporter::start(&ns, &["--cache", "1s"]);
    let url = format!("http://{EXPORTER}/metrics");
    let first = fetch(&ns, &url, None).body;
    assert_eq!(
        events(&first, "opened"),
        0,
        "the exporter's own port is not an event: {first}"
    );
    let listener = named_listener(&ns, "eventful", 8443);
    // Each scrape after the cache has expired is a new collection; at most 20 s, 4 a second.
    let counted = |kind: &str| {
        (0..80).any(|_| {
            std::thread::sleep(Duration::from_millis(250));
            events(&fetch(&ns, &url, None).body, kind) >= 1
        })
    };
    assert!(counted("opened"), "the new listener was not counted as opened");
    drop(listener);
    assert!(counted("closed"), "the closed listener was not counted as closed");
}

#[test]
fn the_units_two_capabilities_name_root_owned_listeners() {
    if skip_without_root("the_units_two_capabilities_name_root_owned_listeners") {
        return;
    }
    // As portscope-exporter.service runs it: another user (nobody, as DynamicUser= would be),
    // with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH as its only capabilities, ambient. Without
    // them the listener below shows no program (checked by hand with caps "-all").
    let ns = Netns::new("exp");
    let _listener = named_listener(&ns, "rootowned", 8443);
    let caps = "-all,+sys_ptrace,+dac_read_search";
    let mut cmd = ns.command("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(format!("--inh-caps={caps}"))
        .arg(format!("--ambient-caps={caps}"))
        .arg(format!("--bounding-set={caps}"))
        .arg(env!("CARGO_BIN_EXE_portscope"))
        .args(["exporter", "--listen", EXPORTER])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let stderr = line_channel(guard.0.stderr.take().expect("piped stderr"));
    let started = (0..10).any(|_| {
        stderr
            .recv_timeout(Duration::from_secs(30))
            .is_ok_and(|l| l.contains("serving http://"))
    });
    assert!(started, "the exporter did not start with the unit's capabilities");
    let text = fetch(&ns, &format!("http://{EXPORTER}/metrics"), None).body;
    let mine: Vec<_> = series(&text, "portscope_listening_socket_info")
        .into_iter()
        .filter(|l| l["port"] == "8443")
        .collect();
    assert_eq!(mine.len(), 1, "{text}");
    assert_eq!(mine[0]["process"], "rootowned", "{text}");
    assert_eq!(mine[0]["user"], "root");
    assert!(mine[0]["exe"].contains("python3"), "{text}");
}

/// Three attacks without credentials, from 198.18.0.3, against a TLS and basic-auth exporter on
/// 198.18.0.1, while the legitimate scraper (198.18.0.2, the right password) scrapes 5 times
/// during each: 160 idle connections held open (reopened each second when the server drops
/// them); 160 stalled TLS handshakes (a ClientHello's first 9 bytes, then nothing), plus one
/// that trickles a byte every 2 s (at most 20 bytes); 16 connections sending wrong passwords,
/// each a new one, as fast as answers come (at most 150 each, at most 15 s). Prints a JSON
/// report.
const DENIAL: &str = r#"
import base64, json, os, select, socket, ssl, sys, threading, time, http.client
SERVER = ('198.18.0.1', 9750)
CA, GOOD = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=CA)

def basic(credentials):
    return 'Basic ' + base64.b64encode(credentials.encode()).decode()

def request(source, credentials):
    c = http.client.HTTPSConnection(SERVER[0], SERVER[1], context=ctx, timeout=10, source_address=(source, 0))
    try:
        c.request('GET', '/metrics', headers={'Authorization': basic(credentials)})
        r = c.getresponse()
        r.read()
        return r.status
    except Exception as e:
        return 'error ' + type(e).__name__
    finally:
        c.close()

def scrapes():
    out = []
    for _ in range(5):
        out.append(request('198.18.0.2', 'prometheus:' + GOOD))
        time.sleep(0.5)
    return out

def attacker():
    s = socket.socket()
    s.settimeout(5)
    s.bind(('198.18.0.3', 0))
    s.connect(SERVER)
    return s

def closed_by_server(s):
    try:
        if not select.select([s], [], [], 0)[0]:
            return False
        return s.recv(4096) == b''
    except OSError:
        return True

def hold(first_bytes, stop, deadline):
    # Keeps 160 connections open; every second, reopens those the server closed.
    socks = []
    while not stop.is_set() and time.time() < deadline:
        socks = [s for s in socks if not (closed_by_server(s) and (s.close() or True))]
        while len(socks) < 160:
            try:
                s = attacker()
                if first_bytes:
                    s.sendall(first_bytes)
                socks.append(s)
            except OSError:
                break
        stop.wait(1)
    for s in socks:
        s.close()

def under(first_bytes):
    stop = threading.Event()
    t = threading.Thread(target=hold, args=(first_bytes, stop, time.time() + 60))
    t.start()
    time.sleep(2)
    out = scrapes()
    stop.set()
    t.join()
    return out

report = {'before': scrapes()}
report['idle'] = under(b'')
# A TLS record header announcing a 512-byte handshake message, and the start of a ClientHello.
hello = b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc'
report['stalled_handshakes'] = under(hello)

# One handshake that keeps sending, a byte every 2 s: does the server ever let it go?
s = attacker()
closed = False
for i in range(20):
    try:
        s.sendall(hello[i % len(hello):i % len(hello) + 1])
    except OSError:
        closed = True
        break
    try:
        if select.select([s], [], [], 2)[0] and s.recv(4096) == b'':
            closed = True
            break
    except OSError:
        closed = True
        break
s.close()
report['trickle_closed'] = closed

answers = {}
lock = threading.Lock()
def guess(n, deadline):
    for i in range(150):
        if time.time() > deadline:
            break
        status = request('198.18.0.3', 'prometheus:wrong-%d-%d-%s' % (n, i, os.urandom(4).hex()))
        with lock:
            answers[str(status)] = answers.get(str(status), 0) + 1
threads = [threading.Thread(target=guess, args=(n, time.time() + 15)) for n in range(16)]
for t in threads:
    t.start()
time.sleep(2)
report['wrong_passwords'] = scrapes()
for t in threads:
    t.join()
report['guesses'] = answers
print(json.dumps(report))
"#;

#[test]
fn attacks_without_credentials_leave_scrapes_served() {
    if skip_without_root("attacks_without_credentials_leave_scrapes_served")
        || !have_openssl("attacks_without_credentials_leave_scrapes_served")
    {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let web = tls_web_config(dir.path(), "s3cret");
    let ns = Netns::new("exp");
    for address in ["198.18.0.1/32", "198.18.0.2/32", "198.18.0.3/32"] {
        ns.ip(&["addr", "add", address, "dev", "lo"]);
    }
    let mut cmd = portscope_in(&ns);
    cmd.args(["exporter", "--listen", "198.18.0.1:9750", "--web-config"])
        .arg(&web)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let stderr = line_channel(guard.0.stderr.take().expect("piped stderr"));
    let started = (0..10).any(|_| {
        stderr
            .recv_timeout(Duration::from_secs(30))
            .is_ok_and(|l| l.contains("serving https://"))
    });
    assert!(started, "the exporter did not start");

    let out = run(python_in(&ns)
        .args(["-c", DENIAL])
        .arg(dir.path().join("tls.crt"))
        .arg("s3cret"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    eprintln!("attacks_without_credentials_leave_scrapes_served: {report}");
    let ok = serde_json::json!([200, 200, 200, 200, 200]);
    for phase in ["before", "idle", "stalled_handshakes", "wrong_passwords"] {
        assert_eq!(report[phase], ok, "{phase}: {report}");
    }
    assert_eq!(
        report["trickle_closed"], true,
        "a handshake that never finishes is let go: {report}"
    );
    // Guessing is throttled: beyond a few failures a source is answered 429 without a bcrypt.
    let guesses = &report["guesses"];
    assert!(guesses["429"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(guesses["401"].as_u64().unwrap_or(0) > 0, "{report}");
    assert!(matches!(guard.0.try_wait(), Ok(None)), "the exporter died");
}

/// Sends a request head, then reads until the server closes; prints the status lines it got.
const RAW: &str = r#"
import socket, sys
s = socket.create_connection(('127.0.0.1', 9750), timeout=10)
s.sendall(sys.argv[1].encode().decode('unicode_escape').encode('latin1'))
out = b''
try:
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
print(' '.join(l.split(b' ')[1].decode() for l in out.split(b'\r\n') if l.startswith(b'HTTP/1.1 ')))
"#;

#[test]
fn differing_content_lengths_are_refused() {
    if skip_without_root("differing_content_lengths_are_refused") {
        return;
    }
    let ns = Netns::new("exp");
    let _exporter = Exporter::start(&ns, &[]);
    let statuses = |head: &str| {
        let out = run(python_in(&ns).args(["-c", RAW, head]));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // RFC 9112 6.3: lengths that differ, or are not numbers, make the framing unknowable. Read
    // as 0, the "body" would be served as a second request (smuggled past a proxy that read 44).
    let smuggled = "GET /metrics HTTP/1.1\\r\\nConnection: close\\r\\n\\r\\n";
    for lengths in [
        "Content-Length: 0\\r\\nContent-Length: 44",
        "Content-Length: 0, 44",
        "Content-Length: +0",
        "Content-Length: 0x0",
    ] {
        let got = statuses(&format!(
            "GET /health HTTP/1.1\\r\\n{lengths}\\r\\n\\r\\n{smuggled}"
        ));
        assert_eq!(got, "400", "{lengths}");
    }
    // The same length twice is one length (and 0 is no body).
    assert_eq!(
        statuses(
            "GET /health HTTP/1.1\\r\\nContent-Length: 0\\r\\nContent-Length: 0\\r\\nConnection: close\\r\\n\\r\\n"
        ),
        "200"
    );
}

#[test]
fn series_name_their_namespace_next_to_its_inode() {
    if skip_without_root("series_name_their_namespace_next_to_its_inode") {
        return;
    }
    let ns = Netns::new("expname");
    let _listener = named_listener(&ns, "named-ns", 8444);
    // Selected by its name, as a user running several namespaces would.
    let _exporter = Exporter::start(&ns, &["--netns", &ns.name]);
    let page = fetch(&ns, &format!("http://{EXPORTER}/metrics"), None);
    assert_eq!(page.status, 200, "{}", page.body);
    let mine: Vec<_> = series(&page.body, "portscope_listening_socket_info")
        .into_iter()
        .filter(|l| l["port"] == "8444")
        .collect();
    assert_eq!(mine.len(), 1, "{}", page.body);
    assert_eq!(mine[0]["netns_name"], ns.name, "{:?}", mine[0]);
    assert!(mine[0]["netns"].parse::<u64>().is_ok(), "{:?}", mine[0]);
    let counts = series(&page.body, "portscope_sockets");
    assert!(
        counts
            .iter()
            .any(|l| l["netns_name"] == ns.name && l["state"] == "LISTEN"),
        "{counts:?}"
    );
}
