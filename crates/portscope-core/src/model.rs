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
    /// A raw IP socket (SOCK_RAW): its local "port" is the IP protocol it receives (1 for ICMP).
    Raw,
    /// An AF_PACKET socket: it sees whole frames on an interface, with no port at all.
    Packet,
    Sctp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Raw => "raw",
            Protocol::Packet => "packet",
            Protocol::Sctp => "sctp",
        }
    }

    /// Whether the protocol has ports a peer connects to (TCP, UDP, SCTP), as opposed to raw and
    /// packet sockets, which receive traffic without one.
    pub fn has_ports(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp | Protocol::Sctp)
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
    /// AF_PACKET: below IP; the socket's endpoints are unspecified.
    Packet,
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
    /// Every state, in the kernel's order.
    pub const ALL: [SocketState; 14] = [
        SocketState::Established,
        SocketState::SynSent,
        SocketState::SynRecv,
        SocketState::FinWait1,
        SocketState::FinWait2,
        SocketState::TimeWait,
        SocketState::Close,
        SocketState::CloseWait,
        SocketState::LastAck,
        SocketState::Listen,
        SocketState::Closing,
        SocketState::NewSynRecv,
        SocketState::BoundInactive,
        SocketState::Unconnected,
    ];

    /// Maps the kernel's `TCP_*` state number (include/net/tcp_states.h) for the given protocol.
    pub fn from_kernel(protocol: Protocol, state: u8) -> Option<SocketState> {
        use SocketState::*;
        Some(match (protocol, state) {
            // UDP uses only these two of the TCP state numbers.
            (Protocol::Udp, 7) => Unconnected,
            (Protocol::Udp, 1) => Established,
            (Protocol::Udp, _) => return None,
            // Raw and packet sockets are "unconnected" unless connect()ed (raw only).
            (Protocol::Raw | Protocol::Packet, 7) => Unconnected,
            (Protocol::Raw | Protocol::Packet, 1) => Established,
            (Protocol::Raw | Protocol::Packet, _) => return None,
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

/// What supervises a process: on Linux read from /proc/PID/cgroup, on Windows from the service
/// control manager.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Supervisor {
    /// A systemd system service or scope, e.g. `nginx.service`.
    Systemd { unit: String },
    /// A systemd user-manager unit (`user@UID.service/.../UNIT`).
    SystemdUser { unit: String },
    /// A container, by runtime and id (docker, podman, containerd, lxc, kubepods).
    Container { runtime: String, id: String },
    /// A Windows service, by its service name (`Spooler`, `W3SVC`): the service control manager
    /// restarts it according to its recovery options, as systemd restarts a unit.
    #[serde(rename = "windows_service")]
    WindowsService { name: String },
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
            Supervisor::WindowsService { name } => write!(f, "service:{name}"),
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
    /// What started the process (its parent chain, unit, SSH session, cron job, container), read
    /// only when a command asks for it (`list --why`, `explain`): see [`crate::provenance`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Arc<crate::provenance::Provenance>>,
}

impl Holder {
    /// `process` holding a socket under `fds`, its provenance not read.
    pub fn new(process: Arc<Process>, fds: Vec<u32>) -> Holder {
        Holder {
            process,
            fds,
            provenance: None,
        }
    }
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
    /// The network namespace the socket lives in (shared by every socket of that namespace).
    #[serde(default)]
    pub netns: Arc<Netns>,
    /// What only a packet socket has: its frame type, interface and attached filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packet: Option<Box<PacketInfo>>,
    /// An IPv6 socket that also takes IPv4 (IPV6_V6ONLY off): `[::]:443` listens on IPv4's
    /// 0.0.0.0:443 too, and its IPv4 peers appear as `::ffff:a.b.c.d`. False when unknown (the
    /// /proc fallback cannot tell).
    #[serde(default)]
    pub dual_stack: bool,
}

/// What kind of network namespace a socket lives in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetnsKind {
    /// The namespace of PID 1: the machine's own network.
    #[default]
    Host,
    /// Bind-mounted under a name (`ip netns add`, /run/docker/netns/…).
    Named,
    /// Named after the container (from the cgroup of a process inside it).
    Container,
    /// Reachable only through a process or a socket: `unshare -n`, a sandbox, a leftover.
    Anonymous,
}

/// A network namespace: its nsfs inode (what `ls -L -i /proc/PID/ns/net` shows), a name where
/// one exists, and what kind it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Netns {
    pub inode: u64,
    pub name: Option<String>,
    pub kind: NetnsKind,
}

/// The widest [`Netns::short_label`]: a name longer than this loses its middle.
pub const NETNS_SHORT_WIDTH: usize = 24;

impl Netns {
    /// Its full name: `host`, the bind mount's or container's name, else `net:[INODE]` (what
    /// `--netns` takes); JSON and `explain` use it.
    pub fn label(&self) -> String {
        match (&self.name, self.kind) {
            (Some(name), _) => name.clone(),
            (None, NetnsKind::Host) => "host".into(),
            (None, _) => format!("net:[{}]", self.inode),
        }
    }

