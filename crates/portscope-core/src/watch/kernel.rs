//! Socket events as the kernel reports them, the moment they happen: the event-source role of a
//! platform ([`crate::platform::Events`]) delivers them, `watch` merges them with its polls
//! ([`super::merge`]).
//!
//! A poll sees what is open at one moment; a port that opens and closes between two polls is
//! invisible to it. An event source (on Linux: eBPF programs on the socket tracepoints and cgroup
//! hooks) sees every listen, bind and close with the process that made it, and every connection
//! the kernel refused ([`Refusal`], what [`super::probes::ScanDetector`] folds into scan alerts).
//! The kernel's buffer is bounded: what it had to drop is counted ([`EventStream::lost`]) and
//! shown, never hidden.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::{Endpoint, Protocol, SocketState};

pub use super::probes::Refusal;

/// What happened to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketChange {
    /// A TCP socket started listening.
    Listen,
    /// A TCP or UDP socket was bound to a local address and port.
    Bind,
    /// A TCP socket started connecting.
    Connect,
    /// A listening TCP socket or a bound UDP socket was closed.
    Close,
    /// Any other TCP state change.
    State { from: SocketState, to: SocketState },
}

/// One socket event. The process fields are those of the process that caused it, where the kernel
/// ran in that process's context (listen, bind, connect, close); else `None`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketEvent {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub change: SocketChange,
    pub protocol: Protocol,
    pub local: Endpoint,
    /// The peer, for a connection.
    pub remote: Option<Endpoint>,
    /// The network namespace, by inode (0: unknown).
    pub netns: u64,
    pub pid: Option<u32>,
    /// The process's executable, read when the event arrived (best effort: a process that has
    /// already exited has none). The identity of the program.
    pub exe: Option<PathBuf>,
    /// The process's name (comm) when it caused the event: for display only, never identity.
    pub program: Option<String>,
    pub uid: Option<u32>,
}

/// What an event source delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    Socket(SocketEvent),
    Refusal(Refusal),
}

/// A live stream of kernel events.
pub trait EventStream: Send {
    /// Waits up to `timeout` for events and appends what arrived (a bounded batch) to `out`.
    fn next_batch(&mut self, timeout: Duration, out: &mut Vec<KernelEvent>) -> io::Result<()>;
    /// Events the kernel dropped since the stream started because its buffer was full.
    fn lost(&self) -> u64;
    /// The events this stream does not deliver, each with why (one sentence each): what works
    /// only partly on this host.
    fn missing(&self) -> Vec<String>;
}

/// Why a platform that has an event source cannot start it now: missing privileges, a kernel
/// without BTF or eBPF. Watch then says so once and polls.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct EventsUnavailable {
    pub reason: String,
}

/// How often a consumer should call [`EventStream::next_batch`] at least: the longest wait.
pub const BATCH_WAIT: Duration = Duration::from_millis(100);
