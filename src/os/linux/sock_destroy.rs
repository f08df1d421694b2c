//! Cutting TCP connections with NETLINK_SOCK_DIAG SOCK_DESTROY, as `ss -K` does: the kernel aborts
//! the socket (the holder sees ECONNABORTED, the peer a reset) and the program keeps running.
//!
//! Connections are first dumped with their kernel cookie and destroyed by 4-tuple *and* cookie.
//! Without the cookie the kernel's lookup falls back to the listener on the local port when the
//! connection has meanwhile gone away, and would destroy the listener instead.

use std::io;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};
use netlink_sys::{Socket as NetlinkSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};

use crate::model::{Endpoint, Family, Protocol, SocketState};
use crate::os::ParseError;
use crate::os::linux::sock_diag::{Progress, ReplyError};

const NLMSG_HDRLEN: usize = 16;
const WHAT: &str = "netlink sock_diag reply";

/// One TCP connection as the kernel identifies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    pub family: Family,
    pub local: Endpoint,
    pub remote: Endpoint,
    pub state: SocketState,
    pub inode: u64,
    /// The kernel's socket cookie: makes a destroy request match this socket and no other.
    pub cookie: [u8; 8],
}

/// Why a connection could not be destroyed.
#[derive(Debug)]
pub enum DestroyError {
    /// The kernel was built without CONFIG_INET_DIAG_DESTROY (EOPNOTSUPP).
    Unsupported,
    /// SOCK_DESTROY needs CAP_NET_ADMIN.
    Permission,
    /// The connection no longer exists.
    Gone,
    Other(io::Error),
}

/// TCP states that have a peer: everything but LISTEN, CLOSE and TIME-WAIT (which has no socket
/// left to abort).
fn connected_states() -> StateFlags {
    StateFlags::ESTABLISHED
        | StateFlags::SYN_SENT
        | StateFlags::SYN_RECV
        | StateFlags::FIN_WAIT1
        | StateFlags::FIN_WAIT2
        | StateFlags::CLOSE_WAIT
        | StateFlags::LAST_ACK
        | StateFlags::CLOSING
}

fn family_code(family: Family) -> u8 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
    }
}

fn open() -> io::Result<NetlinkSocket> {
    let mut socket = NetlinkSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    Ok(socket)
}

fn serialize<T: netlink_packet_core::NetlinkSerializable>(flags: u16, payload: T) -> Vec<u8>
where
    NetlinkPayload<T>: From<T>,
{
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    let mut message = NetlinkMessage::new(header, NetlinkPayload::from(payload));
    message.finalize();
    let mut bytes = vec![0; message.buffer_len()];
    message.serialize(&mut bytes);
    bytes
}

/// The dump request for every connected TCP socket of one family.
pub fn dump_request(family: Family) -> Vec<u8> {
    let socket_id = match family {
        Family::Ipv4 => SocketId::new_v4(),
        Family::Ipv6 => SocketId::new_v6(),
    };
    serialize(
        NLM_F_REQUEST | NLM_F_DUMP,
        SockDiagMessage::InetRequest(InetRequest {
            family: family_code(family),
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: connected_states(),
            socket_id,
        }),
    )
}

/// The SOCK_DESTROY request for one connection, acknowledged by the kernel.
pub fn destroy_request(connection: &Connection) -> Vec<u8> {
    serialize(
        NLM_F_REQUEST | NLM_F_ACK,
        SockDiagDestroy::new(SockDiagMessage::InetRequest(InetRequest {
            family: family_code(connection.family),
            protocol: IPPROTO_TCP,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id: SocketId {
                source_port: connection.local.port,
                destination_port: connection.remote.port,
                source_address: connection.local.address,
                destination_address: connection.remote.address,
                interface_id: 0,
                cookie: connection.cookie,
            },
        })),
    )
}

/// Every connected TCP socket in this network namespace, with its cookie.
pub fn connections() -> io::Result<Vec<Connection>> {
    let socket = open()?;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    for family in [Family::Ipv4, Family::Ipv6] {
        socket.send(&dump_request(family), 0)?;
        loop {
            let len = socket.recv(&mut &mut buffer[..], 0)?;
            match parse_dump(&buffer[..len], &mut out) {
                Ok(Progress::Done) => break,
                Ok(Progress::More) => {}
                Err(ReplyError::Kernel(err)) => return Err(err),
                Err(ReplyError::Parse(err)) => return Err(io::Error::new(io::ErrorKind::InvalidData, err)),
            }
        }
    }
    Ok(out)
}

/// Destroys one connection, identified by its 4-tuple and cookie.
pub fn destroy(connection: &Connection) -> Result<(), DestroyError> {
    let socket = open().map_err(DestroyError::Other)?;
    socket
        .send(&destroy_request(connection), 0)
        .map_err(DestroyError::Other)?;
    let mut buffer = vec![0u8; 8 * 1024];
    let len = socket
        .recv(&mut &mut buffer[..], 0)
        .map_err(DestroyError::Other)?;
    let code = parse_ack(&buffer[..len])
        .map_err(|e| DestroyError::Other(io::Error::new(io::ErrorKind::InvalidData, e)))?;
    match code {
        0 => Ok(()),
        c if c == -libc::EOPNOTSUPP => Err(DestroyError::Unsupported),
        c if c == -libc::EPERM || c == -libc::EACCES => Err(DestroyError::Permission),
        c if c == -libc::ENOENT => Err(DestroyError::Gone),
        c => Err(DestroyError::Other(io::Error::from_raw_os_error(-c))),
    }
}

