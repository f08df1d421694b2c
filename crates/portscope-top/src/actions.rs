//! `c`, `e` and `x`: closing a port, ending a row's process and cutting a connection from the
//! view, through the same plan, safety rules, preflight and execution as `portscope close`
//! (`close PORT`, `close --pid PID`, `close --connection`).
//!
//! An action is prepared first (a fresh snapshot, the plan, the preflight: a refusal ends it
//! here, with the same sentence `close` prints), shown for confirmation, and carried out only on
//! `y`. Closing a port stays inside the selected row's network namespace: the same port in
//! another container is another port. Ending a process needs no such bound: a PID names one
//! process, wherever its sockets are (as `close --pid`).

use std::sync::Arc;
use std::time::Duration;

use portscope_core::close::connections::{self, Selector};
use portscope_core::close::execute::{self, Outcome, Report};
use portscope_core::close::plan::{self, Action, Plan};
use portscope_core::close::safety::{Context, Facts};
use portscope_core::close::spec::{PortSpec, ProcessSpec, Spec};
use portscope_core::model::{Netns, Protocol, Snapshot, Socket};
use portscope_core::platform::{Platform, Query, StateFilter};
use portscope_core::render;

use crate::model::Row;

/// How long a holder gets to exit after SIGTERM (as `close`'s default `--timeout`).
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// An action waiting for the user's `y`.
#[derive(Debug)]
pub enum Pending {
    /// A port plan (bound to the row's namespace) or a process plan (`netns` is `None`).
    Close {
        plan: Plan,
        netns: Option<Arc<Netns>>,
    },
    Cut {
        connections: Vec<Socket>,
    },
}

impl Pending {
    /// The question the confirmation asks.
    pub fn question(&self) -> String {
        match self {
            Pending::Close { plan, .. } => match &plan.spec {
                Spec::Port(port) => format!(
                    "Stop the {} process(es) below, which hold {}?",
                    plan.targets.len(),
                    port.describe()
                ),
                Spec::Process(chosen) => {
                    let name = plan
                        .targets
                        .iter()
                        .find(|t| Some(t.process.pid) == chosen.pid)
                        .map(|t| format!(" ({})", render::escape(&t.process.name)))
                        .unwrap_or_default();
                    format!(
                        "End {}{name}? Its {} socket(s) close with it.",
                        chosen.describe(),
                        plan.sockets.len(),
                    )
                }
            },
            Pending::Cut { connections } => format!(
                "Cut {} connection(s)? The program holding it keeps running.",
                connections.len()
            ),
        }
    }

    /// One line per process or connection concerned, escaped.
    pub fn lines(&self) -> Vec<String> {
        match self {
            Pending::Close { plan, .. } => plan
                .targets
                .iter()
                .map(|t| {
                    let action = match &t.action {
                        Action::Signal => "SIGTERM".to_string(),
                        Action::StopUnit { unit, .. } => format!("systemctl stop {}", render::escape(unit)),
                        Action::Refuse(refusal) => format!("refused: {refusal}"),
                    };
                    let user = t
                        .process
                        .user
                        .as_deref()
                        .map(|u| render::escape(u).into_owned())
                        .unwrap_or_else(|| t.process.uid.to_string());
                    let mut line = format!(
                        "PID {} {} (user {user}): {action}",
                        t.process.pid,
                        render::escape(&t.process.name)
                    );
                    if let Some(advice) = &t.advice {
                        line.push_str(&format!("; managed, may restart: {}", render::escape(advice)));
                    }
                    line
                })
                .collect(),
            Pending::Cut { connections } => connections
                .iter()
                .map(|c| format!("tcp {} -> {} {}", c.local, c.remote, c.state))
                .collect(),
        }
    }
}

/// The snapshot's sockets in `netns` only.
fn in_netns(mut snapshot: Snapshot, netns: u64) -> Snapshot {
    snapshot.sockets.retain(|s| s.netns.inode == netns);
    snapshot
}

/// The port spec `c` acts on for a row: its protocol and local port, any address.
fn spec_of(row: &Row) -> Option<PortSpec> {
    let socket = &row.socket;
    let (tcp, udp) = match socket.protocol {
        Protocol::Tcp => (true, false),
        Protocol::Udp => (false, true),
        _ => return None,
    };
    Some(PortSpec {
        port: socket.local.port,
        tcp,
        udp,
        address: None,
    })
}

/// Prepares `c` on a listening `row`: the plan to stop the holders of its port, or the reason
/// there is none.
pub fn prepare_close(platform: &dyn Platform, row: &Row) -> Result<Pending, String> {
    let spec =
        spec_of(row).ok_or_else(|| format!("{} sockets have no port to close", row.socket.protocol))?;
    if spec.port == 0 {
        return Err("port 0 cannot be closed: it is not a port anything listens on".into());
    }
    let netns = Arc::clone(&row.socket.netns);
    let snapshot = platform.snapshot(&spec.query()).map_err(|e| e.to_string())?;
    let snapshot = in_netns(snapshot, netns.inode);
    let plan = checked_plan(platform, spec.into(), &snapshot)?;
    Ok(Pending::Close {
        plan,
        netns: Some(netns),
    })
}

