//! Closing ports the way a careful administrator would.
//!
//! [`plan`] finds who holds a port and decides, per holder, whether to signal it, stop its systemd
//! unit or refuse ([`safety`]: PID 1, kernel threads, portscope and its parents, other users);
//! [`supervisor`] says what to run instead of a kill that a supervisor would undo; [`execute`]
//! signals through pidfds, waits, escalates only when asked, and verifies the port is free;
//! [`connections`] cuts single TCP connections with SOCK_DESTROY; [`target`] says what `close`
//! acts on besides a port (the processes audit names) and which command acts on a finding.

pub mod connections;
pub mod execute;
pub mod plan;
pub mod safety;
pub mod supervisor;
pub mod target;
