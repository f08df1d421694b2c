//! Processes: the list with parents (a Toolhelp snapshot), and each process's facts through a
//! handle opened with the least access that reads them (`PROCESS_QUERY_LIMITED_INFORMATION`):
//! image path, command line, user (token → SID → account), creation time. Without
//! Administrator, other users' processes refuse the handle: their facts stay unknown (`None`),
//! never invented.

use std::io;
use std::path::PathBuf;

use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessCommandLineInformation};
use windows_sys::Win32::Foundation::{FILETIME, HANDLE, UNICODE_STRING};
use windows_sys::Win32::Security::{
    GetSidSubAuthority, GetSidSubAuthorityCount, GetTokenInformation, LookupAccountSidW, PSID, SID_NAME_USE,
    TOKEN_QUERY, TOKEN_USER, TokenUser,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Threading::{
    GetProcessTimes, OpenProcessToken, PROCESS_NAME_WIN32, PROCESS_QUERY_LIMITED_INFORMATION,
    QueryFullProcessImageNameW,
};

use crate::handle::{self, Handle};
use crate::process_text;

/// One process as the Toolhelp snapshot lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub pid: u32,
    pub ppid: u32,
    /// The image's file name (`svchost.exe`), Windows' counterpart of `comm`.
    pub name: String,
}

/// Every process, with its parent. Bounded: a snapshot is a fixed list.
pub fn list() -> io::Result<Vec<Entry>> {
    // SAFETY: plain flags; returns a new handle or INVALID_HANDLE_VALUE.
    let snapshot = Handle::from_raw(unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) })?;
    let mut entry = PROCESSENTRY32W {
        dwSize: size_of::<PROCESSENTRY32W>() as u32,
        ..Default::default()
    };
    let mut entries = Vec::new();
    // SAFETY: `entry` is a PROCESSENTRY32W with dwSize set, as the call requires.
    let mut more = unsafe { Process32FirstW(snapshot.raw(), &mut entry) } != 0;
    while more {
        entries.push(Entry {
            pid: entry.th32ProcessID,
            ppid: entry.th32ParentProcessID,
            name: handle::string(&entry.szExeFile),
        });
        // SAFETY: as above.
        more = unsafe { Process32NextW(snapshot.raw(), &mut entry) } != 0;
    }
    Ok(entries)
}

/// What a handle to one process tells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Details {
    pub exe: Option<PathBuf>,
    /// `None` when the command line could not be read.
    pub cmdline: Option<Vec<String>>,
    /// The token user's relative id (the SID's last part) and account name (`DOMAIN\name`).
    pub user: Option<(u32, String)>,
    /// Creation time as a `FILETIME` (100 ns since 1601): with the pid, the process's identity.
    pub created: Option<u64>,
}

