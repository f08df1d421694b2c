//! Supervisor advice: a process that systemd or a container runtime manages is restarted by it, so
//! the right way to close its port is to stop the unit or container, not to kill the process.

use crate::model::{Process, Supervisor};

/// The supervisor that would restart `process`, or `None` when it has none or shares portscope's
/// own (stopping that one would stop portscope and whoever called it).
pub fn separate<'a>(process: &'a Process, own: Option<&Supervisor>) -> Option<&'a Supervisor> {
    process.supervisor.as_ref().filter(|s| Some(*s) != own)
}

/// The systemd unit `--unit` can stop for this supervisor, with the user manager's owner.
pub fn unit(supervisor: &Supervisor) -> Option<(&str, bool)> {
    match supervisor {
        Supervisor::Systemd { unit } => Some((unit, false)),
        Supervisor::SystemdUser { unit } => Some((unit, true)),
        Supervisor::Container { .. } => None,
        // The platform's `stop_unit` stops it through the service control manager.
        Supervisor::WindowsService { name } => Some((name, false)),
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
    fn units_that_close_can_stop() {
        let nginx = Supervisor::Systemd {
            unit: "nginx.service".into(),
        };
        let docker = Supervisor::Container {
            runtime: "docker".into(),
            id: "0123456789abcdef".into(),
        };
        assert_eq!(unit(&nginx), Some(("nginx.service", false)));
        assert_eq!(unit(&docker), None);
    }
}