    /// How a table column names it, in at most [`NETNS_SHORT_WIDTH`] columns: `host`; a name,
    /// cut in the middle when longer; for an anonymous namespace `ns:` and the last 6 digits of
    /// its inode (`ns:532319` for `net:[4026532319]`). Namespace inodes are handed out in
    /// sequence from 4026531840, so the last 6 digits tell apart any namespaces alive together
    /// and stay the same for the namespace's life.
    pub fn short_label(&self) -> String {
        match (&self.name, self.kind) {
            (Some(name), _) => crate::render::truncate_middle(name, NETNS_SHORT_WIDTH).into_owned(),
            (None, NetnsKind::Host) => "host".into(),
            (None, _) => format!("ns:{:06}", self.inode % 1_000_000),
        }
    }

    /// Whether `--netns NAME` names it: by its full [`label`](Netns::label) or by the short one
    /// a table shows (`ns:532319`), so a label copied from any output selects its namespace.
    pub fn answers_to(&self, name: &str) -> bool {
        self.label() == name || self.short_label() == name
    }

    /// The namespace as the close plan, watch events and history name it in JSON: its label
    /// beside the inode, name and kind, so a script need not rebuild what a table shows.
    pub fn labelled(&self) -> LabelledNetns {
        LabelledNetns {
            label: self.label(),
            inode: self.inode,
            name: self.name.clone(),
            kind: self.kind,
        }
    }
}

/// [`Netns::labelled`]: `{"label": "net:[4026532319]", "inode": 4026532319, "name": null,
/// "kind": "anonymous"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LabelledNetns {
    pub label: String,
    pub inode: u64,
    pub name: Option<String>,
    pub kind: NetnsKind,
}

/// `#[serde(serialize_with)]` for a namespace written with its label.
pub fn serialize_labelled<S: serde::Serializer>(
    netns: &Arc<Netns>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    netns.labelled().serialize(serializer)
}

/// `#[serde(serialize_with)]` for a list of namespaces written with their labels.
pub fn serialize_labelled_list<S: serde::Serializer>(
    namespaces: &[Arc<Netns>],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(namespaces.iter().map(|n| n.labelled()))
}

/// The parts of an AF_PACKET socket that say what it sees.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketInfo {
    /// `raw` (whole frames, SOCK_RAW) or `dgram` (link header removed, SOCK_DGRAM).
    pub kind: String,
    /// The EtherType it receives (0x0003 = every protocol, ETH_P_ALL).
    pub ethertype: u16,
    /// Interface index it is bound to, 0 for every interface.
    pub interface: u32,
    /// The attached classic BPF program, decoded; `None` when there is none or it could not be
    /// read (the kernel shows filters only to CAP_NET_ADMIN).
    pub filter: Option<Vec<crate::bpf::Decoded>>,
    /// A filter may be attached, but the kernel did not show it (the reader lacks CAP_NET_ADMIN).
    pub filter_hidden: bool,
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
            netns: Arc::default(),
            packet: None,
            dual_stack: false,
        }
    }

    /// Whether the socket carries IPv4 traffic: an IPv4 socket, a dual-stack IPv6 listener, or
    /// an IPv6 socket whose addresses are IPv4-mapped (an IPv4 client of a dual-stack server).
    pub fn carries_ipv4(&self) -> bool {
        match self.family {
            Family::Ipv4 => true,
            Family::Ipv6 => {
                (self.dual_stack && self.local.address.is_unspecified())
                    || is_mapped(self.local.address)
                    || is_mapped(self.remote.address)
            }
            Family::Packet => false,
        }
    }

    /// Whether the socket carries IPv6 traffic: any IPv6 socket but one whose addresses are
    /// IPv4-mapped.
    pub fn carries_ipv6(&self) -> bool {
        self.family == Family::Ipv6 && !is_mapped(self.local.address) && !is_mapped(self.remote.address)
    }
}

/// `::ffff:a.b.c.d`.
fn is_mapped(address: std::net::IpAddr) -> bool {
    matches!(address, std::net::IpAddr::V6(a) if a.to_ipv4_mapped().is_some())
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
    /// Windows' IP helper owner tables (`GetExtendedTcpTable`, `GetExtendedUdpTable`).
    IpHelper,
}

/// A process named by its pid and (untrusted, for people only) `comm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessName {
    pub pid: u32,
    pub name: String,
}