/// The facts of process `pid`; an error when no handle can be opened (gone, or another user's
/// process without Administrator).
pub fn details(pid: u32) -> io::Result<Details> {
    let process = Handle::process(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    Ok(Details {
        exe: image_path(process.raw()),
        cmdline: command_line(process.raw()).or_else(|| command_line_from_peb(pid)),
        user: token_user(process.raw()),
        created: creation_time(process.raw()),
    })
}

/// Only the creation time of `pid` (a `FILETIME` number), for the parent checks that need no
/// other fact.
pub fn created(pid: u32) -> Option<u64> {
    let process = Handle::process(pid, PROCESS_QUERY_LIMITED_INFORMATION).ok()?;
    creation_time(process.raw())
}

/// The full Win32 path of the process's image.
pub fn image_path(process: HANDLE) -> Option<PathBuf> {
    // Long paths reach 32767 units; try the usual size first.
    for size in [1024usize, 32768] {
        let mut buffer = vec![0u16; size];
        let mut len = size as u32;
        // SAFETY: `buffer` holds `len` units; the call writes at most that and sets `len`.
        let ok =
            unsafe { QueryFullProcessImageNameW(process, PROCESS_NAME_WIN32, buffer.as_mut_ptr(), &mut len) };
        if ok != 0 {
            return Some(handle::path(&buffer[..len as usize]));
        }
    }
    None
}

/// The creation time, as a `FILETIME` number.
pub fn creation_time(process: HANDLE) -> Option<u64> {
    let mut times = [FILETIME::default(); 4];
    let [created, exited, kernel, user] = &mut times;
    // SAFETY: four valid FILETIME out-pointers.
    let ok = unsafe { GetProcessTimes(process, created, exited, kernel, user) };
    (ok != 0).then(|| (u64::from(times[0].dwHighDateTime) << 32) | u64::from(times[0].dwLowDateTime))
}

/// The largest command line read (bytes of UTF-16 after the header): Windows caps command lines
/// at 32767 units, so this is room for any.
const COMMAND_LINE_MAX: u32 = 70_000;

/// The command line, read with `NtQueryInformationProcess(ProcessCommandLineInformation)`
/// (Windows 8.1 and later; no memory of the process is read), split into arguments.
pub fn command_line(process: HANDLE) -> Option<Vec<String>> {
    // u64 words: UNICODE_STRING's alignment.
    let mut buffer = vec![0u64; (COMMAND_LINE_MAX as usize).div_ceil(8)];
    let mut needed = 0u32;
    // SAFETY: the buffer holds COMMAND_LINE_MAX bytes; the call writes a UNICODE_STRING whose
    // buffer points inside ours, or fails with a status.
    let status = unsafe {
        NtQueryInformationProcess(
            process,
            ProcessCommandLineInformation,
            buffer.as_mut_ptr().cast(),
            COMMAND_LINE_MAX,
            &mut needed,
        )
    };
    if status < 0 {
        return None;
    }
    // SAFETY: on success the buffer starts with an initialised UNICODE_STRING.
    let text = unsafe { &*buffer.as_ptr().cast::<UNICODE_STRING>() };
    let units = usize::from(text.Length / 2);
    let start = buffer.as_ptr() as usize;
    let end = start + buffer.len() * 8;
    let ptr = text.Buffer as usize;
    // Trust the pointer only inside our own buffer.
    if text.Buffer.is_null() || ptr < start || ptr + units * 2 > end {
        return (units == 0).then(Vec::new);
    }
    // SAFETY: checked just above to lie inside `buffer`, which is alive.
    let line = unsafe { std::slice::from_raw_parts(text.Buffer, units) };
    Some(process_text::split_command_line(&handle::string(line)))
}

/// The command line read from the process's own memory (its PEB's process parameters), where
/// `ProcessCommandLineInformation` is missing (Windows before 8.1, Wine 8). Needs
/// `PROCESS_VM_READ`, so another user's process without Administrator stays unknown. Every read
/// is bounded and checked; the process may change its memory meanwhile, which at worst gives a
/// wrong line, never a read outside our buffers.
#[cfg(target_pointer_width = "64")]
fn command_line_from_peb(pid: u32) -> Option<Vec<String>> {
    use windows_sys::Wdk::System::Threading::ProcessBasicInformation;
    use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
    use windows_sys::Win32::System::Threading::{PROCESS_QUERY_INFORMATION, PROCESS_VM_READ};

    // x64 layout: PEB.ProcessParameters at 0x20; RTL_USER_PROCESS_PARAMETERS.CommandLine (a
    // UNICODE_STRING: length, maximum, buffer pointer at +8) at 0x70.
    const PEB_PARAMETERS: usize = 0x20;
    const PARAMETERS_COMMAND_LINE: usize = 0x70;
    let process = Handle::process(pid, PROCESS_QUERY_INFORMATION | PROCESS_VM_READ).ok()?;
    let read = |address: usize, into: &mut [u8]| -> Option<()> {
        let mut done = 0usize;
        // SAFETY: `into` is writable for its length; the call copies at most that many bytes
        // from the other process, or fails.
        let ok = unsafe {
            ReadProcessMemory(
                process.raw(),
                address as *const _,
                into.as_mut_ptr().cast(),
                into.len(),
                &mut done,
            )
        };
        (ok != 0 && done == into.len()).then_some(())
    };
    // PROCESS_BASIC_INFORMATION: six words, the PEB's address second.
    let mut basic = [0usize; 6];
    // SAFETY: a 48-byte out-buffer, the structure's size on x64.
    let status = unsafe {
        NtQueryInformationProcess(
            process.raw(),
            ProcessBasicInformation,
            basic.as_mut_ptr().cast(),
            size_of_val(&basic) as u32,
            std::ptr::null_mut(),
        )
    };
    if status < 0 || basic[1] == 0 {
        return None;
    }
    let mut word = [0u8; 8];
    read(basic[1] + PEB_PARAMETERS, &mut word)?;
    let parameters = usize::from_ne_bytes(word);
    let mut string = [0u8; 16];
    read(parameters.checked_add(PARAMETERS_COMMAND_LINE)?, &mut string)?;
    let length = usize::from(u16::from_ne_bytes([string[0], string[1]]));
    let buffer = usize::from_ne_bytes(string[8..16].try_into().ok()?);
    if length == 0 {
        return Some(Vec::new());
    }
    // Windows caps a command line at 32767 units.
    let mut bytes = vec![0u8; length.min(65534) & !1];
    read(buffer, &mut bytes)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .map(|c| u16::from_ne_bytes([c[0], c[1]]))
        .collect();
    Some(process_text::split_command_line(&handle::string(&units)))
}

#[cfg(not(target_pointer_width = "64"))]
fn command_line_from_peb(_pid: u32) -> Option<Vec<String>> {
    None
}

/// The token user of a process: (relative id, `DOMAIN\name`).
pub fn token_user(process: HANDLE) -> Option<(u32, String)> {
    let mut raw = std::ptr::null_mut();
    // SAFETY: a valid out-pointer for the token handle.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut raw) } == 0 {
        return None;
    }
    let token = Handle::from_raw(raw).ok()?;
    let mut buffer = vec![0u64; 64];
    let mut len = 0u32;
    // SAFETY: the buffer holds 512 bytes, enough for TOKEN_USER and the largest SID (68 bytes).
    let ok =
        unsafe { GetTokenInformation(token.raw(), TokenUser, buffer.as_mut_ptr().cast(), 512, &mut len) };
    if ok == 0 {
        return None;
    }
    // SAFETY: on success the buffer starts with a TOKEN_USER whose SID lies inside it.
    let sid = unsafe { (*buffer.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    Some((rid(sid)?, account(sid)?))
}

/// The SID's last sub-authority: its relative id (500 Administrator, 1000+ local users, 18
/// SYSTEM), portscope's "uid" on Windows.
pub fn rid(sid: PSID) -> Option<u32> {
    // SAFETY: `sid` is a valid SID (from a token); the calls read inside it.
    unsafe {
        let count = *GetSidSubAuthorityCount(sid);
        if count == 0 {
            return None;
        }
        Some(*GetSidSubAuthority(sid, u32::from(count) - 1))
    }
}

/// `DOMAIN\name` (or `name`) for a SID.
pub fn account(sid: PSID) -> Option<String> {
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let (mut name_len, mut domain_len) = (256u32, 256u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: both buffers hold the unit counts given; `sid` is a valid SID.
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut name_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    if ok == 0 {
        return None;
    }
    let (name, domain) = (handle::string(&name), handle::string(&domain));
    Some(if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    })
}
