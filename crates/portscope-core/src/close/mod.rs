//! Closing ports the way a careful administrator would.
//!
//! [`spec`] says what a close acts on (the listeners on a port, or the sockets of the processes
//! audit names); [`plan`] finds who holds them and decides, per holder, whether to signal it, stop its systemd
//! unit or refuse ([`safety`]: PID 1, kernel threads, portscope and its parents, other users);
//! [`supervisor`] says what to run instead of a kill that a supervisor would undo; [`execute`]
//! signals through pidfds, waits, escalates only when asked, and verifies the port is free;
//! [`connections`] cuts single TCP connections with SOCK_DESTROY; [`suggest`] is the one place
//! that says which command stops a holder or acts on a finding, for every front end.

pub mod connections;
pub mod execute;
pub mod plan;
pub mod safety;
pub mod spec;
pub mod suggest;
pub mod supervisor;
