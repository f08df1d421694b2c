//! `portscope lookup` end to end: the built binary, its output and its exit codes.

use crate::support;

use std::process::Output;

use serde_json::Value;
use support::{portscope, run};

fn lookup(args: &[&str]) -> Output {
    run(portscope()
        .arg("lookup")
        .args(args)
        .env_remove("PORTSCOPE_SERVICES"))
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    serde_json::from_str(&stdout(&lookup(&args))).expect("lookup --json prints JSON")
}

fn services(answer: &Value) -> Vec<(String, String, String)> {
    answer["services"]
        .as_array()
        .expect("services array")
        .iter()
        .map(|s| {
            let ports = if s["start"] == s["end"] {
                s["start"].to_string()
            } else {
                format!("{}-{}", s["start"], s["end"])
            };
            (
                ports,
                s["transport"].as_str().unwrap_or("").into(),
                s["name"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

/// The one line a failure prints, and the exit code.
fn failure(args: &[&str]) -> (i32, String) {
    let out = lookup(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.stdout.is_empty(), "{args:?} printed on stdout");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.starts_with("portscope: "), "{stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

#[test]
fn by_number_shows_registry_rows_range_and_caveat() {
    let text = stdout(&lookup(&["80"]));
    assert!(text.contains("well-known"), "{text}");
    assert!(text.contains("World Wide Web HTTP"), "{text}");
    assert!(text.contains("A port number alone proves nothing"), "{text}");
    let answer = json(&["80"]);
    let rows = services(&answer);
    for proto in ["tcp", "udp", "sctp"] {
        assert!(
            rows.contains(&("80".into(), proto.into(), "http".into())),
            "{rows:?}"
        );
    }
    assert_eq!(answer["classes"], serde_json::json!(["well-known"]));
}

#[test]
fn by_range_includes_ranges_that_overlap() {
    let answer = json(&["6000-6010"]);
    let rows = services(&answer);
    assert!(
        rows.contains(&("6000-6063".into(), "tcp".into(), "x11".into())),
        "{rows:?}"
    );
    assert_eq!(
        (answer["start"].as_u64(), answer["end"].as_u64()),
        (Some(6000), Some(6010))
    );
    let text = stdout(&lookup(&["6000-6010"]));
    assert!(
        text.contains("6000-6063") && text.contains("X Window System"),
        "{text}"
    );
}

#[test]
fn by_name_ignores_case() {
    let rows = services(&json(&["SSH"]));
    assert!(
        rows.contains(&("22".into(), "tcp".into(), "ssh".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("22".into(), "sctp".into(), "ssh".into())),
        "{rows:?}"
    );
}

#[test]
fn protocol_flags_and_suffixes_filter() {
    for args in [&["--udp", "53"][..], &["53/udp"][..], &["-u", "53/UDP"][..]] {
        let rows = services(&json(args));
        assert!(
            !rows.is_empty() && rows.iter().all(|r| r.1 == "udp"),
            "{args:?}: {rows:?}"
        );
    }
    let rows = services(&json(&["--sctp", "2049"]));
    assert!(
        rows.iter().all(|r| r.1 == "sctp") && rows.iter().any(|r| r.2 == "nfs"),
        "{rows:?}"
    );
    let rows = services(&json(&["--dccp", "discard"]));
    assert!(rows.iter().all(|r| r.1 == "dccp"), "{rows:?}");
    assert!(
        rows.contains(&("9".into(), "dccp".into(), "discard".into())),
        "{rows:?}"
    );
}

#[test]
fn abuse_rows_come_with_sources() {
    let answer = json(&["31337"]);
    let abuse = answer["abuse"].as_array().expect("abuse array");
    assert!(
        abuse
            .iter()
            .any(|a| a["family"] == "Back Orifice" && a["protocol"] == "udp"),
        "{abuse:?}"
    );
    assert!(
        abuse
            .iter()
            .all(|a| a["source"].as_str().is_some_and(|s| s.starts_with("https://")))
    );
    let text = stdout(&lookup(&["12345"]));
    assert!(text.contains("NetBus") && text.contains("not proof"), "{text}");
    assert!(text.contains("source: https://"), "{text}");
    let quiet = json(&["80/tcp"]);
    assert_eq!(quiet["abuse"], serde_json::json!([]));
    assert!(
        quiet["caveat"]
            .as_str()
            .is_some_and(|c| c.contains("proves nothing"))
    );
}

#[test]
fn unregistered_port_is_an_answer_not_an_error() {
    let text = stdout(&lookup(&["4/tcp"]));
    assert!(text.contains("No service is registered"), "{text}");
}

#[test]
fn unknown_names_exit_6_with_one_line() {
    let (code, line) = failure(&["no-such-service-anywhere"]);
    assert_eq!(code, 6, "{line}");
    assert!(line.contains("no-such-service-anywhere"), "{line}");
    assert_eq!(failure(&["--dccp", "ssh"]).0, 6);
}

#[test]
fn malformed_input_exits_2_with_one_line() {
    for bad in [
        "70000",
        "65536",
        "10-5",
        "80-",
        "80/icmp",
        "a;b",
        "[::1]:80",
        "1.2.3.4:99999",
    ] {
        let (code, line) = failure(&[bad]);
        assert_eq!(code, 2, "{bad}: {line}");
    }
    assert_eq!(failure(&["--tcp", "53/udp"]).0, 2);
    assert_eq!(failure(&["--tcp", "--udp", "53"]).0, 2);
}

#[test]
fn a_user_services_file_adds_and_overrides_names() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("services");
    std::fs::write(
        &file,
        "# mine\nmyapp\t31337/tcp\tmy-alias\t# the team's app\nmyweb 80/tcp\n",
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();

    let rows = services(&json(&["31337/tcp", "--services", file_arg]));
    assert!(
        rows.contains(&("31337".into(), "tcp".into(), "myapp".into())),
        "{rows:?}"
    );
    assert!(
        rows.contains(&("31337".into(), "tcp".into(), "eldim".into())),
        "{rows:?}"
    );

    // The same through the environment, and lookup by the new name and its alias.
    for name in ["myapp", "MY-ALIAS"] {
        let out = run(portscope()
            .args(["lookup", name, "--json"])
            .env("PORTSCOPE_SERVICES", &file));
        let answer: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        let rows = answer["services"].as_array().cloned().unwrap_or_default();
        assert!(
            rows.iter()
                .any(|s| s["name"] == "myapp" && s["source"] == file_arg),
            "{name}: {answer}"
        );
    }

    std::fs::write(&file, "fine 1/tcp\nbroken 99999/tcp\n").unwrap();
    let (code, line) = failure(&["80", "--services", file_arg]);
    assert_eq!(code, 2);
    assert!(line.contains("line 2"), "{line}");
    let (code, _) = failure(&["80", "--services", "/nonexistent/services"]);
    assert_eq!(code, 2);
}

#[test]
fn lookup_by_family_lists_its_ports_and_sources() {
    let text = stdout(&lookup(&["netbus"]));
    for want in [
        "12345/tcp",
        "12346/tcp",
        "NetBus",
        "source: https://",
        "abuse table",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
    // Any spelling people use, and the JSON carries the rows with their sources.
    for name in ["NetBus", "Back Orifice", "backorifice", "SubSeven"] {
        let answer = json(&[name]);
        let rows = answer["abuse"].as_array().expect("abuse array");
        assert!(!rows.is_empty(), "{name}: no rows");
        assert!(
            rows.iter()
                .all(|r| r["source"].as_str().is_some_and(|s| s.starts_with("https://"))),
            "{name}: {rows:?}"
        );
    }
    let ports: Vec<u64> = json(&["back orifice"])["abuse"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["port"].as_u64())
        .collect();
    assert!(ports.contains(&31337), "{ports:?}");
}

#[test]
fn lookup_by_kind_lists_every_row_of_that_kind() {
    for (word, kind) in [
        ("trojan", "trojan"),
        ("trojans", "trojan"),
        ("backdoor", "backdoor"),
    ] {
        let answer = json(&[word]);
        let rows = answer["abuse"].as_array().expect("abuse array");
        assert!(!rows.is_empty(), "{word}: no rows");
        assert!(rows.iter().all(|r| r["kind"] == kind), "{word}: {rows:?}");
    }
    let text = stdout(&lookup(&["trojan"]));
    assert!(text.contains("31337") && text.contains("12345"), "{text}");
}

#[test]
fn lookup_abuse_lists_the_whole_table_with_sources() {
    let table = include_str!("../../portscope-core/data/abuse.tsv");
    let rows: Vec<Vec<&str>> = table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let text = stdout(&lookup(&["--abuse"]));
    for row in &rows {
        let (port, family, source) = (row[0], row[2], row[6]);
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("{port}/")) && l.contains(family)),
            "{port} {family} missing:\n{text}"
        );
        assert!(text.contains(source), "{source} missing");
    }
    let out = lookup(&["--abuse", "--json"]);
    let all: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(all.as_array().map(Vec::len), Some(rows.len()));
    // A name and --abuse together is a usage error, as is neither.
    assert_eq!(failure(&["--abuse", "netbus"]).0, 2);
}

#[test]
fn an_unknown_name_points_at_the_abuse_table() {
    let (code, line) = failure(&["surely-no-such-family"]);
    assert_eq!(code, 6);
    assert!(line.contains("lookup --abuse"), "{line}");
}

#[test]
fn common_usage_is_shown_beside_the_registration() {
    let text = stdout(&lookup(&["8000"]));
    assert!(text.contains("http-alt") && text.contains("common use"), "{text}");
    assert!(text.contains("irdmi") && text.contains("iana"), "{text}");
    let names: Vec<_> = services(&json(&["8888/tcp"])).into_iter().map(|s| s.2).collect();
    assert!(
        names.contains(&"http-alt".to_string()) && names.contains(&"ddi-tcp-1".to_string()),
        "{names:?}"
    );
}

/// The Windows build must print the same (tests/windows.rs compares portscope.exe under Wine to
/// the same file): this keeps the recording true to the Linux build.
#[test]
fn lookup_31337_is_the_answer_recorded_for_windows() {
    let out = lookup(&["31337"]);
    assert_eq!(
        stdout(&out),
        crate::recorded::LOOKUP_31337,
        "regenerate with: NO_COLOR=1 portscope lookup 31337 > crates/portscope/tests/recorded/lookup-31337.txt"
    );
    assert!(crate::recorded::LOOKUP_31337.contains("Back Orifice"));
}
