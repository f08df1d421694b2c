//! `audit` against implants that hold no port or hide what they are, each staged for real inside
//! a network namespace this test creates: a magic-packet sniffer (an AF_PACKET socket whose
//! classic BPF filter compares payload bytes, as BPFDoor's does), processes renamed to a kernel
//! thread or to `sshd`, a deleted binary holding an outbound connection, a program started with
//! LD_PRELOAD, a shell with history off below a socket holder, and — the negative — a packaged
//! `tcpdump -i lo`, which must stay below alert. portscope runs inside the namespace and looks at
//! it alone, so each test may assert about its own processes without seeing another test's.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use support::{Guard, Netns, first_line, portscope_in, run, skip_without_root, wait_until};

const PYTHON: &str = "/usr/bin/python3";

/// `audit --json` inside `ns`, with `extra` arguments.
fn audit_in(ns: &Netns, extra: &[&str]) -> Value {
    let out = run(portscope_in(ns).arg("audit").arg("--json").args(extra));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit --json printed no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn one(report: &Value, pid: u32, check: &str) -> Value {
    support::findings_about(report, pid, check)
        .into_iter()
        .next()
        .unwrap_or_else(|| panic!("no {check} finding about pid {pid} in {report:#}"))
}

fn text<'a>(finding: &'a Value, field: &str) -> &'a str {
    finding[field].as_str().unwrap_or_default()
}

