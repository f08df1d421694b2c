//! What this process may do on Windows, mapped to the core's [`Privileges`]: an elevated token
//! (Administrator past UAC) or `SeDebugPrivilege` opens every process (reads every owner's path
//! and user, terminates any process); only an elevated token may cut connections
//! (`SetTcpEntry`). `euid` is the token user's relative id, the "uid" processes carry here.

use windows_sys::Win32::Foundation::LUID;
use windows_sys::Win32::Security::{
    GetTokenInformation, LUID_AND_ATTRIBUTES, LookupPrivilegeValueW, TOKEN_ELEVATION, TOKEN_PRIVILEGES,
    TOKEN_QUERY, TokenElevation, TokenPrivileges,
};
use windows_sys::Win32::System::Threading::{GetCurrentProcess, OpenProcessToken};

use portscope_core::privilege::Privileges;

use crate::handle::{self, Handle};
use crate::processes;

/// The running portscope's privileges; none beyond a user's when the token cannot be read.
pub fn current() -> Privileges {
    let euid = processes::token_user(
        // SAFETY: the pseudo-handle of the current process needs no closing.
        unsafe { GetCurrentProcess() },
    )
    .map_or(u32::MAX, |(rid, _)| rid);
    let Some(token) = own_token() else {
        return Privileges::none(euid);
    };
    let elevated = elevated(&token);
    let debug = has_privilege(&token, "SeDebugPrivilege");
    Privileges {
        euid,
        read_all: elevated || debug,
        kill_any: elevated || debug,
        net_admin: elevated,
    }
}

fn own_token() -> Option<Handle> {
    let mut raw = std::ptr::null_mut();
    // SAFETY: the current process's pseudo-handle and a valid out-pointer.
    if unsafe { OpenProcessToken(GetCurrentProcess(), TOKEN_QUERY, &mut raw) } == 0 {
        return None;
    }
    Handle::from_raw(raw).ok()
}

/// Whether the token is elevated (UAC's "Run as administrator", or UAC off for an admin).
fn elevated(token: &Handle) -> bool {
    let mut elevation = TOKEN_ELEVATION::default();
    let mut len = 0u32;
    // SAFETY: the out-buffer is a TOKEN_ELEVATION of the size given.
    let ok = unsafe {
        GetTokenInformation(
            token.raw(),
            TokenElevation,
            (&raw mut elevation).cast(),
            size_of::<TOKEN_ELEVATION>() as u32,
            &mut len,
        )
    };
    ok != 0 && elevation.TokenIsElevated != 0
}

/// Whether the token holds privilege `name` (enabled or not: portscope could enable it).
fn has_privilege(token: &Handle, name: &str) -> bool {
    let mut luid = LUID::default();
    let wide = handle::wide(name);
    // SAFETY: a NUL-terminated name and a valid out-pointer.
    if unsafe { LookupPrivilegeValueW(std::ptr::null(), wide.as_ptr(), &mut luid) } == 0 {
        return false;
    }
    let mut buffer = vec![0u64; 512];
    let mut len = 0u32;
    // SAFETY: the buffer holds 4096 bytes.
    let ok = unsafe {
        GetTokenInformation(
            token.raw(),
            TokenPrivileges,
            buffer.as_mut_ptr().cast(),
            4096,
            &mut len,
        )
    };
    if ok == 0 {
        return false;
    }
    // SAFETY: on success the buffer starts with TOKEN_PRIVILEGES followed by its array.
    let privileges = unsafe { &*buffer.as_ptr().cast::<TOKEN_PRIVILEGES>() };
    let room = (4096 - 4) / size_of::<LUID_AND_ATTRIBUTES>();
    let count = (privileges.PrivilegeCount as usize).min(room);
    // SAFETY: `count` entries lie inside the buffer (bounded by its size just above).
    let list = unsafe { std::slice::from_raw_parts(privileges.Privileges.as_ptr(), count) };
    list.iter()
        .any(|p| p.Luid.LowPart == luid.LowPart && p.Luid.HighPart == luid.HighPart)
}
