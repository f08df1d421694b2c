//! The seam between portscope and an operating system: the [`Platform`] trait and its roles.
//!
//! Everything the core and the front ends need from a host goes through it, split by role:
//! - [`Collect`]: one look at the sockets and their holders ([`Collect::snapshot`]), who a
//!   process is now, privileges, users, portscope's own session;
//! - [`HostFacts`]: the facts audit weighs (files, package ownership, a bind probe, the process
//!   listing, eBPF programs, the kernel's taint);
//! - [`Control`]: the actions `close` takes (pin a process, signal it, stop a unit, cut a
//!   connection);
//! - [`Session`]: local time, stop signals, killing a process group;
//! - [`Events`]: socket events and refused connections as they happen (eBPF on Linux).
//!
//! [`Platform`] is all five at once (a blanket impl), so front ends hold one `&dyn Platform`.
//!
//! No method has a default body. A fact a platform may lack answers [`Answer<T>`]
//! (`Result<T, Unsupported>`): "unsupported on this platform" is said explicitly, never as an
//! empty list that a rule would read as a clean host. [`OPTIONAL_FACTS`] lists those facts.
//!
//! `portscope-linux` implements the roles for Linux; the `portscope-fixture` crate (a
//! dev-dependency) implements them from a TOML file, so rules and decisions are tested on
//! recorded hosts without root.

