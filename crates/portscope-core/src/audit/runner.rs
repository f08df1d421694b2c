//! Runs the checks over one snapshot, drops what the allow-list silences, and orders the rest
//! most severe first.

use serde::Serialize;

use crate::error::Result;
use crate::knowledge::ServiceNames;
use crate::model::Snapshot;
use crate::platform::Platform;

use super::allow::Rule;
use super::checks::{self, Out};
use super::context::Context;
use super::expected::Expected;
use super::finding::{Finding, NotChecked, Severity};

/// What a run should do beyond the passive checks.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Also probe every port for hidden listeners.
    pub deep: bool,
    pub allow: Vec<Rule>,
    /// The names ports go by (the user's services file and /etc/services over IANA's).
    pub names: ServiceNames,
}

/// Counts by severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub alert: usize,
    pub warning: usize,
    pub info: usize,
    /// Findings the allow-list silenced.
    pub silenced: usize,
}

/// The outcome of one audit.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub summary: Summary,
    /// How the audit looked and what it could not check.
    pub notes: Vec<String>,
    /// Rules skipped because this platform does not provide their evidence, each named once, in
    /// the order the rules run (`not checked on this platform: <rule> (<fact>)`). Absent from
    /// JSON when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_checked: Vec<NotChecked>,
}

impl Report {
    /// The most severe finding's severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).max()
    }

    /// The worst finding about each socket, by inode: the verdict a front end shows on the
    /// socket's row (`list`, `top`). Sockets no finding names are absent.
    pub fn verdicts(&self) -> std::collections::HashMap<u64, Severity> {
        let mut worst = std::collections::HashMap::new();
        for finding in &self.findings {
            for socket in &finding.sockets {
                let verdict = worst.entry(socket.inode).or_insert(finding.severity);
                *verdict = (*verdict).max(finding.severity);
            }
        }
        worst
    }
}

pub fn run(
    platform: &dyn Platform,
    snapshot: &Snapshot,
    expected: &Expected,
    options: &Options,
) -> Result<Report> {
    let ctx = Context::new(platform, snapshot, expected, &options.names);
    let mut out = Out::default();
    for check in checks::PASSIVE {
        check(&ctx, &mut out);
    }
    if options.deep {
        checks::hidden_listener::check(&ctx, &mut out)?;
        for check in checks::DEEP {
            check(&ctx, &mut out);
        }
    }
    for finding in &mut out.findings {
        if finding.next_step.is_none() {
            finding.next_step = super::advice::next_step(finding);
        }
    }
    // portscope itself (a `scan -sS` holding raw sockets, another `top`) is known by its
    // executable file, not its name, and is no finding.
    let mut own: std::collections::HashMap<u32, bool> = std::collections::HashMap::new();
    out.findings.retain(|finding| {
        finding.process.as_ref().is_none_or(|p| {
            !*own
                .entry(p.pid)
                .or_insert_with(|| platform.runs_own_executable(p.pid))
        })
    });
    let before = out.findings.len();
    let names = |process: &crate::model::Process, pattern: &str| ctx.program_named(process, pattern);
    // A rule that names a path trusts the file at that path on the host, not one bound over it.
    let impostor = |finding: &Finding| {
        finding
            .process
            .as_ref()
            .is_some_and(|p| platform.exe_is_hosts(p.pid) == Some(false))
    };
    out.findings.retain(|finding| {
        !options.allow.iter().any(|rule| {
            rule.silences(finding, &names) && !(rule.program.starts_with('/') && impostor(finding))
        })
    });
    let silenced = before - out.findings.len();
    out.findings.sort_by(|a, b| {
        let port = |f: &Finding| f.sockets.first().map(|s| (s.local.port, s.protocol));
        let pid = |f: &Finding| f.process.as_ref().map(|p| p.pid);
        b.severity
            .cmp(&a.severity)
            .then(port(a).cmp(&port(b)))
            .then(pid(a).cmp(&pid(b)))
            .then(a.check.cmp(&b.check))
    });
    let count = |s: Severity| out.findings.iter().filter(|f| f.severity == s).count();
    let summary = Summary {
        alert: count(Severity::Alert),
        warning: count(Severity::Warning),
        info: count(Severity::Info),
        silenced,
    };
    out.notes.dedup();
    Ok(Report {
        findings: out.findings,
        summary,
        notes: out.notes,
        not_checked: out.not_checked,
    })
}
