//! Hidden processes (`audit --deep`): a pid that answers when asked directly (kill(pid, 0) or
//! pidfd_open) but that the /proc listing does not show — what a rootkit does when it filters
//! `getdents` on /proc, the check of `unhide brute`.
//!
//! Every pid below pid_max is asked once. Threads answer too but are never listed (only thread
//! groups are), so each candidate's thread group is read directly from /proc/PID/status, which a
//! listing filter does not hide; a thread is dropped. Processes start and end while the probe
//! runs, so a candidate must be missing from a second listing taken after the probe and still
//! answer then: a process that started meanwhile is in the second listing, one that ended no
//! longer answers. A pid whose status cannot be read is asked once more after the read.

use std::collections::HashSet;
use std::sync::Arc;

use crate::model::Process;
use crate::platform::Unsupported;

use super::super::advice::keep_executable;
use super::super::context::Context;
use super::super::finding::{CheckId, Finding, Severity};
use super::Out;

pub fn check(ctx: &Context, out: &mut Out) {
    if let Err(unsupported) = probe(ctx, out) {
        // Every fact this rule weighs is needed: without one the probe proves nothing, and a
        // missing listing would make every pid look hidden.
        out.findings.retain(|f| f.check != CheckId::HiddenProcess);
        out.not_checked(CheckId::HiddenProcess, unsupported);
    }
}

fn probe(ctx: &Context, out: &mut Out) -> Result<(), Unsupported> {
    let platform = ctx.platform;
    let max = platform.pid_max()?;
    let Ok(first) = platform.listed_pids()? else {
        out.notes
            .push("hidden processes were not looked for: the process listing could not be read".into());
        return Ok(());
    };
    if max == 0 {
        return Ok(());
    }
    let first: HashSet<u32> = first.into_iter().collect();
    let mut candidates = Vec::new();
    for pid in 1..max {
        if !first.contains(&pid) && platform.pid_answers(pid)? {
            candidates.push(pid);
        }
    }
    if candidates.is_empty() {
        return Ok(());
    }
    let Ok(second) = platform.listed_pids()? else {
        return Ok(());
    };
    let second: HashSet<u32> = second.into_iter().collect();
    for pid in candidates {
        if second.contains(&pid) || !platform.pid_answers(pid)? {
            continue;
        }
        let group = platform.thread_group(pid)?;
        if group.is_some_and(|tgid| tgid != pid) {
            continue;
        }
        // /proc/PID/status unreadable: a thread that ended just now, or a process hidden from
        // lookups too. Only one that still answers afterwards counts.
        if group.is_none() && !platform.pid_answers(pid)? {
            continue;
        }
        let identity = platform.identity(pid);
        let mut process = Process::new(
            pid,
            0,
            identity.as_ref().map(|i| i.name.clone()).unwrap_or_default(),
        );
        process.exe = identity.and_then(|i| i.exe);
        let what = match &process.exe {
            Some(exe) => format!("{} ({})", process.name, exe.display()),
            None => "a process whose details are unreadable".into(),
        };
        out.findings.push(Finding {
            severity: Severity::Alert,
            check: CheckId::HiddenProcess,
            sockets: Vec::new(),
            process: Some(Arc::new(process)),
            reason: format!(
                "pid {pid}, {what}, answers kill(pid, 0) but the /proc listing hides it, twice: a rootkit filters the process list"
            ),
            next_step: Some(format!("cat /proc/{pid}/status && {}", keep_executable(pid))),
        });
    }
    Ok(())
}
