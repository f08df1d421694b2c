//! What a check reports: a severity, the socket(s) and process concerned, and why.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::model::{Endpoint, Netns, Process, Protocol, Socket, SocketState};

/// How much a finding should worry an administrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; normal on many machines.
    Info,
    /// Unusual; look at it.
    Warning,
    /// What compromised machines look like; act on it.
    Alert,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Alert];

    /// The severity named `text` (`info`, `warning`, `alert`).
    pub fn parse(text: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Alert => "alert",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rule that produced a finding; its name is what `--allow` and `--json` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckId {
    DeletedExe,
    ExeLocation,
    Unpackaged,
    ShellSocket,
    UnexpectedServer,
    AbusePort,
    AllInterfaces,
    Unowned,
    HiddenListener,
    Masquerade,
    PacketSocket,
    UnaccountedSocket,
    Preload,
    QuietShell,
    HiddenProcess,
    HiddenSocket,
    EbpfProgram,
    KernelTaint,
    ExitedLeader,
    Origin,
}

impl CheckId {
    pub const ALL: [CheckId; 20] = [
        CheckId::DeletedExe,
        CheckId::ExeLocation,
        CheckId::Unpackaged,
        CheckId::ShellSocket,
        CheckId::UnexpectedServer,
        CheckId::AbusePort,
        CheckId::AllInterfaces,
        CheckId::Unowned,
        CheckId::HiddenListener,
        CheckId::Masquerade,
        CheckId::PacketSocket,
        CheckId::UnaccountedSocket,
        CheckId::Preload,
        CheckId::QuietShell,
        CheckId::HiddenProcess,
        CheckId::HiddenSocket,
        CheckId::EbpfProgram,
        CheckId::KernelTaint,
        CheckId::ExitedLeader,
        CheckId::Origin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::DeletedExe => "deleted-exe",
            CheckId::ExeLocation => "exe-location",
            CheckId::Unpackaged => "unpackaged",
            CheckId::ShellSocket => "shell-socket",
            CheckId::UnexpectedServer => "unexpected-server",
            CheckId::AbusePort => "abuse-port",
            CheckId::AllInterfaces => "all-interfaces",
            CheckId::Unowned => "unowned",
            CheckId::HiddenListener => "hidden-listener",
            CheckId::Masquerade => "masquerade",
            CheckId::PacketSocket => "packet-socket",
            CheckId::UnaccountedSocket => "unaccounted-socket",
            CheckId::Preload => "preload",
            CheckId::QuietShell => "quiet-shell",
            CheckId::HiddenProcess => "hidden-process",
            CheckId::HiddenSocket => "hidden-socket",
            CheckId::EbpfProgram => "ebpf-program",
            CheckId::KernelTaint => "kernel-taint",
            CheckId::ExitedLeader => "exited-leader",
            CheckId::Origin => "origin",
        }
    }

    pub fn parse(name: &str) -> Option<CheckId> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The socket a finding is about, without its holders (the finding names the process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SocketRef {
    pub protocol: Protocol,
    pub local: Endpoint,
    /// `None` for listening and unconnected sockets.
    pub remote: Option<Endpoint>,
    /// `None` when no socket table shows the socket (a hidden listener).
    pub state: Option<SocketState>,
    pub inode: u64,
    /// The network namespace the socket lives in; `None` when no socket table shows it (a
    /// hidden listener, found by binding in portscope's own namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<Arc<Netns>>,
}

impl SocketRef {
    pub fn of(socket: &Socket) -> SocketRef {
        SocketRef {
            protocol: socket.protocol,
            local: socket.local,
            remote: (!socket.remote.is_unspecified()).then_some(socket.remote),
            state: Some(socket.state),
            inode: socket.inode,
            netns: Some(Arc::clone(&socket.netns)),
        }
    }
}

impl fmt::Display for SocketRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A packet socket has no address or port to show.
        if self.protocol == Protocol::Packet {
            return f.write_str("packet");
        }
        write!(f, "{} {}", self.protocol, self.local)?;
        match (self.remote, self.state) {
            (Some(remote), _) => write!(f, " -> {remote}"),
            (None, Some(state)) if state.is_listening() => Ok(()),
            (None, Some(state)) => write!(f, " {state}"),
            (None, None) => Ok(()),
        }
    }
}

/// One thing an administrator should look at.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub severity: Severity,
    pub check: CheckId,
    /// The sockets concerned: one for socket rules, every socket of the process for process rules.
    pub sockets: Vec<SocketRef>,
    /// The process concerned; `None` when no process is visible (unowned or hidden sockets).
    pub process: Option<Arc<Process>>,
    /// One sentence: what was seen and why it matters, naming the evidence (the file, the
    /// descriptor, the filter's constants, the environment variable).
    pub reason: String,
    /// What to do next, as a command a shell runs as written (`portscope close --pid 4242`,
    /// `systemctl stop x.service`, `cp /proc/4242/exe …` to keep a binary for analysis).
    /// Checks may set it; the runner gives every finding without one the usual step for its
    /// check (see [`super::advice`]).
    pub next_step: Option<String>,
}

/// A rule the platform gave no evidence for: skipped, neither clean nor suspicious.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct NotChecked {
    /// The rule that was skipped (or the part of it that needs the fact).
    pub check: CheckId,
    /// The fact the platform does not provide, as [`crate::platform::Unsupported::what`] names it.
    pub fact: &'static str,
}

impl fmt::Display for NotChecked {
    /// `not checked on this platform: hidden-process (listed_pids)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not checked on this platform: {} ({})", self.check, self.fact)
    }
}
