//! Carrying out a plan: pin each holder with a pidfd, check that the pinned process still holds the
//! port, signal it (or stop its unit), wait, escalate only with --force, then verify that the port
//! is free and watch for a listener that comes back (a supervisor restarting it).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::close::plan::{Action, Plan, PortSocket};
use crate::close::spec::Spec;
use crate::error::{Error, Result};
use crate::model::{Process, Snapshot};
use crate::platform::{CloseSignal, ControlError, Identity, Pinned, Platform};
use crate::render;

/// How hard and how long to try.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Send SIGKILL to holders still running after `timeout`.
    pub force: bool,
    /// How long a holder gets to exit after SIGTERM (and after SIGKILL).
    pub timeout: Duration,
    /// How long to keep watching a freed port for a listener that comes back.
    pub watch: Duration,
}

/// What happened to one holder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Exited after SIGTERM.
    Exited,
    /// Still running after SIGTERM and the timeout; SIGKILL ended it (--force).
    Killed,
    /// Still running after SIGTERM and the timeout; not killed without --force.
    StillRunning,
    /// Still running even after SIGKILL (stuck in the kernel, e.g. uninterruptible I/O).
    Unkillable,
    /// Gone before portscope could signal it.
    AlreadyGone,
    /// Alive but no longer holding the port: not signalled.
    Released,
    /// Its systemd unit was stopped (--unit).
    UnitStopped {
        unit: String,
    },
    UnitFailed {
        unit: String,
        error: String,
    },
    /// `systemctl stop` succeeded but the process kept running (it was not signalled).
    UnitLeftRunning {
        unit: String,
    },
    Failed {
        error: String,
    },
}

/// One holder's result.
#[derive(Clone, Debug, Serialize)]
pub struct TargetResult {
    pub pid: u32,
    pub name: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A process that holds the port after `close`.
#[derive(Clone, Debug, Serialize)]
pub struct Remaining {
    pub pid: Option<u32>,
    pub name: Option<String>,
    #[serde(flatten)]
    pub socket: PortSocket,
}

/// The result of a whole `close PORT`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub targets: Vec<TargetResult>,
    pub port_free: bool,
    /// Sockets the holders never released.
    pub still_open: Vec<Remaining>,
    /// New listeners on the port that appeared after the holders were gone.
    pub came_back: Vec<Remaining>,
}

struct Pin {
    index: usize,
    handle: Box<dyn Pinned>,
}

/// Whether the process behind a PID runs another program than the one planned: its executable
/// differs (or became readable or unreadable), or, where neither could be read, its name.
fn changed(was: &Process, now: &Identity) -> bool {
    // Where the platform reads start times, another start time is another process.
    if let (Some(a), Some(b)) = (was.start_time, now.start_time)
        && a != b
    {
        return true;
    }
    match (&was.exe, &now.exe) {
        (Some(a), Some(b)) => a != b,
        (None, None) => was.name != now.name,
        _ => true,
    }
}

/// "sleep (/usr/bin/sleep)", escaped for the terminal.
fn shown(name: &str, exe: Option<&std::path::Path>) -> String {
    match exe {
        Some(exe) => format!("{} ({})", render::escape(name), render::path(exe)),
        None => render::escape(name).into_owned(),
    }
}

/// Carries out `plan` (which must hold no refusals). `observe(with_processes)` takes a fresh
/// snapshot for the verification; the watch loop looks without the /proc walk, and walks only to
/// name whoever still holds the port.
pub fn execute(
    platform: &dyn Platform,
    plan: &Plan,
    options: Options,
    mut observe: impl FnMut(bool) -> Result<Snapshot>,
) -> Result<Report> {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.targets.len()];
    let mut pinned = Vec::new();
    for (index, target) in plan.targets.iter().enumerate() {
        match platform.pin(target.process.pid) {
            Ok(handle) => match handle.holds_any(&target.inodes) {
                Ok(true) => pinned.push(Pin { index, handle }),
                Ok(false) => outcomes[index] = Some(Outcome::Released),
                Err(ControlError::Gone) => outcomes[index] = Some(Outcome::AlreadyGone),
                Err(err) => outcomes[index] = Some(failed(err)),
            },
            Err(ControlError::Gone) => outcomes[index] = Some(Outcome::AlreadyGone),
            Err(err) => outcomes[index] = Some(failed(err)),
        }
    }

    // The confirmation may have waited minutes: a holder that exec'd another program since the
    // plan (same PID, same pidfd) is not the one the user agreed to stop. Checked after pinning,
    // right before the first signal; nothing is signalled and the user is asked again.
    for pin in &pinned {
        let was = &plan.targets[pin.index].process;
        if let Some(now) = platform.identity(was.pid)
            && changed(was, &now)
        {
            return Err(Error::Refused(format!(
                "PID {} is now {} (it was {} when the plan was shown); nothing was signalled: run the command again to see the new plan and confirm it",
                was.pid,
                shown(&now.name, now.exe.as_deref()),
                shown(&was.name, was.exe.as_deref()),
            )));
        }
    }

    stop_units(platform, plan, &pinned, &mut outcomes);
    for pin in &pinned {
        if outcomes[pin.index].is_some() || plan.targets[pin.index].action != Action::Signal {
            continue;
        }
        if let Err(err) = pin.handle.signal(CloseSignal::Term) {
            outcomes[pin.index] = Some(match err {
                ControlError::Gone => Outcome::AlreadyGone,
                err => failed(err),
            });
        }
    }

    let deadline = Instant::now() + options.timeout;
    for pin in &pinned {
        let exited = pin
            .handle
            .wait_exit(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or(false);
        match (&outcomes[pin.index], exited) {
            (None, true) => {
                outcomes[pin.index] = Some(match &plan.targets[pin.index].action {
                    Action::StopUnit { unit, .. } => Outcome::UnitStopped { unit: unit.clone() },
                    _ => Outcome::Exited,
                })
            }
            (None, false) if !options.force => {
                outcomes[pin.index] = Some(match &plan.targets[pin.index].action {
                    Action::StopUnit { unit, .. } => Outcome::UnitLeftRunning { unit: unit.clone() },
                    _ => Outcome::StillRunning,
                })
            }
            (None, false) => {
                // The pidfd still names the same process: SIGKILL cannot reach a reused PID.
                outcomes[pin.index] = Some(match pin.handle.signal(CloseSignal::Kill) {
                    Ok(()) if pin.handle.wait_exit(options.timeout).unwrap_or(false) => Outcome::Killed,
                    Ok(()) => Outcome::Unkillable,
                    Err(ControlError::Gone) => Outcome::Exited,
                    Err(err) => failed(err),
                });
            }
            _ => {}
        }
    }

    let targets = plan
        .targets
        .iter()
        .zip(outcomes)
        .map(|(target, outcome)| TargetResult {
            pid: target.process.pid,
            name: target.process.name.clone(),
            outcome: outcome.unwrap_or(Outcome::AlreadyGone),
        })
        .collect();
    let (still_open, came_back) = verify(plan, options.watch, &mut observe)?;
    Ok(Report {
        targets,
        port_free: still_open.is_empty() && came_back.is_empty(),
        still_open,
        came_back,
    })
}

