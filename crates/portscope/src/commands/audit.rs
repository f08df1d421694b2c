//! `portscope audit`: run the audit checks over the machine's sockets and print each finding
//! with its severity, socket, process and reason. Exit 1 when a finding reaches `--fail-on`.

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use crate::audit::{self, Finding, Severity, allow};
use crate::error::{Error, ExitCode, Result};
use crate::files;
use crate::inspect::{self, Inspection};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::platform::Platform;
use crate::{persistence, privilege};

use super::lookup::LocalNamesArgs;

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  sudo portscope audit            every finding, with the exact `portscope close ...` for each
  sudo portscope audit --persistence   also where each flagged program would start again from
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
    /// Look for where every flagged program would start again from (units, cron tables,
    /// rc.local, autostart entries, shell profiles), not only the programs of alerts.
    #[arg(long)]
    pub persistence: bool,
    #[command(flatten)]
    pub output: crate::output::FormatArgs,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// What `audit --json` prints: the report, and where the flagged programs start again from
/// (absent when no finding named a process to look for).
#[derive(serde::Serialize)]
struct AuditJson<'a> {
    #[serde(flatten)]
    report: &'a audit::Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    persistence: Option<&'a persistence::Report>,
}

/// `--fail-on`: one of the severities, as clap lists them.
fn severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("{text:?} is not a severity (info, warning, alert)"))
}

