//! The actions `close` takes on Windows. A process is pinned by a handle: while it is open,
//! Windows never gives its pid to another process, and the creation time read through it is
//! what `close` compares with the plan. Asking politely means `WM_CLOSE` to the process's
//! top-level windows and a Ctrl-Break to its console process group; only the force step calls
//! `TerminateProcess`. A connection is cut with `SetTcpEntry(DELETE_TCB)`, IPv4 only.

use std::io;
use std::time::Duration;

use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBreakOnTermination};
use windows_sys::Win32::Foundation::{
    ERROR_ACCESS_DENIED, ERROR_INVALID_PARAMETER, ERROR_NOT_FOUND, ERROR_NOT_SUPPORTED, HWND, LPARAM,
    NO_ERROR, WAIT_OBJECT_0, WAIT_TIMEOUT,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{MIB_TCPROW_LH, MIB_TCPROW_LH_0, SetTcpEntry};
use windows_sys::Win32::System::Console::{CTRL_BREAK_EVENT, GenerateConsoleCtrlEvent};
use windows_sys::Win32::System::Threading::{
    PROCESS_QUERY_INFORMATION, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_SYNCHRONIZE, PROCESS_TERMINATE,
    TerminateProcess, WaitForSingleObject,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GetWindowThreadProcessId, PostMessageW, WM_CLOSE,
};

use portscope_core::model::Socket;
use portscope_core::platform::{CloseSignal, ControlError, DestroyError, Pinned};

use crate::decode::{self, Table};
use crate::handle::Handle;
use crate::{process_text, processes, snapshot, sockets};

/// The critical system process `pid` is, if any: System (4), one of the system directory's
/// smss, csrss, wininit, services or lsass, or a process Windows marks critical (its exit
/// crashes the machine).
pub fn critical_process(pid: u32) -> Option<&'static str> {
    if pid == 4 {
        return Some("System");
    }
    if let Ok(process) = Handle::process(pid, PROCESS_QUERY_LIMITED_INFORMATION)
        && let Some(exe) = processes::image_path(process.raw())
        && let Some(system32) = snapshot::system32()
        && let Some(name) = process_text::critical_image(&exe.to_string_lossy(), &system32)
    {
        return Some(name);
    }
    // Only with PROCESS_QUERY_INFORMATION (Administrator for others' processes).
    if let Ok(process) = Handle::process(pid, PROCESS_QUERY_INFORMATION) {
        let mut critical = 0u32;
        // SAFETY: a 4-byte out-buffer, as the class requires.
        let status = unsafe {
            NtQueryInformationProcess(
                process.raw(),
                ProcessBreakOnTermination,
                (&raw mut critical).cast(),
                4,
                std::ptr::null_mut(),
            )
        };
        if status >= 0 && critical != 0 {
            return Some("a process Windows marks critical");
        }
    }
    None
}

/// A process held open since the plan was checked.
pub struct ProcessPin {
    pid: u32,
    handle: Handle,
    /// Opened without PROCESS_TERMINATE (another user's process): the force step is refused.
    can_terminate: bool,
}

/// Pins `pid`: opens it to wait on and, where allowed, to terminate.
pub fn pin(pid: u32) -> Result<ProcessPin, ControlError> {
    let wait = PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_SYNCHRONIZE;
    let (handle, can_terminate) = match Handle::process(pid, wait | PROCESS_TERMINATE) {
        Ok(handle) => (handle, true),
        Err(err) if err.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32) => {
            (Handle::process(pid, wait).map_err(gone_or)?, false)
        }
        Err(err) => return Err(gone_or(err)),
    };
    let pin = ProcessPin {
        pid,
        handle,
        can_terminate,
    };
    // An exited process keeps its pid while handles to it are open: it is still gone.
    if pin.exited(Duration::ZERO)? {
        return Err(ControlError::Gone);
    }
    Ok(pin)
}

/// A process that does not exist makes OpenProcess fail with ERROR_INVALID_PARAMETER.
fn gone_or(err: io::Error) -> ControlError {
    if err.raw_os_error() == Some(ERROR_INVALID_PARAMETER as i32) {
        ControlError::Gone
    } else {
        ControlError::Other(err)
    }
}

impl ProcessPin {
    fn exited(&self, timeout: Duration) -> Result<bool, ControlError> {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX - 1);
        // SAFETY: an open handle with SYNCHRONIZE access.
        match unsafe { WaitForSingleObject(self.handle.raw(), ms) } {
            WAIT_OBJECT_0 => Ok(true),
            WAIT_TIMEOUT => Ok(false),
            _ => Err(ControlError::Other(io::Error::last_os_error())),
        }
    }

    /// Posts WM_CLOSE to every top-level window the process owns; how many.
    fn close_windows(&self) -> usize {
        struct Search {
            pid: u32,
            windows: Vec<HWND>,
        }
        unsafe extern "system" fn each(window: HWND, param: LPARAM) -> i32 {
            // SAFETY: `param` is the &mut Search passed to EnumWindows below, alive during it.
            let search = unsafe { &mut *(param as *mut Search) };
            let mut owner = 0u32;
            // SAFETY: a window handle from EnumWindows and a valid out-pointer.
            unsafe { GetWindowThreadProcessId(window, &mut owner) };
            if owner == search.pid && search.windows.len() < 1024 {
                search.windows.push(window);
            }
            1
        }
        let mut search = Search {
            pid: self.pid,
            windows: Vec::new(),
        };
        // SAFETY: the callback only touches `search`, which outlives the call.
        unsafe { EnumWindows(Some(each), (&raw mut search) as LPARAM) };
        for &window in &search.windows {
            // SAFETY: posting a message to a window handle is safe even if it was destroyed since.
            unsafe { PostMessageW(window, WM_CLOSE, 0, 0) };
        }
        search.windows.len()
    }
}