use std::collections::HashMap;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::Result;
use crate::model::{Family, Process, Protocol, Snapshot, Socket, Supervisor};
use crate::privilege::Privileges;
use crate::watch::kernel::{EventStream, EventsUnavailable};

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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateFilter {
    #[default]
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

/// Who a process is now: its name (`comm`) and executable, as in [`crate::model::Process`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub exe: Option<PathBuf>,
    /// Its start time (seconds since the epoch, as [`crate::model::Process::start_time`]) where
    /// the platform needs it to tell a reused pid from the planned process (Windows, which has
    /// no pidfd: a pid is only held while a handle is open); `None` where it is not read.
    pub start_time: Option<u64>,
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

/// A loaded eBPF program, as `bpftool prog show` lists it.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct BpfProgram {
    pub id: u32,
    /// The program type's name (`kprobe`, `tracepoint`, `tracing`, `socket_filter`, …).
    pub kind: String,
    /// The name the loader gave it (at most 15 bytes).
    pub name: String,
    /// The kernel's hash of the program (8 bytes, hex), what `bpftool` prints as `tag`.
    pub tag: String,
    /// Processes holding a descriptor of it (from /proc/PID/fdinfo), with their names.
    pub holders: Vec<(u32, String)>,
    /// Whether its instructions call `bpf_probe_write_user` (writes into user memory: what
    /// eBPF rootkits use to rewrite syscall results). `None` when the instructions or the
    /// kernel's symbol addresses could not be read.
    pub writes_user_memory: Option<bool>,
    /// What it attaches to, when known (a kernel function or tracepoint name).
    pub attach: Option<String>,
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

/// The answer "this platform cannot tell" to an optional question: the fact does not exist on
/// this operating system, or its implementation does not read it. It is a property of the
/// platform, not of one attempt: an answer that could not be read *this time* is the inner
/// `None` or `io::Error` of a supported answer.
///
/// A rule whose evidence is unsupported is skipped and named in the audit's `not_checked` list;
/// it never counts as a clean result nor as a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error, serde::Serialize)]
#[error("{what} is not available on this platform")]
pub struct Unsupported {
    /// The fact, named as the trait method that answers it (`listed_pids`, `package_owners`, …).
    pub what: &'static str,
}

/// What an optional fact's method returns: the fact, or [`Unsupported`].
pub type Answer<T> = std::result::Result<T, Unsupported>;

/// The optional facts by name, as [`Unsupported::what`] spells them: a fixture declares a subset
/// unsupported, and tests check that each is handled.
pub const OPTIONAL_FACTS: &[&str] = &[
    "parent",
    "lock_holder",
    "network_namespace",
    "package_owners",
    "processes",
    "children",
    "environment",
    "preload_file",
    "listed_pids",
    "pid_max",
    "pid_answers",
    "thread_group",
    "bpf_programs",
    "proc_net_sockets",
    "kernel_taint",
    "persistence_files",
    "script_files",
    "provenance",
];

/// Waits for the user's stop request (Ctrl-C, SIGTERM, SIGHUP) between two polls.
pub trait StopWait: Send + Sync {
    /// Sleeps up to `timeout`; returns the stop signal's number as soon as one is pending.
    fn wait(&self, timeout: Duration) -> Option<i32>;
}

/// Collecting sockets and processes: what every command starts from.
pub trait Collect: Sync {
    /// One look at the host's sockets, shaped by `query`, joined to the processes that hold them.
    fn snapshot(&self, query: &Query) -> Result<Snapshot>;
    /// Who `pid` is now, without a full snapshot; `None` when it no longer exists.
    fn identity(&self, pid: u32) -> Option<Identity>;
    /// The parent of `pid` now, for the parent chain a live view shows; `Ok(None)` when unknown
    /// or gone.
    fn parent(&self, pid: u32) -> Answer<Option<u32>>;
    /// Whether `pid` is a kernel thread.
    fn is_kernel_thread(&self, pid: u32) -> bool;
    /// The name of the system process `pid` is, when the operating system cannot run without it
    /// (Windows' System, smss, csrss, wininit, services, lsass, or any process marked critical):
    /// close refuses it. `None` on Linux, where init and kernel threads have rules of their own.
    fn critical_process(&self, pid: u32) -> Option<&'static str>;
    /// `pid`'s number in the innermost pid namespace it belongs to (the last of Linux's NSpid);
    /// 1 for a container's init. `None` when unknown.
    fn namespace_pid(&self, pid: u32) -> Option<u32>;
    /// The process holding an exclusive flock on the file with this device and inode (the
    /// history's recorder lock); `Ok(None)` when nobody does or it cannot be read.
    fn lock_holder(&self, dev: u64, ino: u64) -> Answer<Option<u32>>;
    /// What this process may do (read every owner, signal any process, destroy sockets).
    fn privileges(&self) -> Privileges;
    /// uid → user name.
    fn user_names(&self) -> HashMap<u32, String>;
    /// The ports the kernel picks for the local end of outgoing connections.
    fn ephemeral_ports(&self) -> RangeInclusive<u16>;
    /// portscope's own pid, ancestry and supervisor.
    fn self_info(&self) -> SelfInfo;
    /// An identifier of the network namespace whose sockets [`Collect::snapshot`] sees (on
    /// Linux its inode number), to tell hosts' and containers' sockets apart in metrics.
    fn network_namespace(&self) -> Answer<Option<String>>;
    /// What started each of `pids` (their parent chains, socket activation, SSH session, cron or
    /// at job, container names, login session), by pid; a pid that is gone is left out. Costly
    /// (a few files per ancestor): asked only for the holders a command shows.
    fn provenance(&self, pids: &[u32]) -> Answer<HashMap<u32, crate::provenance::Provenance>>;
}

/// The host facts audit weighs beyond the snapshot. Every fact a platform may lack answers
/// [`Answer`]; the rest every platform can answer, if only with "unknown" (`None`).
pub trait HostFacts: Sync {
    /// Whether a file exists at `path` now, inside `pid`'s root; `None` when unreadable.
    fn file_exists(&self, pid: u32, path: &Path) -> Option<bool>;
    /// Whether the directory holding `path` (inside `pid`'s root) is writable by every user.
    fn dir_world_writable(&self, pid: u32, path: &Path) -> Option<bool>;
    /// Whether `dir/name` is the same file as `exe`, inside `pid`'s root (a link that explains a
    /// process name different from its executable's).
    fn name_resolves_to(&self, pid: u32, dir: &Path, name: &str, exe: &Path) -> bool;
    /// Whether `pid` sees the same root filesystem as portscope.
    fn same_root(&self, pid: u32) -> Option<bool>;
    /// Whether the file `pid` runs is the file at its executable's path in the host's mount
    /// namespace (PID 1's): `Some(false)` for a binary bind-mounted over a packaged path in a
    /// mount namespace of its own. `None` when it cannot be read.
    fn exe_is_hosts(&self, pid: u32) -> Option<bool>;
    /// Which package database the host has ([`PackageDatabase::None`] when it has none).
    fn package_database(&self) -> PackageDatabase;
    /// The package that installed each of `paths`, for those some package owns.
    fn package_owners(&self, paths: &[PathBuf]) -> Answer<io::Result<HashMap<PathBuf, String>>>;
    /// Binds every port of `ports` once on the wildcard address and reports which are taken.
    fn bind_probe(&self, protocol: Protocol, family: Family, ports: &[u16]) -> io::Result<ProbeResult>;
    /// Whether the socket dump lists TCP sockets that are bound but not listening.
    fn lists_bound_inactive(&self) -> bool;
    /// Every process on the host, socket holder or not (audit's rules about spawned shells);
    /// the fields a snapshot's processes have, read the same way.
    fn processes(&self) -> Answer<Vec<Process>>;
    /// The processes `pid` started that still run (its children, from every one of its
    /// threads), for the rules about what a socket holder spawned; `Ok(None)` when unreadable.
    fn children(&self, pid: u32) -> Answer<Option<Vec<u32>>>;
    /// Whether `pid` runs portscope's own executable: the same file (device and inode), not the
    /// same name. portscope's own raw sockets are then not findings. `false` when unknown: the
    /// process is judged like any other.
    fn runs_own_executable(&self, pid: u32) -> bool;
    /// `pid`'s environment as `NAME=value` entries (bounded, lossy UTF-8); `Ok(None)` when
    /// unreadable.
    fn environment(&self, pid: u32) -> Answer<Option<Vec<String>>>;
    /// The contents of /etc/ld.so.preload (bounded): `Ok(None)` when the file does not exist.
    fn preload_file(&self) -> Answer<Option<Vec<u8>>>;

    // --- What `audit --deep` weighs ---

    /// The pids the process listing (/proc) shows, thread-group leaders only.
    fn listed_pids(&self) -> Answer<io::Result<Vec<u32>>>;
    /// The largest pid the kernel hands out (exclusive), bounding the hidden-process probe.
    fn pid_max(&self) -> Answer<u32>;
    /// Whether a process or thread with this pid exists, asked without the listing
    /// (kill(pid, 0) or pidfd_open): what a rootkit that filters /proc cannot easily hide.
    fn pid_answers(&self, pid: u32) -> Answer<bool>;
    /// The thread group (process) `pid` belongs to, read directly by pid; `Ok(None)` when
    /// unreadable.
    fn thread_group(&self, pid: u32) -> Answer<Option<u32>>;
    /// Every loaded eBPF program.
    fn bpf_programs(&self) -> Answer<io::Result<Vec<BpfProgram>>>;
    /// The TCP and UDP sockets the text tables of portscope's own network namespace list
    /// (/proc/net/tcp, tcp6, udp, udp6), the view `netstat` reads: the second view the socket
    /// cross-check compares with the netlink dump. Holders are not attached.
    fn proc_net_sockets(&self) -> Answer<io::Result<Vec<Socket>>>;
    /// The kernel's taint mask (/proc/sys/kernel/tainted); `Ok(None)` when unreadable.
    fn kernel_taint(&self) -> Answer<Option<u64>>;

    // --- Where a flagged program would start again from (`crate::persistence`) ---

    /// The files programs are launched from — systemd units and drop-ins (system and every
    /// user's), cron tables, /etc/rc.local, XDG autostart entries, the shell profiles of every
    /// user — each read bounded and never through a symbolic link (links are listed with their
    /// targets, unread), with the files not read and why.
    fn persistence_files(&self) -> Answer<crate::persistence::files::Files>;
    /// The scripts among `paths` (absolute paths on the host that launcher lines run): each a
    /// regular file that starts with `#!`, read bounded; other files are left out silently,
    /// unreadable ones listed as skipped.
    fn script_files(&self, paths: &[PathBuf]) -> Answer<crate::persistence::files::Files>;
}

/// The actions `close` takes.
pub trait Control: Sync {
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

/// The operating-system services a long-running front end needs around its own session: the
/// local clock, a clean stop on Ctrl-C, and ending the commands it started.
pub trait Session: Sync {
    /// `time_ms` (milliseconds since the epoch) as local wall-clock time, as history and watch
    /// print it.
    fn local_time(&self, time_ms: i64) -> String;
    /// The local time zone's offset from UTC at `time_ms`, in milliseconds.
    fn utc_offset_ms(&self, time_ms: i64) -> i64;
    /// Blocks the stop signals for the whole process (call before starting any thread) and
    /// returns what waits for them.
    fn block_stop_signals(&self) -> io::Result<Box<dyn StopWait>>;
    /// Ends every process of the process group `pgid` (a `--exec` command that ran too long,
    /// with whatever it started). A group that is already gone is not an error.
    fn kill_process_group(&self, pgid: u32);
    /// Whether the terminal on standard input has hung up or failed (its terminal emulator,
    /// tmux server or ssh session died): an interactive view then ends, since such a terminal
    /// reads as EOF or EIO forever. Does not block.
    fn terminal_gone(&self) -> bool;
}

/// A source of socket events as they happen ([`crate::watch::kernel`]): what lets `watch` see a
/// port that was open for 10 ms, and who scans the host.
pub trait Events: Sync {
    /// Starts the event source: `Unsupported` where the platform has none, `Err` when it has one
    /// that cannot run now (privileges, kernel), with why.
    fn events(&self) -> Answer<std::result::Result<Box<dyn EventStream>, EventsUnavailable>>;
}

/// An operating system, as portscope sees it: every role at once. Object safe: front ends hold a
/// `&dyn Platform`; a type that implements the five roles is a `Platform` without more code.
pub trait Platform: Collect + HostFacts + Control + Session + Events {}

impl<T: Collect + HostFacts + Control + Session + Events + ?Sized> Platform for T {}

/// The five roles and the umbrella trait, for code that calls platform methods on a concrete
/// type (a test's fixture platform): `use portscope_core::platform::prelude::*;`. Code that holds
/// a `&dyn Platform` needs no import.
pub mod prelude {
    pub use super::{Collect, Control, Events, HostFacts, Platform, Session};
}
