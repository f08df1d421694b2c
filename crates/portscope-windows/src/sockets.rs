//! The IP helper's owner tables: one call per protocol and family fills a buffer that
//! [`crate::decode`] reads. The call is retried when the table grew between asking for its size
//! and filling it, a bounded number of times.

use std::io;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use windows_sys::Win32::Foundation::{ERROR_INSUFFICIENT_BUFFER, NO_ERROR};

use portscope_core::model::Endpoint;
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, GetOwnerModuleFromTcp6Entry, GetOwnerModuleFromTcpEntry,
    MIB_TCP6ROW_OWNER_MODULE, MIB_TCPROW_OWNER_MODULE, TCP_TABLE_OWNER_MODULE_ALL, TCP_TABLE_OWNER_PID_ALL,
    TCPIP_OWNER_MODULE_BASIC_INFO, TCPIP_OWNER_MODULE_INFO_BASIC, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};

use crate::decode::{self, Decoded, Table};
use crate::handle;

/// How often a table that keeps growing is asked for again before giving up.
const ATTEMPTS: usize = 8;

/// The raw bytes of `table`, as the API filled them.
pub fn read(table: Table) -> io::Result<Vec<u8>> {
    let tcp = matches!(table, Table::Tcp4 | Table::Tcp6);
    let class = if tcp {
        TCP_TABLE_OWNER_PID_ALL
    } else {
        UDP_TABLE_OWNER_PID
    };
    read_class(tcp, table.ipv6(), class)
}

/// One owner table of class `class`, as bytes.
fn read_class(tcp: bool, ipv6: bool, class: i32) -> io::Result<Vec<u8>> {
    let family = u32::from(if ipv6 { AF_INET6 } else { AF_INET });
    let mut size: u32 = 0;
    // u64 words: the rows' alignment, whatever the allocator does for bytes.
    let mut buffer: Vec<u64> = Vec::new();
    for _ in 0..ATTEMPTS {
        buffer.resize((size as usize).div_ceil(8).max(1), 0);
        let mut len = (buffer.len() * 8) as u32;
        let ptr = buffer.as_mut_ptr().cast();
        // SAFETY: `ptr` points to `len` writable bytes; the API writes at most `len` bytes and
        // stores the size it needs in `len` when that is not enough.
        let code = unsafe {
            if tcp {
                GetExtendedTcpTable(ptr, &mut len, 0, family, class, 0)
            } else {
                GetExtendedUdpTable(ptr, &mut len, 0, family, class, 0)
            }
        };
        match code {
            NO_ERROR => {
                let bytes: Vec<u8> = buffer.iter().flat_map(|w| w.to_ne_bytes()).collect();
                return Ok(bytes);
            }
            // A little more than asked: connections open between the two calls.
            ERROR_INSUFFICIENT_BUFFER => size = len.saturating_add(1024),
            code => return Err(handle::error(code)),
        }
    }
    Err(io::Error::other(
        "the socket table kept growing while it was read",
    ))
}

