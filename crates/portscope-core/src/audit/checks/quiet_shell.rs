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

use super::super::context::{Context, Ownership, label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;
use super::shell_socket::{Kind, classify_name};

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
    let all = match ctx.platform.processes() {
        Ok(all) => all,
        Err(unsupported) => return out.not_checked(CheckId::QuietShell, unsupported),
    };
    if all.is_empty() {
        return;
    }
    let parents: HashMap<u32, u32> = all.iter().map(|p| (p.pid, p.ppid)).collect();
    for shell in &all {
        let is_shell = exe_name(shell).and_then(classify_name) == Some(Kind::Shell);
        if !is_shell {
            continue;
        }
        let environment = match ctx.platform.environment(shell.pid) {
            Ok(Some(environment)) => environment,
            Ok(None) => continue,
            Err(unsupported) => return out.not_checked(CheckId::QuietShell, unsupported),
        };
        let Some(entry) = history_off(&environment) else {
            continue;
        };
        // The nearest ancestor that holds a socket.
        let mut pid = shell.ppid;
        let mut holder = None;
        for _ in 0..MAX_DEPTH {
            if pid <= 1 {
                break;
            }
            if let Some(view) = ctx.processes().iter().find(|v| v.process.pid == pid) {
                holder = Some(view);
                break;
            }
            let Some(&parent) = parents.get(&pid) else {
                break;
            };
            pid = parent;
        }
        let Some(view) = holder else {
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
                label(shell),
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
