//! Audit situations as data: each file in tests/audit_scenarios/ describes processes to start
//! inside a fresh network namespace (Python scripts run by the system's python3) and the
//! findings that `portscope audit`, run in the same namespace, must report. One runner plays
//! them all; a new situation is a new file.

use crate::support;

use std::io::Write;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;
use support::{Guard, Netns, first_line, run, skip_without_root};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    #[serde(default)]
    process: Vec<Process>,
    run: Vec<Run>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Process {
    /// Python code; `socket` is imported. The runner adds the "ready" line and the sleep.
    script: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    #[serde(default)]
    args: Vec<String>,
    /// An allow-list written to a temporary file and passed with --allow.
    allow: Option<String>,
    /// The findings must be exactly `expect`, no more.
    #[serde(default)]
    exact: bool,
    exit: i32,
    silenced: Option<u64>,
    /// Text one of the report's notes must contain.
    note: Option<String>,
    #[serde(default)]
    expect: Vec<Expect>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    check: String,
    severity: String,
    /// The local port of the finding's socket, or the remote port of a connection.
    port: u16,
    reason: Vec<String>,
}

impl Expect {
    fn matches(&self, finding: &Value) -> bool {
        let reason = finding["reason"].as_str().unwrap_or_default();
        finding["check"] == self.check.as_str()
            && finding["severity"] == self.severity.as_str()
            && (finding["sockets"][0]["local"]["port"] == self.port
                || finding["sockets"][0]["remote"]["port"] == self.port)
            && self.reason.iter().all(|part| reason.contains(part.as_str()))
    }
}

fn start(ns: &Netns, process: &Process) -> Guard {
    let script = format!(
        "import socket, time\n{}\nprint('ready', flush=True)\ntime.sleep(120)\n",
        process.script.trim()
    );
    let python = std::fs::canonicalize("/usr/bin/python3").expect("/usr/bin/python3 is installed");
    let mut cmd = ns.command(python.to_str().expect("utf-8 path"));
    cmd.args(["-c", &script]).stdout(std::process::Stdio::piped());
    let mut guard = Guard::spawn(&mut cmd);
    assert_eq!(
        first_line(&mut guard),
        "ready",
        "a scenario process failed to start"
    );
    guard
}

fn play(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let scenario: Scenario = toml::from_str(&text).map_err(|e| format!("bad scenario: {e}"))?;
    let ns = Netns::new("audsc");
    let _processes: Vec<Guard> = scenario.process.iter().map(|p| start(&ns, p)).collect();
    for (i, step) in scenario.run.iter().enumerate() {
        let context = format!("{} (run {i}: {})", scenario.description, step.args.join(" "));
        let allow = step.allow.as_ref().map(|toml| {
            let mut file = tempfile::NamedTempFile::new().expect("temp file");
            file.write_all(toml.as_bytes()).expect("write allow-list");
            file
        });
        let mut cmd = ns.command(env!("CARGO_BIN_EXE_portscope"));
        cmd.env("NO_COLOR", "1")
            .args(["audit", "--json"])
            .args(&step.args);
        if let Some(file) = &allow {
            cmd.arg("--allow").arg(file.path());
        }
        let out = run(&mut cmd);
        let report: Value = serde_json::from_slice(&out.stdout).map_err(|e| {
            format!(
                "{context}: no JSON ({e}); stderr: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        let findings = report["findings"].as_array().cloned().unwrap_or_default();
        for expect in &step.expect {
            if !findings.iter().any(|f| expect.matches(f)) {
                return Err(format!(
                    "{context}: no {} {} finding on port {} with {:?} in {findings:#?}",
                    expect.severity, expect.check, expect.port, expect.reason
                ));
            }
        }
        if step.exact && findings.len() != step.expect.len() {
            return Err(format!(
                "{context}: expected exactly {} findings, got {findings:#?}",
                step.expect.len()
            ));
        }
        if out.status.code() != Some(step.exit) {
            return Err(format!(
                "{context}: exit {:?}, expected {}",
                out.status.code(),
                step.exit
            ));
        }
        if let Some(silenced) = step.silenced
            && report["summary"]["silenced"] != silenced
        {
            return Err(format!(
                "{context}: silenced {}, expected {silenced}",
                report["summary"]["silenced"]
            ));
        }
        if let Some(note) = &step.note {
            let notes = report["notes"].as_array().cloned().unwrap_or_default();
            if !notes
                .iter()
                .any(|n| n.as_str().is_some_and(|n| n.contains(note.as_str())))
            {
                return Err(format!("{context}: no note containing {note:?} in {notes:?}"));
            }
        }
    }
    Ok(())
}

#[test]
fn audit_scenarios() {
    if skip_without_root("audit_scenarios") {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/audit_scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenario directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenarios in {}", dir.display());
    let failures: Vec<String> = paths
        .iter()
        .filter_map(|path| play(path).err().map(|e| format!("{}: {e}", path.display())))
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scenarios failed:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n\n")
    );
}