/// One look at the machine's sockets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub sockets: Vec<Socket>,
    pub source: SocketSource,
    /// Processes whose descriptors could not be read (other users' processes without root).
    pub unreadable_processes: usize,
    /// The first few of them by pid, named, for the note that says who was not seen.
    #[serde(default)]
    pub unreadable_owners: Vec<ProcessName>,
    /// Things the user should know about how this snapshot was taken (a fallback, a limit).
    pub notes: Vec<String>,
    /// Every network namespace whose sockets were dumped.
    #[serde(default)]
    pub namespaces: Vec<Arc<Netns>>,
    /// The inode of the namespace portscope itself runs in, when known.
    #[serde(default)]
    pub own_netns: Option<u64>,
    /// Namespaces found but not entered (no privilege, or gone), with why.
    #[serde(default)]
    pub skipped_namespaces: Vec<SkippedNetns>,
    /// Sockets some process holds that no dump accounted for: the cross-view check.
    #[serde(default)]
    pub unaccounted: Vec<Unaccounted>,
    /// Ports forwarded by destination NAT, each linked to the listener it reaches.
    #[serde(default)]
    pub forwards: Vec<Forward>,
    /// Processes whose main thread has exited while their other threads hold the descriptors
    /// (a zombie leader: /proc/PID/fd is empty, /proc/PID/task/TID/fd is not).
    #[serde(default)]
    pub headless: Vec<u32>,
}

impl Snapshot {
    /// A snapshot of `sockets` with nothing else to say.
    pub fn of(sockets: Vec<Socket>, source: SocketSource) -> Snapshot {
        Snapshot {
            sockets,
            source,
            unreadable_processes: 0,
            unreadable_owners: Vec::new(),
            notes: Vec::new(),
            namespaces: Vec::new(),
            own_netns: None,
            skipped_namespaces: Vec::new(),
            unaccounted: Vec::new(),
            forwards: Vec::new(),
            headless: Vec::new(),
        }
    }

    /// Whether `socket` lives in portscope's own namespace (true when that is unknown).
    pub fn is_own(&self, socket: &Socket) -> bool {
        self.own_netns.is_none_or(|own| own == socket.netns.inode)
    }

    /// Whether the sockets come from more than one network namespace (tables add a NETNS column).
    pub fn spans_namespaces(&self) -> bool {
        let mut inodes = self.sockets.iter().map(|s| s.netns.inode);
        let first = inodes.next();
        inodes.any(|i| Some(i) != first)
    }
}

/// A namespace that was found but whose sockets could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedNetns {
    pub netns: Netns,
    pub reason: String,
}

/// A socket held by a process that no socket dump listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unaccounted {
    pub inode: u64,
    /// The kernel's protocol name for it (`TCP`, `UDPv6`, `PING`, `VSOCK`, …).
    pub protocol: String,
    pub pid: u32,
    pub fd: u32,
    /// The holder's name (`comm`), for display only.
    pub process: String,
    /// The namespace the socket lives in, when it could be read.
    pub netns: Option<u64>,
    /// Why no dump lists it.
    pub reason: String,
}

/// A port forwarded by a destination NAT rule (Docker's, podman's or kube-proxy's `-p`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    pub protocol: Protocol,
    /// What a peer connects to: the rule's destination (unspecified address = any) and port.
    pub listen: Endpoint,
    /// Where the kernel sends it.
    pub target: Endpoint,
    /// The namespace whose rules do the forwarding.
    pub netns: Arc<Netns>,
    /// `nft` table and chain of the rule, e.g. `ip nat DOCKER`.
    pub rule: String,
    /// The listener the target reaches, when one is in the snapshot: its namespace and inode.
    pub reaches: Option<ForwardTarget>,
}

/// The listening socket a forward reaches.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardTarget {
    pub netns: Arc<Netns>,
    pub inode: u64,
    /// The pids holding the listener.
    pub pids: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_names_a_namespace_in_a_few_columns() {
        let netns = |inode, name: Option<&str>, kind| Netns {
            inode,
            name: name.map(str::to_string),
            kind,
        };
        assert_eq!(netns(4026531840, None, NetnsKind::Host).short_label(), "host");
        let anonymous = netns(4026532319, None, NetnsKind::Anonymous);
        assert_eq!(anonymous.short_label(), "ns:532319");
        assert_eq!(anonymous.label(), "net:[4026532319]", "the full label is kept");
        assert_eq!(
            netns(4027000012, None, NetnsKind::Anonymous).short_label(),
            "ns:000012"
        );
        assert_eq!(netns(7, Some("web-1"), NetnsKind::Named).short_label(), "web-1");
        let long = netns(
            8,
            Some("k8s_POD_payments-api-7d4f9c_default_0"),
            NetnsKind::Container,
        );
        assert_eq!(long.short_label(), "k8s_POD_paym…c_default_0");
        assert_eq!(crate::render::width(&long.short_label()), NETNS_SHORT_WIDTH);
        // `--netns` takes either label; another namespace's does not select this one.
        assert!(anonymous.answers_to("ns:532319") && anonymous.answers_to("net:[4026532319]"));
        assert!(!anonymous.answers_to("ns:000012") && !anonymous.answers_to("532319"));
        assert!(long.answers_to("k8s_POD_payments-api-7d4f9c_default_0"));
    }
}
