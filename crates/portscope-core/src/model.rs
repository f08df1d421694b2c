//! The things portscope shows a user: sockets, their endpoints, and the processes that hold them.
//!
//! A [`crate::platform::Platform`] fills these types; commands read them; output prints them. Every field
//! serializes, because `--json` promises every field of the model.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Transport protocol of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family of a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// An address plus a port: one end of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Endpoint {
    pub address: IpAddr,
    pub port: u16,
}

impl Endpoint {
    pub fn new(address: IpAddr, port: u16) -> Endpoint {
        Endpoint { address, port }
    }

    /// True for the wildcard endpoint of an unconnected socket (`0.0.0.0:0`, `[::]:0`).
    pub fn is_unspecified(&self) -> bool {
        self.port == 0 && self.address.is_unspecified()
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            IpAddr::V4(a) => write!(f, "{a}:{}", self.port),
            IpAddr::V6(a) => write!(f, "[{a}]:{}", self.port),
        }
    }
}

/// Socket state as the kernel reports it. UDP sockets are `Unconnected` or `Established`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SocketState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
    /// A TCP socket bound to a port but neither listening nor connected (Linux 6.8+ lists these).
    BoundInactive,
    /// A UDP socket with no peer (the kernel's TCP_CLOSE for datagram sockets; ss says UNCONN).
    Unconnected,
}

impl SocketState {
    /// Maps the kernel's `TCP_*` state number (include/net/tcp_states.h) for the given protocol.
    pub fn from_kernel(protocol: Protocol, state: u8) -> Option<SocketState> {
        use SocketState::*;
        Some(match (protocol, state) {
            // UDP uses only these two of the TCP state numbers.
            (Protocol::Udp, 7) => Unconnected,
            (Protocol::Udp, 1) => Established,
            (Protocol::Udp, _) => return None,
            (_, 1) => Established,
            (_, 2) => SynSent,
            (_, 3) => SynRecv,
            (_, 4) => FinWait1,
            (_, 5) => FinWait2,
            (_, 6) => TimeWait,
            (_, 7) => Close,
            (_, 8) => CloseWait,
            (_, 9) => LastAck,
            (_, 10) => Listen,
            (_, 11) => Closing,
            (_, 12) => NewSynRecv,
            (_, 13) => BoundInactive,
            _ => return None,
        })
    }

    /// The name ss uses, so that users can read both tools side by side.
    pub fn as_str(self) -> &'static str {
        use SocketState::*;
        match self {
            Established => "ESTAB",
            SynSent => "SYN-SENT",
            SynRecv => "SYN-RECV",
            FinWait1 => "FIN-WAIT-1",
            FinWait2 => "FIN-WAIT-2",
            TimeWait => "TIME-WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE-WAIT",
            LastAck => "LAST-ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
            NewSynRecv => "NEW-SYN-RECV",
            BoundInactive => "BOUND-INACTIVE",
            Unconnected => "UNCONN",
        }
    }

    /// A socket that waits for peers: a TCP listener or an unconnected (bound) UDP socket.
    pub fn is_listening(self) -> bool {
        matches!(self, SocketState::Listen | SocketState::Unconnected)
    }
}

impl fmt::Display for SocketState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What supervises a process, read from /proc/PID/cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Supervisor {
    /// A systemd system service or scope, e.g. `nginx.service`.
    Systemd { unit: String },
    /// A systemd user-manager unit (`user@UID.service/.../UNIT`).
    SystemdUser { unit: String },
    /// A container, by runtime and id (docker, podman, containerd, lxc, kubepods).
    Container { runtime: String, id: String },
}

impl fmt::Display for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Supervisor::Systemd { unit } => f.write_str(unit),
            Supervisor::SystemdUser { unit } => write!(f, "user:{unit}"),
            Supervisor::Container { runtime, id } => {
                let short = id.get(..12).unwrap_or(id);
                write!(f, "{runtime}:{short}")
            }
        }
    }
}

/// A running process that holds at least one socket.
///
/// In JSON, `exe` is a string; a name (`name_bytes`) or a path that is not UTF-8 (any bytes are allowed in a Linux path)
/// shows there with U+FFFD in place of the bad bytes, and its exact bytes follow in `exe_bytes`
/// (an array of numbers), so no output ever fails on what a process chose to be called.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    /// The kernel's short name (`comm`), at most 15 bytes; U+FFFD stands for bytes that are not
    /// UTF-8, which `name_bytes` then holds exactly.
    pub name: String,
    /// The exact bytes of `comm` when they are not UTF-8 (`None` otherwise).
    #[serde(default)]
    pub name_bytes: Option<Vec<u8>>,
    /// Target of /proc/PID/exe, without the " (deleted)" suffix. `None` when unreadable
    /// (another user's process without root, or a kernel thread).
    pub exe: Option<PathBuf>,
    /// The executable file was deleted or replaced after the process started.
    pub exe_deleted: bool,
    pub cmdline: Vec<String>,
    /// Real uid of the process.
    pub uid: u32,
    pub user: Option<String>,
    /// Start time as seconds since the Unix epoch.
    pub start_time: Option<u64>,
    pub supervisor: Option<Supervisor>,
}

