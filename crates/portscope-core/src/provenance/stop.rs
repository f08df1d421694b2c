//! "How to stop it for good": from a holder's provenance, what would restart or re-create it
//! (a socket unit, a service unit, a container's restart policy, cron, an SSH session that can
//! start it again) and the commands that stop each, built with the close advice's quoting
//! ([`crate::close::suggest`]) so that every command runs as printed and a name a process chose
//! can never become an option or a second command.

use serde::Serialize;

use crate::close::suggest::shell_quote;
use crate::model::{Process, Socket};

use super::{Activator, Provenance};

/// One thing that would bring the holder back, and how to stop it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Restarter {
    /// What it is, in words ("socket unit cups.socket starts cups.service on the next
    /// connection").
    pub what: String,
    /// The commands that stop it for good, in order (runnable as printed).
    pub commands: Vec<String>,
}

/// A name given to a tool as an operand: quoted, and never one that reads as an option.
fn operand(name: &str) -> Option<String> {
    (!name.is_empty() && !name.starts_with('-')).then(|| shell_quote(name))
}

/// `systemctl [--user -M USER@] VERB UNIT`.
fn systemctl(unit: &str, user: Option<&str>, verb: &str) -> Option<String> {
    let unit = operand(unit)?;
    Some(match user.and_then(operand) {
        Some(user) => format!("systemctl --user -M {user}@ {verb} {unit}"),
        None if user.is_some() => return None,
        None => format!("systemctl {verb} {unit}"),
    })
}

/// A unit's stop-for-good command: a service is disabled and stopped; a scope or another kind,
/// which cannot be enabled, is stopped.
fn stop_unit(unit: &str, user: Option<&str>) -> Option<String> {
    if unit.ends_with(".service") || unit.ends_with(".socket") {
        systemctl(unit, user, "disable --now")
    } else {
        systemctl(unit, user, "stop")
    }
}

/// What would restart or re-create `process` (a holder of `socket`), each with the commands that
/// stop it for good; empty when nothing in the chain would.
pub fn restarters(p: &Provenance, process: &Process, socket: Option<&Socket>) -> Vec<Restarter> {
    let mut found = Vec::new();
    if let Some(a) = &p.activation {
        if let Some(unit) = super::why::socket_unit(p, socket) {
            let services: Vec<&str> = a
                .socket_units
                .iter()
                .filter(|u| u.unit == unit)
                .flat_map(|u| u.activates.iter().map(String::as_str))
                .collect();
            let user = p.unit.as_ref().and_then(|u| u.user.as_deref());
            let mut commands: Vec<String> = stop_unit(unit, user).into_iter().collect();
            commands.extend(services.iter().filter_map(|s| stop_unit(s, user)));
            let starts = if services.is_empty() {
                String::new()
            } else {
                format!(" starts {}", services.join(", "))
            };
            found.push(Restarter {
                what: format!("socket unit {unit}{starts} again on the next connection"),
                commands,
            });
        } else if a.by == Activator::Command {
            found.push(Restarter {
                what: format!(
                    "systemd-socket-activate (PID {}) holds the socket and starts the program when a connection comes",
                    process.pid
                ),
                commands: vec![format!("portscope close --pid {}", process.pid)],
            });
        }
    }
    if let Some(unit) = &p.unit {
        let service = stop_unit(&unit.name, unit.user.as_deref());
        if let Some(command) = service.filter(|c| !found.iter().any(|r| r.commands.contains(c))) {
            let what = if unit.name.ends_with(".service") {
                format!(
                    "systemd unit {} (restarted by systemd, started again at boot when enabled)",
                    unit.name
                )
            } else {
                format!("systemd unit {}", unit.name)
            };
            found.push(Restarter {
                what,
                commands: vec![command],
            });
        }
    }
    if let Some(c) = &p.container {
        let name = c.name.as_deref().and_then(operand).or_else(|| operand(&c.id));
        if let Some(name) = name {
            let (what, commands) = match c.engine.as_str() {
                "docker" => (
                    format!(
                        "docker container {}{}",
                        c.name.as_deref().unwrap_or(&c.id),
                        restart_words(c.restart.as_deref())
                    ),
                    vec![
                        format!("docker update --restart=no {name}"),
                        format!("docker stop {name}"),
                    ],
                ),
                "podman" => (
                    format!("podman container {}", c.name.as_deref().unwrap_or(&c.id)),
                    vec![format!("podman stop {name}")],
                ),
                "lxc" => (
                    format!("lxc container {}", c.id),
                    vec![format!("lxc-stop -n {name}")],
                ),
                _ => match (
                    c.pod.as_deref().and_then(operand),
                    c.namespace.as_deref().and_then(operand),
                ) {
                    (Some(pod), Some(ns)) => (
                        format!(
                            "Kubernetes pod {} in namespace {} (its controller re-creates a deleted pod)",
                            c.pod.as_deref().unwrap_or_default(),
                            c.namespace.as_deref().unwrap_or_default()
                        ),
                        vec![
                            format!(
                                "kubectl -n {ns} get pod {pod} -o jsonpath='{{.metadata.ownerReferences}}'"
                            ),
                            format!("kubectl -n {ns} delete pod {pod}"),
                        ],
                    ),
                    _ => (
                        format!("{} container {}", c.engine, c.id),
                        vec![format!("crictl stop {}", shell_quote(&c.id))],
                    ),
                },
            };
            found.push(Restarter { what, commands });
        }
    }
    if let Some(s) = &p.scheduler {
        let (what, commands) = match s.kind.as_str() {
            "at" => (
                "an at job (runs once; another may be queued)".to_string(),
                vec!["atq".to_string()],
            ),
            kind => {
                let mut commands = Vec::new();
                if let Some(user) = s.user.as_deref().and_then(operand) {
                    commands.push(format!("crontab -l -u {user}"));
                }
                commands.push("grep -r -- . /etc/crontab /etc/cron.d".into());
                (
                    format!(
                        "{kind} runs the job again at its next time{}: remove its line",
                        s.user
                            .as_deref()
                            .map(|u| format!(" (job of {u})"))
                            .unwrap_or_default()
                    ),
                    commands,
                )
            }
        };
        found.push(Restarter { what, commands });
    }
    if let Some(ssh) = &p.ssh
        && let Some(pid) = ssh.pid
    {
        found.push(Restarter {
            what: format!(
                "the SSH session{} (sshd PID {pid}): whoever holds it can start the program again",
                ssh.user
                    .as_deref()
                    .map(|u| format!(" of {u}"))
                    .unwrap_or_default()
            ),
            commands: vec![format!("kill {pid}")],
        });
    }
    found
}

