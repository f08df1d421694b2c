//! What a user who mistypes sees: clap's whole message (the missing argument, "did you mean",
//! the valid values, the usage line) on one line after `portscope: `, and exit 2; nmap's spellings mapped or
//! refused with a hint.

use crate::support;

use support::{portscope, run};

fn usage_error(args: &[&str]) -> String {
    let out = run(portscope().args(args));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}");
    assert!(stderr.starts_with("portscope: "), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains('\x1b'), "no colour codes in a pipe: {stderr:?}");
    stderr
}

#[test]
fn clap_keeps_its_useful_part() {
    let text = usage_error(&["explain"]);
    assert!(
        text.contains("<PORT>") && text.contains("Usage: portscope explain"),
        "{text}"
    );
    let text = usage_error(&["lsit"]);
    assert!(text.contains("'list'"), "did you mean: {text}");
    let text = usage_error(&["list", "--listen"]);
    assert!(text.contains("--listening"), "{text}");
    let text = usage_error(&["audit", "--fail-on", "bad"]);
    assert!(text.contains("alert"), "the valid values: {text}");
    let text = usage_error(&["list", "-p", "nosuchservice"]);
    assert!(
        text.contains("nosuchservice") && text.contains("1-65535"),
        "{text}"
    );
}

#[test]
fn a_port_can_be_a_service_name() {
    let out = run(portscope().args(["list", "-p", "http", "--json"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn nmap_spellings_are_mapped_or_refused_with_a_hint() {
    // Mapped: -sV is --banner, -sS/-sT/-sU are --syn/--connect/--udp, -Pn/-n are what portscope
    // always does; the remaining error is the missing target, not the nmap flags.
    let text = usage_error(&["scan", "-sT", "-sV", "-Pn", "-n"]);
    assert!(text.contains("no targets"), "{text}");
    let text = usage_error(&["scan", "-sS", "-sU"]);
    assert!(text.contains("no targets"), "{text}");
    let text = usage_error(&["scan", "-T4", "198.18.0.2"]);
    assert!(text.contains("--rate"), "{text}");
    let text = usage_error(&["scan", "-O", "198.18.0.2"]);
    assert!(text.contains("--banner"), "{text}");
}

/// Every duration flag is bounded at the edge: a wait is added to the clock, and
/// `18446744073709551615s` overflowed it (`watch --interval` panicked) while a century hung.
#[test]
fn every_duration_flag_is_bounded() {
    let huge = "18446744073709551615s";
    for args in [
        &["watch", "--interval", huge][..],
        &["watch", "--for", huge],
        &["watch", "--exec-timeout", "400days"],
        &["close", "7", "--timeout", huge],
        &["close", "7", "--watch", huge],
        &["top", "--interval", huge],
        &["exporter", "--interval", huge],
        &["scan", "198.18.0.2", "--max-rtt-timeout", huge],
    ] {
        let text = usage_error(args);
        assert!(
            text.contains("out of range") || text.contains("not a duration"),
            "{args:?}: {text}"
        );
    }
    // Within range, the same flags are taken (the run then stops at its own bound).
    let out = run(portscope().args(["watch", "--interval", "100ms", "--for", "0s", "--no-history"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
