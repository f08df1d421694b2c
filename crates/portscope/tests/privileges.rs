//! Privileges are capabilities, not euid 0: root with a capability dropped from its bounding set
//! (what a hardened service or a rootless container's root has) is treated by what it may do, and
//! every refusal names the capability that is missing. Also: no argument, however encoded, makes
//! portscope panic.

use crate::support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::{Guard, Netns, first_line, portscope, run, skip_without_root};

/// A TCP listener on the namespace's loopback run by `nobody`; returns it and its port.
fn nobodys_listener(ns: &Netns) -> (Guard, u16) {
    let script = "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0));s.listen(4)\n\
                  print(s.getsockname()[1],flush=True)\ntime.sleep(120)\n";
    let mut cmd = ns.command("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
        script,
    ])
    .stdout(Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    let port = first_line(&mut guard).parse().expect("listener printed its port");
    (guard, port)
}

/// portscope as root inside `ns`, with `drop` removed from its capability bounding set (so from
/// its effective set after exec).
fn portscope_without(ns: &Netns, drop: &str) -> Command {
    let mut cmd = ns.command("setpriv");
    cmd.args([&format!("--bounding-set={drop}"), env!("CARGO_BIN_EXE_portscope")])
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn root_without_cap_kill_is_refused_and_told_which_capability() {
    if skip_without_root("root_without_cap_kill_is_refused_and_told_which_capability") {
        return;
    }
    let ns = Netns::new("priv");
    let (mut child, port) = nobodys_listener(&ns);
    let out = run(portscope_without(&ns, "-kill").args(["close", &port.to_string(), "--yes"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("CAP_KILL"), "{stderr}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(matches!(child.0.try_wait(), Ok(None)), "nothing was signalled");

    // The same root with CAP_KILL stops it.
    let out = run(support::portscope_in(&ns).args(["close", &port.to_string(), "--yes"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn root_without_ptrace_shows_no_owner_and_names_the_capability() {
    if skip_without_root("root_without_ptrace_shows_no_owner_and_names_the_capability") {
        return;
    }
    let ns = Netns::new("priv");
    let (_child, port) = nobodys_listener(&ns);
    let out = run(
        portscope_without(&ns, "-sys_ptrace,-dac_read_search,-dac_override").args([
            "list",
            "--json",
            "-p",
            &port.to_string(),
        ]),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sockets: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(sockets.as_array().map(Vec::len), Some(1), "{sockets}");
    assert_eq!(
        sockets[0]["holders"],
        serde_json::json!([]),
        "no owner without the capability"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CAP_SYS_PTRACE"), "{stderr}");

    // With every capability the owner is there.
    let out = run(support::portscope_in(&ns).args(["list", "--json", "-p", &port.to_string()]));
    let sockets: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(sockets[0]["holders"][0]["uid"], 65534, "{sockets}");
}

#[test]
fn non_utf8_arguments_never_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bad = dir.path().join(OsStr::from_bytes(b"\xff\xfe.toml"));
    for args in [
        vec![OsStr::new("audit"), OsStr::new("--allow"), bad.as_os_str()],
        vec![
            OsStr::new("lookup"),
            OsStr::new("ssh"),
            OsStr::new("--services"),
            bad.as_os_str(),
        ],
        vec![OsStr::new("baseline"), OsStr::new("check"), bad.as_os_str()],
        vec![OsStr::new("lookup"), OsStr::from_bytes(b"\xff")],
        vec![OsStr::new("explain"), OsStr::from_bytes(b"80\xff")],
    ] {
        let out = run(portscope().args(&args));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn a_scan_report_goes_to_a_non_utf8_path() {
    if skip_without_root("a_scan_report_goes_to_a_non_utf8_path") {
        return;
    }
    let ns = Netns::new("priv");
    let dir = tempfile::tempdir().expect("temp dir");
    let xml = dir.path().join(OsStr::from_bytes(b"\xff.xml"));
    // One probe to the namespace's own loopback, where nothing listens on port 1.
    let out = run(support::portscope_in(&ns)
        .args(["scan", "127.0.0.1", "-p", "1", "-oX"])
        .arg(&xml));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&xml).expect("the XML report was written");
    assert!(
        written.contains("<port protocol=\"tcp\" portid=\"1\">"),
        "{written}"
    );
    assert!(
        written.contains("\\xFF") || written.contains('\u{fffd}'),
        "args shown lossily: {written}"
    );
}