/// Prepares "end the process" (`e`, and `c` on a connection or a program's line): the plan of
/// `close --pid PID` (the process and the children it handed a socket to), or the reason there
/// is none. `close`'s refusals apply as they are: PID 1, portscope's own chain, the session's
/// shell, kernel threads.
pub fn prepare_end(platform: &dyn Platform, pid: u32) -> Result<Pending, String> {
    let spec = Spec::Process(ProcessSpec {
        pid: Some(pid),
        name: None,
    });
    let snapshot = platform.snapshot(&spec.query()).map_err(|e| e.to_string())?;
    let plan = checked_plan(platform, spec, &snapshot)?;
    plan.unreadable_choice(platform.privileges().read_all, platform)
        .map_err(|e| e.to_string())?;
    Ok(Pending::Close { plan, netns: None })
}

/// Builds the plan for `spec` on `snapshot` and runs `close`'s preflight on it: a refusal is
/// the sentence `close` prints.
fn checked_plan(platform: &dyn Platform, spec: Spec, snapshot: &Snapshot) -> Result<Plan, String> {
    let context = Context::of(platform);
    let plan = plan::build(spec, snapshot, &context, |pid| Facts::of(platform, pid), false);
    let privileges = platform.privileges();
    plan.preflight(
        snapshot.unreadable_processes,
        privileges.read_all,
        platform.can_stop_units(),
    )
    .map_err(|e| e.to_string())?;
    Ok(plan)
}

/// Prepares `x` on `row`: the one TCP connection to cut, or the reason there is none.
pub fn prepare_cut(platform: &dyn Platform, row: &Row) -> Result<Pending, String> {
    let socket = &row.socket;
    if socket.protocol != Protocol::Tcp || !StateFilter::Connected.admits(socket.state) {
        return Err(
            "x cuts a TCP connection; select one (c closes a listening port, e ends a process)".into(),
        );
    }
    let selector = Selector::Exact {
        local: std::net::SocketAddr::new(socket.local.address, socket.local.port),
        remote: std::net::SocketAddr::new(socket.remote.address, socket.remote.port),
    };
    let chosen: Vec<Socket> = connections::select(platform, &selector)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|c| c.netns.inode == socket.netns.inode)
        .filter(|c| socket.cookie == 0 || c.cookie == 0 || c.cookie == socket.cookie)
        .collect();
    if chosen.is_empty() {
        return Err(format!("no TCP connection matches {}", selector.describe()));
    }
    Ok(Pending::Cut { connections: chosen })
}

/// What a confirmed action did, as one line for the status bar, and whether it went as asked.
/// `force` is `close --force`: SIGKILL for a holder still running after [`TIMEOUT`].
pub fn carry_out(platform: &dyn Platform, pending: &Pending, force: bool) -> (String, bool) {
    match pending {
        Pending::Close { plan, netns } => {
            let spec = &plan.spec;
            let options = execute::Options {
                force,
                timeout: TIMEOUT,
                watch: plan.comeback_window(None, TIMEOUT),
            };
            let observe = |processes: bool| {
                platform
                    .snapshot(&Query {
                        processes,
                        ..spec.query()
                    })
                    .map(|s| match netns {
                        Some(netns) => in_netns(s, netns.inode),
                        None => s,
                    })
            };
            match execute::execute(platform, plan, options, observe) {
                Ok(report) => (summarize(plan, &report), report.port_free),
                Err(err) => (err.to_string(), false),
            }
        }
        Pending::Cut { connections } => match connections::cut(platform, connections) {
            Ok(cuts) => {
                let destroyed = cuts.iter().filter(|c| c.result == "destroyed").count();
                (
                    format!(
                        "cut {destroyed} of {} connection(s); the program holding it keeps running",
                        cuts.len()
                    ),
                    destroyed == cuts.len(),
                )
            }
            Err(err) => (err.to_string(), false),
        },
    }
}

fn summarize(plan: &Plan, report: &Report) -> String {
    let what = plan.spec.describe();
    let ended = report.targets.iter().all(|t| {
        matches!(
            t.outcome,
            Outcome::Exited | Outcome::Killed | Outcome::AlreadyGone | Outcome::UnitStopped { .. }
        )
    });
    let outcomes: Vec<String> = report
        .targets
        .iter()
        .map(|t| format!("{}/{} {}", t.pid, render::escape(&t.name), outcome(&t.outcome)))
        .collect();
    let verdict = if let Spec::Process(_) = &plan.spec {
        match (ended, report.port_free) {
            (true, _) => format!("{what} ended"),
            (false, true) => plan.spec.freed(),
            (false, false) => format!("{what} still holds sockets"),
        }
    } else if report.port_free {
        format!("{what} is free")
    } else if !report.came_back.is_empty() {
        format!("{what} came back (a supervisor restarted it?)")
    } else {
        format!("{what} is still open")
    };
    format!("{verdict}: {}", outcomes.join(", "))
}

fn outcome(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Exited => "exited after SIGTERM".into(),
        Outcome::Killed => "was killed with SIGKILL".into(),
        Outcome::StillRunning => format!(
            "still runs {}s after SIGTERM (answering k instead of y kills it)",
            TIMEOUT.as_secs()
        ),
        Outcome::Unkillable => "still runs even after SIGKILL".into(),
        Outcome::AlreadyGone => "had already exited".into(),
        Outcome::Released => "no longer held the port; not signalled".into(),
        Outcome::UnitStopped { unit } => format!("stopped with systemctl stop {}", render::escape(unit)),
        Outcome::UnitFailed { unit, error } => {
            format!(
                "systemctl stop {} failed: {}",
                render::escape(unit),
                render::escape(error)
            )
        }
        Outcome::UnitLeftRunning { unit } => {
            format!("still runs after systemctl stop {}", render::escape(unit))
        }
        Outcome::Failed { error } => format!("could not be signalled: {}", render::escape(error)),
    }
}
