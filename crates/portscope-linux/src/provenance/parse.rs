//! Parsers for what a provenance is read from, over bytes and strings only (no I/O), so that
//! recorded files and the fuzzer drive them as the live system does. Every input is hostile: a
//! process writes its own environment and command line, and a container engine's state files are
//! only as trustworthy as whoever could write them.

use std::net::{IpAddr, SocketAddr};

use portscope_core::provenance::{LoginSession, SocketUnit};

/// A terminal's name from its device number (the `tty_nr` of /proc/PID/stat): `pts/3`, `tty1`,
/// `ttyS0`; `None` for no terminal or one portscope does not name.
pub fn tty_name(tty_nr: u64) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => Some(format!("pts/{}", (major - 136) * 256 + minor)),
        4 if minor < 64 => Some(format!("tty{minor}")),
        4 => Some(format!("ttyS{}", minor - 64)),
        _ => None,
    }
}

/// `SSH_CONNECTION=client port server port` (or `SSH_CLIENT=client port serverport`) from an
/// environment: the client's endpoint and, from `SSH_CONNECTION`, the server's.
pub fn ssh_environment(environment: &[String]) -> Option<(SocketAddr, Option<SocketAddr>)> {
    let value = |name: &str| {
        environment
            .iter()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
    };
    let endpoint = |address: &str, port: &str| -> Option<SocketAddr> {
        Some(SocketAddr::new(
            address.parse::<IpAddr>().ok()?,
            port.parse().ok()?,
        ))
    };
    if let Some(text) = value("SSH_CONNECTION") {
        let words: Vec<&str> = text.split_ascii_whitespace().collect();
        if let [client, client_port, server, server_port] = words.as_slice() {
            let remote = endpoint(client, client_port)?;
            return Some((remote, endpoint(server, server_port)));
        }
    }
    let text = value("SSH_CLIENT")?;
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    match words.as_slice() {
        [client, port, _server_port] => Some((endpoint(client, port)?, None)),
        _ => None,
    }
}

/// What a socket activator's environment says: `LISTEN_PID` (the process meant to receive the
/// descriptors), `LISTEN_FDS` and the names in `LISTEN_FDNAMES`.
pub fn listen_environment(environment: &[String]) -> Option<(Option<u32>, Vec<String>)> {
    let value = |name: &str| {
        environment
            .iter()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix('='))
    };
    let fds: u32 = value("LISTEN_FDS")?.parse().ok()?;
    if fds == 0 {
        return None;
    }
    let pid = value("LISTEN_PID").and_then(|p| p.parse().ok());
    let names = value("LISTEN_FDNAMES")
        .map(|n| {
            n.split(':')
                .filter(|s| !s.is_empty())
                .take(64)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Some((pid, names))
}

/// The command `systemd-socket-activate ARGS` starts: its first argument that is not an option
/// (or an option's value) and everything after it.
pub fn activated_command(cmdline: &[String]) -> Vec<String> {
    // The options that take a value in the next argument (socket-activate.c's getopt string).
    const WITH_VALUE: &[&str] = &["-l", "--listen", "-E", "--setenv", "--fdname"];
    let mut args = cmdline.iter().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--" {
            return args.cloned().collect();
        }
        if WITH_VALUE.contains(&arg.as_str()) {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        let mut command = vec![arg.clone()];
        command.extend(args.cloned());
        return command;
    }
    Vec::new()
}

/// `systemctl list-sockets --all --full --no-legend --plain` output: `LISTEN UNIT ACTIVATES…`
/// per line. The listen column never holds spaces (systemd prints paths and addresses without).
pub fn socket_units(text: &str) -> Vec<SocketUnit> {
    text.lines()
        .take(4096)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let listen = words.next()?;
            let unit = words.next()?;
            if !unit.ends_with(".socket") {
                return None;
            }
            let activates = words
                .flat_map(|w| w.split(','))
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            Some(SocketUnit {
                listen: listen.to_string(),
                unit: unit.to_string(),
                activates,
            })
        })
        .collect()
}

/// A logind session file (/run/systemd/sessions/ID: `KEY=value` lines).
pub fn login_session(id: &str, text: &str) -> LoginSession {
    let mut session = LoginSession {
        id: id.to_string(),
        ..LoginSession::default()
    };
    for line in text.lines().take(256) {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = Some(value.to_string()).filter(|v| !v.is_empty());
        match key {
            "USER" => session.user = value,
            "TTY" => session.tty = value,
            "REMOTE_HOST" => session.remote_host = value,
            "SEAT" => session.seat = value,
            "SERVICE" => session.service = value,
            _ => {}
        }
    }
    session
}

