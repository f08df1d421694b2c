//! `portscope baseline save/check` against real listeners in a network namespace of its own.

use crate::support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{Netns, first_line, python_listener, run, skip_without_root};

fn baseline(ns: &Netns, args: &[&str], file: &Path) -> Output {
    run(ns
        .command(env!("CARGO_BIN_EXE_portscope"))
        .env("NO_COLOR", "1")
        .arg("baseline")
        .args(args)
        .arg(file))
}

#[test]
fn save_check_round_trip_and_a_new_listener_fails_the_check() {
    if skip_without_root("save_check_round_trip_and_a_new_listener_fails_the_check") {
        return;
    }
    let ns = Netns::new("w7b");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.toml");
    let mut web = python_listener(Some(&ns), "tcp", "127.0.0.1", 7101);
    let mut dns = python_listener(Some(&ns), "udp", "::", 7102);
    assert_eq!(first_line(&mut web), "7101");
    assert_eq!(first_line(&mut dns), "7102");

    let out = baseline(&ns, &["save"], &file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(
            "[[listener]]\nport = 7101\nprotocol = \"tcp\"\naddress = \"127.0.0.1\"\nprogram = \"python3\"\n"
        ),
        "{text}"
    );
    assert!(
        text.find("port = 7101") < text.find("port = 7102"),
        "sorted by port: {text}"
    );

    // Saving the same machine again gives the same bytes: diffs show only real changes.
    let again = dir.path().join("again.toml");
    assert!(baseline(&ns, &["save"], &again).status.success());
    assert_eq!(std::fs::read(&again).unwrap(), text.as_bytes());

    let out = baseline(&ns, &["check"], &file);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: all 2 listening ports match"));

    // A new listener: exit 1, named with its program and pid.
    let mut intruder = python_listener(Some(&ns), "tcp", "0.0.0.0", 4444);
    assert_eq!(first_line(&mut intruder), "4444");
    let out = baseline(&ns, &["check"], &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let new_rows: Vec<&str> = stdout.lines().filter(|l| l.starts_with("new")).collect();
    assert_eq!(new_rows.len(), 1, "{stdout}");
    assert!(new_rows[0].contains("0.0.0.0:4444"), "{stdout}");
    assert!(
        new_rows[0].contains(&format!("python3 (pid {}", intruder.pid())),
        "{stdout}"
    );

    let out = baseline(&ns, &["check", "--json"], &file);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["new"][0]["port"], 4444);
    assert_eq!(report["new"][0]["owner"]["program"], "python3");
    assert_eq!(report["matched"], 2);

    // A listener that went away is reported, but only new listeners fail the check.
    drop(intruder);
    drop(dns);
    let out = baseline(&ns, &["check"], &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("missing") && l.contains("[::]:7102")),
        "{stdout}"
    );
}

#[test]
fn another_program_on_a_baseline_port_fails_the_check() {
    if skip_without_root("another_program_on_a_baseline_port_fails_the_check") {
        return;
    }
    let ns = Netns::new("w7c");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.toml");
    std::fs::write(
        &file,
        "[[listener]]\nport = 7201\nprotocol = \"tcp\"\naddress = \"127.0.0.1\"\nprogram = \"sshd\"\n\n\
         [[listener]]\nport = 7202\nprotocol = \"tcp\"\naddress = \"127.0.0.1\"\n",
    )
    .unwrap();
    let mut fake = python_listener(Some(&ns), "tcp", "127.0.0.1", 7201);
    let mut any = python_listener(Some(&ns), "tcp", "127.0.0.1", 7202);
    assert_eq!(first_line(&mut fake), "7201");
    assert_eq!(first_line(&mut any), "7202");
    let out = baseline(&ns, &["check"], &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let changed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("changed")).collect();
    assert_eq!(changed.len(), 1, "{stdout}");
    assert!(
        changed[0].contains("127.0.0.1:7201") && changed[0].ends_with("sshd"),
        "{stdout}"
    );
}