/// `table`, decoded.
pub fn rows(table: Table) -> io::Result<Decoded> {
    let bytes = read(table)?;
    decode::table(table, &bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A TCP connection's owner: pid, local and remote end.
pub type ConnectionKey = (u32, Endpoint, Endpoint);

/// The module (for a service host, the service's name) that owns each TCP connection of the
/// processes `pids`, from `TCP_TABLE_OWNER_MODULE_ALL` and `GetOwnerModuleFromTcp(6)Entry`: which
/// of the services a shared `svchost.exe` hosts holds the socket. An error when Windows does not
/// keep module owners (Wine does not).
pub fn owner_modules(pids: &HashSet<u32>) -> io::Result<HashMap<ConnectionKey, String>> {
    if is_wine() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "Wine does not implement GetOwnerModuleFromTcpEntry",
        ));
    }
    let mut modules = HashMap::new();
    for ipv6 in [false, true] {
        let bytes = read_class(true, ipv6, TCP_TABLE_OWNER_MODULE_ALL)?;
        // The row count, then rows aligned to 8 (they hold a 64-bit timestamp).
        let count =
            u32::from_ne_bytes(bytes.get(..4).and_then(|b| b.try_into().ok()).unwrap_or_default()) as usize;
        let size = if ipv6 {
            size_of::<MIB_TCP6ROW_OWNER_MODULE>()
        } else {
            size_of::<MIB_TCPROW_OWNER_MODULE>()
        };
        let available = bytes.len().saturating_sub(8) / size;
        for i in 0..count.min(available) {
            let at = 8 + i * size;
            let row = &bytes[at..at + size];
            let (pid, local, remote, name) = if ipv6 {
                // SAFETY: `row` holds one whole row; read_unaligned needs no alignment.
                let r: MIB_TCP6ROW_OWNER_MODULE = unsafe { std::ptr::read_unaligned(row.as_ptr().cast()) };
                if !pids.contains(&r.dwOwningPid) {
                    continue;
                }
                let local = Endpoint::new(
                    IpAddr::V6(Ipv6Addr::from(r.ucLocalAddr)),
                    decode::port(r.dwLocalPort.to_ne_bytes()),
                );
                let remote = Endpoint::new(
                    IpAddr::V6(Ipv6Addr::from(r.ucRemoteAddr)),
                    decode::port(r.dwRemotePort.to_ne_bytes()),
                );
                // SAFETY: a whole row and a buffer for the answer, sized by `module_name`.
                let name = module_name(|buffer, size| unsafe {
                    GetOwnerModuleFromTcp6Entry(&r, TCPIP_OWNER_MODULE_INFO_BASIC, buffer, size)
                });
                (r.dwOwningPid, local, remote, name)
            } else {
                // SAFETY: as above.
                let r: MIB_TCPROW_OWNER_MODULE = unsafe { std::ptr::read_unaligned(row.as_ptr().cast()) };
                if !pids.contains(&r.dwOwningPid) {
                    continue;
                }
                let local = Endpoint::new(
                    IpAddr::V4(Ipv4Addr::from(r.dwLocalAddr.to_ne_bytes())),
                    decode::port(r.dwLocalPort.to_ne_bytes()),
                );
                let remote = Endpoint::new(
                    IpAddr::V4(Ipv4Addr::from(r.dwRemoteAddr.to_ne_bytes())),
                    decode::port(r.dwRemotePort.to_ne_bytes()),
                );
                // SAFETY: as above.
                let name = module_name(|buffer, size| unsafe {
                    GetOwnerModuleFromTcpEntry(&r, TCPIP_OWNER_MODULE_INFO_BASIC, buffer, size)
                });
                (r.dwOwningPid, local, remote, name)
            };
            if let Some(name) = name {
                modules.insert((pid, local, remote), name);
            }
        }
    }
    Ok(modules)
}

/// Calls `query` with a buffer for a TCPIP_OWNER_MODULE_BASIC_INFO and its strings; the module
/// name, or `None` when Windows has none for the row.
fn module_name(query: impl Fn(*mut std::ffi::c_void, *mut u32) -> u32) -> Option<String> {
    let mut buffer = vec![0u64; 512];
    let mut size = 4096u32;
    if query(buffer.as_mut_ptr().cast(), &mut size) != NO_ERROR {
        return None;
    }
    // SAFETY: on success the buffer starts with the structure; its strings lie in the buffer.
    let info = unsafe { &*buffer.as_ptr().cast::<TCPIP_OWNER_MODULE_BASIC_INFO>() };
    // SAFETY: a NUL-terminated string the call wrote (or null).
    let name = unsafe { handle::string_at(info.pModuleName, 256) };
    (!name.is_empty()).then_some(name)
}

/// Whether this is Wine (its ntdll exports `wine_get_version`): Wine 8 keeps module owners in
/// the table but aborts the process on `GetOwnerModuleFromTcpEntry`, an unimplemented function.
pub fn is_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleW, GetProcAddress};
    let ntdll = handle::wide("ntdll.dll");
    // SAFETY: ntdll is loaded in every process; both calls take NUL-terminated names.
    unsafe {
        let module = GetModuleHandleW(ntdll.as_ptr());
        !module.is_null() && GetProcAddress(module, c"wine_get_version".as_ptr().cast()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_owners_are_read_or_said_unsupported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_ttl(64).unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        std::io::Write::write_all(&mut client, b"x").unwrap();
        let pids: HashSet<u32> = [std::process::id()].into();
        let modules = owner_modules(&pids);
        if is_wine() {
            assert_eq!(modules.unwrap_err().kind(), io::ErrorKind::Unsupported);
        } else {
            // Real Windows names this test's own image as the module of its connection.
            let modules = modules.unwrap();
            assert!(
                modules.values().any(|m| m.to_lowercase().ends_with(".exe")),
                "{modules:?}"
            );
        }
    }
}
