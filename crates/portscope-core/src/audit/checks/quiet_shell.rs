//! A shell started with its history turned off (HISTFILE=/dev/null or empty, HISTSIZE=0,
//! HISTFILESIZE=0) below a process that holds a network socket: the spawned-shell pattern of
//! backdoors such as BPFDoor, which start `/bin/sh` for their operator with history disabled so
//! that the session leaves no trace. The shell itself holds no socket (its input is a pipe or a
//! pseudo-terminal), so only its ancestry links it to the network.
//!
//! An alert when the socket-holding ancestor's executable is not a packaged one; a warning when
//! it is (an administrator who logs in over sshd with history off looks the same).

use std::collections::HashMap;

use crate::model::Process;

use super::super::advice::{keep_executable, stop};
use crate::program::exe_name;

use super::super::context::{Context, Ownership, ProcessView, label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;
use super::shell_socket::{Kind, classify_name};
use crate::platform::Unsupported;

/// How far up the process tree a shell is linked to its socket-holding ancestor.
const MAX_DEPTH: usize = 16;

/// The environment entry that turns history off, if any.
pub fn history_off(environment: &[String]) -> Option<&str> {
    environment
        .iter()
        .find(|entry| {
            matches!(
                entry.as_str(),
                "HISTFILE=/dev/null" | "HISTFILE=" | "HISTSIZE=0" | "HISTFILESIZE=0" | "SAVEHIST=0"
            )
        })
        .map(String::as_str)
}

pub fn check(ctx: &Context, out: &mut Out) {
    let candidates = match below_holders(ctx) {
        Ok(candidates) => candidates,
        Err(_) => match every_process(ctx) {
            Ok(candidates) => candidates,
            Err(unsupported) => return out.not_checked(CheckId::QuietShell, unsupported),
        },
    };
    for (shell, view) in candidates {
        let environment = match ctx.platform.environment(shell.pid) {
            Ok(Some(environment)) => environment,
            Ok(None) => continue,
            Err(unsupported) => return out.not_checked(CheckId::QuietShell, unsupported),
        };
        let Some(entry) = history_off(&environment) else {
            continue;
        };
        let ancestor: &Process = view.process;
        let (severity, why) = match ctx.ownership(ancestor) {
            Ownership::Package(_) => (
                Severity::Warning,
                "a packaged program (an interactive login looks the same)",
            ),
            // Unknown because the platform cannot tell packages at all: not a reason to alert.
            Ownership::Unknown if ctx.packages_unsupported().is_some() => {
                if let Some(unsupported) = ctx.packages_unsupported() {
                    out.not_checked(CheckId::QuietShell, unsupported);
                }
                (
                    Severity::Warning,
                    "a program whose package this platform cannot tell (an interactive login looks the same)",
                )
            }
            _ => (
                Severity::Alert,
                "not a packaged program: the way backdoors hand their operator a shell that leaves no history",
            ),
        };
        let mut sockets: Vec<SocketRef> = view.sockets.iter().map(|(s, _)| SocketRef::of(s)).collect();
        sockets.dedup();
        out.findings.push(Finding {
            severity,
            check: CheckId::QuietShell,
            sockets,
            process: Some(std::sync::Arc::new(shell.clone())),
            reason: format!(
                "{} runs with {entry} (history off) below {}, which holds a network socket and is {why}",
                label(&shell),
                label(ancestor)
            ),
            next_step: Some(if severity == Severity::Alert {
                format!("{} && {}", keep_executable(ancestor.pid), stop(ancestor))
            } else {
                format!(
                    "ps -o pid,ppid,user,lstart,args -p {},{}",
                    shell.pid, ancestor.pid
                )
            }),
        });
    }
}

/// A shell and the nearest ancestor of it that holds a socket.
type Candidate<'c, 'a> = (Process, &'c ProcessView<'a>);

/// The shells below socket holders, found by walking down from each holder (its children, theirs,
/// up to [`MAX_DEPTH`] levels): what the rule needs, without reading every process on the host.
/// PID 1 is no holder here (everything descends from it).
fn below_holders<'c, 'a>(ctx: &'c Context<'a>) -> Result<Vec<Candidate<'c, 'a>>, Unsupported> {
    // pid -> (depth, index of the nearest holder)
    let mut nearest: HashMap<u32, (usize, usize)> = HashMap::new();
    for (index, view) in ctx.processes().iter().enumerate() {
        if view.process.pid <= 1 {
            continue;
        }
        let mut level = vec![view.process.pid];
        for depth in 1..=MAX_DEPTH {
            let mut next = Vec::new();
            for pid in level {
                for child in ctx.platform.children(pid)?.unwrap_or_default() {
                    let closer = nearest.get(&child).is_none_or(|&(d, _)| depth < d);
                    if closer {
                        nearest.insert(child, (depth, index));
                        next.push(child);
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
    }
    let mut found = Vec::new();
    let mut all: Option<Vec<Process>> = None;
    let mut pids: Vec<(u32, usize)> = nearest.into_iter().map(|(pid, (_, i))| (pid, i)).collect();
    pids.sort_unstable();
    for (pid, index) in pids {
        let Some(identity) = ctx.platform.identity(pid) else {
            continue;
        };
        let exe_is_shell = identity
            .exe
            .as_deref()
            .and_then(|e| e.file_name())
            .and_then(|n| n.to_str())
            .and_then(classify_name)
            == Some(Kind::Shell);
        if !exe_is_shell {
            continue;
        }
        // The shell's whole record (command line, user) for the finding, read once if needed.
        let all = all.get_or_insert_with(|| ctx.platform.processes().unwrap_or_default());
        let shell = all.iter().find(|p| p.pid == pid).cloned().unwrap_or_else(|| {
            let view = &ctx.processes()[index];
            Process {
                exe: identity.exe.clone(),
                ..Process::new(pid, view.process.pid, identity.name.clone())
            }
        });
        found.push((shell, &ctx.processes()[index]));
    }
    Ok(found)
}

/// The same, from the list of every process (where the platform cannot name a process's children).
fn every_process<'c, 'a>(ctx: &'c Context<'a>) -> Result<Vec<Candidate<'c, 'a>>, Unsupported> {
    let all = ctx.platform.processes()?;
    let parents: HashMap<u32, u32> = all.iter().map(|p| (p.pid, p.ppid)).collect();
    let mut found = Vec::new();
    for shell in all.iter() {
        if exe_name(shell).and_then(classify_name) != Some(Kind::Shell) {
            continue;
        }
        // The nearest ancestor that holds a socket.
        let mut pid = shell.ppid;
        for _ in 0..MAX_DEPTH {
            if pid <= 1 {
                break;
            }
            if let Some(view) = ctx.processes().iter().find(|v| v.process.pid == pid) {
                found.push((shell.clone(), view));
                break;
            }
            let Some(&parent) = parents.get(&pid) else {
                break;
            };
            pid = parent;
        }
    }
    Ok(found)
}