fn failed(err: ControlError) -> Outcome {
    Outcome::Failed {
        error: err.to_string(),
    }
}

/// Runs `systemctl stop` once per unit that --unit chose; each holder in the unit gets the result.
fn stop_units(platform: &dyn Platform, plan: &Plan, pinned: &[Pin], outcomes: &mut [Option<Outcome>]) {
    let mut done: Vec<(String, Result<(), String>)> = Vec::new();
    for pin in pinned {
        let Action::StopUnit { unit, user_manager } = &plan.targets[pin.index].action else {
            continue;
        };
        if !done.iter().any(|(u, _)| u == unit) {
            let user = user_manager
                .then(|| plan.targets[pin.index].process.user.clone())
                .flatten();
            let result = if platform.can_stop_units() {
                platform.stop_unit(unit, user.as_deref())
            } else {
                Err("systemctl is not installed".into())
            };
            done.push((unit.clone(), result));
        }
        let result = done.iter().find(|(u, _)| u == unit).map(|(_, r)| r.clone());
        // A stopped unit's processes are waited for like signalled ones; only failure is final.
        if let Some(Err(error)) = result {
            outcomes[pin.index] = Some(Outcome::UnitFailed {
                unit: unit.clone(),
                error,
            });
        }
    }
}

/// Looks at the port until it is seen free for the whole watch window, or something holds it.
fn verify(
    plan: &Plan,
    watch: Duration,
    observe: &mut impl FnMut(bool) -> Result<Snapshot>,
) -> Result<(Vec<Remaining>, Vec<Remaining>)> {
    let original: BTreeSet<u64> = plan.inodes().into_iter().collect();
    // Only the namespaces the plan acted in: the same port in a namespace it left alone is
    // another server, neither still open nor come back.
    let acted_in: BTreeSet<u64> = plan.namespaces().iter().map(|n| n.inode).collect();
    let deadline = Instant::now() + watch;
    let mut with_processes = false;
    loop {
        let snapshot = observe(with_processes)?;
        let (mut still_open, mut came_back) = (Vec::new(), Vec::new());
        // A process plan cannot tell its sockets without the /proc walk, but its original sockets
        // by inode; a port plan also sees a new listener on the port.
        let by_process = matches!(plan.spec, Spec::Process(_));
        let concerned = |s: &&crate::model::Socket| {
            if by_process {
                original.contains(&s.inode)
            } else {
                plan.spec.matches(s) && (acted_in.is_empty() || acted_in.contains(&s.netns.inode))
            }
        };
        for socket in snapshot.sockets.iter().filter(concerned) {
            let holder = socket.holders.first().map(|h| &h.process);
            let remaining = Remaining {
                pid: holder.map(|p| p.pid),
                name: holder.map(|p| p.name.clone()),
                socket: PortSocket::of(socket),
            };
            if original.contains(&socket.inode) {
                still_open.push(remaining);
            } else {
                came_back.push(remaining);
            }
        }
        let held = !still_open.is_empty() || !came_back.is_empty();
        if held && !with_processes {
            // Look once more, this time naming the processes.
            with_processes = true;
            continue;
        }
        if held || Instant::now() >= deadline {
            return Ok((still_open, came_back));
        }
        std::thread::sleep(
            Duration::from_millis(100).min(deadline.saturating_duration_since(Instant::now())),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_reused_by_the_same_program_is_told_apart_by_its_start_time() {
        let was = Process {
            exe: Some("C:\\srv\\web.exe".into()),
            start_time: Some(1_700_000_000),
            ..Process::new(4242, 1, "web.exe")
        };
        let now = |start_time| Identity {
            name: "web.exe".into(),
            exe: Some("C:\\srv\\web.exe".into()),
            start_time,
        };
        assert!(!changed(&was, &now(Some(1_700_000_000))));
        assert!(
            changed(&was, &now(Some(1_700_000_999))),
            "same program, another process"
        );
        assert!(
            !changed(&was, &now(None)),
            "a platform without start times compares programs"
        );
    }
}
