//! `portscope close`: stop the holders of a port safely, or cut single TCP connections.
//!
//! This module parses the flags, asks for confirmation and prints; the decisions and the signalling
//! live in `crate::close`.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use serde::Serialize;

use crate::close::connections::{self, Cut, Selector};
use crate::close::execute::{self, Options, Outcome, Report};
use crate::close::plan::{self, Action, Plan, Target};
use crate::close::safety::Context;
use crate::close::spec::{PortSpec, ProcessSpec, Spec};
use crate::error::{Error, ExitCode, Result};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::platform::{Platform, Query};
use crate::privilege;
use crate::provenance::{self, stop::Restarter};

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  sudo portscope close 8080 --dry-run      who holds port 8080 and what would be done
  sudo portscope close 8080                stop its holders (asks first), then verify it is free
  sudo portscope close --pid 23406         stop one process audit named, closing all its sockets
  sudo portscope close --process nginx     stop every process whose executable is named nginx
  sudo portscope --netns web close 80      stop port 80's holder in namespace `web` only
  sudo portscope close 80 --all-namespaces stop port 80's holders in every namespace
  sudo portscope close 4444 --remote       cut every connection to port 4444 elsewhere
  sudo portscope close --connection 198.18.0.1:22 198.18.0.9:51000")]
pub struct CloseArgs {
    /// The port to close: its listening TCP and bound UDP sockets.
    #[arg(value_name = "PORT", value_parser = portscope_core::knowledge::port_argument,
          required_unless_present_any = ["connection", "all_from", "pid", "process"])]
    pub port: Option<u16>,
    /// With PORT: cut every TCP connection whose remote port is PORT (a program calling out to a
    /// listener elsewhere, e.g. a reverse shell to 4444); the program keeps running.
    #[arg(long, requires = "port", conflicts_with_all = ["address", "udp", "force", "unit", "all_from"])]
    pub remote: bool,
    /// Stop the process with this PID and so close every socket it holds, connections included.
    #[arg(long, value_name = "PID", conflicts_with_all = ["port", "connection", "all_from", "address"])]
    pub pid: Option<u32>,
    /// Stop the processes whose executable is named NAME (exactly), closing every socket they hold.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["port", "connection", "all_from", "address"])]
    pub process: Option<String>,
    /// Only TCP sockets (default: TCP and UDP).
    #[arg(short = 't', long)]
    pub tcp: bool,
    /// Only UDP sockets.
    #[arg(short = 'u', long)]
    pub udp: bool,
    /// Only sockets bound to exactly this local address.
    #[arg(long, value_name = "ADDR")]
    pub address: Option<IpAddr>,
    /// Cut one TCP connection, named by its local and remote endpoints (e.g. 10.0.0.1:22
    /// 10.0.0.9:51000); the program holding it keeps running.
    #[arg(long, num_args = 2, value_names = ["LOCAL", "REMOTE"],
          conflicts_with_all = ["port", "all_from", "tcp", "udp", "address", "force", "unit"])]
    pub connection: Option<Vec<SocketAddr>>,
    /// Cut every TCP connection from ADDR or ADDR/PREFIX (with PORT: only those to that local port).
    #[arg(long, value_name = "ADDR", value_parser = parse_peers, conflicts_with_all = ["udp", "force", "unit"])]
    pub all_from: Option<IpNet>,
    /// Do not ask for confirmation (required when stdin is not a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Send SIGKILL to holders still running after --timeout.
    #[arg(long)]
    pub force: bool,
    /// How long a holder gets to exit after SIGTERM, e.g. 5s or 500ms.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::any, default_value = "5s")]
    pub timeout: Duration,
    /// How long to watch a freed port for a listener that comes back (default: 1s, or --timeout
    /// when a supervisor manages a holder).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::any)]
    pub watch: Option<Duration>,
    /// Stop the systemd unit of a supervised holder with `systemctl stop` instead of signalling it.
    #[arg(long)]
    pub unit: bool,
    /// Act in every network namespace the holders are in. Without it, a PORT (or --process NAME)
    /// held in more than one namespace is refused: pick one with the global --netns NS.
    #[arg(long, conflicts_with_all = ["connection", "all_from", "remote"])]
    pub all_namespaces: bool,
    /// Print what would be done, and do nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: crate::output::FormatArgs,
}

