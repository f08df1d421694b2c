//! A cheap look at who a process is now: its name and executable, two reads under /proc/PID.
//!
//! `watch` uses it between full snapshots to notice that the owner of a port exited or exec'd
//! another program, without walking every process's descriptors.

use std::os::unix::ffi::OsStrExt;

use super::process::{parse_exe_link, parse_stat};

pub use portscope_core::platform::Identity;

/// `None` when the process no longer exists.
pub fn identity(pid: u32) -> Option<Identity> {
    let stat = parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?).ok()?;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|target| parse_exe_link(target.as_os_str().as_bytes()).0);
    Some(Identity { name: stat.comm, exe })
}
