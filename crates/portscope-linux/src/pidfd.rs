//! Signalling a process through a pidfd, so that a reused PID can never receive the signal.
//!
//! A pidfd names one process, not a number: once that process is reaped, signals sent through the
//! pidfd fail with ESRCH even when the kernel has handed its PID to a new process. `close` opens the
//! pidfd first and only then checks that the process still holds the socket; the check is valid for
//! the pidfd's process because the PID cannot be reused while that process is not yet reaped, and
//! the check ends by confirming exactly that (the pidfd's `Pid:` in /proc/self/fdinfo).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};

pub use portscope_core::platform::CloseSignal;
use portscope_core::platform::{ControlError, Pinned};

fn raw(signal: CloseSignal) -> Signal {
    match signal {
        CloseSignal::Term => Signal::TERM,
        CloseSignal::Kill => Signal::KILL,
    }
}

/// One process, pinned by a pidfd.
#[derive(Debug)]
pub struct ProcessHandle {
    pid: u32,
    fd: OwnedFd,
}

/// Why a process could not be pinned.
#[derive(Debug)]
pub enum OpenError {
    /// No process has that PID any more.
    Gone,
    Other(io::Error),
}

impl ProcessHandle {
    /// Pins the process that has `pid` now.
    pub fn open(pid: u32) -> Result<ProcessHandle, OpenError> {
        let raw = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or(OpenError::Gone)?;
        match pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => Ok(ProcessHandle { pid, fd }),
            Err(Errno::SRCH) => Err(OpenError::Gone),
            Err(err) => Err(OpenError::Other(err.into())),
        }
    }

    /// Adopts a pidfd opened elsewhere (a test holding one across a child's exit).
    pub fn from_fd(pid: u32, fd: OwnedFd) -> ProcessHandle {
        ProcessHandle { pid, fd }
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// True while the pinned process is not yet reaped, i.e. while its PID is still its own.
    pub fn is_unreaped(&self) -> io::Result<bool> {
        let path = format!("/proc/self/fdinfo/{}", self.fd.as_raw_fd());
        let bytes = std::fs::read(path)?;
        let pid = parse_fdinfo_pid(&bytes)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "pidfd fdinfo has no Pid line"))?;
        Ok(pid == i64::from(self.pid))
    }

    /// The final check before a signal: does the pinned process hold any of these socket inodes?
    /// Walks /proc/PID/fd (which may by then belong to another process) and then confirms that
    /// the pinned process still owns the PID, so the walk saw the pinned process.
    pub fn holds_any(&self, inodes: &[u64]) -> io::Result<bool> {
        let held = match crate::fd_table::sockets_of(self.pid) {
            Ok(held) => held,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(err),
        };
        let found = held.iter().any(|inode| inodes.contains(inode));
        Ok(found && self.is_unreaped()?)
    }

    /// Sends a signal to the pinned process. ESRCH means it has exited; no other process can be hit.
    pub fn signal(&self, signal: CloseSignal) -> io::Result<()> {
        pidfd_send_signal(&self.fd, raw(signal)).map_err(io::Error::from)
    }

    /// Waits until the pinned process exits or `timeout` passes; true when it has exited.
    pub fn wait_exit(&self, timeout: Duration) -> io::Result<bool> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            let mut poll = libc::pollfd {
                fd: self.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd that lives across the call.
            let ready = unsafe { libc::poll(&mut poll, 1, millis) };
            if ready > 0 {
                return Ok(true);
            }
            if ready < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
            if left.is_zero() {
                return Ok(false);
            }
        }
    }
}

/// ESRCH through a pidfd means the pinned process is gone; no other process can be meant.
fn control_error(err: io::Error) -> ControlError {
    if err.raw_os_error() == Some(libc::ESRCH) {
        ControlError::Gone
    } else {
        ControlError::Other(err)
    }
}

impl Pinned for ProcessHandle {
    fn pid(&self) -> u32 {
        self.pid
    }

    fn holds_any(&self, inodes: &[u64]) -> Result<bool, ControlError> {
        ProcessHandle::holds_any(self, inodes).map_err(control_error)
    }

    fn signal(&self, signal: CloseSignal) -> Result<(), ControlError> {
        ProcessHandle::signal(self, signal).map_err(control_error)
    }

    fn wait_exit(&self, timeout: Duration) -> Result<bool, ControlError> {
        ProcessHandle::wait_exit(self, timeout).map_err(control_error)
    }
}

/// The `Pid:` line of a pidfd's fdinfo: the pid, or -1 once the process has been reaped.
pub fn parse_fdinfo_pid(bytes: &[u8]) -> Option<i64> {
    let rest = bytes
        .split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"Pid:"))?;
    std::str::from_utf8(rest).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_pid_line() {
        let live = b"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t4242\nNSpid:\t4242\n";
        assert_eq!(parse_fdinfo_pid(live), Some(4242));
        assert_eq!(parse_fdinfo_pid(b"pos:\t0\nPid:\t-1\n"), Some(-1));
        assert_eq!(parse_fdinfo_pid(b"pos:\t0\n"), None);
        assert_eq!(parse_fdinfo_pid(b"Pid:\tx\n"), None);
    }
}
