//! Supervisor advice: a process that systemd or a container runtime manages is restarted by it, so
//! the right way to close its port is to stop the unit or container, not to kill the process.

use crate::model::{Process, Supervisor};

/// The supervisor that would restart `process`, or `None` when it has none or shares portscope's
/// own (stopping that one would stop portscope and whoever called it).
pub fn separate<'a>(process: &'a Process, own: Option<&Supervisor>) -> Option<&'a Supervisor> {
    process.supervisor.as_ref().filter(|s| Some(*s) != own)
}

/// The command a careful administrator would run instead of a kill.
pub fn advice(supervisor: &Supervisor, user: Option<&str>) -> String {
    match supervisor {
        Supervisor::Systemd { unit } => format!("systemctl stop {unit}"),
        Supervisor::SystemdUser { unit } => match user {
            Some(user) => format!("systemctl --user --machine={user}@ stop {unit}"),
            None => format!("systemctl --user stop {unit}"),
        },
        Supervisor::Container { runtime, id } => match runtime.as_str() {
            "podman" => format!("podman stop {id}"),
            "lxc" => format!("lxc-stop -n {id}"),
            "containerd" | "cri-o" => format!("crictl stop {id}"),
            "kubernetes" => format!("scale down or delete the Kubernetes pod that runs container {id}"),
            _ => format!("docker stop {id}"),
        },
    }
}

/// The systemd unit `--unit` can stop for this supervisor, with the user manager's owner.
pub fn unit(supervisor: &Supervisor) -> Option<(&str, bool)> {
    match supervisor {
        Supervisor::Systemd { unit } => Some((unit, false)),
        Supervisor::SystemdUser { unit } => Some((unit, true)),
        Supervisor::Container { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(supervisor: Option<Supervisor>) -> Process {
        Process {
            supervisor,
            ..Process::new(10, 1, "nginx")
        }
    }

    #[test]
    fn a_shared_supervisor_is_not_separate() {
        let unit = Supervisor::Systemd {
            unit: "ci.service".into(),
        };
        let process = with(Some(unit.clone()));
        assert_eq!(separate(&process, Some(&unit)), None);
        assert_eq!(separate(&process, None), Some(&unit));
        assert_eq!(separate(&with(None), None), None);
    }

    #[test]
    fn advice_names_the_right_tool() {
        let nginx = Supervisor::Systemd {
            unit: "nginx.service".into(),
        };
        assert_eq!(advice(&nginx, None), "systemctl stop nginx.service");
        let user = Supervisor::SystemdUser {
            unit: "app.service".into(),
        };
        assert_eq!(
            advice(&user, Some("alice")),
            "systemctl --user --machine=alice@ stop app.service"
        );
        let docker = Supervisor::Container {
            runtime: "docker".into(),
            id: "0123456789abcdef".into(),
        };
        assert_eq!(advice(&docker, None), "docker stop 0123456789abcdef");
        assert_eq!(unit(&nginx), Some(("nginx.service", false)));
        assert_eq!(unit(&docker), None);
    }
}
