//! The provenance types: what the platform reads about one holder and JSON carries. Plain data,
//! naming nothing else of the crate, so that the model and the platform can hold it.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What started one holder process, as far as the platform could read it. Every part is optional:
/// an absent part was not there (or could not be read, which [`Provenance::unreadable`] says).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Provenance {
    /// The holder's parent, grandparent, … up to init (PID 1 or the top of its pid namespace),
    /// parent first; at most [`super::MAX_CHAIN`].
    pub chain: Vec<Ancestor>,
    /// The systemd unit the holder runs in (from its cgroup), with the user manager's owner for a
    /// user unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<Unit>,
    /// The holder received its listening socket from a socket activator, or is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// The SSH session the holder runs under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssh: Option<SshSession>,
    /// The cron or at job the holder runs under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<Scheduler>,
    /// The container the holder runs in, named from the engine's own state files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<Container>,
    /// The systemd-logind session the holder belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login: Option<LoginSession>,
    /// Parts that could not be read (`environment of PID 812`, `/proc/812/fd`): what is absent
    /// above may then be unknown rather than not there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// One process above a holder. The name (`comm`) is for people only; the executable says what
/// it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Ancestor {
    pub pid: u32,
    pub name: String,
    pub exe: Option<PathBuf>,
    pub uid: Option<u32>,
    pub user: Option<String>,
    /// The first arguments of its command line (a shell's script), bounded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cmdline: Vec<String>,
    /// It leads its session (setsid): a login shell, a daemon, an SSH session's command.
    pub session_leader: bool,
}

/// A systemd unit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Unit {
    pub name: String,
    /// The user whose manager runs it (`systemctl --user -M USER@`); `None` for a system unit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Who holds the listening socket and hands it to the service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activator {
    /// The service manager itself (systemd as PID 1, or a user's `systemd --user`) holds the
    /// socket of a `.socket` unit and starts the service on the first connection.
    #[default]
    ServiceManager,
    /// `systemd-socket-activate`, a command-line activator: it holds the socket and starts the
    /// program it was given.
    Command,
    /// The holder received the socket from an activator (`LISTEN_FDS`, `LISTEN_PID` in its
    /// environment).
    Inherited,
}

/// How a socket-activated listener came to be.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Activation {
    pub by: Activator,
    /// The `.socket` units the service manager holds, each with what it listens on and the
    /// service it starts (only when the holder is the service manager).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub socket_units: Vec<SocketUnit>,
    /// The names the activator gave the descriptors (`LISTEN_FDNAMES`: by default the socket
    /// unit's name).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fd_names: Vec<String>,
    /// For `systemd-socket-activate`: the command it starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub starts: Vec<String>,
}

/// One `.socket` unit as `systemctl list-sockets` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SocketUnit {
    /// What it listens on, as systemd prints it (`0.0.0.0:631`, `[::]:22`, `/run/cups/cups.sock`).
    pub listen: String,
    pub unit: String,
    /// The services it activates.
    pub activates: Vec<String>,
}

/// Where an SSH session's address was read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SshSource {
    /// The sshd session process's own connected socket (what a process cannot fake).
    #[default]
    Socket,
    /// `SSH_CONNECTION` or `SSH_CLIENT` in the environment of the holder or an ancestor (any
    /// process can set these).
    Environment,
}

/// An SSH session above a holder.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SshSession {
    /// The sshd process that serves the session (the one nearest the holder); ending it ends
    /// the session and what runs in it.
    pub pid: Option<u32>,
    /// The client's address and port (`{"address", "port"}` in JSON, as every endpoint).
    #[serde(with = "endpoint")]
    pub remote: Option<SocketAddr>,
    /// The server's end of the connection.
    #[serde(with = "endpoint")]
    pub local: Option<SocketAddr>,
    pub source: SshSource,
    /// The user logged in (the session's first process below sshd).
    pub user: Option<String>,
    pub uid: Option<u32>,
    /// The terminal (`pts/1`); `None` for a command run without one.
    pub tty: Option<String>,
}

/// A job scheduler above a holder: cron, anacron or at.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scheduler {
    /// `cron`, `at` or `anacron`, from the executable's file name.
    pub kind: String,
    pub pid: u32,
    pub exe: Option<PathBuf>,
    /// The user the job runs as (its first process below the scheduler).
    pub user: Option<String>,
    pub uid: Option<u32>,
}

/// A container, by engine, id and the names the engine's state files give it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Container {
    /// `docker`, `podman`, `containerd`, `cri-o`, `kubernetes`, `lxc`.
    pub engine: String,
    pub id: String,
    pub name: Option<String>,
    /// Kubernetes: the pod and its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Docker's restart policy (`always`, `unless-stopped`, `on-failure`, `no`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
}

/// A systemd-logind session (/run/systemd/sessions/ID).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginSession {
    pub id: String,
    pub user: Option<String>,
    pub tty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    /// The PAM service that opened it (`sshd`, `login`, `gdm-password`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
}

/// An optional socket address written as the model writes every endpoint:
/// `{"address": "198.18.3.2", "port": 51234}` (or `null`).
mod endpoint {
    use std::net::{IpAddr, SocketAddr};

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Form {
        address: IpAddr,
        port: u16,
    }

    pub fn serialize<S: Serializer>(value: &Option<SocketAddr>, serializer: S) -> Result<S::Ok, S::Error> {
        value
            .map(|a| Form {
                address: a.ip(),
                port: a.port(),
            })
            .serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SocketAddr>, D::Error> {
        Ok(Option::<Form>::deserialize(deserializer)?.map(|f| SocketAddr::new(f.address, f.port)))
    }
}
