//! The one place that says which command stops what portscope shows: `audit`'s close list and
//! next steps, `close`'s advice for a supervised holder, `explain`, `list` and `top` all ask here,
//! so the same holder gets the same command everywhere. Every command runs as printed (words a
//! process chose are quoted for the shell) and acts on exactly the holder or socket it names.

use std::net::SocketAddr;

use crate::audit::Finding;
use crate::model::{Process, Protocol, Supervisor};

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

/// `path` as an operand a command cannot read as an option, quoted for the shell: a word that
/// starts with `-` (an attacker's `--target-directory=/etc`) becomes `./-…`, the same file.
/// Commands also put `--` before their operands; this holds where a tool ignores `--`.
pub fn path_operand(path: &str) -> String {
    if path.starts_with('-') {
        shell_quote(&format!("./{path}"))
    } else {
        shell_quote(path)
    }
}

/// Keeps the running executable of `pid` as `$d/exe` in a fresh directory below the current
/// one: `mktemp -d` creates it with an unpredictable name (mode 0700, failing if anything is
/// there), so a process that knows its own PID cannot plant a link the copy would write through.
/// Later steps of the same command may add to `"$d"`.
pub fn keep_executable(pid: u32) -> String {
    format!("d=$(mktemp -d ./portscope-evidence-{pid}.XXXXXX) && cp -- /proc/{pid}/exe \"$d/exe\"")
}

/// Stops `process` the way whatever supervises it expects: a systemd unit through systemctl, a
/// container through its runtime (a supervisor would restart a killed process), anything else
/// with `portscope close --pid`, which checks, signals and verifies.
pub fn stop(process: &Process) -> String {
    stop_with(process, process.supervisor.as_ref())
}

/// [`stop`], with the supervisor that would restart `process` decided by the caller (`close`
/// leaves out a supervisor it shares with portscope itself); `None`: `portscope close --pid`.
/// A unit or container name that starts with `-` would be read as an option by the tool that
/// stops it; such a holder is stopped with `portscope close --pid` instead.
pub fn stop_with(process: &Process, supervisor: Option<&Supervisor>) -> String {
    let supervisor = supervisor.filter(|s| match s {
        Supervisor::Systemd { unit } | Supervisor::SystemdUser { unit } => !unit.starts_with('-'),
        Supervisor::Container { id, .. } => !id.starts_with('-'),
        Supervisor::WindowsService { name } => !name.starts_with('-'),
    });
    match supervisor {
        Some(Supervisor::Systemd { unit }) => format!("systemctl stop {}", shell_quote(unit)),
        Some(Supervisor::SystemdUser { unit }) => match process.user.as_deref() {
            Some(user) => format!(
                "systemctl --user -M {}@ stop {}",
                shell_quote(user),
                shell_quote(unit)
            ),
            None => format!("systemctl --user stop {}", shell_quote(unit)),
        },
        Some(Supervisor::Container { runtime, id }) => match runtime.as_str() {
            "docker" | "podman" => format!("{runtime} stop {}", shell_quote(id)),
            "lxc" => format!("lxc-stop -n {}", shell_quote(id)),
            // containerd, CRI-O and Kubernetes pods: the CRI client stops the container (a pod's
            // controller may start another; `kubectl` is for the pod itself).
            _ => format!("crictl stop {}", shell_quote(id)),
        },
        // `sc.exe stop` takes the service name as one argument; cmd and PowerShell both read a
        // double-quoted name whole.
        Some(Supervisor::WindowsService { name }) => format!("sc.exe stop \"{}\"", name.replace('"', "")),
        None => format!("portscope close --pid {}", process.pid),
    }
}

/// The command that acts on a finding: stop the process it names (through its supervisor), else
/// cut the connection, else close the port.
pub fn for_finding(finding: &Finding) -> Option<String> {
    if let Some(process) = &finding.process {
        return Some(stop(process));
    }
    let socket = finding.sockets.first()?;
    match (socket.remote, socket.protocol) {
        (Some(remote), Protocol::Tcp) if !remote.is_unspecified() && remote.port != 0 => {
            let local = SocketAddr::new(socket.local.address, socket.local.port);
            let remote = SocketAddr::new(remote.address, remote.port);
            Some(format!("portscope close --connection {local} {remote}"))
        }
        (_, Protocol::Tcp) => Some(format!(
            "portscope close {} --tcp{}",
            socket.local.port,
            in_netns(socket.netns.as_deref())
        )),
        (_, Protocol::Udp) => Some(format!(
            "portscope close {} --udp{}",
            socket.local.port,
            in_netns(socket.netns.as_deref())
        )),
        _ => None,
    }
}