/// Starts a Python program inside `ns` from `exe`; it prints `ready` once staged.
fn stage(ns: &Netns, exe: &Path, script: &str, env: &[(&str, &str)]) -> Guard {
    let mut cmd = ns.command(exe.to_str().expect("utf-8 path"));
    cmd.args(["-c", script]).stdout(Stdio::piped());
    if exe != Path::new(PYTHON) {
        // A copied interpreter cannot find its standard library next to itself.
        cmd.env("PYTHONHOME", "/usr");
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    // A freshly copied binary can be briefly "busy" while a child another test thread forked
    // still holds the write descriptor; retry for up to a second.
    let mut attempts = 0;
    let child = loop {
        match cmd.stdin(Stdio::null()).spawn() {
            Ok(child) => break child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("spawn {cmd:?}: {e}"),
        }
    };
    let mut guard = Guard(child);
    assert_eq!(first_line(&mut guard), "ready", "{script}");
    guard
}

/// The system python copied into a fresh world-writable directory under `name`.
fn copied_python(dir: &Path, name: &str) -> PathBuf {
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let copy = dir.join(name);
    std::fs::copy(std::fs::canonicalize(PYTHON).unwrap(), &copy).expect("copy python3");
    copy
}

/// A packet socket with BPFDoor's magic-value filter (UDP payload 0x7255, TCP payload 0x5293).
const SNIFFER: &str = "import ctypes,socket,struct,time\n\
    p=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.htons(0x0800))\n\
    prog=[(0x28,0,0,12),(0x15,0,22,0x800),(0x30,0,0,23),(0x15,0,5,0x11),(0x28,0,0,20),\
    (0x45,18,0,0x1fff),(0xb1,0,0,14),(0x48,0,0,22),(0x15,14,15,0x7255),(0x15,0,14,0x6),\
    (0x28,0,0,20),(0x45,12,0,0x1fff),(0xb1,0,0,14),(0x50,0,0,26),(0x54,0,0,0xf0),(0x74,0,0,2),\
    (0x0c,0,0,0),(0x07,0,0,0),(0x48,0,0,14),(0x15,3,4,0x5293),(0x06,0,0,0),(0x06,0,0,0),\
    (0x06,0,0,0),(0x06,0,0,0xffff),(0x06,0,0,0)]\n\
    code=ctypes.create_string_buffer(b''.join(struct.pack('=HBBI',*i) for i in prog))\n\
    p.setsockopt(socket.SOL_SOCKET,26,struct.pack('HL',len(prog),ctypes.addressof(code)))\n\
    print('ready',flush=True)\ntime.sleep(120)\n";

#[test]
fn magic_packet_filter_is_an_alert_that_shows_its_constants() {
    if skip_without_root("magic_packet_filter_is_an_alert_that_shows_its_constants") {
        return;
    }
    let ns = Netns::new("i13m");
    let sniffer = stage(&ns, Path::new(PYTHON), SNIFFER, &[]);
    let report = audit_in(&ns, &[]);
    let finding = one(&report, sniffer.pid(), "packet-socket");
    assert_eq!(finding["severity"], "alert", "{finding:#}");
    let reason = text(&finding, "reason");
    assert!(reason.contains("compares payload bytes"), "{reason}");
    assert!(reason.contains("ldh [x + 22] == 0x7255"), "{reason}");
    assert!(reason.contains("ldh [x + 14] == 0x5293"), "{reason}");
    assert_eq!(
        text(&finding, "next_step"),
        format!(
            "d=$(mktemp -d ./portscope-evidence-{0}.XXXXXX) && cp -- /proc/{0}/exe \"$d/exe\" && portscope close --pid {0}",
            sniffer.pid()
        )
    );
    assert_eq!(report["summary"]["alert"], 1, "{report:#}");
}

#[test]
fn packaged_tcpdump_on_loopback_stays_below_alert() {
    if skip_without_root("packaged_tcpdump_on_loopback_stays_below_alert") {
        return;
    }
    let Ok(tcpdump) = std::fs::canonicalize("/usr/bin/tcpdump") else {
        panic!("tcpdump is not installed (.ci/run installs it)");
    };
    let ns = Netns::new("i13t");
    let mut cmd = ns.command(tcpdump.to_str().unwrap());
    cmd.args(["-i", "lo", "-n", "-c", "1000000", "udp port 9"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let dump = Guard::spawn(&mut cmd);
    // tcpdump opens its capture socket after it starts; wait until audit sees it.
    let mut report = Value::Null;
    assert!(
        wait_until(10.0, || {
            report = audit_in(&ns, &[]);
            !support::findings_about(&report, dump.pid(), "packet-socket").is_empty()
        }),
        "no packet-socket finding about tcpdump: {report:#}"
    );
    let finding = one(&report, dump.pid(), "packet-socket");
    assert_eq!(finding["severity"], "info", "{finding:#}");
    assert!(
        text(&finding, "reason").contains("expected to hold one"),
        "{finding:#}"
    );
    assert_eq!(report["summary"]["alert"], 0, "{report:#}");
    assert_eq!(report["summary"]["warning"], 0, "{report:#}");
}

#[test]
fn a_kernel_thread_name_and_a_copied_sshd_are_disguises() {
    if skip_without_root("a_kernel_thread_name_and_a_copied_sshd_are_disguises") {
        return;
    }
    let ns = Netns::new("i13d");
    // prctl(PR_SET_NAME): the way implants rename themselves.
    let renamed = "import ctypes,socket,time\n\
        ctypes.CDLL(None).prctl(15,b'[kworker/0:1]',0,0,0)\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0))\n\
        print('ready',flush=True)\ntime.sleep(120)\n";
    let kworker = stage(&ns, Path::new(PYTHON), renamed, &[]);
    let dir = tempfile::tempdir().unwrap();
    let sshd_exe = copied_python(dir.path(), "sshd");
    let listen = "import socket,time\n\
        s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n\
        print('ready',flush=True)\ntime.sleep(120)\n";
    let sshd = stage(&ns, &sshd_exe, listen, &[]);

    let report = audit_in(&ns, &[]);
    let k = one(&report, kworker.pid(), "masquerade");
    assert_eq!(k["severity"], "alert", "{k:#}");
    assert!(text(&k, "reason").contains("kernel thread"), "{k:#}");
    let s = one(&report, sshd.pid(), "masquerade");
    assert_eq!(s["severity"], "alert", "{s:#}");
    assert!(text(&s, "reason").contains("\"sshd\", a system program"), "{s:#}");
    assert!(text(&s, "reason").contains("no package installed"), "{s:#}");
    assert!(
        text(&s, "next_step").contains(&format!("cp -- /proc/{}/exe", sshd.pid())),
        "{s:#}"
    );
}

#[test]
fn deleted_binary_holding_an_outbound_connection_is_an_alert() {
    if skip_without_root("deleted_binary_holding_an_outbound_connection_is_an_alert") {
        return;
    }
    let ns = Netns::new("i13o");
    let listener = "import socket,time\n\
        s=socket.socket();s.bind(('127.0.0.1',0));s.listen(1)\n\
        print(s.getsockname()[1],flush=True)\nc,_=s.accept()\ntime.sleep(120)\n";
    let mut cmd = ns.command(PYTHON);
    cmd.args(["-c", listener]).stdout(Stdio::piped());
    let mut server = Guard::spawn(&mut cmd);
    let port: u16 = first_line(&mut server).parse().expect("port");
    let dir = tempfile::tempdir().unwrap();
    let exe = copied_python(dir.path(), "upd");
    let client = format!(
        "import socket,time\nc=socket.create_connection(('127.0.0.1',{port}))\n\
         print('ready',flush=True)\ntime.sleep(120)\n"
    );
    let implant = stage(&ns, &exe, &client, &[]);
    std::fs::remove_file(&exe).expect("delete the running binary");

    let report = audit_in(&ns, &[]);
    let deleted = one(&report, implant.pid(), "deleted-exe");
    assert_eq!(deleted["severity"], "alert", "{deleted:#}");
    assert_eq!(deleted["sockets"][0]["remote"]["port"], port, "{deleted:#}");
    assert!(deleted["sockets"][0]["state"] == "ESTABLISHED", "{deleted:#}");
    assert_eq!(
        text(&deleted, "next_step"),
        format!(
            "d=$(mktemp -d ./portscope-evidence-{0}.XXXXXX) && cp -- /proc/{0}/exe \"$d/exe\" && portscope close --pid {0}",
            implant.pid()
        )
    );
    // The evidence the step keeps is really there while the process runs.
    assert!(std::fs::metadata(format!("/proc/{}/exe", implant.pid())).is_ok());
}

#[test]
fn a_network_process_started_with_ld_preload_is_reported() {
    if skip_without_root("a_network_process_started_with_ld_preload_is_reported") {
        return;
    }
    // A real shared library that no package installed: a copy of zlib (harmless to preload).
    let zlib = [
        "/usr/lib/x86_64-linux-gnu/libz.so.1",
        "/lib/x86_64-linux-gnu/libz.so.1",
        "/usr/lib64/libz.so.1",
    ]
    .iter()
    .find(|p| Path::new(p).exists())
    .expect("zlib is installed");
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("libhide.so");
    std::fs::copy(zlib, &library).unwrap();
    let ns = Netns::new("i13l");
    let script = "import socket,time\n\
        s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0))\n\
        print('ready',flush=True)\ntime.sleep(120)\n";
    let preloaded = stage(
        &ns,
        Path::new(PYTHON),
        script,
        &[("LD_PRELOAD", library.to_str().unwrap())],
    );
    let report = audit_in(&ns, &[]);
    let finding = one(&report, preloaded.pid(), "preload");
    assert_eq!(finding["severity"], "alert", "{finding:#}");
    assert!(
        text(&finding, "reason").contains(&format!("LD_PRELOAD={}", library.display())),
        "{finding:#}"
    );
    assert!(
        text(&finding, "next_step").contains("portscope close --pid"),
        "{finding:#}"
    );
}

#[test]
fn a_shell_with_history_off_below_an_implant_is_an_alert() {
    if skip_without_root("a_shell_with_history_off_below_an_implant_is_an_alert") {
        return;
    }
    let ns = Netns::new("i13s");
    let dir = tempfile::tempdir().unwrap();
    let exe = copied_python(dir.path(), "kdmtmpflush");
    // The implant holds a socket and hands its operator a shell with history off.
    let pid_file = dir.path().join("shell.pid");
    let script = format!(
        "import os,socket,subprocess,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM);s.bind(('127.0.0.1',0))\n\
         env=dict(os.environ,HISTFILE='/dev/null')\n\
         sh=subprocess.Popen(['/bin/sh','-c','sleep 120; true'],env=env)\n\
         open('{}','w').write(str(sh.pid))\n\
         print('ready',flush=True)\ntime.sleep(120)\n",
        pid_file.display()
    );
    let implant = stage(&ns, &exe, &script, &[]);
    let shell: u32 = std::fs::read_to_string(&pid_file)
        .expect("the implant wrote its shell's pid")
        .parse()
        .expect("a pid");
    let _shell = KillOnDrop(shell);
    let report = audit_in(&ns, &[]);
    let finding = one(&report, shell, "quiet-shell");
    assert_eq!(finding["severity"], "alert", "{finding:#}");
    assert!(
        text(&finding, "reason").contains("HISTFILE=/dev/null"),
        "{finding:#}"
    );
    assert!(
        text(&finding, "next_step").contains(&format!("portscope close --pid {}", implant.pid())),
        "{finding:#}"
    );
}

/// A process this test started indirectly (a grandchild), killed by pid on drop.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[test]
fn deep_audit_finds_no_hidden_process_where_none_is_hidden() {
    if skip_without_root("deep_audit_finds_no_hidden_process_where_none_is_hidden") {
        return;
    }
    let ns = Netns::new("i13h");
    // Threads answer kill(pid, 0) but are never listed; they must not look hidden.
    let script = "import threading,time\n\
        [threading.Thread(target=time.sleep,args=(120,),daemon=True).start() for _ in range(4)]\n\
        print('ready',flush=True)\ntime.sleep(120)\n";
    let _threads = stage(&ns, Path::new(PYTHON), script, &[]);
    let report = audit_in(&ns, &["--deep"]);
    let hidden: Vec<&Value> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "hidden-process")
        .collect();
    assert!(hidden.is_empty(), "{hidden:#?}");
}
