//! The seam between portscope and an operating system: the [`Platform`] trait.
//!
//! Everything the core needs from a host goes through it: one look at the sockets and their
//! holders ([`Platform::snapshot`]), who a process is now, the facts audit weighs (files, package
//! ownership, a bind probe), and the actions `close` takes (pin a process, signal it, stop a unit,
//! cut a connection). `portscope-linux` implements it for Linux; [`crate::fixture`] implements it
//! from a TOML file, so rules and decisions are tested on recorded hosts without root.

use std::collections::HashMap;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::model::{Family, Protocol, Snapshot, Socket, Supervisor};
use crate::privilege::Privileges;

/// Which sockets to collect. The kernel filters by protocol, family and state, so a narrow query
/// is also a faster one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub tcp: bool,
    pub udp: bool,
    /// Raw IP sockets (ICMP, raw TCP/UDP, IPPROTO_RAW).
    pub raw: bool,
    /// AF_PACKET sockets, with their filters.
    pub packet: bool,
    /// SCTP sockets, where the kernel has SCTP.
    pub sctp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub states: StateFilter,
    /// Map sockets to the processes that hold them (walks /proc/*/fd).
    pub processes: bool,
    /// Which network namespaces; `None` is the platform's default (every namespace, unless the
    /// user chose otherwise when the platform was made).
    pub netns: Option<NetnsSelection>,
    /// Read destination-NAT rules and link each forwarded port to its listener.
    pub forwards: bool,
}

impl Default for Query {
    /// Everything: every protocol and family, every state, every namespace, with holders.
    fn default() -> Query {
        Query {
            tcp: true,
            udp: true,
            raw: true,
            packet: true,
            sctp: true,
            ipv4: true,
            ipv6: true,
            states: StateFilter::All,
            processes: true,
            netns: None,
            forwards: true,
        }
    }
}

impl Query {
    /// TCP and UDP only (what a port means to most commands), in every state and namespace.
    pub fn ports() -> Query {
        Query {
            raw: false,
            packet: false,
            sctp: false,
            forwards: false,
            ..Query::default()
        }
    }

    /// Whether the query covers every socket a process can hold that has an address, so that a
    /// held socket missing from the dumps means something (the cross-view check).
    pub fn is_complete(&self) -> bool {
        self.tcp
            && self.udp
            && self.raw
            && self.packet
            && self.sctp
            && self.ipv4
            && self.ipv6
            && self.states == StateFilter::All
            && self.processes
    }
}

/// Which network namespaces a snapshot covers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum NetnsSelection {
    /// Every namespace the platform can find.
    #[default]
    All,
    /// Only the namespace portscope runs in (what `ss` sees).
    Current,
    /// The namespace with this name (`ip netns` name, container name, or `host`).
    Name(String),
    /// The namespace with this nsfs inode.
    Inode(u64),
    /// The namespace process PID is in.
    Pid(u32),
}

/// The largest pid Linux hands out (PID_MAX_LIMIT, 2^22); namespace inodes are far above it.
const PID_MAX_LIMIT: u64 = 1 << 22;

impl std::str::FromStr for NetnsSelection {
    type Err = String;

