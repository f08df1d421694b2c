//! The cross-view check: a socket that a process holds (seen in /proc/PID/fd) but that no socket
//! dump listed is either something the dumps cannot show (a socket never bound, a family with no
//! dump) or something hidden from them. Each such socket is named with why.
//!
//! Two facts come from the socket itself, never from the holder's name: the kernel's protocol name
//! for it (the `system.sockprotoname` attribute of its descriptor) and the network namespace it
//! lives in (SIOCGSKNS on a duplicate of the descriptor, taken with pidfd_getfd). The namespace is
//! how a socket in a namespace that nothing else points to any more is still found and dumped.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use rustix::process::{Pid, PidfdFlags, PidfdGetfdFlags, pidfd_getfd, pidfd_open};

/// ioctl(SIOCGSKNS): a descriptor for the network namespace of a socket (linux/sockios.h).
const SIOCGSKNS: u32 = 0x894C;

/// The kernel's protocol name for descriptor `fd` of process `pid` (`TCP`, `UDPv6`, `UNIX`,
/// `PACKET`, `PING`, …); `None` when the descriptor is gone or unreadable.
pub fn protocol_name(pid: u32, fd: u32) -> Option<String> {
    let mut value = [0u8; 64];
    let len = rustix::fs::getxattr(
        format!("/proc/{pid}/fd/{fd}").as_str(),
        c"system.sockprotoname",
        &mut value[..],
    )
    .ok()?;
    let name = value.get(..len)?;
    let name = name.strip_suffix(b"\0").unwrap_or(name);
    Some(String::from_utf8_lossy(name).into_owned())
}

/// Whether a protocol name is one portscope does not look for: local IPC, not a network socket.
pub fn is_local_ipc(name: &str) -> bool {
    name.starts_with("UNIX") || name.starts_with("NETLINK")
}

/// Whether sockets of this protocol name appear in a dump portscope takes.
pub fn is_dumped(name: &str) -> bool {
    matches!(
        name,
        "TCP" | "TCPv6" | "UDP" | "UDPv6" | "RAW" | "RAWv6" | "PACKET" | "SCTP" | "SCTPv6"
    )
}

/// Why a held socket of protocol `name`, whose namespace was dumped, is in no dump.
pub fn reason(name: &str) -> String {
    match name {
        "TCP" | "TCPv6" | "UDP" | "UDPv6" | "SCTP" | "SCTPv6" => {
            "in none of the kernel's socket tables: made but never bound or connected, \
             or hidden from sock_diag"
                .into()
        }
        "RAW" | "RAWv6" | "PACKET" => {
            "in no dump although sockets of its kind are listed as soon as they exist: \
             hidden from sock_diag"
                .into()
        }
        "PING" | "PINGv6" => {
            "an ICMP echo (ping) socket: Linux has no dump for these, only the descriptor shows it".into()
        }
        other => format!("a {other} socket: portscope does not dump this family"),
    }
}

/// The network namespace the socket under descriptor `fd` of process `pid` lives in, opened.
pub fn socket_netns(pid: u32, fd: u32) -> io::Result<OwnedFd> {
    let pid = Pid::from_raw(i32::try_from(pid).map_err(|_| io::ErrorKind::InvalidInput)?)
        .ok_or(io::ErrorKind::InvalidInput)?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    let fd = i32::try_from(fd).map_err(|_| io::ErrorKind::InvalidInput)?;
    let socket = pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty())?;
    // SAFETY: SIOCGSKNS takes no argument and only reads the socket; `socket` is an open
    // descriptor owned by this function for the duration of the call.
    let ns = unsafe { libc::ioctl(socket.as_raw_fd(), SIOCGSKNS as _) };
    if ns < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the ioctl returns a new descriptor (opened close-on-exec) that nothing
    // else owns; ownership passes to the OwnedFd.
    Ok(unsafe { OwnedFd::from_raw_fd(ns) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_has_a_reason() {
        for name in ["TCP", "UDPv6", "RAW", "PACKET", "PING", "VSOCK", "SCTP"] {
            assert!(!reason(name).is_empty());
        }
        assert!(reason("ALG").contains("ALG"));
        assert!(is_local_ipc("UNIX-STREAM") && is_local_ipc("NETLINK"));
        assert!(!is_local_ipc("TCP"));
        assert!(is_dumped("TCPv6") && !is_dumped("PING"));
    }

    #[test]
    fn own_socket_reports_its_protocol_and_namespace() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pid = std::process::id();
        let fd = listener.as_raw_fd() as u32;
        assert_eq!(protocol_name(pid, fd).as_deref(), Some("TCP"));
        // pidfd_getfd needs ptrace rights over the holder, which a process has over itself only
        // with CAP_SYS_PTRACE or a permissive Yama setting; compare when it works.
        if let Ok(ns) = socket_netns(pid, fd) {
            let own = crate::netns::open_own().unwrap();
            assert_eq!(
                crate::netns::inode_of(std::os::fd::AsFd::as_fd(&ns)).unwrap(),
                crate::netns::inode_of(std::os::fd::AsFd::as_fd(&own)).unwrap()
            );
        }
    }
}
