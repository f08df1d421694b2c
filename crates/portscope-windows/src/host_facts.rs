//! Host facts for audit on Windows: which directories any user can write to (the usual drops of
//! a dropped trojan), and path comparison as Windows does it.

use std::path::{Path, PathBuf};

use crate::drop_dirs;

/// Two paths name the same file: Windows compares paths without case, and `\\?\` is a prefix of
/// the same path.
pub fn same_file_name(a: &Path, b: &Path) -> bool {
    drop_dirs::normalise(&a.to_string_lossy()) == drop_dirs::normalise(&b.to_string_lossy())
}

/// Whether the directory holding `path` is a place where a dropped program lands: one of the
/// known drops (%TEMP%, %TMP%, %APPDATA%, %LOCALAPPDATA%, Downloads, %PUBLIC%, %ProgramData%,
/// %SystemRoot%\Temp, …: writable by the user who runs it, which is where a trojan is put), or a
/// directory whose DACL lets every user add files ([`dacl_grants_users_write`]). Otherwise
/// `Some(false)` when the DACL grants users nothing, and where it cannot be read, `Some(false)`
/// under %SystemRoot% and Program Files, `None` elsewhere.
pub fn user_writable_dir(path: &Path) -> Option<bool> {
    let var = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let roots = drop_dirs::Roots {
        temp: [var("TEMP"), var("TMP")].into_iter().flatten().collect(),
        appdata: [var("APPDATA"), var("LOCALAPPDATA")]
            .into_iter()
            .flatten()
            .collect(),
        profile: var("USERPROFILE"),
        public: var("PUBLIC"),
        program_data: var("ProgramData"),
        system_root: var("SystemRoot"),
        program_files: [var("ProgramFiles"), var("ProgramFiles(x86)")]
            .into_iter()
            .flatten()
            .collect(),
    };
    let listed = drop_dirs::classify(path, &roots);
    if listed == Some(true) {
        return listed;
    }
    path.parent().and_then(dacl_grants_users_write).or(listed)
}

/// `audit --deep`'s probe: binds every port once on the wildcard address (std sockets; Windows
/// refuses a held port with "address in use" and a reserved one with "access denied").
pub fn bind_probe(
    protocol: portscope_core::model::Protocol,
    family: portscope_core::model::Family,
    ports: &[u16],
) -> std::io::Result<portscope_core::platform::ProbeResult> {
    use portscope_core::model::{Family, Protocol};
    use std::io::ErrorKind;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};

    let address = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        Family::Packet => {
            return Err(std::io::Error::new(
                ErrorKind::Unsupported,
                "packet sockets have no ports",
            ));
        }
    };
    let mut result = portscope_core::platform::ProbeResult::default();
    for &port in ports {
        let at = SocketAddr::new(address, port);
        let outcome = match protocol {
            Protocol::Tcp => TcpListener::bind(at).map(drop),
            Protocol::Udp => UdpSocket::bind(at).map(drop),
            _ => {
                return Err(std::io::Error::new(
                    ErrorKind::Unsupported,
                    "only TCP and UDP are probed",
                ));
            }
        };
        match outcome {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AddrInUse => result.in_use.push(port),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => result.denied += 1,
            Err(e) if e.kind() == ErrorKind::AddrNotAvailable => {
                result.unavailable = true;
                break;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(result)
}

/// How far `audit --deep` asks pids one by one: Windows has no pid_max, and hands out pids
/// (multiples of 4) from a table that reuses low numbers, so a hidden process's pid lies among
/// the listed ones. Up to 16384 past the highest listed pid, at most 2^22.
pub fn pid_probe_limit(highest_listed: Option<u32>) -> u32 {
    highest_listed.unwrap_or(0).saturating_add(16_384).min(1 << 22)
}

/// Whether a running process has this pid, asked by opening it rather than from the listing: a
/// handle, or a refusal (another user's or a protected process), means it exists; an exited
/// process that someone still holds open does not count.
pub fn pid_answers(pid: u32) -> bool {
    use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, STILL_ACTIVE};
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, PROCESS_QUERY_LIMITED_INFORMATION};

    if pid % 4 != 0 && pid != 0 {
        // Windows hands out pids in multiples of 4.
        return false;
    }
    match crate::handle::Handle::process(pid, PROCESS_QUERY_LIMITED_INFORMATION) {
        Ok(process) => {
            let mut code = 0u32;
            // SAFETY: an open handle and a valid out-pointer.
            let ok = unsafe { GetExitCodeProcess(process.raw(), &mut code) };
            ok == 0 || code == STILL_ACTIVE as u32
        }
        Err(err) => err.raw_os_error() == Some(ERROR_ACCESS_DENIED as i32),
    }
}

