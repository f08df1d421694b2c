//! A cheap look at who a process is now: its name and executable, two reads under /proc/PID.
//!
//! `watch` uses it between full snapshots to notice that the owner of a port exited or exec'd
//! another program, without walking every process's descriptors.

use super::process::{exe_link, parse_stat};

pub use portscope_core::platform::Identity;

/// `None` when the process no longer exists.
pub fn identity(pid: u32) -> Option<Identity> {
    let stat = parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?).ok()?;
    let exe = exe_link(pid).map(|(path, _)| path);
    // The pidfd already pins the process: no start time is needed to tell it from a reused pid.
    Some(Identity {
        name: stat.comm,
        exe,
        start_time: None,
    })
}