#[test]
fn bad_baselines_are_one_line_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[listener]]\nport = 99999\nprotocol = \"tcp\"\naddress = \"::\"\n",
    )
    .unwrap();
    for file in [bad, dir.path().join("missing.toml")] {
        let out = run(support::portscope().args(["baseline", "check"]).arg(&file));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(&*file.to_string_lossy()), "{err}");
    }
    let out = run(support::portscope().args(["baseline", "save", "/proc/nope/baseline.toml"]));
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
}

#[test]
fn a_same_named_binary_from_another_path_fails_the_check() {
    if skip_without_root("a_same_named_binary_from_another_path_fails_the_check") {
        return;
    }
    let ns = Netns::new("w14b");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.toml");
    let script = "import socket,time\ns=socket.socket()\n\
                  s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
                  s.bind(('127.0.0.1',7204));s.listen(4)\nprint('up',flush=True)\ntime.sleep(120)\n";
    let python = std::fs::canonicalize("/usr/bin/python3").unwrap();
    let mut real = support::Guard::spawn(
        ns.command(python.to_str().unwrap())
            .args(["-c", script])
            .stdout(std::process::Stdio::piped()),
    );
    assert_eq!(first_line(&mut real), "up");
    let out = baseline(&ns, &["save"], &file);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let saved = std::fs::read_to_string(&file).unwrap();
    assert!(
        saved.contains(&format!("exe = \"{}\"", python.display())),
        "{saved}"
    );
    drop(real);

    // The same file name, copied to /tmp-like place: same `comm`, another executable.
    let copy = dir.path().join(python.file_name().unwrap());
    std::fs::copy(&python, &copy).unwrap();
    let mut fake = support::Guard::spawn(
        ns.command(copy.to_str().unwrap())
            .args(["-c", script])
            .stdout(std::process::Stdio::piped()),
    );
    assert_eq!(first_line(&mut fake), "up");
    let out = baseline(&ns, &["check"], &file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("changed") && l.contains(":7204")),
        "{stdout}"
    );
}

/// Issue 23, point 12: a baseline names the namespace of each listener, so the same address and
/// port in another namespace (a new container) is new, not "in the baseline". portscope runs in
/// the test's own host namespace and looks into one named namespace at a time (`--netns NAME`).
#[test]
fn the_same_port_in_another_namespace_fails_the_check() {
    if skip_without_root("the_same_port_in_another_namespace_fails_the_check") {
        return;
    }
    let known = Netns::new("w12a");
    let stranger = Netns::new("w12b");
    let mut web = python_listener(Some(&known), "tcp", "127.0.0.1", 7131);
    let mut copy = python_listener(Some(&stranger), "tcp", "127.0.0.1", 7131);
    assert_eq!(first_line(&mut web), "7131");
    assert_eq!(first_line(&mut copy), "7131");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baseline.toml");
    let in_ns = |ns: &Netns, args: &[&str]| {
        run(std::process::Command::new(env!("CARGO_BIN_EXE_portscope"))
            .env("NO_COLOR", "1")
            .args(["--netns", &ns.name, "baseline"])
            .args(args)
            .arg(&file))
    };
    let out = in_ns(&known, &["save"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains(&format!(
            "port = 7131\nprotocol = \"tcp\"\naddress = \"127.0.0.1\"\nnetns = \"{}\"\n",
            known.name
        )),
        "the listener names its namespace: {text}"
    );
    let out = in_ns(&known, &["check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = in_ns(&stranger, &["check", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the same port in another namespace passed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(report["new"][0]["port"], 7131, "{report}");
    assert_eq!(report["new"][0]["netns"], stranger.name.as_str(), "{report}");
    assert_eq!(report["missing"][0]["netns"], known.name.as_str(), "{report}");
    let out = in_ns(&stranger, &["check"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.lines().next().is_some_and(|h| h.contains("NETNS")) && table.contains(&stranger.name),
        "{table}"
    );
}