/// Access that lets a user drop a file in a directory, or grant themselves that: FILE_ADD_FILE,
/// WRITE_DAC, WRITE_OWNER, GENERIC_ALL, GENERIC_WRITE.
const DROP_RIGHTS: u32 = 0x2 | 0x4_0000 | 0x8_0000 | 0x1000_0000 | 0x4000_0000;

/// Whether the directory's DACL lets every user (Everyone, Authenticated Users or the Users
/// group) add a file: an allow entry with a drop right that applies to the directory itself, or
/// no DACL at all (full access for everyone). Deny entries are not weighed, so a directory that
/// denies what it also allows reads as writable. `None` when the DACL cannot be read.
pub fn dacl_grants_users_write(dir: &Path) -> Option<bool> {
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::{GetNamedSecurityInfoW, SE_FILE_OBJECT};
    use windows_sys::Win32::Security::{
        ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, CreateWellKnownSid, DACL_SECURITY_INFORMATION, EqualSid, GetAce,
        INHERIT_ONLY_ACE, WinAuthenticatedUserSid, WinBuiltinUsersSid, WinWorldSid,
    };

    let name = crate::handle::wide(&dir.to_string_lossy());
    let mut dacl: *mut ACL = std::ptr::null_mut();
    let mut descriptor = std::ptr::null_mut();
    // SAFETY: a NUL-terminated name and valid out-pointers; the descriptor is freed below.
    let code = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut dacl,
            std::ptr::null_mut(),
            &mut descriptor,
        )
    };
    if code != 0 {
        return None;
    }
    struct Free(*mut std::ffi::c_void);
    impl Drop for Free {
        fn drop(&mut self) {
            // SAFETY: the descriptor the call allocated, freed once.
            unsafe { LocalFree(self.0) };
        }
    }
    let _free = Free(descriptor);
    if dacl.is_null() {
        return Some(true);
    }
    // The well-known SIDs of "every user", at most 68 bytes each.
    let mut sids = [[0u64; 9]; 3];
    for (sid, kind) in sids
        .iter_mut()
        .zip([WinWorldSid, WinAuthenticatedUserSid, WinBuiltinUsersSid])
    {
        let mut size = 72u32;
        // SAFETY: a 72-byte buffer for the SID.
        if unsafe { CreateWellKnownSid(kind, std::ptr::null_mut(), sid.as_mut_ptr().cast(), &mut size) } == 0
        {
            return None;
        }
    }
    // SAFETY: `dacl` points into the descriptor, alive until `_free` drops.
    let count = unsafe { (*dacl).AceCount };
    for index in 0..u32::from(count) {
        let mut ace = std::ptr::null_mut();
        // SAFETY: an index below the ACL's count and a valid out-pointer.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
            continue;
        }
        // SAFETY: every ACE starts with its header.
        let header = unsafe { &*ace.cast::<ACE_HEADER>() };
        // ACCESS_ALLOWED_ACE_TYPE; inherit-only entries do not apply to the directory itself.
        if header.AceType != 0 || u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0 {
            continue;
        }
        // SAFETY: an allow ACE: mask, then its SID in place of SidStart.
        let allowed = unsafe { &*ace.cast::<ACCESS_ALLOWED_ACE>() };
        if allowed.Mask & DROP_RIGHTS == 0 {
            continue;
        }
        let sid = (&raw const allowed.SidStart).cast_mut().cast();
        // SAFETY: two valid SIDs.
        if sids
            .iter_mut()
            .any(|s| unsafe { EqualSid(sid, s.as_mut_ptr().cast()) } != 0)
        {
            return Some(true);
        }
    }
    Some(false)
}
