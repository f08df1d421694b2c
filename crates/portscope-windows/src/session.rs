//! What a long-running front end needs around its session on Windows: local time through the
//! system's time zone, a console control handler in place of stop signals, and ending a command
//! `--exec` started with everything it started.

use std::io;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use windows_sys::Win32::Foundation::{FILETIME, SYSTEMTIME};
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
    SetConsoleCtrlHandler,
};
use windows_sys::Win32::System::Threading::{
    PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_TERMINATE, TerminateProcess,
};
use windows_sys::Win32::System::Time::{
    FileTimeToSystemTime, SystemTimeToFileTime, SystemTimeToTzSpecificLocalTime,
};

use portscope_core::platform::StopWait;

use crate::handle::Handle;
use crate::processes;

/// 100 ns intervals from 1601-01-01 to 1970-01-01.
const EPOCH_1601: i64 = 116_444_736_000_000_000;

fn to_filetime(time_ms: i64) -> Option<FILETIME> {
    let ticks = u64::try_from(time_ms.checked_mul(10_000)?.checked_add(EPOCH_1601)?).ok()?;
    Some(FILETIME {
        dwLowDateTime: ticks as u32,
        dwHighDateTime: (ticks >> 32) as u32,
    })
}

/// `time_ms` in UTC and in local time, as SYSTEMTIMEs.
fn local(time_ms: i64) -> Option<(SYSTEMTIME, SYSTEMTIME)> {
    let filetime = to_filetime(time_ms)?;
    let mut utc = SYSTEMTIME::default();
    let mut local = SYSTEMTIME::default();
    // SAFETY: valid in and out pointers; a null time zone means the current one.
    unsafe {
        if FileTimeToSystemTime(&filetime, &mut utc) == 0
            || SystemTimeToTzSpecificLocalTime(std::ptr::null(), &utc, &mut local) == 0
        {
            return None;
        }
    }
    Some((utc, local))
}

/// `2026-11-25 15:03:07` in the system's time zone; RFC 3339 UTC when Windows cannot convert it.
pub fn format(time_ms: i64) -> String {
    match local(time_ms) {
        Some((_, t)) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            t.wYear, t.wMonth, t.wDay, t.wHour, t.wMinute, t.wSecond
        ),
        None => portscope_core::time::rfc3339(time_ms),
    }
}

/// The local time zone's offset from UTC at `time_ms` (east positive); 0 when unknown.
pub fn utc_offset_ms(time_ms: i64) -> i64 {
    let ticks = |t: &SYSTEMTIME| {
        let mut filetime = FILETIME::default();
        // SAFETY: valid in and out pointers.
        (unsafe { SystemTimeToFileTime(t, &mut filetime) } != 0)
            .then(|| (i64::from(filetime.dwHighDateTime) << 32) | i64::from(filetime.dwLowDateTime))
    };
    match local(time_ms) {
        Some((utc, local)) => match (ticks(&utc), ticks(&local)) {
            (Some(u), Some(l)) => (l - u) / 10_000,
            _ => 0,
        },
        None => 0,
    }
}

/// The stop request the console control handler saw, as the signal number a Linux front end
/// would see (Ctrl-C 2, Ctrl-Break 15, closing the console or logging off 1); -1 for none.
static PENDING: AtomicI32 = AtomicI32::new(-1);

unsafe extern "system" fn on_control(event: u32) -> i32 {
    let signal = match event {
        CTRL_C_EVENT => 2,
        CTRL_BREAK_EVENT => 15,
        CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => 1,
        _ => return 0,
    };
    PENDING.store(signal, Ordering::SeqCst);
    // Handled: the front end ends its session itself.
    1
}

/// Waits for a stop request between two polls.
pub struct ConsoleStop;

impl ConsoleStop {
    /// Installs the console control handler (once per process; a second call adds nothing).
    pub fn install() -> io::Result<ConsoleStop> {
        // SAFETY: the handler is a plain function that only stores into an atomic.
        if unsafe { SetConsoleCtrlHandler(Some(on_control), 1) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(ConsoleStop)
    }
}

impl StopWait for ConsoleStop {
    fn wait(&self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            let pending = PENDING.swap(-1, Ordering::SeqCst);
            if pending >= 0 {
                return Some(pending);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }
}

/// Ends process `root` (a command `--exec` started) and every process it started, children
/// first found by their listed parent and checked to be younger than it (a reused parent pid
/// is not a parent). Gone processes are not an error. Bounded by the process list.
pub fn kill_tree(root: u32) {
    let Ok(entries) = processes::list() else {
        return;
    };
    let created = processes::created;
    let mut tree = vec![root];
    let mut at = 0;
    while at < tree.len() && tree.len() < entries.len() + 1 {
        let parent = tree[at];
        let born = created(parent);
        for entry in entries.iter().filter(|e| e.ppid == parent) {
            if tree.contains(&entry.pid) || matches!((born, created(entry.pid)), (Some(p), Some(c)) if c < p)
            {
                continue;
            }
            tree.push(entry.pid);
        }
        at += 1;
    }
    for pid in tree {
        if pid == std::process::id() || pid == 0 || pid == 4 {
            continue;
        }
        if let Ok(process) = Handle::process(pid, PROCESS_TERMINATE | PROCESS_QUERY_LIMITED_INFORMATION) {
            // SAFETY: an open handle with PROCESS_TERMINATE; the pid is held while it is open.
            unsafe { TerminateProcess(process.raw(), 1) };
        }
    }
}
