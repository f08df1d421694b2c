//! Audit situations on recorded hosts: each file in tests/hosts/ is a fixture host (see
//! `portscope_fixture`) plus the findings `audit` must report on it, exactly. One runner
//! plays them all, without root and without starting anything; a new situation is a new file.
//! The live namespace scenarios (crates/portscope/tests/audit_scenarios) prove the same rules
//! against the kernel.

use std::path::Path;

use portscope_core::audit::{self, Finding, allow, expected::Expected};
use portscope_core::knowledge::ServiceNames;
use portscope_core::platform::Query;
use portscope_core::platform::prelude::*;
use portscope_fixture::FixturePlatform;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    description: String,
    #[serde(default)]
    deep: bool,
    /// An allow-list, as `--allow` would read it.
    allow: Option<String>,
    /// A services(5) file that names ports here (the user's `--services`).
    services: Option<String>,
    #[serde(default)]
    silenced: usize,
    #[serde(default)]
    expect: Vec<Expect>,
    /// The rules the platform gave no evidence for, as the report names them
    /// (`hidden-process (listed_pids)`), exactly and in the order the rules run; absent: none.
    #[serde(default)]
    not_checked: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    check: String,
    severity: String,
    /// The port of the finding's first socket (local, or remote for a connection out), if any.
    port: Option<u16>,
    pid: Option<u32>,
    /// Texts the reason must contain.
    #[serde(default)]
    reason: Vec<String>,
    /// Text the next step must contain.
    next_step: Option<String>,
}

impl Expect {
    fn matches(&self, finding: &Finding) -> bool {
        let port_ok = self.port.is_none_or(|port| {
            finding
                .sockets
                .iter()
                .any(|s| s.local.port == port || s.remote.is_some_and(|r| r.port == port))
        });
        finding.check.as_str() == self.check
            && finding.severity.as_str() == self.severity
            && port_ok
            && self
                .pid
                .is_none_or(|pid| finding.process.as_ref().is_some_and(|p| p.pid == pid))
            && self.reason.iter().all(|r| finding.reason.contains(r.as_str()))
            && self
                .next_step
                .as_deref()
                .is_none_or(|step| finding.next_step.as_deref().is_some_and(|s| s.contains(step)))
    }
}

fn play(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| e.to_string())?;
    let mut own = toml::Table::new();
    for key in [
        "description",
        "deep",
        "allow",
        "services",
        "silenced",
        "expect",
        "not_checked",
    ] {
        if let Some(value) = table.remove(key) {
            own.insert(key.into(), value);
        }
    }
    let scenario: Scenario = own.try_into().map_err(|e| format!("scenario: {e}"))?;
    let host = FixturePlatform::from_table(table).map_err(|e| e.to_string())?;
    let names = match &scenario.services {
        Some(text) => ServiceNames::from_files(Some((&"services".into(), text.as_bytes())), None)?,
        None => ServiceNames::iana(),
    };
    let options = audit::Options {
        deep: scenario.deep,
        allow: match &scenario.allow {
            Some(text) => allow::parse(text.as_bytes())?,
            None => Vec::new(),
        },
        names,
    };
    let snapshot = host.snapshot(&Query::default()).map_err(|e| e.to_string())?;
    let expected = Expected::built_in().map_err(|e| e.to_string())?;
    let report = audit::run(&host, &snapshot, &expected, &options).map_err(|e| e.to_string())?;
    let show = |f: &Finding| {
        format!(
            "  {} {} {:?}: {}",
            f.severity,
            f.check.as_str(),
            f.sockets.first().map(|s| s.local),
            f.reason
        )
    };
    let mut problems = Vec::new();
    for expect in &scenario.expect {
        if !report.findings.iter().any(|f| expect.matches(f)) {
            problems.push(format!(
                "missing {} {} {:?} {:?}",
                expect.severity, expect.check, expect.port, expect.reason
            ));
        }
    }
    for finding in &report.findings {
        if !scenario.expect.iter().any(|e| e.matches(finding)) {
            problems.push(format!("unexpected{}", show(finding)));
        }
    }
    if report.summary.silenced != scenario.silenced {
        problems.push(format!(
            "silenced {} findings, expected {}",
            report.summary.silenced, scenario.silenced
        ));
    }
    let not_checked: Vec<String> = report
        .not_checked
        .iter()
        .map(|n| format!("{} ({})", n.check, n.fact))
        .collect();
    if not_checked != scenario.not_checked {
        problems.push(format!(
            "not checked {not_checked:?}, expected {:?}",
            scenario.not_checked
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        let all: Vec<String> = report.findings.iter().map(show).collect();
        Err(format!(
            "{}\n{}\nall findings:\n{}",
            scenario.description,
            problems.join("\n"),
            all.join("\n")
        ))
    }
}

#[test]
fn every_recorded_host() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/hosts exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "only {} host files", files.len());
    let failures: Vec<String> = files
        .iter()
        .filter_map(|path| play(path).err().map(|e| format!("{}: {e}", path.display())))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_row_shows_its_worst_finding() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/reverse-shell.toml");
    let mut table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for key in ["description", "expect"] {
        table.remove(key);
    }
    let host = FixturePlatform::from_table(table).unwrap();
    let snapshot = host.snapshot(&Query::default()).unwrap();
    let options = audit::Options {
        deep: false,
        allow: Vec::new(),
        names: ServiceNames::iana(),
    };
    let report = audit::run(&host, &snapshot, &Expected::built_in().unwrap(), &options).unwrap();
    let verdicts = report.verdicts();
    // A warning (abuse-port) and an alert (shell-socket) about one connection: the row says alert.
    assert_eq!(verdicts.len(), 1, "{verdicts:?}");
    assert_eq!(
        verdicts.get(&snapshot.sockets[0].inode),
        Some(&audit::Severity::Alert)
    );
}