/// The logind session of a cgroup path (`…/session-4.scope`): its id, when it is a plain word
/// (it names a file under /run/systemd/sessions).
pub fn session_of_cgroup(path: &str) -> Option<&str> {
    path.split('/')
        .filter_map(|s| s.strip_prefix("session-")?.strip_suffix(".scope"))
        .find(|id| !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The cgroup path of /proc/PID/cgroup (the v2 line, else systemd's v1 hierarchy).
pub fn cgroup_path(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("0::"))
        .or_else(|| {
            text.lines()
                .find_map(|l| l.split_once(":name=systemd:").map(|(_, p)| p))
        })
}

/// A Kubernetes pod's UID from a cgroup path: `kubepods-besteffort-pod<UID>.slice` (systemd
/// driver, `_` for `-`) or `/kubepods/besteffort/pod<UID>/` (cgroupfs driver).
pub fn pod_uid(path: &str) -> Option<String> {
    path.split('/').find_map(|segment| {
        let segment = segment.strip_suffix(".slice").unwrap_or(segment);
        let at = segment.rfind("pod")?;
        let uid = segment[at + 3..].replace('_', "-");
        let looks_like_uid = uid.len() == 36 && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
        looks_like_uid.then_some(uid)
    })
}

/// A directory name under /var/log/pods: `NAMESPACE_POD_UID`. Namespaces and pod names cannot
/// hold `_`, so the split is exact.
pub fn pod_log_dir(name: &str) -> Option<(&str, &str, &str)> {
    let mut parts = name.splitn(3, '_');
    let namespace = parts.next().filter(|s| !s.is_empty())?;
    let pod = parts.next().filter(|s| !s.is_empty())?;
    let uid = parts.next().filter(|s| !s.is_empty())?;
    Some((namespace, pod, uid))
}

/// A link name under /var/log/containers: `POD_NAMESPACE_CONTAINER-ID.log`; the container's name
/// when it is `id`'s.
pub fn container_log_name<'a>(name: &'a str, id: &str) -> Option<&'a str> {
    let stem = name.strip_suffix(".log")?.strip_suffix(id)?.strip_suffix('-')?;
    let container = stem.rsplit('_').next()?;
    (!container.is_empty()).then_some(container)
}

/// Docker's config.v2.json: the container's `Name` (without the leading `/`).
pub fn docker_name(json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let name = value.get("Name")?.as_str()?;
    Some(name.strip_prefix('/').unwrap_or(name).to_string()).filter(|n| !n.is_empty())
}

/// Docker's hostconfig.json: the restart policy's name.
pub fn docker_restart(json: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    let name = value.get("RestartPolicy")?.get("Name")?.as_str()?;
    Some(name.to_string())
}

