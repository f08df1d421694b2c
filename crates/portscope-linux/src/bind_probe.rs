//! The hidden-listener probe of `audit --deep`: ask the kernel, port by port, whether a port is
//! taken, and whether the socket table lists sockets that are merely bound.
//!
//! A rootkit can hide a socket from netlink and /proc/net, but not from the kernel's bind table:
//! binding a port that something holds fails with EADDRINUSE. The probe only binds and closes —
//! it never listens, connects or sends. This is the check of unhide-tcp and rkhunter.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, socket_with, sockopt};

use portscope_core::model::{Family, Protocol, SocketState};
use portscope_core::platform::Query;

pub use portscope_core::platform::ProbeResult;

/// Tries to bind every port in `ports` on the wildcard address and reports which are taken.
/// IPv6 probes set IPV6_V6ONLY so that they test the IPv6 table alone.
pub fn probe(
    protocol: Protocol,
    family: Family,
    ports: impl IntoIterator<Item = u16>,
) -> io::Result<ProbeResult> {
    let mut result = ProbeResult::default();
    let mut socket: Option<OwnedFd> = None;
    for port in ports {
        if port == 0 {
            continue;
        }
        // A failed bind leaves the socket unbound, so it is reused; a successful one is closed.
        let fd = match socket.take() {
            Some(fd) => fd,
            None => match open(protocol, family) {
                Ok(fd) => fd,
                Err(Errno::AFNOSUPPORT) => {
                    result.unavailable = true;
                    return Ok(result);
                }
                Err(err) => return Err(err.into()),
            },
        };
        let bound = match family {
            Family::Ipv6 => bind(&fd, &SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)),
            _ => bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)),
        };
        match bound {
            Ok(()) => drop(fd),
            Err(Errno::ADDRINUSE) => {
                result.in_use.push(port);
                socket = Some(fd);
            }
            Err(Errno::ACCESS | Errno::PERM) => {
                result.denied += 1;
                socket = Some(fd);
            }
            // An IPv6 stack with no usable address refuses every bind: the family is unavailable.
            Err(Errno::ADDRNOTAVAIL) if family == Family::Ipv6 => {
                result.unavailable = true;
                return Ok(result);
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(result)
}

fn open(protocol: Protocol, family: Family) -> Result<OwnedFd, Errno> {
    let af = match family {
        Family::Ipv4 => AddressFamily::INET,
        Family::Ipv6 => AddressFamily::INET6,
        // Only ports can be probed by binding.
        Family::Packet => return Err(Errno::AFNOSUPPORT),
    };
    let kind = match protocol {
        Protocol::Tcp => SocketType::STREAM,
        Protocol::Udp => SocketType::DGRAM,
        Protocol::Raw | Protocol::Packet | Protocol::Sctp => return Err(Errno::PROTONOSUPPORT),
    };
    let fd = socket_with(af, kind, SocketFlags::CLOEXEC, None)?;
    if family == Family::Ipv6 {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    Ok(fd)
}

/// Whether this kernel lists bound-only TCP sockets (Linux 6.8+): binds a socket of our own on a
/// loopback port without listening and looks for it in the socket dump.
pub fn bound_inactive_supported() -> bool {
    let Ok(fd) = socket_with(
        AddressFamily::INET,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    ) else {
        return false;
    };
    if bind(&fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).is_err() {
        return false;
    }
    let Ok(Ok(own)) = rustix::net::getsockname(&fd).map(std::net::SocketAddr::try_from) else {
        return false;
    };
    let query = Query {
        udp: false,
        ipv6: false,
        processes: false,
        // The probe socket is in this namespace; no other needs a look.
        netns: Some(portscope_core::platform::NetnsSelection::Current),
        ..Query::ports()
    };
    crate::snapshot::snapshot(&query).is_ok_and(|snapshot| {
        snapshot
            .sockets
            .iter()
            .any(|s| s.state == SocketState::BoundInactive && s.local.port == own.port())
    })
}