impl Pinned for ProcessPin {
    fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the process still owns a row with one of the planned keys (see
    /// [`snapshot::socket_key`]) in the TCP or UDP tables.
    fn holds_any(&self, keys: &[u64]) -> Result<bool, ControlError> {
        if self.exited(Duration::ZERO)? {
            return Err(ControlError::Gone);
        }
        for table in Table::ALL {
            let decoded = sockets::rows(table)?;
            if decoded
                .rows
                .iter()
                .any(|row| row.pid == self.pid && keys.contains(&snapshot::socket_key(&row.socket)))
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn signal(&self, signal: CloseSignal) -> Result<(), ControlError> {
        if self.exited(Duration::ZERO)? {
            return Err(ControlError::Gone);
        }
        match signal {
            CloseSignal::Term => {
                // Politely, as far as Windows allows: a GUI program gets WM_CLOSE; a console
                // program started in its own process group on portscope's console gets
                // Ctrl-Break (the call fails harmlessly for any other process). A program with
                // neither is left to the force step.
                self.close_windows();
                // SAFETY: plain values; the pid is never 0 (that would signal portscope's own
                // console group).
                if self.pid != 0 {
                    unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, self.pid) };
                }
                Ok(())
            }
            CloseSignal::Kill => {
                if !self.can_terminate {
                    return Err(ControlError::Other(io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        "terminating another user's process needs Administrator",
                    )));
                }
                // SAFETY: an open handle with PROCESS_TERMINATE; the pid cannot have been reused
                // while it is open.
                if unsafe { TerminateProcess(self.handle.raw(), 1) } == 0 {
                    let err = io::Error::last_os_error();
                    return match self.exited(Duration::ZERO) {
                        Ok(true) => Err(ControlError::Gone),
                        _ => Err(ControlError::Other(err)),
                    };
                }
                Ok(())
            }
        }
    }

    fn wait_exit(&self, timeout: Duration) -> Result<bool, ControlError> {
        self.exited(timeout)
    }
}

/// Every TCP connection (both families: an IPv6 one is listed so that cutting it says it cannot
/// be cut, rather than "no such connection").
pub fn connections() -> io::Result<Vec<Socket>> {
    let mut connections = Vec::new();
    for table in [Table::Tcp4, Table::Tcp6] {
        for row in sockets::rows(table)?.rows {
            let mut socket = row.socket;
            if socket.remote.port == 0 {
                continue;
            }
            socket.inode = if row.pid == 0 {
                0
            } else {
                snapshot::socket_key(&socket)
            };
            connections.push(socket);
        }
    }
    Ok(connections)
}

/// Aborts one IPv4 TCP connection (`SetTcpEntry` with `MIB_TCP_STATE_DELETE_TCB`; an elevated
/// token is needed). IPv6 has no such call.
pub fn destroy(connection: &Socket) -> Result<(), DestroyError> {
    let Some([state, local, local_port, remote, remote_port]) = decode::delete_tcb_row(connection) else {
        return Err(DestroyError::Unsupported);
    };
    // Wine 8's SetTcpEntry is a stub that answers success and cuts nothing: say so instead.
    if sockets::is_wine() {
        return Err(DestroyError::Other(io::Error::new(
            io::ErrorKind::Unsupported,
            "Wine does not implement SetTcpEntry (its stub cuts nothing)",
        )));
    }
    let row = MIB_TCPROW_LH {
        Anonymous: MIB_TCPROW_LH_0 { dwState: state },
        dwLocalAddr: local,
        dwLocalPort: local_port,
        dwRemoteAddr: remote,
        dwRemotePort: remote_port,
    };
    // SAFETY: a fully initialised MIB_TCPROW.
    match unsafe { SetTcpEntry(&row) } {
        NO_ERROR => Ok(()),
        ERROR_NOT_FOUND => Err(DestroyError::Gone),
        ERROR_NOT_SUPPORTED => Err(DestroyError::Unsupported),
        // 317 (ERROR_MR_MID_NOT_FOUND) is what a token that is not elevated gets.
        ERROR_ACCESS_DENIED | 317 => Err(DestroyError::Permission),
        code => Err(DestroyError::Other(crate::handle::error(code))),
    }
}
