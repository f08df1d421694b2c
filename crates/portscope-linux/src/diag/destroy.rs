//! The SOCK_DESTROY message of sock_diag, as `ss -K` sends it: the request that names one TCP
//! connection by 4-tuple and kernel cookie, and the parser for the kernel's acknowledgement.
//! Framing comes from [`super::frame`]; no I/O here (the action is [`crate::sock_destroy`]).
//!
//! Without the cookie the kernel's lookup falls back to the listener on the local port when the
//! connection has meanwhile gone away, and would destroy the listener instead.

use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::constants::IPPROTO_TCP;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::{SockDiagDestroy, SockDiagMessage};

use portscope_core::error::ParseError;
use portscope_core::model::Socket;

use super::frame::{family_code, messages, serialize};

const WHAT: &str = "netlink SOCK_DESTROY reply";

/// The SOCK_DESTROY request for one connection, acknowledged by the kernel.
pub fn destroy_request(connection: &Socket) -> Vec<u8> {
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
                cookie: connection.cookie.to_ne_bytes(),
            },
        })),
    )
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
    use portscope_core::model::{Endpoint, Protocol, SocketState};
    use std::net::{IpAddr, Ipv4Addr};

    fn connection() -> Socket {
        Socket {
            inode: 77,
            cookie: u64::from_ne_bytes([1, 2, 3, 4, 5, 6, 7, 8]),
            ..Socket::new(
                Protocol::Tcp,
                Endpoint::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 8080),
                Endpoint::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2)), 40000),
                SocketState::Established,
            )
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
        let id = &bytes[16 + 8..];
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
}
