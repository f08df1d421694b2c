//! What a provenance says in words: the one line `list --why` prints for a holder, and the lines
//! of `explain`'s "Why it is open". The text holds names processes and files chose (units,
//! containers, users): callers pass it through [`crate::render`] before a terminal sees it.

use std::fmt::Display;

use crate::model::{Process, Socket};

use super::{Activator, Ancestor, Provenance, SocketUnit, SshSession};

/// Ancestors `explain` names one by one; JSON has the whole chain.
const MAX_TREE: usize = 6;

/// The one line: what started the holder, the nearest cause first — a socket activator, a
/// container, an SSH session, cron or at, a systemd unit, a login session, else its parent.
pub fn line(p: &Provenance, process: &Process, socket: Option<&Socket>) -> String {
    if let Some(text) = activation(p, socket) {
        return text;
    }
    if let Some(c) = &p.container {
        let name = c
            .name
            .as_deref()
            .unwrap_or_else(|| c.id.get(..12).unwrap_or(&c.id));
        return match (&c.pod, &c.namespace) {
            (Some(pod), Some(ns)) => format!("container {name} in pod {pod} (namespace {ns}, {})", c.engine),
            (Some(pod), None) => format!("container {name} in pod {pod} ({})", c.engine),
            _ => format!("container {name} ({})", c.engine),
        };
    }
    if let Some(ssh) = &p.ssh {
        return ssh_line(ssh);
    }
    if let Some(s) = &p.scheduler {
        return match &s.user {
            Some(user) => format!("started by {} for {user}", s.kind),
            None => format!("started by {} (PID {})", s.kind, s.pid),
        };
    }
    if let Some(unit) = &p.unit {
        return match &unit.user {
            Some(user) => format!("user unit {} of {user}", unit.name),
            None => format!("systemd unit {}", unit.name),
        };
    }
    if let Some(login) = &p.login {
        let user = login.user.as_deref().unwrap_or("?");
        let place = match (&login.remote_host, &login.tty, &login.seat) {
            (Some(host), _, _) => format!(" from {host}"),
            (None, Some(tty), _) => format!(" on {tty}"),
            (None, None, Some(seat)) => format!(" at {seat}"),
            _ => String::new(),
        };
        return format!("login session {} of {user}{place}", login.id);
    }
    match p.chain.first() {
        Some(parent) if parent.pid == 1 => format!("started by init (PID {})", parent.pid),
        Some(parent) => format!("started by {}", ancestor_short(parent)),
        None if process.ppid == 0 => "the first process (init)".into(),
        None => format!("started by PID {}", process.ppid),
    }
}

/// `value` between `before` and `after`, or nothing when it is absent: an optional part of a
/// line, such as " as alice" or " (sshd PID 811)".
fn part(before: &str, value: Option<impl Display>, after: &str) -> String {
    value.map(|v| format!("{before}{v}{after}")).unwrap_or_default()
}

/// The user's name, or "uid N" when only the number is known.
fn user_or_uid(user: &Option<String>, uid: Option<u32>) -> Option<String> {
    user.clone().or_else(|| uid.map(|u| format!("uid {u}")))
}

/// "SSH session from 198.18.3.2:51234 as root on pts/1".
fn ssh_line(ssh: &SshSession) -> String {
    let from = part(" from ", ssh.remote, "");
    let user = part(" as ", user_or_uid(&ssh.user, ssh.uid), "");
    let tty = match &ssh.tty {
        Some(tty) => format!(" on {tty}"),
        None => " without a terminal".into(),
    };
    let claimed = match ssh.source {
        super::SshSource::Socket => "",
        super::SshSource::Environment => " (from its environment)",
    };
    format!("SSH session{from}{user}{tty}{claimed}")
}

/// Whether the socket unit listens on `socket`'s local end: the same port, and the same address or a
/// wildcard on either side.
pub fn listens_on(unit: &SocketUnit, socket: &Socket) -> bool {
    // `systemctl` prints a bare port for `ListenStream=631` (every address).
    let (address, port) = unit.listen.rsplit_once(':').unwrap_or(("", &unit.listen));
    let Ok(port) = port.parse::<u16>() else {
        return false;
    };
    if port != socket.local.port {
        return false;
    }
    let address = address.trim_start_matches('[').trim_end_matches(']');
    if address.is_empty() || address == "*" {
        return true;
    }
    match address.parse::<std::net::IpAddr>() {
        Ok(a) => {
            a.to_canonical() == socket.local.address.to_canonical()
                || a.is_unspecified()
                || socket.local.address.is_unspecified()
        }
        Err(_) => false,
    }
}

