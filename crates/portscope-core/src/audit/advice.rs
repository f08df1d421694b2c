//! What to do about a finding, as a command a shell runs as written.
//!
//! A finding that looks like a compromise gets two steps joined by `&&`: first keep the evidence
//! (a running program's executable stays readable through /proc/PID/exe even after its file was
//! deleted, and is gone once the process ends), then stop it the way its supervisor expects (a
//! systemd unit through systemctl, a container through its runtime, anything else with
//! `portscope close --pid`). A finding that only asks for a closer look gets the command that
//! shows more. Paths in a command are quoted for the shell: they came from a process.

use crate::model::{Process, Supervisor};

use super::finding::{CheckId, Finding, Severity};

/// `text` quoted for a POSIX shell: in single quotes, any single quote spelled `'\''`. Plain
/// words (letters, digits and `/._-+:@%=,`) stay as they are, so common commands read cleanly.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// Copies the running executable of `pid` next to the user, before anything stops it.
pub fn keep_executable(pid: u32) -> String {
    format!("cp /proc/{pid}/exe ./portscope-evidence-{pid}.bin")
}

/// Stops `process` through whatever supervises it.
pub fn stop(process: &Process) -> String {
    match &process.supervisor {
        Some(Supervisor::Systemd { unit }) => format!("systemctl stop {}", shell_quote(unit)),
        Some(Supervisor::SystemdUser { unit }) => {
            let user = process.user.as_deref().map(shell_quote);
            match user {
                Some(user) => format!("systemctl --user -M {user}@ stop {}", shell_quote(unit)),
                None => format!("systemctl --user stop {}", shell_quote(unit)),
            }
        }
        Some(Supervisor::Container { runtime, id }) if runtime == "docker" || runtime == "podman" => {
            format!("{runtime} stop {}", shell_quote(id))
        }
        _ => format!("portscope close --pid {}", process.pid),
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("nginx.service"), "nginx.service");
        assert_eq!(shell_quote("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(shell_quote("x'; rm -rf /"), r"'x'\''; rm -rf /'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("$(id)"), "'$(id)'");
    }

    #[test]
    fn stop_follows_the_supervisor() {
        let mut p = Process::new(42, 1, "x");
        assert_eq!(stop(&p), "portscope close --pid 42");
        p.supervisor = Some(Supervisor::Systemd {
            unit: "evil.service".into(),
        });
        assert_eq!(stop(&p), "systemctl stop evil.service");
        p.supervisor = Some(Supervisor::Container {
            runtime: "docker".into(),
            id: "abc".into(),
        });
        assert_eq!(stop(&p), "docker stop abc");
    }
}
