//! Waiting for the user's Ctrl-C (or a service manager's SIGTERM) without a signal handler.
//!
//! A long-running command blocks SIGINT, SIGTERM and SIGHUP once at start and then sleeps in
//! `sigtimedwait`: the sleep between two polls ends early, and race-free, when one of them
//! arrives, so the command can finish its current write and exit cleanly. Child processes start
//! with an empty signal mask (the standard library resets it on spawn), so they still get Ctrl-C.

use std::mem::MaybeUninit;
use std::time::Duration;

/// The stop signals, blocked from [`StopSignals::block`] on. They stay blocked until the process
/// exits: unblocking with a second Ctrl-C pending would kill the process before it finished.
pub struct StopSignals {
    set: libc::sigset_t,
}

impl StopSignals {
    /// Blocks SIGINT, SIGTERM and SIGHUP. Call it before starting any thread, so that every
    /// thread inherits the mask and the signals stay pending for [`StopSignals::wait`].
    pub fn block() -> std::io::Result<StopSignals> {
        let mut set = MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: the set is initialised by sigemptyset before it is read.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                libc::sigaddset(set.as_mut_ptr(), signal);
            }
            let rc = libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), std::ptr::null_mut());
            if rc != 0 {
                return Err(std::io::Error::from_raw_os_error(rc));
            }
            Ok(StopSignals {
                set: set.assume_init(),
            })
        }
    }

    /// Sleeps for `timeout`; returns the signal number as soon as a stop signal is pending.
    pub fn wait(&self, timeout: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let spec = libc::timespec {
                tv_sec: left.as_secs().try_into().unwrap_or(libc::time_t::MAX),
                tv_nsec: left.subsec_nanos().into(),
            };
            // SAFETY: `set` is a valid signal set; a null siginfo pointer is allowed.
            let signal = unsafe { libc::sigtimedwait(&self.set, std::ptr::null_mut(), &spec) };
            if signal > 0 {
                return Some(signal);
            }
            // EAGAIN is the timeout; EINTR (another signal, e.g. SIGCHLD) sleeps on.
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EINTR) || left.is_zero() {
                return None;
            }
        }
    }
}

/// Sends SIGKILL to every process of the process group `pgid` (a `--exec` command that ran too
/// long, with whatever it started). A group that is already gone is not an error.
pub fn kill_process_group(pgid: u32) {
    if let Some(pid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Whether the terminal on standard input is gone: hung up (its tmux server or ssh session died),
/// in error, or closed. Such a terminal reads as EOF or EIO forever, so an interactive view that
/// waits for keys on it must end instead of reading again. Does not block.
pub fn terminal_gone() -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    use std::os::fd::AsFd;
    let stdin = std::io::stdin();
    let fd = stdin.as_fd();
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
        Ok(_) => fds[0]
            .revents()
            .intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL),
        // poll itself failing on one descriptor says nothing about the terminal.
        Err(_) => false,
    }
}