/// The socket unit that holds `socket` for the service manager, or whose descriptor the holder
/// received; `None` when there is none to name.
pub fn socket_unit<'a>(p: &'a Provenance, socket: Option<&Socket>) -> Option<&'a str> {
    let activation = p.activation.as_ref()?;
    if let Some(socket) = socket
        && let Some(unit) = activation.socket_units.iter().find(|u| listens_on(u, socket))
    {
        return Some(&unit.unit);
    }
    activation
        .fd_names
        .iter()
        .find(|n| n.ends_with(".socket"))
        .map(String::as_str)
}

fn activation(p: &Provenance, socket: Option<&Socket>) -> Option<String> {
    let a = p.activation.as_ref()?;
    let unit = socket_unit(p, socket);
    Some(match (a.by, unit) {
        (Activator::ServiceManager, Some(unit)) => {
            let starts = a
                .socket_units
                .iter()
                .find(|u| u.unit == unit)
                .map(|u| u.activates.join(", "))
                .filter(|s| !s.is_empty());
            let starts = part(", starts ", starts, "");
            format!("socket-activated by {unit}{starts}")
        }
        (Activator::ServiceManager, None) => {
            "held by the service manager for a socket unit (systemctl list-sockets)".into()
        }
        (Activator::Command, _) => {
            let starts = part(", starts ", a.starts.first(), "");
            format!("socket-activated by systemd-socket-activate{starts}")
        }
        (Activator::Inherited, Some(unit)) => format!("socket-activated by {unit}"),
        (Activator::Inherited, None) => match p.chain.first() {
            Some(parent) => format!(
                "socket-activated: received the socket from {}",
                ancestor_short(parent)
            ),
            None => "socket-activated: received the socket at start (LISTEN_FDS)".into(),
        },
    })
}

/// "bash (PID 812, alice)".
fn ancestor_short(a: &Ancestor) -> String {
    let user = part(", ", user_or_uid(&a.user, a.uid), "");
    format!("{} (PID {}{user})", a.name, a.pid)
}

/// The lines of `explain`'s "Why it is open" for one holder: the one line, then each part the
/// chain has, then the process tree in order (the holder's parent first).
pub fn lines(p: &Provenance, process: &Process, socket: Option<&Socket>) -> Vec<String> {
    let mut lines = vec![line(p, process, socket)];
    if let Some(a) = &p.activation {
        if let Some(unit) = socket_unit(p, socket) {
            lines.push(format!("socket unit: {unit} holds the listening socket"));
        } else if a.by == Activator::Command && !a.starts.is_empty() {
            lines.push(format!("activator starts: {}", a.starts.join(" ")));
        }
    }
    if let Some(unit) = &p.unit {
        lines.push(match &unit.user {
            Some(user) => format!("systemd user unit: {} (manager of {user})", unit.name),
            None => format!("systemd unit: {}", unit.name),
        });
    }
    if let Some(c) = &p.container {
        let mut text = format!("container: {} {}", c.engine, c.id.get(..12).unwrap_or(&c.id));
        if let Some(name) = &c.name {
            text.push_str(&format!(", name {name}"));
        }
        if let Some(pod) = &c.pod {
            text.push_str(&format!(", pod {pod}"));
        }
        if let Some(ns) = &c.namespace {
            text.push_str(&format!(", namespace {ns}"));
        }
        if let Some(restart) = &c.restart {
            text.push_str(&format!(", restart policy {restart}"));
        }
        lines.push(text);
    }
    if let Some(ssh) = &p.ssh {
        let sshd = part(" (sshd PID ", ssh.pid, ")");
        let server = part(" to ", ssh.local, "");
        lines.push(format!("ssh: {}{server}{sshd}", ssh_line(ssh)));
    }
    if let Some(s) = &p.scheduler {
        let exe = part(" ", s.exe.as_ref().map(|e| e.display()), "");
        let user = part(", job of ", s.user.as_deref(), "");
        lines.push(format!("scheduler: {} (PID {}{exe}){user}", s.kind, s.pid));
    }
    if let Some(login) = &p.login {
        let mut text = format!("login session: {}", login.id);
        for (what, value) in [
            ("user", &login.user),
            ("tty", &login.tty),
            ("seat", &login.seat),
            ("from", &login.remote_host),
            ("service", &login.service),
        ] {
            if let Some(value) = value {
                text.push_str(&format!(", {what} {value}"));
            }
        }
        lines.push(text);
    }
    for (i, a) in p.chain.iter().take(MAX_TREE).enumerate() {
        let head = if i == 0 {
            "process tree: "
        } else {
            "              "
        };
        lines.push(format!("{head}\u{2190} {}", ancestor_long(a)));
    }
    if p.chain.len() > MAX_TREE {
        let top = p.chain.last().map_or(1, |a| a.pid);
        lines.push(format!(
            "              \u{2190} and {} more up to PID {top} (--json has them all)",
            p.chain.len() - MAX_TREE
        ));
    }
    if !p.unreadable.is_empty() {
        lines.push(format!("not readable: {}", p.unreadable.join(", ")));
    }
    lines
}

