//! The command line as a user sees it: help text snapshots (insta), so a change to a flag shows
//! up in review.

use crate::support;

use support::{portscope, run};

fn help(args: &[&str]) -> String {
    let out = run(portscope().args(args).arg("--help").env("COLUMNS", "100"));
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn list_help() {
    insta::assert_snapshot!(help(&["list"]));
}

#[test]
fn top_level_help_names_every_command() {
    let text = help(&[]);
    for command in [
        "list", "lookup", "explain", "audit", "close", "scan", "top", "watch", "history", "baseline",
    ] {
        assert!(
            text.contains(&format!("  {command}")),
            "{command} missing from --help"
        );
    }
}

#[test]
fn every_command_has_examples() {
    for command in [
        "list",
        "lookup",
        "explain",
        "audit",
        "close",
        "scan",
        "watch",
        "history",
        "baseline",
        "exporter",
        "completions",
        "man",
    ] {
        let text = help(&[command]);
        assert!(
            text.contains(&format!("Examples:\n  portscope {command}"))
                || text.contains(&format!("Examples:\n  sudo portscope {command}")),
            "{command} --help has no examples:\n{text}"
        );
    }
}