/// containers/storage's containers.json (podman, CRI-O): the first name of the container `id`.
pub fn storage_name(json: &[u8], id: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(json).ok()?;
    value
        .as_array()?
        .iter()
        .find(|c| c.get("id").and_then(|i| i.as_str()) == Some(id))?
        .get("names")?
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminals_are_named() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name(34817), Some("pts/1".into()));
        assert_eq!(tty_name((4 << 8) | 1), Some("tty1".into()));
        assert_eq!(tty_name((4 << 8) | 64), Some("ttyS0".into()));
        assert_eq!(tty_name(u64::MAX), None);
    }

    #[test]
    fn ssh_environment_is_read_and_checked() {
        let env = |e: &str| vec!["PATH=/bin".to_string(), e.to_string()];
        let (remote, local) =
            ssh_environment(&env("SSH_CONNECTION=198.18.3.2 51234 198.18.3.1 22")).expect("read");
        assert_eq!(remote.to_string(), "198.18.3.2:51234");
        assert_eq!(local.map(|l| l.to_string()), Some("198.18.3.1:22".into()));
        let (remote, local) = ssh_environment(&env("SSH_CLIENT=fd00::2 40000 22")).expect("read");
        assert_eq!(remote.to_string(), "[fd00::2]:40000");
        assert_eq!(local, None);
        assert_eq!(ssh_environment(&env("SSH_CONNECTION=x y z w")), None);
        assert_eq!(
            ssh_environment(&env("SSH_CONNECTION=1.2.3.4 99999 1.2.3.5 22")),
            None
        );
        assert_eq!(
            ssh_environment(&env("SSH_CONNECTIONX=1.2.3.4 1 1.2.3.5 22")),
            None
        );
    }

    #[test]
    fn activation_environment_and_command() {
        let env: Vec<String> = ["LISTEN_FDS=1", "LISTEN_PID=300", "LISTEN_FDNAMES=cups.socket"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            listen_environment(&env),
            Some((Some(300), vec!["cups.socket".into()]))
        );
        assert_eq!(listen_environment(&["LISTEN_FDS=0".into()]), None);
        let cmd: Vec<String> = [
            "systemd-socket-activate",
            "-l",
            "198.18.0.1:9000",
            "--fdname=web",
            "-a",
            "/usr/bin/python3",
            "-c",
            "pass",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(activated_command(&cmd), ["/usr/bin/python3", "-c", "pass"]);
        assert!(activated_command(&cmd[..3]).is_empty());
    }

    #[test]
    fn socket_units_from_systemctl() {
        let text = "/run/cups/cups.sock cups.socket cups.service\n\
                    0.0.0.0:631 cups.socket cups.service\n\
                    [::]:22 ssh.socket ssh@0.service,ssh@1.service\n\
                    kobject-uevent 1 systemd-udevd-kernel.socket systemd-udevd.service\n\
                    garbage\n";
        let units = socket_units(text);
        assert_eq!(units.len(), 3, "{units:?}");
        assert_eq!(units[1].listen, "0.0.0.0:631");
        assert_eq!(units[2].activates, ["ssh@0.service", "ssh@1.service"]);
    }

    #[test]
    fn logind_session_files() {
        let s = login_session(
            "4",
            "# This is private data. Do not parse.\nUID=1000\nUSER=alice\nACTIVE=1\nTTY=pts/0\n\
             REMOTE_HOST=198.18.3.2\nSERVICE=sshd\nSEAT=\n",
        );
        assert_eq!(s.user.as_deref(), Some("alice"));
        assert_eq!(s.tty.as_deref(), Some("pts/0"));
        assert_eq!(s.remote_host.as_deref(), Some("198.18.3.2"));
        assert_eq!(s.seat, None);
        assert_eq!(
            session_of_cgroup("/user.slice/user-1000.slice/session-4.scope"),
            Some("4")
        );
        assert_eq!(session_of_cgroup("/user.slice/session-../x.scope"), None);
    }

    #[test]
    fn kubernetes_names() {
        let systemd = "/kubepods.slice/kubepods-besteffort.slice/\
                       kubepods-besteffort-pod1b2c3d4e_0000_4000_8000_00000000abcd.slice/\
                       cri-containerd-0123456789abcdef.scope";
        assert_eq!(
            pod_uid(systemd).as_deref(),
            Some("1b2c3d4e-0000-4000-8000-00000000abcd")
        );
        let cgroupfs = "/kubepods/burstable/pod1b2c3d4e-0000-4000-8000-00000000abcd/0123456789abcdef";
        assert!(pod_uid(cgroupfs).is_some());
        assert_eq!(pod_uid("/system.slice/nginx.service"), None);
        assert_eq!(
            pod_log_dir("prod_api-7d4f9c-x2_1b2c3d4e-0000-4000-8000-00000000abcd"),
            Some(("prod", "api-7d4f9c-x2", "1b2c3d4e-0000-4000-8000-00000000abcd"))
        );
        assert_eq!(
            container_log_name("api-7d4f9c-x2_prod_web-0123456789abcdef.log", "0123456789abcdef"),
            Some("web")
        );
        assert_eq!(container_log_name("a_b_web-ffff.log", "0123"), None);
    }

    #[test]
    fn engine_state_files() {
        assert_eq!(
            docker_name(br#"{"ID":"abc","Name":"/web","State":{}}"#).as_deref(),
            Some("web")
        );
        assert_eq!(docker_name(b"{not json"), None);
        assert_eq!(
            docker_restart(br#"{"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}"#).as_deref(),
            Some("always")
        );
        let storage = br#"[{"id":"aaaa","names":["db"]},{"id":"bbbb","names":["web","w2"]}]"#;
        assert_eq!(storage_name(storage, "bbbb").as_deref(), Some("web"));
        assert_eq!(storage_name(storage, "cccc"), None);
    }
}
