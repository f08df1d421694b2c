//! What a `close` acts on: the listeners on a port ([`PortSpec`]) or every socket some processes
//! hold ([`ProcessSpec`]), and the [`Spec`] that is either. A spec chooses sockets and holders;
//! building the plan from a snapshot is [`super::plan`]'s job.
//!
//! A process plan selects every socket the chosen processes hold, connections included, and
//! signals those processes and the children they handed a socket to (a shell's `sleep`), but no
//! other holder. Both kinds go through the same safety checks, confirmation and verification in
//! [`super::plan`] and [`super::execute`].

use std::net::IpAddr;

use serde::Serialize;

use crate::model::{Process, Protocol, Socket};
use crate::platform::{Query, StateFilter};

/// Which listening or bound sockets to close.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PortSpec {
    pub port: u16,
    pub tcp: bool,
    pub udp: bool,
    /// Only sockets bound to exactly this local address (a wildcard listener does not match a
    /// specific address).
    pub address: Option<IpAddr>,
}

impl PortSpec {
    /// The snapshot query that finds candidates.
    pub fn query(&self) -> Query {
        Query {
            tcp: self.tcp,
            udp: self.udp,
            states: StateFilter::Listening,
            ..Query::ports()
        }
    }

    pub fn matches(&self, socket: &Socket) -> bool {
        let protocol_ok = match socket.protocol {
            Protocol::Tcp => self.tcp,
            Protocol::Udp => self.udp,
            Protocol::Raw | Protocol::Packet | Protocol::Sctp => false,
        };
        protocol_ok
            && socket.state.is_listening()
            && socket.local.port == self.port
            && self.address.is_none_or(|a| a == socket.local.address)
    }

    /// "tcp port 8080", "tcp or udp port 53 on 127.0.0.1".
    pub fn describe(&self) -> String {
        let protocols = match (self.tcp, self.udp) {
            (true, false) => "tcp",
            (false, true) => "udp",
            _ => "tcp or udp",
        };
        match self.address {
            Some(address) => format!("{protocols} port {} on {address}", self.port),
            None => format!("{protocols} port {}", self.port),
        }
    }
}

/// The processes whose sockets `close --pid` / `--process` closes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProcessSpec {
    pub pid: Option<u32>,
    /// Selects by the one rule of [`crate::program::selects`]: the executable's file name exactly
    /// (never a prefix unless asked with `*`: `close --process ssh` must not stop `sshd`), the
    /// process name only when the executable cannot be read.
    pub name: Option<String>,
}

impl ProcessSpec {
    /// Whether `process` is one of the chosen.
    pub fn selects(&self, process: &Process) -> bool {
        let pid_ok = self.pid.is_none_or(|pid| process.pid == pid);
        let name_ok = self
            .name
            .as_deref()
            .is_none_or(|name| crate::program::selects(name, process));
        pid_ok && name_ok
    }

    /// "process 23406", "processes named sh", "process 23406 (sh)".
    pub fn describe(&self) -> String {
        match (self.pid, &self.name) {
            (Some(pid), Some(name)) => format!("process {pid} ({name})"),
            (Some(pid), None) => format!("process {pid}"),
            (None, Some(name)) => format!("processes named {name}"),
            (None, None) => "no process".into(),
        }
    }
}

/// What a close plan is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Spec {
    /// The listening and bound sockets of a port.
    Port(PortSpec),
    /// Every TCP and UDP socket some processes hold.
    Process(ProcessSpec),
}

impl From<PortSpec> for Spec {
    fn from(spec: PortSpec) -> Spec {
        Spec::Port(spec)
    }
}

impl From<ProcessSpec> for Spec {
    fn from(spec: ProcessSpec) -> Spec {
        Spec::Process(spec)
    }
}

impl Spec {
    /// The snapshot query that finds candidates.
    pub fn query(&self) -> Query {
        match self {
            Spec::Port(port) => port.query(),
            Spec::Process(_) => Query::ports(),
        }
    }

    /// Whether `socket` is one the plan closes (for a process plan: one a chosen process holds,
    /// which needs a snapshot with processes).
    pub fn matches(&self, socket: &Socket) -> bool {
        match self {
            Spec::Port(port) => port.matches(socket),
            Spec::Process(spec) => {
                matches!(socket.protocol, Protocol::Tcp | Protocol::Udp)
                    && socket.holders.iter().any(|h| spec.selects(&h.process))
            }
        }
    }

    /// Whether `process`, a holder of a matching socket, is one to stop.
    pub fn stops(&self, process: &Process) -> bool {
        match self {
            Spec::Port(_) => true,
            Spec::Process(spec) => spec.selects(process),
        }
    }

    /// "tcp port 8080", "process 23406".
    pub fn describe(&self) -> String {
        match self {
            Spec::Port(port) => port.describe(),
            Spec::Process(spec) => spec.describe(),
        }
    }

    /// What the user is told when nothing matches.
    pub fn nothing_found(&self) -> String {
        match self {
            Spec::Port(port) => format!("nothing listens on {}", port.describe()),
            Spec::Process(spec) => format!(
                "{} holds no TCP or UDP socket (or is not running); `portscope list --all` shows who holds what",
                spec.describe()
            ),
        }
    }

    /// "held" for a port ("tcp port 80 is free"), the sockets for a process plan.
    pub fn freed(&self) -> String {
        match self {
            Spec::Port(port) => format!("{} is free", port.describe()),
            Spec::Process(spec) => format!("every socket of {} is closed", spec.describe()),
        }
    }
}
