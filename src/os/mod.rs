//! Operating-system specific collection of sockets and processes.
//!
//! The rest of portscope sees [`snapshot`], the [`Query`] that shapes it and the model types; no
//! other module reads /proc or talks netlink. Linux is the only implementation today.

#[cfg(target_os = "linux")]
pub mod linux;

#[cfg(target_os = "linux")]
pub use linux::snapshot;

/// Which sockets to collect. The kernel filters by protocol, family and state, so a narrow query
/// is also a faster one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    pub tcp: bool,
    pub udp: bool,
    pub ipv4: bool,
    pub ipv6: bool,
    pub states: StateFilter,
    /// Map sockets to the processes that hold them (walks /proc/*/fd).
    pub processes: bool,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            tcp: true,
            udp: true,
            ipv4: true,
            ipv6: true,
            states: StateFilter::All,
            processes: true,
        }
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
    pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> ParseError {
        ParseError::Malformed {
            what,
            detail: detail.into(),
        }
    }
}

/// uid → user name for this machine.
#[cfg(target_os = "linux")]
pub use linux::users::table as user_names;

/// Ctrl-C and SIGTERM for long-running commands.
#[cfg(target_os = "linux")]
pub use linux::stop_signal::StopSignals;
/// The ports the kernel picks for outgoing connections.
#[cfg(target_os = "linux")]
pub use linux::sysctl::ephemeral_ports;

/// Who a process is now (name and executable), without a full snapshot.
#[cfg(target_os = "linux")]
pub use linux::identity::{Identity, identity as process_identity};