    /// `all`, `current`, `net:[INODE]`, a number (a pid up to 2^22, else an inode) or a name.
    fn from_str(text: &str) -> std::result::Result<NetnsSelection, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an empty namespace name".into());
        }
        if let Some(inode) = text.strip_prefix("net:[").and_then(|t| t.strip_suffix(']')) {
            return inode
                .parse()
                .map(NetnsSelection::Inode)
                .map_err(|_| format!("`{text}` is not a namespace inode"));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let number: u64 = text
                .parse()
                .map_err(|_| format!("`{text}` is too large for a pid or an inode"))?;
            return Ok(match u32::try_from(number) {
                Ok(pid) if number < PID_MAX_LIMIT => NetnsSelection::Pid(pid),
                _ => NetnsSelection::Inode(number),
            });
        }
        Ok(match text {
            "all" => NetnsSelection::All,
            "current" => NetnsSelection::Current,
            name => NetnsSelection::Name(name.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::NetnsSelection::{self, *};

    #[test]
    fn netns_selection_parses_every_form() {
        let parse = |t: &str| t.parse::<NetnsSelection>();
        assert_eq!(parse("all"), Ok(All));
        assert_eq!(parse("current"), Ok(Current));
        assert_eq!(parse("1234"), Ok(Pid(1234)));
        assert_eq!(parse("4026531840"), Ok(Inode(4026531840)));
        assert_eq!(parse("net:[4026531840]"), Ok(Inode(4026531840)));
        assert_eq!(parse("web-1"), Ok(Name("web-1".into())));
        assert!(parse("").is_err());
        assert!(parse("net:[x]").is_err());
        assert!(parse("99999999999999999999999").is_err());
    }
}

/// A filter on socket state that the kernel can apply during the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateFilter {
    All,
    /// TCP LISTEN and unconnected (bound) UDP sockets.
    Listening,
    /// TCP ESTABLISHED and connected UDP sockets.
    Established,
    /// Every TCP state with a peer (what SOCK_DESTROY can cut): not LISTEN, CLOSE, TIME-WAIT.
    Connected,
}

impl StateFilter {
    /// Whether a socket in `state` passes. The kernel-side mask is derived from this, so the
    /// netlink path and the /proc/net fallback filter alike.
    pub fn admits(self, state: crate::model::SocketState) -> bool {
        use crate::model::SocketState::*;
        match self {
            StateFilter::All => true,
            StateFilter::Listening => state.is_listening(),
            StateFilter::Established => state == Established,
            StateFilter::Connected => matches!(
                state,
                Established | SynSent | SynRecv | FinWait1 | FinWait2 | CloseWait | LastAck | Closing
            ),
        }
    }
}

/// A parser's refusal of malformed or truncated input. Parsers return this instead of panicking,
/// so the live system, fixtures and the fuzzer all drive the same code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("{what}: truncated ({got} of {needed} bytes)")]
    Truncated {
        what: &'static str,
        needed: usize,
        got: usize,
    },
    #[error("{what}: malformed ({detail})")]
    Malformed { what: &'static str, detail: String },
}

impl ParseError {
    pub fn malformed(what: &'static str, detail: impl Into<String>) -> ParseError {
        ParseError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// Who a process is now: its name (`comm`) and executable, as in [`crate::model::Process`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub exe: Option<PathBuf>,
}

/// The package database a host has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackageDatabase {
    Dpkg,
    /// An RPM database exists; portscope does not read it.
    RpmUnsupported,
    None,
}

/// What probing one protocol and family with bind() found (`audit --deep`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeResult {
    /// Ports whose bind failed because something holds them.
    pub in_use: Vec<u16>,
    /// Ports this user may not bind: not probed.
    pub denied: usize,
    /// This address family is not available (IPv6 disabled).
    pub unavailable: bool,
}

/// A signal `close` sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseSignal {
    Term,
    Kill,
}

impl CloseSignal {
    pub fn name(self) -> &'static str {
        match self {
            CloseSignal::Term => "SIGTERM",
            CloseSignal::Kill => "SIGKILL",
        }
    }
}

/// Why a process could not be pinned or signalled.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The process is gone (exited, or reaped and its pid reused).
    #[error("the process is gone")]
    Gone,
    #[error("{0}")]
    Other(#[from] io::Error),
}

/// One process, pinned so that a reused pid can never receive what is meant for it.
pub trait Pinned {
    fn pid(&self) -> u32;
    /// Whether the pinned process still holds any of the socket `inodes`.
    fn holds_any(&self, inodes: &[u64]) -> Result<bool, ControlError>;
    fn signal(&self, signal: CloseSignal) -> Result<(), ControlError>;
    /// Waits up to `timeout` for the process to exit; true when it did.
    fn wait_exit(&self, timeout: Duration) -> Result<bool, ControlError>;
}

/// Why a connection could not be destroyed.
#[derive(Debug)]
pub enum DestroyError {
    /// The connection was already gone.
    Gone,
    /// The kernel cannot destroy sockets.
    Unsupported,
    /// The capability to destroy sockets is missing.
    Permission,
    Other(io::Error),
}