fn restart_words(policy: Option<&str>) -> String {
    match policy {
        Some("no") | Some("") | None => String::new(),
        Some(policy) => format!(" (restart policy {policy}: started again when it exits or at boot)"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Activation, Container, Scheduler, SocketUnit, SshSession, Unit};
    use super::*;

    #[test]
    fn each_restarter_has_its_command() {
        let process = Process::new(300, 1, "x");
        let p = Provenance {
            activation: Some(Activation {
                by: Activator::Inherited,
                fd_names: vec!["cups.socket".into()],
                ..Activation::default()
            }),
            unit: Some(Unit {
                name: "cups.service".into(),
                user: None,
            }),
            ..Provenance::default()
        };
        let r = restarters(&p, &process, None);
        assert_eq!(r[0].commands, ["systemctl disable --now cups.socket"]);
        assert_eq!(r[1].commands, ["systemctl disable --now cups.service"]);
        let with_units = Provenance {
            activation: Some(Activation {
                by: Activator::ServiceManager,
                socket_units: vec![SocketUnit {
                    listen: "631".into(),
                    unit: "cups.socket".into(),
                    activates: vec!["cups.service".into()],
                }],
                ..Activation::default()
            }),
            ..Provenance::default()
        };
        let socket = crate::model::Socket::new(
            crate::model::Protocol::Tcp,
            crate::model::Endpoint::new("0.0.0.0".parse().expect("ip"), 631),
            crate::model::Endpoint::new("0.0.0.0".parse().expect("ip"), 0),
            crate::model::SocketState::Listen,
        );
        let r = restarters(&with_units, &Process::new(1, 0, "systemd"), Some(&socket));
        assert_eq!(
            r[0].commands,
            [
                "systemctl disable --now cups.socket",
                "systemctl disable --now cups.service"
            ]
        );
        let docker = Provenance {
            container: Some(Container {
                engine: "docker".into(),
                id: "0123456789ab".into(),
                name: Some("web; rm -rf /".into()),
                restart: Some("always".into()),
                ..Container::default()
            }),
            ..Provenance::default()
        };
        assert_eq!(
            restarters(&docker, &process, None)[0].commands,
            [
                "docker update --restart=no 'web; rm -rf /'",
                "docker stop 'web; rm -rf /'"
            ]
        );
        let options = Provenance {
            container: Some(Container {
                engine: "docker".into(),
                id: "0123456789ab".into(),
                name: Some("--help".into()),
                ..Container::default()
            }),
            ..Provenance::default()
        };
        assert_eq!(
            restarters(&options, &process, None)[0].commands[1],
            "docker stop 0123456789ab"
        );
        let cron = Provenance {
            scheduler: Some(Scheduler {
                kind: "cron".into(),
                pid: 9,
                user: Some("alice".into()),
                ..Scheduler::default()
            }),
            ssh: Some(SshSession {
                pid: Some(77),
                ..SshSession::default()
            }),
            ..Provenance::default()
        };
        let r = restarters(&cron, &process, None);
        assert_eq!(r[0].commands[0], "crontab -l -u alice");
        assert_eq!(r[1].commands, ["kill 77"]);
        let user_unit = Provenance {
            unit: Some(Unit {
                name: "app.service".into(),
                user: Some("alice".into()),
            }),
            ..Provenance::default()
        };
        assert_eq!(
            restarters(&user_unit, &process, None)[0].commands,
            ["systemctl --user -M alice@ disable --now app.service"]
        );
        assert!(restarters(&Provenance::default(), &process, None).is_empty());
    }
}