pub fn run(args: &AuditArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    args.output.only(
        "audit",
        &[crate::output::Format::Table, crate::output::Format::Json],
        false,
    )?;
    let allow = match &args.allow {
        Some(path) => {
            let bytes = files::read_bounded(path, "allow-list file", files::MAX_INPUT)?;
            allow::parse(&bytes).map_err(|message| Error::Usage(format!("{}: {message}", path.display())))?
        }
        None => Vec::new(),
    };
    let options = audit::Options {
        deep: args.deep,
        allow,
        names: args.names.load()?,
    };
    let inspection = Inspection::take(host, &inspect::Options::everything(options))?;
    let (snapshot, report) = (&inspection.snapshot, &inspection.report);
    for note in &snapshot.notes {
        output::note(note);
    }

    let flagged = persistence::flagged(&report.findings, args.persistence);
    let starts_again = (!flagged.is_empty()).then(|| persistence::look(host, &flagged));

    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.output.json() {
        output::json(
            &mut out,
            &AuditJson {
                report,
                persistence: starts_again.as_ref(),
            },
        )?;
    } else {
        write_text(&mut out, report, &Place::of(snapshot), ui)?;
        write_persistence(&mut out, starts_again.as_ref(), &flagged, ui)?;
        write_comeback(&mut out, host, &report.findings)?;
    }
    out.flush()?;
    for note in &report.notes {
        output::note(note);
    }
    if let Some(note) = starts_again.as_ref().and_then(persistence::Report::note) {
        output::note(&note);
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

/// The namespace portscope runs in, against which a finding's sockets are placed.
#[derive(Default)]
struct Place {
    /// Its inode, when known.
    own: Option<u64>,
    /// Its short label (`host`, a name), `-` when unknown.
    own_label: String,
}

impl Place {
    fn of(snapshot: &crate::model::Snapshot) -> Place {
        let own = snapshot.own_netns;
        let own_label = own
            .and_then(|inode| snapshot.namespaces.iter().find(|n| n.inode == inode))
            .map_or_else(|| "-".to_string(), |n| n.short_label());
        Place { own, own_label }
    }

    /// The namespaces of a finding's sockets, by inode; a socket no table shows (a hidden
    /// listener, found by binding here) is in portscope's own.
    fn inodes<'a>(&'a self, finding: &'a Finding) -> impl Iterator<Item = Option<u64>> + 'a {
        finding
            .sockets
            .iter()
            .map(|s| s.netns.as_ref().map(|n| n.inode).or(self.own))
    }

    /// Whether the table needs a NETNS column: the findings' sockets live in more than one
    /// namespace, or in one that is not portscope's own.
    fn needs_column(&self, findings: &[Finding]) -> bool {
        let mut inodes = findings.iter().flat_map(|f| self.inodes(f));
        let Some(first) = inodes.next() else {
            return false;
        };
        (self.own.is_some() && first != self.own) || inodes.any(|i| i != first)
    }

    /// A finding's NETNS cell: the short label of its sockets' namespace, `(+N)` when they
    /// live in more than one, `-` for a finding about no socket.
    fn label(&self, finding: &Finding) -> String {
        let mut labels: Vec<String> = Vec::new();
        for socket in &finding.sockets {
            let label = socket
                .netns
                .as_ref()
                .map_or_else(|| self.own_label.clone(), |n| n.short_label());
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        match labels.split_first() {
            None => "-".into(),
            Some((first, [])) => first.clone(),
            Some((first, rest)) => format!("{first} +{}", rest.len()),
        }
    }
}

/// Most listeners a SOCKET cell names; more are counted with the other sockets.
const LISTENERS_SHOWN: usize = 3;

/// A finding's SOCKET cell: its listeners (up to [`LISTENERS_SHOWN`]), each with its port, or
/// else its first socket; `(+N)` for the rest.
fn socket_cell(finding: &Finding) -> String {
    // A hidden listener has no state: no table shows it.
    let listening = |s: &&audit::SocketRef| s.remote.is_none() && s.state.is_none_or(|st| st.is_listening());
    let mut shown: Vec<&audit::SocketRef> = finding
        .sockets
        .iter()
        .filter(listening)
        .take(LISTENERS_SHOWN)
        .collect();
    if shown.is_empty() {
        shown.extend(finding.sockets.first());
    }
    if shown.is_empty() {
        return "-".into();
    }
    let names: Vec<String> = shown.iter().map(ToString::to_string).collect();
    match finding.sockets.len() - shown.len() {
        0 => names.join(", "),
        rest => format!("{} (+{rest})", names.join(", ")),
    }
}

/// The report as a table, the close commands, the summary line and the rules not checked.
fn write_text(out: &mut impl Write, report: &audit::Report, place: &Place, ui: Ui) -> Result<()> {
    if report.findings.is_empty() {
        writeln!(out, "no findings")?;
    } else {
        table(&report.findings, place).write(out, ui)?;
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
    // Rules this platform gives no evidence for: neither clean nor findings, each said once with
    // every fact it lacked (`preload (environment, preload_file)`).
    let mut rules: Vec<(String, Vec<&str>)> = Vec::new();
    for skipped in &report.not_checked {
        let rule = skipped.check.to_string();
        match rules.iter_mut().find(|(r, _)| *r == rule) {
            Some((_, facts)) => facts.push(skipped.fact),
            None => rules.push((rule, vec![skipped.fact])),
        }
    }
    for (rule, facts) in rules {
        writeln!(out, "not checked on this platform: {rule} ({})", facts.join(", "))?;
    }
    Ok(())
}

/// After the summary: where the flagged programs would start again from.
fn write_persistence(
    out: &mut impl Write,
    found: Option<&persistence::Report>,
    flagged: &[&crate::model::Process],
    ui: Ui,
) -> std::io::Result<()> {
    let Some(found) = found else { return Ok(()) };
    writeln!(out)?;
    output::persistence::write_section(
        out,
        "Where flagged programs start again from (remove these, not only the process):",
        found,
        flagged,
        ui,
    )
}

/// After the table: for each alert and warning, the exact `portscope close …` that acts on it
/// (once per command), so that the most serious finding leads somewhere.
fn write_close_commands(out: &mut impl Write, findings: &[Finding]) -> std::io::Result<()> {
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for finding in findings.iter().filter(|f| f.severity >= Severity::Warning) {
        let Some(command) = crate::close::suggest::for_finding(finding) else {
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

/// After the close commands: for each process an alert or warning names, what would restart or
/// re-create it (a unit, a socket unit, cron, a container, an SSH session) and the commands that
/// stop it for good, once per command. Provenance is read for these processes only.
fn write_comeback(out: &mut impl Write, host: &dyn Platform, findings: &[Finding]) -> std::io::Result<()> {
    let mut processes: Vec<&crate::model::Process> = findings
        .iter()
        .filter(|f| f.severity >= Severity::Warning)
        .filter_map(|f| f.process.as_deref())
        .collect();
    processes.dedup_by_key(|p| p.pid);
    let Ok(found) = crate::provenance::of_processes(host, &processes) else {
        return Ok(());
    };
    let mut seen = std::collections::HashSet::new();
    let mut lines = Vec::new();
    for process in processes {
        let Some(p) = found.get(&process.pid) else {
            continue;
        };
        for r in crate::provenance::stop::restarters(p, process, None) {
            for command in r.commands {
                if seen.insert(command.clone()) {
                    lines.push(format!(
                        "  {command}    # {}/{}: {}",
                        process.pid, process.name, r.what
                    ));
                }
            }
        }
    }
    if !lines.is_empty() {
        writeln!(out, "\nwhat would bring them back, and how to stop it for good:")?;
        for line in lines {
            writeln!(out, "{}", crate::render::escape(&line))?;
        }
    }
    Ok(())
}

/// One row per finding; a NETNS column when [`Place::needs_column`]. SOCKET is an endpoint
/// column: PROCESS and NETNS give way first, no width cuts its ports, and SEVERITY and CHECK
/// (the name `--allow` takes) are never cut.
fn table(findings: &[Finding], place: &Place) -> Table {
    let netns_column = place.needs_column(findings);
    let mut headers = vec!["SEVERITY", "CHECK", "SOCKET", "PROCESS"];
    if netns_column {
        headers.insert(2, "NETNS");
    }
    // The reason, a sentence, goes under its row: cut to a column it would say nothing.
    let mut table = Table::new(headers)
        .shrink_first(&["PROCESS", "NETNS"])
        .middle_cut(&["NETNS"])
        .endpoints(&["SOCKET"])
        .whole(&["SEVERITY", "CHECK"]);
    for finding in findings {
        let color = match finding.severity {
            Severity::Alert => Color::Red,
            Severity::Warning => Color::Yellow,
            Severity::Info => Color::Dim,
        };
        let socket = socket_cell(finding);
        let process = finding
            .process
            .as_ref()
            .map(|p| format!("{}/{}", p.pid, p.name))
            .unwrap_or_else(|| "-".into());
        let mut row: Vec<Cell> = vec![
            Cell::painted(finding.severity.as_str(), color),
            finding.check.as_str().into(),
            socket.into(),
            Cell::painted(process, Color::Bold),
        ];
        if netns_column {
            row.insert(2, place.label(finding).into());
        }
        table.push_with_detail(
            row,
            &match &finding.next_step {
                Some(step) => format!("{}. Next step: {step}", finding.reason.trim_end_matches('.')),
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
    use portscope_fixture::FixturePlatform;

    /// The report on `host` as `audit` prints it at `width` columns.
    fn audit_text(host: &str, width: Option<usize>) -> String {
        let host = FixturePlatform::from_toml(host).unwrap();
        let options = audit::Options {
            deep: false,
            allow: Vec::new(),
            names: ServiceNames::iana(),
        };
        let inspection = Inspection::take(&host, &inspect::Options::everything(options)).unwrap();
        let mut out = Vec::new();
        let ui = Ui { color: false, width };
        write_text(&mut out, &inspection.report, &Place::of(&inspection.snapshot), ui).unwrap();
        String::from_utf8(out).unwrap()
    }

    /// Unpackaged servers from /tmp in two anonymous namespaces and the host, on IPv4 and
    /// IPv6, with long program names.
    const NAMESPACES: &str = r#"
        [[process]]
        pid = 31000
        name = "a-very-long-program-name-indeed"
        exe = "/tmp/.cache/a-very-long-program-name-indeed"
        [[process]]
        pid = 31001
        name = "sandboxed-worker-process"
        exe = "/tmp/sandbox/sandboxed-worker-process"
        [[socket]]
        local = "[fd00:1234:5678::abcd]:8443"
        state = "LISTEN"
        holders = [31000]
        netns = "net:[4026532319]"
        [[socket]]
        local = "198.18.0.1:18080"
        remote = "198.18.0.2:54094"
        state = "ESTABLISHED"
        holders = [31000]
        netns = "net:[4026532319]"
        [[socket]]
        local = "[fd00:1234:5678:9abc:def0:1234:5678:9abc]:44321"
        state = "LISTEN"
        holders = [31001]
        netns = "net:[4026532401]"
        [[socket]]
        local = "127.0.0.1:65001"
        state = "LISTEN"
        holders = [31001]
    "#;

    #[test]
    fn the_table_names_namespaces_and_keeps_every_port_at_80_and_200_columns() {
        for width in [80, 200] {
            let text = audit_text(NAMESPACES, Some(width));
            let table: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
            assert!(table[0].contains("NETNS"), "{text}");
            for line in &table {
                assert!(crate::render::width(line) <= width, "{width}: {line:?}\n{text}");
            }
            let table = table.join("\n");
            // Every listener's port (the connection on :18080 is counted in `(+1)`).
            for port in ["]:8443", "]:44321", ":65001"] {
                assert!(table.contains(port), "{width}: {port} in\n{text}");
            }
            assert!(
                table.contains("ns:532319") && table.contains("ns:532401"),
                "{text}"
            );
            assert!(!table.contains("net:["), "short labels: {text}");
            insta::assert_snapshot!(format!("namespaces_{width}"), text);
        }
    }

    #[test]
    fn one_namespace_that_is_portscope_own_needs_no_column_and_another_does() {
        let host = |netns: &str| {
            format!(
                "[[process]]\npid = 70\nname = \"web\"\nexe = \"/tmp/web\"\n\
                 [[socket]]\nlocal = \"0.0.0.0:7003\"\nstate = \"LISTEN\"\nholders = [70]\nnetns = \"{netns}\"\n"
            )
        };
        let text = audit_text(&host("host"), None);
        assert!(text.starts_with("SEVERITY") && !text.contains("NETNS"), "{text}");
        let text = audit_text(&host("net:[4026532319]"), None);
        assert!(text.lines().next().unwrap().contains("NETNS"), "{text}");
        assert!(text.contains("ns:532319"), "{text}");
    }

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
        let options = audit::Options {
            deep: true,
            allow: Vec::new(),
            names: ServiceNames::iana(),
        };
        let report = Inspection::take(&host, &inspect::Options::everything(options))
            .unwrap()
            .report;
        let mut out = Vec::new();
        write_text(&mut out, &report, &Place::default(), Ui::plain()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "no findings\n\n0 alert, 0 warning, 0 info\n\
             not checked on this platform: preload (environment)\n\
             not checked on this platform: hidden-process (listed_pids)\n"
        );
    }

    #[test]
    fn an_alert_names_where_its_program_starts_again_from() {
        let host =
            FixturePlatform::from_toml(include_str!("../../../portscope-fixture/hosts/persistence.toml"))
                .unwrap();
        let options = audit::Options {
            deep: false,
            allow: Vec::new(),
            names: ServiceNames::iana(),
        };
        let report = Inspection::take(&host, &inspect::Options::everything(options))
            .unwrap()
            .report;
        let flagged = persistence::flagged(&report.findings, false);
        assert_eq!(
            flagged.iter().map(|p| p.pid).collect::<Vec<_>>(),
            [23400],
            "{:#?}",
            report.findings
        );
        let found = persistence::look(&host, &flagged);
        let mut out = Vec::new();
        write_persistence(&mut out, Some(&found), &flagged, Ui::plain()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("\nWhere flagged programs start again from"),
            "{text}"
        );
        assert!(
            text.contains("    user crontab /var/spool/cron/crontabs/www-data line 2, of user www-data\n"),
            "{text}"
        );
        assert!(
            text.contains("      to remove: systemctl disable --now web-cache.service\n"),
            "{text}"
        );
        assert!(
            !text.contains("nginx.service"),
            "the packaged nginx has no finding: {text}"
        );
    }
}
