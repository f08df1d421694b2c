//! Persistence on a live host (root, namespaces): a copy of python3 in a scratch directory under
//! /tmp runs a listener in a namespace; a fake root (PORTSCOPE_PERSISTENCE_ROOT, so the machine's
//! own /etc is never touched) holds a cron.d line and a user's crontab that launch it, plus traps
//! (a cron.d link to /dev/zero, a FIFO in the crontab spool). `explain PORT` names both entries
//! with file, line and removal, and notes the traps; `audit --persistence` has them in JSON.

use crate::support;

use std::os::unix::fs::symlink;
use std::process::Stdio;

use support::{Guard, Netns, first_line, portscope_in, run, skip_without_root};

fn write(root: &std::path::Path, host: &str, text: &str) {
    let path = root.join(host.trim_start_matches('/'));
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn explain_names_the_cron_lines_that_launch_a_listener_from_tmp() {
    if skip_without_root("explain_names_the_cron_lines_that_launch_a_listener_from_tmp") {
        return;
    }
    let scratch = tempfile::Builder::new()
        .prefix("ps-persist-bin-")
        .tempdir_in("/tmp")
        .unwrap();
    let fake = tempfile::Builder::new()
        .prefix("ps-persist-root-")
        .tempdir_in("/tmp")
        .unwrap();
    let python = scratch.path().join("python3");
    std::fs::copy("/usr/bin/python3", &python).unwrap();
    let script = scratch.path().join("srv.py");
    std::fs::write(
        &script,
        "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(4)\n\
         print(s.getsockname()[1],flush=True)\ntime.sleep(60)\n",
    )
    .unwrap();
    let (python_text, script_text) = (python.to_str().unwrap(), script.to_str().unwrap());

    let root = fake.path();
    write(
        root,
        "/etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    );
    write(
        root,
        "/etc/cron.d/portscope-test",
        &format!("# planted by the test\n*/5 * * * * root {python_text} {script_text} >/dev/null 2>&1\n"),
    );
    write(
        root,
        "/var/spool/cron/crontabs/alice",
        &format!("@reboot cd {} && ./python3 srv.py\n", scratch.path().display()),
    );
    write(root, "/home/alice/.bashrc", "alias ll='ls -l'\n");
    symlink("/dev/zero", root.join("etc/cron.d/zero")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("var/spool/cron/crontabs/fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();

    let ns = Netns::new("persist");
    let mut listener = Guard::spawn(ns.command(python_text).arg(script_text).stdout(Stdio::piped()));
    let port = first_line(&mut listener);

    let out = run(portscope_in(&ns)
        .env("PORTSCOPE_PERSISTENCE_ROOT", root)
        .args(["explain", &port]));
    let text = String::from_utf8_lossy(&out.stdout);
    let notes = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}\n{notes}");
    let section = text
        .split("Starts again from:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        section.contains("    cron /etc/cron.d/portscope-test line 2, runs as root\n"),
        "{text}"
    );
    assert!(
        section.contains("      to remove: edit /etc/cron.d/portscope-test line 2\n"),
        "{text}"
    );
    assert!(
        section.contains("    user crontab /var/spool/cron/crontabs/alice line 1, of user alice\n"),
        "{text}"
    );
    assert!(
        section.contains("      to remove: crontab -e -u alice (line 1)\n"),
        "{text}"
    );
    assert!(!section.contains(".bashrc"), "{text}");
    assert!(
        notes.contains("/etc/cron.d/zero (a symbolic link to /dev/zero (not followed))"),
        "{notes}"
    );
    assert!(
        notes.contains("/var/spool/cron/crontabs/fifo (a FIFO (not read))"),
        "{notes}"
    );

    let out = run(portscope_in(&ns)
        .env("PORTSCOPE_PERSISTENCE_ROOT", root)
        .args(["explain", &port, "--json"]));
    crate::schema::validate("explain", &out.stdout);
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        value["persistence"]["holders"][0]["entries"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{value}"
    );

    // audit: the copy from /tmp is flagged (a warning), so --persistence looks for it.
    let out = run(portscope_in(&ns).env("PORTSCOPE_PERSISTENCE_ROOT", root).args([
        "audit",
        "--persistence",
        "--json",
    ]));
    crate::schema::validate("audit", &out.stdout);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let holder = report["persistence"]["holders"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["pid"] == listener.pid()))
        .unwrap_or_else(|| panic!("{report}"));
    let files: Vec<&str> = holder["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["file"].as_str())
        .collect();
    assert_eq!(
        files,
        ["/etc/cron.d/portscope-test", "/var/spool/cron/crontabs/alice"],
        "{holder}"
    );
}
