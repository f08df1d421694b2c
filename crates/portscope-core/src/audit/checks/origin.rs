//! Who started a listener is itself evidence: a server started by cron or at from a temporary
//! directory (the job's program or its script lies under /tmp, /var/tmp or /dev/shm) is how
//! droppers make a backdoor come back; a server started from an SSH session by a user who is not
//! root is a person opening a port by hand, which services do not do.
//!
//! Read from the holder's provenance (its parent chain, SSH session and scheduler), asked of the
//! platform only for processes that hold a listener. Cron from a temporary directory: **alert**;
//! an SSH session of a non-root user: **warning** (a developer's test server looks the same).

use std::path::Path;

use crate::model::{Protocol, Socket};
use crate::provenance::{self, Ancestor, Provenance};

use super::super::advice::{keep_executable, stop};
use super::super::context::Context;
use super::super::finding::{CheckId, Severity};
use super::{Out, about_process};

const TEMPORARY: &[&str] = &["/tmp/", "/var/tmp/", "/dev/shm/", "/run/shm/"];

fn temporary(path: &str) -> bool {
    TEMPORARY.iter().any(|t| path.starts_with(t))
}

/// A listening TCP socket or a bound UDP one: a server.
fn listens(socket: &Socket) -> bool {
    matches!(socket.protocol, Protocol::Tcp | Protocol::Udp) && socket.state.is_listening()
}

/// The path under a temporary directory that the process or one of its arguments names: its
/// executable, or the script a shell or interpreter runs.
fn temporary_path(exe: Option<&Path>, cmdline: &[String]) -> Option<String> {
    if let Some(exe) = exe.and_then(Path::to_str).filter(|e| temporary(e)) {
        return Some(exe.to_string());
    }
    cmdline.iter().skip(1).take(3).find(|a| temporary(a)).cloned()
}

pub fn check(ctx: &Context, out: &mut Out) {
    let holders: Vec<&crate::model::Process> = ctx
        .processes()
        .iter()
        .filter(|v| v.sockets.iter().any(|(s, _)| listens(s)))
        // Init is started by the kernel, and asking what it activates runs `systemctl`: not on
        // every refresh of a live view.
        .filter(|v| v.process.pid != 1)
        .map(|v| v.process.as_ref())
        .collect();
    if holders.is_empty() {
        return;
    }
    let found = match provenance::of_processes(ctx.platform, &holders) {
        Ok(found) => found,
        Err(unsupported) => return out.not_checked(CheckId::Origin, unsupported),
    };
    for view in ctx.processes() {
        let process = view.process;
        let Some(p) = found.get(&process.pid) else {
            continue;
        };
        if let Some((severity, reason)) = judge(p, process) {
            let mut finding = about_process(view, CheckId::Origin, severity, reason);
            let mut steps: Vec<String> = provenance::stop::restarters(p, process, None)
                .into_iter()
                .flat_map(|r| r.commands)
                .collect();
            if severity == Severity::Alert {
                steps.insert(0, keep_executable(process.pid));
            }
            steps.push(stop(process));
            finding.next_step = Some(steps.join(" && "));
            out.findings.push(finding);
        }
    }
}

/// The severity and reason for a holder with this provenance; `None` when its origin is ordinary.
pub fn judge(p: &Provenance, process: &crate::model::Process) -> Option<(Severity, String)> {
    if let Some(s) = &p.scheduler {
        // The job's own processes: those below the scheduler, and the holder itself.
        let below: Vec<&Ancestor> = p.chain.iter().take_while(|a| a.pid != s.pid).collect();
        let from_tmp = temporary_path(process.exe.as_deref(), &process.cmdline).or_else(|| {
            below
                .iter()
                .find_map(|a| temporary_path(a.exe.as_deref(), &a.cmdline))
        });
        if let Some(path) = from_tmp {
            let user = s.user.as_deref().map(|u| format!(" for {u}")).unwrap_or_default();
            return Some((
                Severity::Alert,
                format!(
                    "The listener was started by {}{user} from a temporary directory ({path}): how a dropped backdoor comes back on a schedule",
                    s.kind
                ),
            ));
        }
    }
    if let Some(ssh) = &p.ssh {
        let uid = ssh.uid.unwrap_or(process.uid);
        if uid != 0 {
            let user = ssh.user.clone().unwrap_or_else(|| format!("uid {uid}"));
            let from = ssh.remote.map(|r| format!(" from {r}")).unwrap_or_default();
            return Some((
                Severity::Warning,
                format!(
                    "The listener was started by hand in an SSH session of {user}{from}, a user who is not root: services do not start that way"
                ),
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Process;
    use crate::provenance::{Scheduler, SshSession};

    #[test]
    fn cron_from_tmp_and_a_users_ssh_session() {
        let mut holder = Process::new(300, 299, "python3");
        holder.exe = Some("/usr/bin/python3.11".into());
        let shell = Ancestor {
            pid: 299,
            exe: Some("/usr/bin/dash".into()),
            cmdline: vec!["/bin/sh".into(), "/tmp/job/run.sh".into()],
            ..Ancestor::default()
        };
        let cron = Ancestor {
            pid: 298,
            exe: Some("/usr/sbin/cron".into()),
            ..Ancestor::default()
        };
        let p = Provenance {
            chain: vec![shell.clone(), cron],
            scheduler: Some(Scheduler {
                kind: "cron".into(),
                pid: 298,
                user: Some("alice".into()),
                ..Scheduler::default()
            }),
            ..Provenance::default()
        };
        let (severity, reason) = judge(&p, &holder).expect("marked");
        assert_eq!(severity, Severity::Alert);
        assert!(
            reason.contains("/tmp/job/run.sh") && reason.contains("cron for alice"),
            "{reason}"
        );
        // The same job from a system path is ordinary.
        let mut clean = p.clone();
        clean.chain[0].cmdline[1] = "/usr/local/bin/backup.sh".into();
        assert_eq!(judge(&clean, &holder), None);
        let ssh = |uid| Provenance {
            ssh: Some(SshSession {
                uid: Some(uid),
                user: Some(if uid == 0 { "root" } else { "bob" }.into()),
                ..SshSession::default()
            }),
            ..Provenance::default()
        };
        assert_eq!(judge(&ssh(1000), &holder).map(|j| j.0), Some(Severity::Warning));
        assert_eq!(judge(&ssh(0), &holder), None);
    }
}