/// The host of tests/hosts/unsupported-facts.toml, with or without its `unsupported` list.
fn unsupported_host(declared: bool) -> FixturePlatform {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts/unsupported-facts.toml");
    let mut table: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for key in ["description", "deep", "not_checked"] {
        table.remove(key);
    }
    if !declared {
        table["host"].as_table_mut().unwrap().remove("unsupported");
    }
    FixturePlatform::from_table(table).unwrap()
}

fn deep_audit(host: &FixturePlatform) -> audit::Report {
    audit_with(host, true)
}

fn audit_with(host: &FixturePlatform, deep: bool) -> audit::Report {
    let snapshot = host.snapshot(&Query::default()).unwrap();
    let options = audit::Options {
        deep,
        allow: Vec::new(),
        names: ServiceNames::iana(),
    };
    audit::run(host, &snapshot, &Expected::built_in().unwrap(), &options).unwrap()
}

#[test]
fn an_unsupported_fact_skips_its_rule_and_says_so_once() {
    // The same host where the facts exist: the rules do find something.
    let supported = deep_audit(&unsupported_host(false));
    let checks: Vec<&str> = supported.findings.iter().map(|f| f.check.as_str()).collect();
    assert!(checks.contains(&"hidden-process"), "{checks:?}");
    assert_eq!(
        checks.iter().filter(|c| **c == "unpackaged").count(),
        2,
        "{checks:?}"
    );
    assert!(supported.not_checked.is_empty());

    // Without them: not a finding (nothing is called hidden or unpackaged) ...
    let report = deep_audit(&unsupported_host(true));
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.worst(), None);
    // ... and not a silent clean result either: each rule is named once, with its fact,
    // although hidden-process would ask for the listing twice and unpackaged asks per process.
    let lines: Vec<String> = report.not_checked.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "not checked on this platform: unpackaged (package_owners)",
            "not checked on this platform: hidden-process (listed_pids)",
        ]
    );
    // JSON carries the list; a report with nothing skipped has no such key.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(
        json["not_checked"],
        serde_json::json!([
            {"check": "unpackaged", "fact": "package_owners"},
            {"check": "hidden-process", "fact": "listed_pids"},
        ])
    );
    assert!(
        serde_json::to_value(&supported)
            .unwrap()
            .get("not_checked")
            .is_none()
    );
}

#[test]
fn a_fixture_refuses_an_unknown_unsupported_fact() {
    let err = FixturePlatform::from_toml("[host]\nunsupported = [\"snapshot\"]\n").unwrap_err();
    assert!(err.to_string().contains("not an optional fact"), "{err}");
}

/// Every recorded host, played once per optional fact with that fact unsupported: no finding is
/// more severe than with the fact, and a rule that loses its findings says it was not checked.
#[test]
fn no_unsupported_fact_reads_as_clean_or_suspicious() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hosts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut problems = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let mut base: toml::Table = toml::from_str(&text).unwrap();
        // As the scenario runs (the --deep rules only where it asks for them), to stay quick.
        let deep = base.get("deep").and_then(toml::Value::as_bool).unwrap_or(false);
        for key in [
            "description",
            "deep",
            "allow",
            "services",
            "silenced",
            "expect",
            "not_checked",
        ] {
            base.remove(key);
        }
        let host_of = |unsupported: &[&str]| {
            let mut table = base.clone();
            let host = table
                .entry("host")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .unwrap();
            let list: Vec<toml::Value> = unsupported.iter().map(|s| toml::Value::from(*s)).collect();
            host.insert("unsupported".into(), toml::Value::Array(list));
            // The hidden-process probe asks every pid below pid_max: keep the matrix quick.
            host.entry("pid_max").or_insert(toml::Value::from(1000));
            FixturePlatform::from_table(table).unwrap()
        };
        let supported = audit_with(&host_of(&[]), deep);
        for fact in portscope_core::platform::OPTIONAL_FACTS {
            let report = audit_with(&host_of(&[fact]), deep);
            let name = format!("{} without {fact}", path.file_name().unwrap().to_string_lossy());
            for finding in &report.findings {
                let pid = finding.process.as_ref().map(|p| p.pid);
                let covered = supported.findings.iter().any(|g| {
                    g.check == finding.check
                        && g.process.as_ref().map(|p| p.pid) == pid
                        && g.severity >= finding.severity
                });
                if !covered {
                    problems.push(format!(
                        "{name}: more suspicious: {} {}",
                        finding.severity, finding.reason
                    ));
                }
            }
            for lost in &supported.findings {
                let kept = report.findings.iter().any(|f| f.check == lost.check);
                let said = report.not_checked.iter().any(|n| n.check == lost.check);
                if !kept && !said {
                    problems.push(format!("{name}: {} silently clean", lost.check));
                }
            }
            let mut seen = report.not_checked.clone();
            seen.dedup();
            if seen.len() != report.not_checked.len() {
                problems.push(format!("{name}: not checked named twice"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
