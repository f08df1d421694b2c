//! Windows services through the service control manager: which services run in which process
//! (the counterpart of a systemd unit: `close --unit` stops it), stopping one, and whether its
//! recovery options restart it after a failure (what happens when its process is killed instead).

use std::collections::HashMap;
use std::io;

use windows_sys::Win32::Foundation::{ERROR_MORE_DATA, GetLastError};
use windows_sys::Win32::System::Services::{
    CloseServiceHandle, ControlService, ENUM_SERVICE_STATUS_PROCESSW, EnumServicesStatusExW, OpenSCManagerW,
    OpenServiceW, QueryServiceConfig2W, SC_ACTION, SC_ACTION_RESTART, SC_ENUM_PROCESS_INFO, SC_HANDLE,
    SC_MANAGER_CONNECT, SC_MANAGER_ENUMERATE_SERVICE, SERVICE_ACTIVE, SERVICE_CONFIG_FAILURE_ACTIONS,
    SERVICE_CONTROL_STOP, SERVICE_FAILURE_ACTIONSW, SERVICE_QUERY_CONFIG, SERVICE_QUERY_STATUS,
    SERVICE_STATUS, SERVICE_STOP, SERVICE_WIN32,
};

use crate::handle;

/// A service-manager handle, closed on drop.
struct Sc(SC_HANDLE);

impl Sc {
    fn manager(access: u32) -> io::Result<Sc> {
        // SAFETY: null machine and database mean the local SCM's active database.
        let raw = unsafe { OpenSCManagerW(std::ptr::null(), std::ptr::null(), access) };
        if raw.is_null() {
            Err(io::Error::last_os_error())
        } else {
            Ok(Sc(raw))
        }
    }

    fn service(&self, name: &str, access: u32) -> io::Result<Sc> {
        let name = handle::wide(name);
        // SAFETY: `self.0` is an open SCM handle and `name` is NUL-terminated.
        let raw = unsafe { OpenServiceW(self.0, name.as_ptr(), access) };
        if raw.is_null() {
            Err(io::Error::last_os_error())
        } else {
            Ok(Sc(raw))
        }
    }
}

impl Drop for Sc {
    fn drop(&mut self) {
        // SAFETY: an open handle, closed once.
        unsafe { CloseServiceHandle(self.0) };
    }
}

/// The most bytes the service list may take (a few thousand services fit in well under this).
const LIST_MAX: u32 = 4 << 20;

/// The running Win32 services by the pid of their process, each list sorted (several share one
/// `svchost.exe`).
pub fn by_pid() -> io::Result<HashMap<u32, Vec<String>>> {
    let manager = Sc::manager(SC_MANAGER_CONNECT | SC_MANAGER_ENUMERATE_SERVICE)?;
    let mut services: HashMap<u32, Vec<String>> = HashMap::new();
    let mut resume = 0u32;
    let mut size = 64 * 1024u32;
    // Bounded: each round returns at least one service or ends; the list is finite and resume
    // moves forward. The round count bounds a manager that misbehaves.
    for _ in 0..256 {
        let mut buffer = vec![0u64; (size as usize).div_ceil(8)];
        let (mut needed, mut returned) = (0u32, 0u32);
        // SAFETY: the buffer holds `size` bytes; the call fills it with structures and the
        // strings they point to, all inside it.
        let ok = unsafe {
            EnumServicesStatusExW(
                manager.0,
                SC_ENUM_PROCESS_INFO,
                SERVICE_WIN32,
                SERVICE_ACTIVE,
                buffer.as_mut_ptr().cast(),
                size,
                &mut needed,
                &mut returned,
                &mut resume,
                std::ptr::null(),
            )
        };
        // SAFETY: reads the calling thread's last error.
        let more = ok == 0 && unsafe { GetLastError() } == ERROR_MORE_DATA;
        if ok == 0 && !more {
            return Err(io::Error::last_os_error());
        }
        let entries = buffer.as_ptr().cast::<ENUM_SERVICE_STATUS_PROCESSW>();
        for i in 0..returned as usize {
            // SAFETY: the call wrote `returned` entries at the buffer's start.
            let entry = unsafe { &*entries.add(i) };
            let pid = entry.ServiceStatusProcess.dwProcessId;
            // SAFETY: the name points to a NUL-terminated string inside the buffer.
            let name = unsafe { handle::string_at(entry.lpServiceName, 256) };
            if pid != 0 && !name.is_empty() {
                services.entry(pid).or_default().push(name);
            }
        }
        if !more {
            break;
        }
        if returned == 0 {
            size = needed.clamp(size, LIST_MAX);
        }
    }
    for list in services.values_mut() {
        list.sort();
    }
    Ok(services)
}

/// Whether the service's recovery options restart it after a failure (a killed process is a
/// failure; a stop through the SCM is not). `None` when its configuration cannot be read.
pub fn restarts_after_failure(name: &str) -> Option<bool> {
    let manager = Sc::manager(SC_MANAGER_CONNECT).ok()?;
    let service = manager.service(name, SERVICE_QUERY_CONFIG).ok()?;
    let mut buffer = vec![0u64; 1024];
    let mut needed = 0u32;
    // SAFETY: the buffer holds 8 KiB; the call writes a SERVICE_FAILURE_ACTIONSW and its
    // action array inside it.
    let ok = unsafe {
        QueryServiceConfig2W(
            service.0,
            SERVICE_CONFIG_FAILURE_ACTIONS,
            buffer.as_mut_ptr().cast(),
            8192,
            &mut needed,
        )
    };
    if ok == 0 {
        return None;
    }
    // SAFETY: on success the buffer starts with the structure.
    let actions = unsafe { &*buffer.as_ptr().cast::<SERVICE_FAILURE_ACTIONSW>() };
    if actions.lpsaActions.is_null() || actions.cActions == 0 {
        return Some(false);
    }
    let count = (actions.cActions as usize).min(64);
    // SAFETY: the array of `cActions` entries lies in the buffer the call filled.
    let list: &[SC_ACTION] = unsafe { std::slice::from_raw_parts(actions.lpsaActions, count) };
    Some(list.iter().any(|a| a.Type == SC_ACTION_RESTART))
}

/// Asks the service control manager to stop service `name`. Returns once the request is
/// accepted; the caller waits for the process to exit.
pub fn stop(name: &str) -> Result<(), String> {
    let manager = Sc::manager(SC_MANAGER_CONNECT).map_err(|e| format!("the service control manager: {e}"))?;
    let service = manager
        .service(name, SERVICE_STOP | SERVICE_QUERY_STATUS)
        .map_err(|e| format!("service {name}: {e}"))?;
    let mut status = SERVICE_STATUS::default();
    // SAFETY: an open service handle and a valid status out-pointer.
    if unsafe { ControlService(service.0, SERVICE_CONTROL_STOP, &mut status) } == 0 {
        return Err(format!("stopping service {name}: {}", io::Error::last_os_error()));
    }
    Ok(())
}

/// Whether the service control manager answers at all.
pub fn available() -> bool {
    Sc::manager(SC_MANAGER_CONNECT).is_ok()
}