/// Splits a buffer into netlink messages, checking each length against what is left.
fn messages(mut buf: &[u8]) -> impl Iterator<Item = Result<&[u8], ParseError>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        if buf.len() < NLMSG_HDRLEN {
            let got = buf.len();
            buf = &[];
            return Some(Err(ParseError::Truncated {
                what: WHAT,
                needed: NLMSG_HDRLEN,
                got,
            }));
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN || len > buf.len() {
            let got = buf.len();
            buf = &[];
            return Some(Err(ParseError::malformed(
                WHAT,
                format!("message length {len} of {got} bytes"),
            )));
        }
        let message = &buf[..len];
        buf = &buf[len.next_multiple_of(4).min(buf.len())..];
        Some(Ok(message))
    })
}

/// Parses one buffer of a connection dump, keeping each socket's cookie.
pub fn parse_dump(buf: &[u8], out: &mut Vec<Connection>) -> Result<Progress, ReplyError> {
    for message in messages(buf) {
        let message = message.map_err(ReplyError::Parse)?;
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(message)
            .map_err(|e| ReplyError::Parse(ParseError::malformed(WHAT, e.to_string())))?;
        match message.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                let header = &response.header;
                let id = &header.socket_id;
                let state = SocketState::from_kernel(Protocol::Tcp, header.state).ok_or_else(|| {
                    ReplyError::Parse(ParseError::malformed(
                        WHAT,
                        format!("unknown socket state {}", header.state),
                    ))
                })?;
                let local = Endpoint::new(id.source_address, id.source_port);
                out.push(Connection {
                    family: Family::of(&local.address),
                    local,
                    remote: Endpoint::new(id.destination_address, id.destination_port),
                    state,
                    inode: u64::from(header.inode),
                    cookie: id.cookie,
                });
            }
            NetlinkPayload::Done(_) => return Ok(Progress::Done),
            NetlinkPayload::Error(err) if err.code.is_some() => {
                // Not `to_io()`: it takes `abs()` of the code, which overflows on i32::MIN.
                return Err(ReplyError::Kernel(io::Error::from_raw_os_error(
                    err.raw_code().saturating_abs(),
                )));
            }
            _ => {}
        }
    }
    Ok(Progress::More)
}

/// The kernel's answer to a SOCK_DESTROY: 0 for an ack, else the negative errno.
pub fn parse_ack(buf: &[u8]) -> Result<i32, ParseError> {
    for message in messages(buf) {
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(message?)
            .map_err(|e| ParseError::malformed(WHAT, e.to_string()))?;
        if let NetlinkPayload::Error(err) = message.payload {
            return Ok(err.code.map_or(0, |c| c.get()));
        }
    }
    Err(ParseError::malformed(WHAT, "no acknowledgement in the reply"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn connection() -> Connection {
        Connection {
            family: Family::Ipv4,
            local: Endpoint::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 8080),
            remote: Endpoint::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 40000),
            state: SocketState::Established,
            inode: 77,
            cookie: [1, 2, 3, 4, 5, 6, 7, 8],
        }
    }

    #[test]
    fn destroy_request_carries_the_tuple_and_cookie() {
        let bytes = destroy_request(&connection());
        // nlmsg_type SOCK_DESTROY (21), flags REQUEST|ACK.
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 21);
        assert_eq!(
            u16::from_ne_bytes([bytes[6], bytes[7]]),
            NLM_F_REQUEST | NLM_F_ACK
        );
        let id = &bytes[NLMSG_HDRLEN + 8..];
        assert_eq!(u16::from_be_bytes([id[0], id[1]]), 8080);
        assert_eq!(u16::from_be_bytes([id[2], id[3]]), 40000);
        assert_eq!(&id[4..8], &[198, 18, 0, 1]);
        assert_eq!(&id[20..24], &[198, 18, 0, 2]);
        assert_eq!(&id[40..48], &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    fn error_message(code: i32) -> Vec<u8> {
        // nlmsghdr (NLMSG_ERROR = 2) + errno + the echoed request header.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&36u32.to_ne_bytes());
        bytes.extend_from_slice(&2u16.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&code.to_ne_bytes());
        bytes.extend_from_slice(&[0; 16]);
        bytes
    }

    #[test]
    fn acks_and_errors() {
        assert_eq!(parse_ack(&error_message(0)), Ok(0));
        assert_eq!(
            parse_ack(&error_message(-libc::EOPNOTSUPP)),
            Ok(-libc::EOPNOTSUPP)
        );
        assert!(parse_ack(&[]).is_err());
        assert!(parse_ack(&[1, 2, 3]).is_err());
        let mut lying = error_message(0);
        lying[0] = 200;
        assert!(parse_ack(&lying).is_err());
    }

    #[test]
    fn garbage_dump_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert!(parse_dump(&[0xff; 40], &mut out).is_err());
        assert!(parse_dump(&[], &mut out).is_ok());
        // Found by the fuzzer: an error code of i32::MIN must not overflow.
        assert!(matches!(
            parse_dump(&error_message(i32::MIN), &mut out),
            Err(ReplyError::Kernel(_))
        ));
    }
}