fn parse_peers(text: &str) -> std::result::Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{text}` is not an address or ADDR/PREFIX"))
}

pub fn run(args: &CloseArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    args.output.only(
        "close",
        &[crate::output::Format::Table, crate::output::Format::Json],
        false,
    )?;
    if args.port == Some(0) {
        return Err(Error::Usage(
            "port 0 cannot be closed: it is not a port anything listens on".into(),
        ));
    }
    if let Some(pair) = &args.connection {
        let (local, remote) = match pair.as_slice() {
            [local, remote] => (*local, *remote),
            _ => return Err(Error::Usage("--connection takes LOCAL and REMOTE".into())),
        };
        return run_connections(args, Selector::Exact { local, remote }, ui, host);
    }
    if let (true, Some(port)) = (args.remote, args.port) {
        return run_connections(args, Selector::Remote { port }, ui, host);
    }
    if args.pid.is_some() || args.process.is_some() {
        let spec = ProcessSpec {
            pid: args.pid,
            name: args.process.clone(),
        };
        return run_plan(args, spec.into(), ui, host);
    }
    if let Some(peers) = args.all_from {
        return run_connections(
            args,
            Selector::From {
                peers,
                port: args.port,
            },
            ui,
            host,
        );
    }
    let port = args
        .port
        .ok_or_else(|| Error::Usage("give a PORT, --pid, --process, --connection or --all-from".into()))?;
    let both = args.tcp == args.udp;
    let spec = PortSpec {
        port,
        tcp: both || args.tcp,
        udp: both || args.udp,
        address: args.address,
    };
    run_plan(args, spec.into(), ui, host)
}

/// The check every action passes before it touches anything: a yes on a terminal, or --yes.
fn may_proceed(args: &CloseArgs) -> Result<()> {
    if args.yes || args.dry_run || std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(Error::Refused(
        "stdin is not a terminal, so there is no one to confirm; pass --yes to proceed without confirmation"
            .into(),
    ))
}

fn confirm(args: &CloseArgs, question: &str) -> Result<()> {
    if args.yes {
        return Ok(());
    }
    // The question quotes nothing a process chose, but goes through the renderer all the same.
    let mut err = std::io::stderr();
    write!(err, "{} [y/N] ", portscope_core::render::escape(question))?;
    err.flush()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| Error::io("reading the confirmation", e))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Error::Refused("not confirmed; nothing was done".into())),
    }
}

#[derive(Serialize)]
struct PortJson<'a> {
    dry_run: bool,
    plan: &'a Plan,
    report: Option<&'a Report>,
}

/// `close PORT`, `close --pid`, `close --process`: plan, check, confirm, stop, verify.
fn run_plan(args: &CloseArgs, spec: Spec, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let snapshot = host.snapshot(&spec.query())?;
    for note in &snapshot.notes {
        output::note(note);
    }
    let context = Context::of(host);
    let privileges = host.privileges();
    let plan = plan::build(
        spec.clone(),
        &snapshot,
        &context,
        |pid| portscope_core::close::safety::Facts::of(host, pid),
        args.unit,
    );
    let what = spec.describe();
    if let Err(refused) = plan.check_namespaces(args.all_namespaces) {
        // The plan lists every holder with its namespace, so the user can pick one.
        print_plan(args, &plan, ui)?;
        return Err(refused);
    }
    if args.dry_run && plan.refusals().next().is_some() {
        print_plan(args, &plan, ui)?;
    }
    plan.unreadable_choice(privileges.read_all, host)?;
    plan.preflight(
        snapshot.unreadable_processes,
        privileges.read_all,
        host.can_stop_units(),
    )?;
    may_proceed(args)?;
    if let Some(note) = privilege::hidden_owners_note_naming(
        snapshot.unreadable_processes,
        &snapshot.unreadable_owners,
        privileges,
    )
    .filter(|_| !plan.unowned.is_empty() && !privileges.read_all)
    {
        output::note(&note);
    }
    for target in &plan.targets {
        if let (Some(supervisor), Some(advice), Action::Signal) =
            (&target.supervised_by, &target.advice, &target.action)
        {
            let flag = if matches!(supervisor, crate::model::Supervisor::Container { .. }) {
                ""
            } else {
                " (or pass --unit)"
            };
            output::note(&format!(
                "PID {} ({}) is managed by {supervisor}, which may restart it; to stop it for good: {advice}{flag}",
                target.process.pid, target.process.name
            ));
        }
    }
    let comeback = restarters_of(host, &plan);
    if !args.output.json() {
        for (target, restarters) in &comeback {
            for r in restarters {
                // The supervisor's own advice was said above.
                if r.commands
                    .iter()
                    .any(|c| target.advice.as_deref() == Some(c.as_str()))
                {
                    continue;
                }
                output::note(&format!(
                    "PID {} ({}) comes back from {}; to stop it for good: {}",
                    target.process.pid,
                    target.process.name,
                    r.what,
                    r.commands.join(" && ")
                ));
            }
        }
    }
    if !args.output.json() || args.dry_run {
        print_plan(args, &plan, ui)?;
    }
    if args.dry_run {
        if !args.output.json() {
            writeln!(std::io::stdout(), "dry run: nothing was signalled")?;
        }
        return Ok(ExitCode::Ok);
    }
    let count = plan.targets.len();
    confirm(
        args,
        &match &plan.spec {
            Spec::Port(_) => format!("Stop the {count} process(es) above, which hold {what}?"),
            Spec::Process(_) => format!(
                "Stop the {count} process(es) above, closing the {} socket(s) they hold?",
                plan.sockets.len()
            ),
        },
    )?;

    let options = Options {
        force: args.force,
        timeout: args.timeout,
        watch: plan.comeback_window(args.watch, args.timeout),
    };
    let report = execute::execute(host, &plan, options, |processes| {
        host.snapshot(&Query {
            processes,
            ..spec.query()
        })
    })?;
    if args.output.json() {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        output::json(
            &mut out,
            &PortJson {
                dry_run: false,
                plan: &plan,
                report: Some(&report),
            },
        )?;
    } else {
        print_report(args, &plan, &report, &comeback, ui)?;
    }
    Ok(if report.port_free {
        ExitCode::Ok
    } else {
        ExitCode::Found
    })
}

fn print_plan(args: &CloseArgs, plan: &Plan, ui: Ui) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.output.json() {
        return Ok(output::json(
            &mut out,
            &PortJson {
                dry_run: args.dry_run,
                plan,
                report: None,
            },
        )?);
    }
    // A NETNS column whenever a socket lives outside portscope's own namespace: a port number
    // names one server per namespace, so the plan says which one each holder is.
    let netns = plan.names_namespaces();
    let mut header = vec!["PID", "PROGRAM", "USER", "SOCKETS", "SUPERVISOR", "ACTION"];
    if netns {
        header.insert(0, "NETNS");
    }
    let mut table = Table::new(header);
    for target in &plan.targets {
        let sockets: Vec<String> = plan
            .sockets
            .iter()
            .filter(|s| target.inodes.contains(&s.inode))
            .map(|s| format!("{}/{}", s.protocol, s.local))
            .collect();
        let (action, color) = match &target.action {
            Action::Signal if args.force => (
                format!(
                    "SIGTERM, SIGKILL after {}",
                    humantime::format_duration(args.timeout)
                ),
                Color::Yellow,
            ),
            Action::Signal => ("SIGTERM".to_string(), Color::Yellow),
            Action::StopUnit { unit, .. } => (format!("systemctl stop {unit}"), Color::Yellow),
            Action::Refuse(refusal) => (format!("refused: {refusal}"), Color::Red),
        };
        let user = target
            .process
            .user
            .clone()
            .unwrap_or_else(|| target.process.uid.to_string());
        let mut row: Vec<Cell> = Vec::new();
        if netns {
            let labels: Vec<String> = target.netns.iter().map(|n| n.short_label()).collect();
            row.push(labels.join(",").into());
        }
        row.extend([
            target.process.pid.to_string().into(),
            Cell::painted(target.process.name.clone(), Color::Bold),
            user.into(),
            sockets.join(",").into(),
            target
                .supervised_by
                .as_ref()
                .map_or("-".to_string(), |s| s.to_string())
                .into(),
            Cell::painted(action, color),
        ]);
        table.push(row);
    }
    table.write(&mut out, ui)?;
    Ok(())
}

fn describe_outcome(outcome: &Outcome, timeout: Duration) -> (String, Color) {
    let timeout = humantime::format_duration(timeout);
    match outcome {
        Outcome::Exited => ("exited after SIGTERM".into(), Color::Green),
        Outcome::Killed => (
            format!("ignored SIGTERM for {timeout}; killed with SIGKILL"),
            Color::Yellow,
        ),
        Outcome::StillRunning => (
            format!("still running {timeout} after SIGTERM; pass --force to SIGKILL it"),
            Color::Red,
        ),
        Outcome::Unkillable => ("still running even after SIGKILL".into(), Color::Red),
        Outcome::AlreadyGone => ("had already exited".into(), Color::Dim),
        Outcome::Released => ("no longer held the port; not signalled".into(), Color::Dim),
        Outcome::UnitStopped { unit } => (format!("stopped with systemctl stop {unit}"), Color::Green),
        Outcome::UnitFailed { unit, error } => (format!("systemctl stop {unit} failed: {error}"), Color::Red),
        Outcome::UnitLeftRunning { unit } => (
            format!("still running {timeout} after systemctl stop {unit}; pass --force to SIGKILL it"),
            Color::Red,
        ),
        Outcome::Failed { error } => (format!("could not be signalled: {error}"), Color::Red),
    }
}

/// What would bring back each target (from what started it), read before it is stopped: after a
/// comeback, the old process is gone and the restarter is named from this.
fn restarters_of<'p>(host: &dyn Platform, plan: &'p Plan) -> Vec<(&'p Target, Vec<Restarter>)> {
    let processes: Vec<&crate::model::Process> = plan.targets.iter().map(|t| t.process.as_ref()).collect();
    let Ok(found) = provenance::of_processes(host, &processes) else {
        return Vec::new();
    };
    plan.targets
        .iter()
        .filter_map(|t| {
            let p = found.get(&t.process.pid)?;
            let restarters = provenance::stop::restarters(p, &t.process, None);
            (!restarters.is_empty()).then_some((t, restarters))
        })
        .collect()
}

fn print_report(
    args: &CloseArgs,
    plan: &Plan,
    report: &Report,
    comeback: &[(&Target, Vec<Restarter>)],
    ui: Ui,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut table = Table::new(vec!["PID", "PROGRAM", "RESULT"]);
    for target in &report.targets {
        let (text, color) = describe_outcome(&target.outcome, args.timeout);
        table.push(vec![
            target.pid.to_string().into(),
            target.name.clone().into(),
            Cell::painted(text, color),
        ]);
    }
    writeln!(out)?;
    table.write(&mut out, ui)?;
    let what = plan.spec.describe();
    let holder = |r: &execute::Remaining| {
        let place = if plan.is_own(&r.socket.netns) {
            String::new()
        } else {
            format!(" in {}", crate::render::escape(&r.socket.netns.label()))
        };
        match (r.pid, &r.name) {
            (Some(pid), Some(name)) => format!(
                "{pid}/{} on {}/{}{place}",
                crate::render::escape(name),
                r.socket.protocol,
                r.socket.local
            ),
            _ => format!(
                "an unseen process on {}/{}{place}",
                r.socket.protocol, r.socket.local
            ),
        }
    };
    if report.port_free {
        writeln!(out, "{}", ui.paint(Color::Green, &plan.spec.freed()))?;
    } else if !report.came_back.is_empty() {
        let who: Vec<String> = report.came_back.iter().map(holder).collect();
        let advice: Vec<&str> = plan.targets.iter().filter_map(|t| t.advice.as_deref()).collect();
        let restarter = comeback.iter().flat_map(|(_, r)| r).next();
        let hint = match (advice.first(), restarter) {
            (Some(advice), _) => format!("; a supervisor restarted it: {advice}"),
            (None, Some(r)) => format!(
                "; it comes back from {}: {}",
                crate::render::escape(&r.what),
                crate::render::escape(&r.commands.join(" && "))
            ),
            (None, None) => "; something restarted it".into(),
        };
        writeln!(
            out,
            "{}",
            ui.paint(Color::Red, &format!("{what} came back: {}{hint}", who.join(", ")))
        )?;
    } else {
        let who: Vec<String> = report.still_open.iter().map(holder).collect();
        writeln!(
            out,
            "{}",
            ui.paint(
                Color::Red,
                &match &plan.spec {
                    Spec::Port(_) => format!("{what} is still open: {}", who.join(", ")),
                    Spec::Process(_) => {
                        let pids: Vec<String> = report
                            .still_open
                            .iter()
                            .filter_map(|r| r.pid.map(|p| p.to_string()))
                            .collect();
                        let next = match pids.first() {
                            Some(pid) => format!("; stop it with `portscope close --pid {pid}`"),
                            None => String::new(),
                        };
                        format!(
                            "a socket of {what} is still open, held by another process: {}{next}",
                            who.join(", ")
                        )
                    }
                }
            )
        )?;
    }
    Ok(())
}

#[derive(Serialize)]
struct ConnectionJson<'a> {
    dry_run: bool,
    connections: &'a [ConnectionRow],
}

#[derive(Clone, Serialize)]
struct ConnectionRow {
    #[serde(flatten)]
    cut: Cut,
    pid: Option<u32>,
    program: Option<String>,
}

fn run_connections(args: &CloseArgs, selector: Selector, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let chosen = connections::select(host, &selector)?;
    let what = selector.describe();
    if chosen.is_empty() {
        return Err(Error::NotFound(format!("no TCP connection matches {what}")));
    }
    // Holder names only for display; the cut itself is by 4-tuple and kernel cookie.
    let snapshot = host.snapshot(&Query {
        udp: false,
        ..Query::ports()
    })?;
    let holders: HashMap<u64, (u32, String)> = snapshot
        .sockets
        .iter()
        .filter(|s| s.inode != 0)
        .filter_map(|s| {
            let holder = s.holders.first()?;
            Some((s.inode, (holder.process.pid, holder.process.name.clone())))
        })
        .collect();
    let row = |cut: Cut| {
        let holder = holders.get(&cut.inode);
        ConnectionRow {
            pid: holder.map(|h| h.0),
            program: holder.map(|h| h.1.clone()),
            cut,
        }
    };
    let planned: Vec<ConnectionRow> = chosen
        .iter()
        .map(|c| {
            row(Cut {
                local: c.local,
                remote: c.remote,
                state: c.state,
                inode: c.inode,
                result: "planned",
            })
        })
        .collect();
    if args.dry_run {
        print_connections(args, &planned, ui)?;
        if !args.output.json() {
            writeln!(std::io::stdout(), "dry run: nothing was cut")?;
        }
        return Ok(ExitCode::Ok);
    }
    may_proceed(args)?;
    if !args.output.json() {
        print_connections(args, &planned, ui)?;
    }
    confirm(args, &format!("Cut {} connection(s)?", chosen.len()))?;
    let cuts: Vec<ConnectionRow> = connections::cut(host, &chosen)?.into_iter().map(row).collect();
    if args.output.json() {
        print_connections(args, &cuts, ui)?;
    } else {
        let destroyed = cuts.iter().filter(|c| c.cut.result == "destroyed").count();
        writeln!(
            std::io::stdout(),
            "cut {destroyed} of {} connection(s); the programs holding them keep running",
            cuts.len()
        )?;
    }
    Ok(ExitCode::Ok)
}

fn print_connections(args: &CloseArgs, rows: &[ConnectionRow], ui: Ui) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.output.json() {
        return Ok(output::json(
            &mut out,
            &ConnectionJson {
                dry_run: args.dry_run,
                connections: rows,
            },
        )?);
    }
    let mut table = Table::new(vec!["LOCAL", "REMOTE", "STATE", "PID/PROGRAM"]);
    for row in rows {
        let holder = match (row.pid, &row.program) {
            (Some(pid), Some(name)) => format!("{pid}/{name}"),
            _ => "-".into(),
        };
        table.push(vec![
            row.cut.local.to_string().into(),
            row.cut.remote.to_string().into(),
            row.cut.state.as_str().into(),
            Cell::painted(holder, Color::Bold),
        ]);
    }
    table.write(&mut out, ui)?;
    Ok(())
}
