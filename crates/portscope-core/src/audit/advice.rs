//! What to do about a finding, as a command a shell runs as written.
//!
//! A finding that looks like a compromise gets two steps joined by `&&`: first keep the evidence
//! (a running program's executable stays readable through /proc/PID/exe even after its file was
//! deleted, and is gone once the process ends), then stop it the way its supervisor expects (a
//! systemd unit through systemctl, a container through its runtime, anything else with
//! `portscope close --pid`). A finding that only asks for a closer look gets the command that
//! shows more. Paths in a command are quoted for the shell: they came from a process.

use super::finding::{CheckId, Finding, Severity};

pub use crate::close::suggest::{keep_executable, path_operand, shell_quote, stop};

/// Shows who a process is: its parent, user, start and command line, and its executable.
pub fn inspect(pid: u32) -> String {
    format!("ps -o pid,ppid,user,lstart,args -p {pid} && ls -l /proc/{pid}/exe")
}

/// The usual next step for `finding`'s check and severity; `None` when there is nothing to run.
pub fn next_step(finding: &Finding) -> Option<String> {
    let process = finding.process.as_deref();
    let port = finding
        .sockets
        .first()
        .filter(|s| s.protocol.has_ports())
        .map(|s| s.local.port);
    match (finding.check, finding.severity, process) {
        // A live compromise: keep the binary, then stop the process.
        (
            CheckId::DeletedExe
            | CheckId::ExeLocation
            | CheckId::Masquerade
            | CheckId::PacketSocket
            | CheckId::Unpackaged
            | CheckId::Preload,
            Severity::Alert,
            Some(process),
        ) => Some(format!("{} && {}", keep_executable(process.pid), stop(process))),
        // A shell on a socket: cut it now; the program is a system shell, nothing to keep.
        (CheckId::ShellSocket, Severity::Alert, Some(process)) => Some(stop(process)),
        (_, Severity::Alert | Severity::Warning, Some(process)) => Some(inspect(process.pid)),
        (CheckId::AllInterfaces | CheckId::AbusePort | CheckId::UnexpectedServer, _, _) => {
            port.map(|port| format!("portscope explain {port}"))
        }
        (CheckId::Unowned, _, _) => Some("portscope audit --deep".into()),
        (CheckId::HiddenListener, _, _) => Some("cat /proc/sys/kernel/tainted /proc/modules".into()),
        (_, Severity::Info, Some(process)) => Some(inspect(process.pid)),
        _ => None,
    }
}