/// What portscope itself is, for the rules that protect its own session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelfInfo {
    pub pid: u32,
    /// portscope's parent, grandparent, … up to PID 1.
    pub ancestors: Vec<u32>,
    pub euid: u32,
    /// The systemd unit or container portscope itself runs in.
    pub supervisor: Option<Supervisor>,
}

/// An operating system, as portscope sees it. Object safe: front ends hold a `&dyn Platform`.
pub trait Platform: Sync {
    // --- Collection ---

    /// One look at the host's sockets, shaped by `query`, joined to the processes that hold them.
    fn snapshot(&self, query: &Query) -> Result<Snapshot>;
    /// Who `pid` is now, without a full snapshot; `None` when it no longer exists.
    fn identity(&self, pid: u32) -> Option<Identity>;
    /// Whether `pid` is a kernel thread.
    fn is_kernel_thread(&self, pid: u32) -> bool;
    /// `pid`'s number in the innermost pid namespace it belongs to (the last of Linux's NSpid);
    /// 1 for a container's init. `None` when unknown.
    fn namespace_pid(&self, pid: u32) -> Option<u32>;
    /// The process holding an exclusive flock on the file with this device and inode, when the
    /// system says (the history's recorder lock). `None` when unknown.
    fn lock_holder(&self, _dev: u64, _ino: u64) -> Option<u32> {
        None
    }
    /// What this process may do (read every owner, signal any process, destroy sockets).
    fn privileges(&self) -> Privileges;
    /// uid → user name.
    fn user_names(&self) -> HashMap<u32, String>;
    /// The ports the kernel picks for the local end of outgoing connections.
    fn ephemeral_ports(&self) -> RangeInclusive<u16>;
    /// portscope's own pid, ancestry and supervisor.
    fn self_info(&self) -> SelfInfo;
    /// An identifier of the network namespace whose sockets [`Platform::snapshot`] sees (on
    /// Linux its inode number), to tell hosts' and containers' sockets apart in metrics.
    fn network_namespace(&self) -> Option<String> {
        None
    }

    // --- Host facts that audit weighs ---

    /// Whether a file exists at `path` now, inside `pid`'s root; `None` when unreadable.
    fn file_exists(&self, pid: u32, path: &Path) -> Option<bool>;
    /// Whether the directory holding `path` (inside `pid`'s root) is writable by every user.
    fn dir_world_writable(&self, pid: u32, path: &Path) -> Option<bool>;
    /// Whether `dir/name` is the same file as `exe`, inside `pid`'s root (a link that explains a
    /// process name different from its executable's).
    fn name_resolves_to(&self, pid: u32, dir: &Path, name: &str, exe: &Path) -> bool;
    /// Whether `pid` sees the same root filesystem as portscope.
    fn same_root(&self, pid: u32) -> Option<bool>;
    fn package_database(&self) -> PackageDatabase;
    /// The package that installed each of `paths`, for those some package owns.
    fn package_owners(&self, paths: &[PathBuf]) -> io::Result<HashMap<PathBuf, String>>;
    /// Binds every port of `ports` once on the wildcard address and reports which are taken.
    fn bind_probe(&self, protocol: Protocol, family: Family, ports: &[u16]) -> io::Result<ProbeResult>;
    /// Whether the socket dump lists TCP sockets that are bound but not listening.
    fn lists_bound_inactive(&self) -> bool;

    // --- Control ---

    /// Pins the process that has `pid` now.
    fn pin(&self, pid: u32) -> Result<Box<dyn Pinned>, ControlError>;
    /// Whether `systemctl` (or the host's service manager) is there to stop units.
    fn can_stop_units(&self) -> bool;
    /// Stops a systemd unit (of the user manager of `user`, when given).
    fn stop_unit(&self, unit: &str, user: Option<&str>) -> Result<(), String>;
    /// Every TCP connection that could be cut, with its kernel cookie and namespace.
    fn connections(&self) -> io::Result<Vec<Socket>>;
    /// Aborts one TCP connection, inside the namespace it lives in.
    fn destroy(&self, connection: &Socket) -> Result<(), DestroyError>;
}
