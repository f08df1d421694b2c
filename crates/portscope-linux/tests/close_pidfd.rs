//! PID reuse safety: a pidfd held across its process's exit never reaches the process that gets the
//! PID next. The test forces the reuse (through /proc/sys/kernel/ns_last_pid) when it can, and
//! only signals processes it started.

use std::process::{Child, Command};
use std::time::Duration;

use portscope_linux::pidfd::{CloseSignal, ProcessHandle};

/// A child process killed and reaped on drop.
struct Guard(Child);

impl Guard {
    fn spawn(cmd: &mut Command) -> Guard {
        Guard(cmd.spawn().expect("spawn a test process"))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn skip_without_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    eprintln!("skipping {test}: needs root");
    true
}

/// Starts `sleep 30` with the PID `pid` if the kernel hands it out within a few tries.
fn respawn_with_pid(pid: u32) -> Option<Guard> {
    for _ in 0..50 {
        // The next PID allocated after this write is `pid` when no other process forks first.
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).ok()?;
        let guard = Guard::spawn(Command::new("sleep").arg("30"));
        if guard.pid() == pid {
            return Some(guard);
        }
    }
    None
}

#[test]
fn a_pidfd_of_a_reaped_process_signals_nobody() {
    let mut first = Guard::spawn(Command::new("sleep").arg("30"));
    let pid = first.pid();
    let handle = match ProcessHandle::open(pid) {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("skipping a_pidfd_of_a_reaped_process_signals_nobody: pidfd_open failed: {err:?}");
            return;
        }
    };
    assert!(handle.is_unreaped().expect("fdinfo is readable"));

    first.0.kill().expect("kill our own child");
    first.0.wait().expect("reap our own child");
    assert!(!handle.is_unreaped().expect("fdinfo is readable"));
    assert!(
        handle.wait_exit(Duration::ZERO).expect("poll"),
        "the pidfd reports the exit"
    );

    let mut second = if skip_without_root("forcing PID reuse") {
        None
    } else {
        respawn_with_pid(pid)
    };
    match &second {
        Some(_) => eprintln!("PID {pid} now belongs to a new process"),
        None => eprintln!("PID {pid} was not reused within 50 tries; checking the pidfd alone"),
    }

    let err = handle
        .signal(CloseSignal::Term)
        .expect_err("the pinned process is gone");
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    let err = handle
        .signal(CloseSignal::Kill)
        .expect_err("the pinned process is gone");
    assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    // The ownership check never vouches for whatever lives at the PID now.
    assert!(!handle.holds_any(&[1, 2, 3]).expect("check runs"));

    if let Some(second) = second.as_mut() {
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            matches!(second.0.try_wait(), Ok(None)),
            "the new process got no signal"
        );
    }
}