/// ` --netns NAME` (or `net:[INODE]`) for a port outside the host's namespace: `close PORT`
/// refuses when holders of the port live in more than one namespace, and acts on exactly this
/// one when named.
fn in_netns(netns: Option<&crate::model::Netns>) -> String {
    match netns {
        None => String::new(),
        Some(n) if n.kind == crate::model::NetnsKind::Host => String::new(),
        Some(n) => match &n.name {
            Some(name) => format!(" --netns {}", shell_quote(name)),
            None => format!(" --netns 'net:[{}]'", n.inode),
        },
    }
}

/// `portscope close PORT --remote`: cuts the connections from this machine to `port` elsewhere;
/// the programs holding them keep running.
pub fn cut_outgoing(port: u16) -> String {
    format!("portscope close {port} --remote")
}

/// [`cut_outgoing`] for connections that all live in `netns`, outside the host's namespace: the
/// command names it, so that it cuts exactly those connections.
pub fn cut_outgoing_in(port: u16, netns: &crate::model::Netns) -> String {
    format!("{}{}", cut_outgoing(port), in_netns(Some(netns)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutting_outgoing_connections_names_their_namespace() {
        use crate::model::{Netns, NetnsKind};
        let named = Netns {
            inode: 7,
            name: Some("web-1".into()),
            kind: NetnsKind::Named,
        };
        assert_eq!(
            cut_outgoing_in(4444, &named),
            "portscope close 4444 --remote --netns web-1"
        );
        let anonymous = Netns {
            inode: 7,
            name: None,
            kind: NetnsKind::Anonymous,
        };
        assert_eq!(
            cut_outgoing_in(4444, &anonymous),
            "portscope close 4444 --remote --netns 'net:[7]'"
        );
    }

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
        assert_eq!(stop_with(&p, None), "portscope close --pid 42");
        p.supervisor = Some(Supervisor::Container {
            runtime: "docker".into(),
            id: "abc".into(),
        });
        assert_eq!(stop(&p), "docker stop abc");
        p.supervisor = Some(Supervisor::Container {
            runtime: "containerd".into(),
            id: "abc".into(),
        });
        assert_eq!(stop(&p), "crictl stop abc");
        p.user = Some("alice".into());
        p.supervisor = Some(Supervisor::SystemdUser {
            unit: "app; rm.service".into(),
        });
        assert_eq!(stop(&p), "systemctl --user -M alice@ stop 'app; rm.service'");
        p.supervisor = Some(Supervisor::Systemd {
            unit: "--root=/tmp/x.service".into(),
        });
        assert_eq!(stop(&p), "portscope close --pid 42");
    }

    #[test]
    fn operands_are_never_options() {
        assert_eq!(path_operand("/lib/a.so"), "/lib/a.so");
        assert_eq!(
            path_operand("--target-directory=/etc"),
            "./--target-directory=/etc"
        );
        assert_eq!(path_operand("-rf x"), "'./-rf x'");
        assert_eq!(
            keep_executable(7),
            r#"d=$(mktemp -d ./portscope-evidence-7.XXXXXX) && cp -- /proc/7/exe "$d/exe""#
        );
    }

    #[test]
    fn a_port_in_another_namespace_is_closed_there() {
        let lab = crate::model::Netns {
            inode: 4026532319,
            name: Some("lab".into()),
            kind: crate::model::NetnsKind::Named,
        };
        assert_eq!(in_netns(Some(&lab)), " --netns lab");
        let anonymous = crate::model::Netns {
            name: None,
            kind: crate::model::NetnsKind::Anonymous,
            ..lab.clone()
        };
        assert_eq!(in_netns(Some(&anonymous)), " --netns 'net:[4026532319]'");
        assert_eq!(in_netns(Some(&crate::model::Netns::default())), "");
    }
}