/// "PID 812 bash (/usr/bin/bash), alice, session leader: bash /tmp/job.sh".
fn ancestor_long(a: &Ancestor) -> String {
    let exe = part(" (", a.exe.as_ref().map(|e| e.display()), ")");
    let user = part(", ", user_or_uid(&a.user, a.uid), "");
    let leader = if a.session_leader { ", session leader" } else { "" };
    let command = if a.cmdline.len() > 1 {
        // sshd pads its title with spaces.
        let command = a.cmdline.join(" ");
        format!(": {}", crate::render::truncate(command.trim_end(), 80))
    } else {
        String::new()
    };
    format!("PID {} {}{exe}{user}{leader}{command}", a.pid, a.name)
}

#[cfg(test)]
mod tests {
    use super::super::{Activation, Container, Scheduler, SocketUnit, SshSource, Unit};
    use super::*;
    use crate::model::{Endpoint, Protocol, SocketState};

    fn listener(port: u16) -> Socket {
        Socket::new(
            Protocol::Tcp,
            Endpoint::new("0.0.0.0".parse().expect("ip"), port),
            Endpoint::new("0.0.0.0".parse().expect("ip"), 0),
            SocketState::Listen,
        )
    }

    fn parent(pid: u32, name: &str, user: &str) -> Ancestor {
        Ancestor {
            pid,
            name: name.into(),
            user: Some(user.into()),
            ..Ancestor::default()
        }
    }

    #[test]
    fn each_kind_has_its_line() {
        let process = Process::new(300, 299, "python3");
        let ssh = Provenance {
            ssh: Some(SshSession {
                pid: Some(290),
                remote: Some("198.18.3.2:51234".parse().expect("address")),
                user: Some("root".into()),
                tty: Some("pts/1".into()),
                ..SshSession::default()
            }),
            ..Provenance::default()
        };
        assert_eq!(
            line(&ssh, &process, None),
            "SSH session from 198.18.3.2:51234 as root on pts/1"
        );
        let mut claimed = ssh.clone();
        if let Some(s) = claimed.ssh.as_mut() {
            s.source = SshSource::Environment;
            s.tty = None;
        }
        assert_eq!(
            line(&claimed, &process, None),
            "SSH session from 198.18.3.2:51234 as root without a terminal (from its environment)"
        );
        let cron = Provenance {
            scheduler: Some(Scheduler {
                kind: "cron".into(),
                pid: 50,
                user: Some("alice".into()),
                ..Scheduler::default()
            }),
            ..Provenance::default()
        };
        assert_eq!(line(&cron, &process, None), "started by cron for alice");
        let cups = Provenance {
            activation: Some(Activation {
                by: Activator::ServiceManager,
                socket_units: vec![SocketUnit {
                    listen: "0.0.0.0:631".into(),
                    unit: "cups.socket".into(),
                    activates: vec!["cups.service".into()],
                }],
                ..Activation::default()
            }),
            ..Provenance::default()
        };
        assert_eq!(
            line(&cups, &Process::new(1, 0, "systemd"), Some(&listener(631))),
            "socket-activated by cups.socket, starts cups.service"
        );
        assert_eq!(
            line(&cups, &Process::new(1, 0, "systemd"), Some(&listener(22))),
            "held by the service manager for a socket unit (systemctl list-sockets)"
        );
        let web = Provenance {
            container: Some(Container {
                engine: "docker".into(),
                id: "0123456789abcdef".into(),
                name: Some("web".into()),
                ..Container::default()
            }),
            unit: Some(Unit {
                name: "docker-0123.scope".into(),
                user: None,
            }),
            ..Provenance::default()
        };
        assert_eq!(line(&web, &process, None), "container web (docker)");
        let plain = Provenance {
            chain: vec![parent(299, "bash", "alice"), parent(1, "init", "root")],
            ..Provenance::default()
        };
        assert_eq!(line(&plain, &process, None), "started by bash (PID 299, alice)");
    }

    #[test]
    fn explain_lists_the_tree_in_order() {
        let p = Provenance {
            chain: vec![
                parent(299, "sh", "root"),
                parent(298, "sh", "root"),
                parent(1, "init", "root"),
            ],
            ..Provenance::default()
        };
        let lines = lines(&p, &Process::new(300, 299, "python3"), None);
        let tree: Vec<&String> = lines.iter().filter(|l| l.contains('\u{2190}')).collect();
        assert_eq!(tree.len(), 3, "{lines:?}");
        assert!(
            tree[0].starts_with("process tree: \u{2190} PID 299 sh"),
            "{lines:?}"
        );
        assert!(
            tree[1].contains("PID 298 sh") && tree[2].contains("PID 1 init"),
            "{lines:?}"
        );
    }
}
