//! A shell or interpreter whose standard input or output is a network socket — the classic
//! reverse shell (`sh -i <&3 >&3` over a connection out) or bind shell (a listener as stdin) — and
//! a network relay (nc, socat) that listens.

use crate::model::{Process, SocketState};

use crate::program::exe_name;

use super::super::context::{Context, label};
use super::super::finding::{CheckId, Finding, Severity, SocketRef};
use super::Out;

const SHELLS: &[&str] = &[
    "sh", "bash", "rbash", "dash", "zsh", "ksh", "ksh93", "mksh", "pdksh", "ash", "yash", "posh", "fish",
    "csh", "tcsh", "busybox",
];
/// Matched after trailing version digits are cut (`python3.11` → `python`).
const INTERPRETERS: &[&str] = &[
    "python",
    "perl",
    "ruby",
    "irb",
    "php",
    "lua",
    "luajit",
    "node",
    "nodejs",
    "tclsh",
    "wish",
    "expect",
    "awk",
    "gawk",
    "mawk",
    "nawk",
    "busybox",
    "pwsh",
    "guile",
    "java",
    "jshell",
    "osascript",
];
const RELAYS: &[&str] = &[
    "nc",
    "ncat",
    "netcat",
    "nc.openbsd",
    "nc.traditional",
    "socat",
    "cryptcat",
    "pwncat",
    "telnet",
    "openssl",
];

/// What kind of program this is, from its executable and process names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Shell,
    Interpreter,
    Relay,
}

impl Kind {
    fn noun(self) -> &'static str {
        match self {
            Kind::Shell => "shell",
            Kind::Interpreter => "interpreter",
            Kind::Relay => "network relay",
        }
    }
}

/// Cuts a version suffix: `python3.11` → `python`, `perl5.36.0` → `perl`, `php8.2` → `php`.
fn unversioned(name: &str) -> &str {
    name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.')
}

pub fn classify_name(name: &str) -> Option<Kind> {
    if RELAYS.contains(&name) {
        Some(Kind::Relay)
    } else if SHELLS.contains(&name) {
        Some(Kind::Shell)
    } else if INTERPRETERS.contains(&unversioned(name)) {
        Some(Kind::Interpreter)
    } else {
        None
    }
}

/// The kind of a process: by its executable's name, else by its process name (busybox applets).
pub fn classify(process: &Process) -> Option<Kind> {
    exe_name(process)
        .and_then(classify_name)
        .or_else(|| classify_name(&process.name))
}

pub fn check(ctx: &Context, out: &mut Out) {
    for view in ctx.processes() {
        let process = view.process;
        let Some(kind) = classify(process) else {
            continue;
        };
        if kind == Kind::Relay {
            fed_by_relay(ctx, view, out);
        }
        for (socket, fds) in &view.sockets {
            let stdio: Vec<&str> = [(0, "input"), (1, "output")]
                .iter()
                .filter(|(fd, _)| fds.contains(fd))
                .map(|(_, name)| *name)
                .collect();
            let (severity, reason) = if !stdio.is_empty() && socket.state == SocketState::Established {
                (
                    Severity::Alert,
                    format!(
                        "{} ({}) has a connection with {} as its standard {}: the shape of a reverse or bind shell",
                        label(process),
                        kind.noun(),
                        socket.remote,
                        stdio.join(" and ")
                    ),
                )
            } else if !stdio.is_empty() && socket.state.is_listening() {
                (
                    Severity::Alert,
                    format!(
                        "{} ({}) has a listening socket as its standard {}: the shape of a bind shell",
                        label(process),
                        kind.noun(),
                        stdio.join(" and ")
                    ),
                )
            } else if kind == Kind::Relay && socket.state == SocketState::Listen {
                (
                    Severity::Warning,
                    format!(
                        "{} (network relay) listens on port {}: a bind shell or a hand-made port forward",
                        label(process),
                        socket.local.port
                    ),
                )
            } else {
                continue;
            };
            out.findings.push(Finding {
                severity,
                check: CheckId::ShellSocket,
                sockets: vec![SocketRef::of(socket)],
                process: Some(process.clone()),
                next_step: None,
                reason,
            });
        }
    }
}

/// A shell or interpreter that a relay started and feeds (`socat TCP:host:4444 EXEC:/bin/sh`):
/// its standard input and output are pipes or a socket pair to the relay, not network sockets,
/// so only the relay's connection links it to the network. A relay holding an established
/// connection with a shell as its child is a reverse shell. The finding names the relay, which
/// holds what `close` can act on.
fn fed_by_relay(ctx: &Context, view: &super::super::context::ProcessView, out: &mut Out) {
    let relay = view.process;
    let Some((connection, _)) = view
        .sockets
        .iter()
        .find(|(s, _)| s.state == SocketState::Established)
    else {
        return;
    };
    let children = match ctx.platform.children(relay.pid) {
        Ok(Some(children)) => children,
        Ok(None) => return,
        Err(unsupported) => return out.not_checked(CheckId::ShellSocket, unsupported),
    };
    for child in children {
        let Some(identity) = ctx.platform.identity(child) else {
            continue;
        };
        let kind = identity
            .exe
            .as_deref()
            .and_then(|e| e.file_name())
            .and_then(|n| n.to_str())
            .and_then(classify_name)
            .or_else(|| classify_name(&identity.name));
        let Some(kind @ (Kind::Shell | Kind::Interpreter)) = kind else {
            continue;
        };
        let shell = Process {
            exe: identity.exe.clone(),
            ..Process::new(child, relay.pid, identity.name.clone())
        };
        out.findings.push(Finding {
            severity: Severity::Alert,
            check: CheckId::ShellSocket,
            sockets: vec![SocketRef::of(connection)],
            reason: format!(
                "{} ({}) is fed by {} (network relay), which holds a connection with {}: a reverse shell through a relay",
                label(&shell),
                kind.noun(),
                label(relay),
                connection.remote
            ),
            // The relay holds the connection: stopping it (the next step) cuts the shell off.
            process: Some(relay.clone()),
            next_step: None,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(classify_name("dash"), Some(Kind::Shell));
        assert_eq!(classify_name("python3.11"), Some(Kind::Interpreter));
        assert_eq!(classify_name("python3"), Some(Kind::Interpreter));
        assert_eq!(classify_name("perl5.36.0"), Some(Kind::Interpreter));
        assert_eq!(classify_name("nc.openbsd"), Some(Kind::Relay));
        assert_eq!(classify_name("socat"), Some(Kind::Relay));
        assert_eq!(classify_name("nginx"), None);
        assert_eq!(classify_name("sshd"), None);
        assert_eq!(classify_name(""), None);
    }
}
