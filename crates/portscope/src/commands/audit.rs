//! `portscope audit`: run the audit checks over the machine's sockets and print each finding
//! with its severity, socket, process and reason. Exit 1 when a finding reaches `--fail-on`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::audit::{self, Finding, Severity, allow, expected::Expected};
use crate::error::{Error, ExitCode, Result};
use crate::files;
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::platform::{Platform, Query};
use crate::privilege;

use super::lookup::LocalNamesArgs;

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  sudo portscope audit            every finding, with the exact `portscope close ...` for each
  portscope audit --fail-on warning && echo clean
  portscope audit --allow allow.toml --json")]
pub struct AuditArgs {
    /// Exit with code 1 when a finding of this severity or worse is found.
    #[arg(long, value_name = "SEVERITY", default_value = "alert", value_parser = severity)]
    pub fail_on: Severity,
    /// Silence the program and port pairs listed in this TOML file ([[allow]] program, port, check).
    #[arg(long, value_name = "FILE")]
    pub allow: Option<PathBuf>,
    /// Also look for what a rootkit hides: listeners (bind every port; bind only, no traffic),
    /// processes (ask every pid with kill(pid, 0)), eBPF programs, and the kernel's taint flags.
    #[arg(long)]
    pub deep: bool,
    /// Print the report as JSON: findings, summary and notes.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// `--fail-on`: one of the severities, as clap lists them.
fn severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("{text:?} is not a severity (info, warning, alert)"))
}

pub fn run(args: &AuditArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let allow = match &args.allow {
        Some(path) => {
            let bytes = files::read_bounded(path, "allow-list file", files::MAX_INPUT)?;
            allow::parse(&bytes).map_err(|message| Error::Usage(format!("{}: {message}", path.display())))?
        }
        None => Vec::new(),
    };
    let expected = Expected::built_in()?;
    let snapshot = host.snapshot(&Query::default())?;
    for note in &snapshot.notes {
        output::note(note);
    }
    let options = audit::Options {
        deep: args.deep,
        allow,
        names: args.names.load()?,
    };
    let report = audit::run(host, &snapshot, &expected, &options)?;

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.json {
        output::json(&mut out, &report)?;
    } else {
        write_text(&mut out, &report, ui)?;
    }
    out.flush()?;
    for note in &report.notes {
        output::note(note);
    }
    if let Some(note) = privilege::hidden_owners_note_naming(
        snapshot.unreadable_processes,
        &snapshot.unreadable_owners,
        host.privileges(),
    ) {
        output::note(&note);
    }
    Ok(match report.worst() {
        Some(worst) if worst >= args.fail_on => ExitCode::Found,
        _ => ExitCode::Ok,
    })
}

/// The report as a table, the close commands, the summary line and the rules not checked.
fn write_text(out: &mut impl Write, report: &audit::Report, ui: Ui) -> Result<()> {
    if report.findings.is_empty() {
        writeln!(out, "no findings")?;
    } else {
        table(&report.findings).write(out, ui)?;
        write_close_commands(out, &report.findings)?;
    }
    let s = &report.summary;
    let silenced = if s.silenced > 0 {
        format!(", {} silenced by --allow", s.silenced)
    } else {
        String::new()
    };
    writeln!(
        out,
        "\n{} alert, {} warning, {} info{silenced}",
        s.alert, s.warning, s.info
    )?;
    // Rules this platform gives no evidence for: neither clean nor findings, said once.
    for skipped in &report.not_checked {
        writeln!(out, "{skipped}")?;
    }
    Ok(())
}

/// After the table: for each alert and warning, the exact `portscope close …` that acts on it
/// (once per command), so that the most serious finding leads somewhere.
fn write_close_commands(out: &mut impl Write, findings: &[Finding]) -> std::io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for finding in findings.iter().filter(|f| f.severity >= Severity::Warning) {
        let Some(command) = crate::close::target::command_for(finding) else {
            continue;
        };
        if seen.insert(command.clone()) {
            let who = finding
                .process
                .as_ref()
                .map(|p| format!(" {}/{}", p.pid, p.name))
                .unwrap_or_default();
            lines.push(format!("  {command}    # {}{who}", finding.check));
        }
    }
    if !lines.is_empty() {
        writeln!(
            out,
            "\nto close what a finding names (add --dry-run to see the plan first):"
        )?;
        for line in lines {
            writeln!(out, "{}", crate::render::escape(&line))?;
        }
    }
    Ok(())
}

fn table(findings: &[Finding]) -> Table {
    // The reason, a sentence, goes under its row: cut to a column it would say nothing.
    let mut table = Table::new(vec!["SEVERITY", "CHECK", "SOCKET", "PROCESS"]).shrink_first(&["SOCKET"]);
    for finding in findings {
        let color = match finding.severity {
            Severity::Alert => Color::Red,
            Severity::Warning => Color::Yellow,
            Severity::Info => Color::Dim,
        };
        let socket = match finding.sockets.split_first() {
            Some((first, [])) => first.to_string(),
            Some((first, rest)) => format!("{first} (+{})", rest.len()),
            None => "-".into(),
        };
        let process = finding
            .process
            .as_ref()
            .map(|p| format!("{}/{}", p.pid, p.name))
            .unwrap_or_else(|| "-".into());
        table.push_with_detail(
            vec![
                Cell::painted(finding.severity.as_str(), color),
                finding.check.as_str().into(),
                socket.into(),
                Cell::painted(process, Color::Bold),
            ],
            &match &finding.next_step {
                Some(step) => format!("{} Next step: {step}", finding.reason),
                None => finding.reason.clone(),
            },
        );
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::ServiceNames;
    use portscope_core::platform::prelude::*;
    use portscope_fixture::FixturePlatform;

    #[test]
    fn rules_not_checked_are_printed_once_after_the_summary() {
        let host = FixturePlatform::from_toml(
            r#"
            [host]
            unsupported = ["listed_pids", "environment"]
            [[process]]
            pid = 70
            name = "web"
            exe = "/usr/sbin/web"
            [[process]]
            pid = 71
            name = "web"
            exe = "/usr/sbin/web"
            [packages]
            "/usr/sbin/web" = "web"
            [[socket]]
            local = "127.0.0.1:7003"
            state = "LISTEN"
            holders = [70, 71]
            "#,
        )
        .unwrap();
        let snapshot = host.snapshot(&Query::default()).unwrap();
        let options = audit::Options {
            deep: true,
            allow: Vec::new(),
            names: ServiceNames::iana(),
        };
        let report = audit::run(&host, &snapshot, &Expected::built_in().unwrap(), &options).unwrap();
        let mut out = Vec::new();
        write_text(&mut out, &report, Ui::plain()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "no findings\n\n0 alert, 0 warning, 0 info\n\
             not checked on this platform: preload (environment)\n\
             not checked on this platform: hidden-process (listed_pids)\n"
        );
    }
}