/// The exact bytes of `path` when they are not UTF-8, for the `*_bytes` twin of a JSON field.
pub fn non_utf8_bytes(path: &std::path::Path) -> Option<&[u8]> {
    let bytes = path.as_os_str().as_encoded_bytes();
    std::str::from_utf8(bytes).is_err().then_some(bytes)
}

impl Serialize for Process {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let exe_bytes = self.exe.as_deref().and_then(non_utf8_bytes);
        let extra = usize::from(exe_bytes.is_some()) + usize::from(self.name_bytes.is_some());
        let mut s = serializer.serialize_struct("Process", 10 + extra)?;
        s.serialize_field("pid", &self.pid)?;
        s.serialize_field("ppid", &self.ppid)?;
        s.serialize_field("name", &self.name)?;
        if let Some(bytes) = &self.name_bytes {
            s.serialize_field("name_bytes", bytes)?;
        }
        s.serialize_field("exe", &self.exe.as_deref().map(|p| p.to_string_lossy()))?;
        if let Some(bytes) = exe_bytes {
            s.serialize_field("exe_bytes", bytes)?;
        }
        s.serialize_field("exe_deleted", &self.exe_deleted)?;
        s.serialize_field("cmdline", &self.cmdline)?;
        s.serialize_field("uid", &self.uid)?;
        s.serialize_field("user", &self.user)?;
        s.serialize_field("start_time", &self.start_time)?;
        s.serialize_field("supervisor", &self.supervisor)?;
        s.end()
    }
}

/// One process that holds a socket, with the descriptor numbers it holds it under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    #[serde(flatten)]
    pub process: Arc<Process>,
    pub fds: Vec<u32>,
}

/// One socket as the kernel reports it, with the processes that hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Socket {
    pub protocol: Protocol,
    pub family: Family,
    pub local: Endpoint,
    pub remote: Endpoint,
    pub state: SocketState,
    /// Socket inode: the key that links a socket to /proc/PID/fd entries. 0 for sockets that no
    /// descriptor holds any more (TIME-WAIT, orphans).
    pub inode: u64,
    /// The kernel's socket cookie: unique for the life of the system, unlike an inode or a port,
    /// so a request about this socket can never hit another. 0 when read from /proc/net.
    pub cookie: u64,
    pub uid: u32,
    pub recv_queue: u32,
    pub send_queue: u32,
    /// Interface the socket is bound to (SO_BINDTODEVICE), 0 for none.
    pub interface: u32,
    /// Every process holding the socket; several after a fork. Empty when no process holds it
    /// or when the holder is not visible to this user.
    pub holders: Vec<Holder>,
}

impl Socket {
    /// A socket with no holders and zero kernel bookkeeping (inode, cookie, uid, queues); the
    /// family follows the local address. Collection fills in the rest.
    pub fn new(protocol: Protocol, local: Endpoint, remote: Endpoint, state: SocketState) -> Socket {
        Socket {
            protocol,
            family: Family::of(&local.address),
            local,
            remote,
            state,
            inode: 0,
            cookie: 0,
            uid: 0,
            recv_queue: 0,
            send_queue: 0,
            interface: 0,
            holders: Vec::new(),
        }
    }
}

impl Process {
    /// A process known only by pid, parent and name; the other fields are empty.
    pub fn new(pid: u32, ppid: u32, name: impl Into<String>) -> Process {
        Process {
            pid,
            ppid,
            name: name.into(),
            name_bytes: None,
            exe: None,
            exe_deleted: false,
            cmdline: Vec::new(),
            uid: 0,
            user: None,
            start_time: None,
            supervisor: None,
        }
    }
}

/// Where the socket table came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketSource {
    /// NETLINK_SOCK_DIAG dumps (the fast, complete path).
    Netlink,
    /// /proc/net/{tcp,tcp6,udp,udp6}, used when netlink is refused.
    ProcNet,
}

/// One look at the machine's sockets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub sockets: Vec<Socket>,
    pub source: SocketSource,
    /// Processes whose descriptors could not be read (other users' processes without root).
    pub unreadable_processes: usize,
    /// Things the user should know about how this snapshot was taken (a fallback, a limit).
    pub notes: Vec<String>,
}
