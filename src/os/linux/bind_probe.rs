//! The hidden-listener probe of `audit --deep`: ask the kernel, port by port, whether a port is
//! taken, and list the sockets the socket table shows as merely bound.
//!
//! A rootkit can hide a socket from netlink and /proc/net, but not from the kernel's bind table:
//! binding a port that something holds fails with EADDRINUSE. The probe only binds and closes —
//! it never listens, connects or sends. This is the check of unhide-tcp and rkhunter.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::OwnedFd;

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::{Socket as NetlinkSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, socket_with, sockopt};

use crate::model::{Family, Protocol};

/// What probing one protocol and family found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProbeResult {
    /// Ports whose bind failed with EADDRINUSE.
    pub in_use: Vec<u16>,
    /// Ports this user may not bind (below `ip_unprivileged_port_start` without root): not probed.
    pub denied: usize,
    /// This address family is not available (IPv6 disabled).
    pub unavailable: bool,
}

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
            Family::Ipv4 => bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port)),
            Family::Ipv6 => bind(&fd, &SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, port, 0, 0)),
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
    };
    let kind = match protocol {
        Protocol::Tcp => SocketType::STREAM,
        Protocol::Udp => SocketType::DGRAM,
    };
    let fd = socket_with(af, kind, SocketFlags::CLOEXEC, None)?;
    if family == Family::Ipv6 {
        sockopt::set_ipv6_v6only(&fd, true)?;
    }
    Ok(fd)
}

/// TCP_BOUND_INACTIVE (include/net/tcp_states.h, Linux 6.8): asks inet_diag for TCP sockets that
/// are bound but neither listening nor connected. Older kernels ignore the bit and return none.
const TCPF_BOUND_INACTIVE: u32 = 1 << 13;

/// Local ports of TCP sockets that are bound without listening or connecting. The ordinary dump
/// leaves them out, yet they hold their port, so without them every such socket would look hidden.
pub fn bound_inactive_tcp_ports(family: Family) -> io::Result<Vec<u16>> {
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    socket.send(&request(family), 0)?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut ports = Vec::new();
    loop {
        let len = socket.recv(&mut &mut buffer[..], 0)?;
        match parse_ports(&buffer[..len], &mut ports) {
            Ok(true) => return Ok(ports),
            Ok(false) => {}
            Err(err) => return Err(err),
        }
    }
}

/// Whether this kernel lists bound-only TCP sockets (Linux 6.8+): binds a socket of our own on a
/// loopback port without listening and looks for it in the dump.
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
    let port = match rustix::net::getsockname(&fd) {
        Ok(addr) => match std::net::SocketAddr::try_from(addr) {
            Ok(addr) => addr.port(),
            Err(_) => return false,
        },
        Err(_) => return false,
    };
    bound_inactive_tcp_ports(Family::Ipv4).is_ok_and(|ports| ports.contains(&port))
}

fn request(family: Family) -> Vec<u8> {
    let (af, socket_id) = match family {
        Family::Ipv4 => (AF_INET, SocketId::new_v4()),
        Family::Ipv6 => (AF_INET6, SocketId::new_v6()),
    };
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut message = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: af,
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::from_bits_retain(TCPF_BOUND_INACTIVE),
            socket_id,
        })
        .into(),
    );
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

/// Reads the source port of every inet_diag record in one reply buffer; true when the dump ended.
/// Works on the fixed record layout directly, because these records carry a state number that the
/// general reply parser does not know.
pub fn parse_ports(mut buf: &[u8], ports: &mut Vec<u16>) -> io::Result<bool> {
    const NLMSG_HDRLEN: usize = 16;
    const NLMSG_ERROR: u16 = 2;
    const NLMSG_DONE: u16 = 3;
    const SOCK_DIAG_BY_FAMILY: u16 = 20;
    let malformed =
        |what: &str| io::Error::new(io::ErrorKind::InvalidData, format!("inet_diag reply: {what}"));
    while buf.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if len < NLMSG_HDRLEN || len > buf.len() {
            return Err(malformed("bad message length"));
        }
        let body = &buf[NLMSG_HDRLEN..len];
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let code = body
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| malformed("short error"))?;
                if code != 0 {
                    return Err(io::Error::from_raw_os_error(-code));
                }
            }
            // struct inet_diag_msg: family, state, timer, retrans (4 bytes), then the socket id
            // whose first field is the source port in network byte order.
            SOCK_DIAG_BY_FAMILY => {
                let port = body.get(4..6).ok_or_else(|| malformed("short record"))?;
                ports.push(u16::from_be_bytes([port[0], port[1]]));
            }
            _ => {}
        }
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, body: &[u8]) -> Vec<u8> {
        let len = (16 + body.len()) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&len.to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    #[test]
    fn reads_source_ports_until_done() {
        let mut record = vec![2, 7, 0, 0];
        record.extend_from_slice(&8080u16.to_be_bytes());
        record.extend_from_slice(&[0; 66]);
        let mut buf = message(20, &record);
        buf.extend(message(3, &[0; 4]));
        let mut ports = Vec::new();
        assert!(parse_ports(&buf, &mut ports).unwrap());
        assert_eq!(ports, vec![8080]);
    }

    #[test]
    fn rejects_truncated_and_reports_kernel_errors() {
        let mut ports = Vec::new();
        let mut buf = message(20, &[2, 7]);
        assert!(parse_ports(&buf, &mut ports).is_err());
        buf = message(20, &[0; 8]);
        buf[0] = 200;
        assert!(parse_ports(&buf, &mut ports).is_err());
        let err = parse_ports(&message(2, &(-13i32).to_ne_bytes()), &mut ports).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(13));
    }
}
