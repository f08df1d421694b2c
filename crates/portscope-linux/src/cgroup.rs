//! Who supervises a process, from /proc/PID/cgroup: a systemd unit or a container.
//!
//! This is what lets `close` say "systemctl stop nginx.service" instead of killing a process that
//! systemd restarts a second later.

use portscope_core::model::Supervisor;

/// Finds the supervisor in the text of /proc/PID/cgroup (v1 or v2). Login-session scopes and
/// slices are not supervisors: stopping them would end a user's whole session.
pub fn supervisor(bytes: &[u8]) -> Option<Supervisor> {
    let text = std::str::from_utf8(bytes).ok()?;
    // Prefer the unified (v2) line "0::/path", else the systemd v1 hierarchy.
    let path = text
        .lines()
        .find_map(|line| line.strip_prefix("0::"))
        .or_else(|| {
            text.lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })?;
    container(path).or_else(|| systemd_unit(path))
}

fn container(path: &str) -> Option<Supervisor> {
    for segment in path.split('/').rev() {
        let segment = segment.strip_suffix(".scope").unwrap_or(segment);
        for (prefix, runtime) in [
            ("docker-", "docker"),
            ("libpod-", "podman"),
            ("cri-containerd-", "containerd"),
            ("crio-", "cri-o"),
        ] {
            if let Some(id) = segment.strip_prefix(prefix).filter(|id| is_container_id(id)) {
                return Some(Supervisor::Container {
                    runtime: runtime.into(),
                    id: id.into(),
                });
            }
        }
    }
    // cgroupfs-driver layouts: /docker/<id>, /lxc/<name>, /kubepods/.../<id>
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for pair in segments.windows(2) {
        let (parent, id) = (pair[0], pair[1]);
        match parent {
            "docker" if is_container_id(id) => {
                return Some(Supervisor::Container {
                    runtime: "docker".into(),
                    id: id.into(),
                });
            }
            "lxc" | "lxc.payload" => {
                return Some(Supervisor::Container {
                    runtime: "lxc".into(),
                    id: id.into(),
                });
            }
            _ => {}
        }
    }
    if segments.iter().any(|s| s.starts_with("kubepods")) {
        let id = segments.last()?;
        return Some(Supervisor::Container {
            runtime: "kubernetes".into(),
            id: (*id).into(),
        });
    }
    None
}

fn is_container_id(id: &str) -> bool {
    id.len() >= 12 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn systemd_unit(path: &str) -> Option<Supervisor> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is_unit = |s: &&str| {
        (s.ends_with(".service") || s.ends_with(".scope")) && !s.starts_with("session-") && *s != "init.scope"
    };
    // Inside a user manager (user@UID.service) the unit that matters is the innermost one.
    if let Some(at) = segments
        .iter()
        .position(|s| s.starts_with("user@") && s.ends_with(".service"))
    {
        let unit = segments[at + 1..].iter().rev().find(|s| is_unit(s))?;
        return Some(Supervisor::SystemdUser { unit: (*unit).into() });
    }
    let unit = segments.iter().rev().find(|s| is_unit(s))?;
    Some(Supervisor::Systemd { unit: (*unit).into() })
}
