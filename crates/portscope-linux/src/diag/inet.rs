//! The inet family of sock_diag (inet_diag: TCP, UDP, raw and SCTP over IPv4 and IPv6): the dump
//! request and the parser for the kernel's records. This is what `ss` uses; it is complete and
//! far cheaper than /proc/net/tcp. Framing comes from [`super::frame`]; no I/O here.

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{IPPROTO_RAW, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags};

use portscope_core::error::ParseError;
use portscope_core::model::{Endpoint, Family, Protocol, Socket, SocketState};
use portscope_core::platform::StateFilter;

use super::frame::{Progress, ReplyError, family_code, messages, serialize};

const WHAT: &str = "netlink sock_diag reply";

/// The highest state number this build knows (TCP_BOUND_INACTIVE, Linux 6.8). Asking only for
/// known states keeps a future kernel's new state from reaching the parser as "unknown".
const LAST_KNOWN_STATE: u8 = 13;

/// The kernel's state bitmask for a filter (bit N selects state N), derived from
/// [`StateFilter::admits`] so that both paths filter alike.
fn state_mask(protocol: Protocol, states: StateFilter) -> StateFlags {
    let bits = (0..=LAST_KNOWN_STATE)
        .filter(|&n| SocketState::from_kernel(protocol, n).is_some_and(|s| states.admits(s)))
        .fold(0u32, |bits, n| bits | 1 << n);
    StateFlags::from_bits_retain(bits)
}

/// Serializes one inet_diag dump request.
pub fn dump_request(protocol: Protocol, family: Family, states: StateFilter) -> Vec<u8> {
    let socket_id = match family {
        Family::Ipv6 => SocketId::new_v6(),
        _ => SocketId::new_v4(),
    };
    let proto = match protocol {
        Protocol::Tcp => IPPROTO_TCP,
        Protocol::Udp => IPPROTO_UDP,
        // raw_diag answers for every raw socket of the family under IPPROTO_RAW.
        Protocol::Raw | Protocol::Packet => IPPROTO_RAW,
        Protocol::Sctp => IPPROTO_SCTP,
    };
    serialize(
        NLM_F_REQUEST | NLM_F_DUMP,
        SockDiagMessage::InetRequest(InetRequest {
            family: family_code(family),
            protocol: proto,
            extensions: ExtensionFlags::empty(),
            states: state_mask(protocol, states),
            socket_id,
        }),
    )
}

/// Parses one buffer of netlink messages from a dump, appending sockets of `protocol` to `out`.
pub fn parse_reply(buf: &[u8], protocol: Protocol, out: &mut Vec<Socket>) -> Result<Progress, ReplyError> {
    for message in messages(buf) {
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(message.map_err(ReplyError::Parse)?)
            .map_err(|e| ReplyError::Parse(ParseError::malformed(WHAT, e.to_string())))?;
        match message.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(response)) => {
                out.push(socket_from(protocol, &response)?)
            }
            // A dump the kernel has no handler for (raw_diag, sctp_diag not built) ends at once,
            // with the error in NLMSG_DONE.
            NetlinkPayload::Done(done) if done.code < 0 => return Err(ReplyError::kernel(done.code)),
            NetlinkPayload::Done(_) => return Ok(Progress::Done),
            // Not `to_io()`: it takes `abs()` of the code, which overflows on i32::MIN.
            NetlinkPayload::Error(err) if err.code.is_some() => {
                return Err(ReplyError::kernel(err.raw_code()));
            }
            _ => {}
        }
    }
    Ok(Progress::More)
}

fn socket_from(protocol: Protocol, response: &InetResponse) -> Result<Socket, ReplyError> {
    let header = &response.header;
    let id = &header.socket_id;
    let state = SocketState::from_kernel(protocol, header.state).ok_or_else(|| {
        ReplyError::Parse(ParseError::malformed(
            WHAT,
            format!("unknown socket state {}", header.state),
        ))
    })?;
    let local = Endpoint::new(id.source_address, id.source_port);
    // The kernel reports IPV6_V6ONLY for every IPv6 socket, unasked.
    let dual_stack = response
        .nlas
        .iter()
        .any(|nla| matches!(nla, netlink_packet_sock_diag::inet::nlas::Nla::SkV6Only(false)))
        && id.source_address.is_ipv6();
    Ok(Socket {
        protocol,
        family: Family::of(&local.address),
        local,
        remote: Endpoint::new(id.destination_address, id.destination_port),
        state,
        inode: u64::from(header.inode),
        cookie: u64::from_ne_bytes(id.cookie),
        uid: header.uid,
        recv_queue: header.recv_queue,
        send_queue: header.send_queue,
        interface: id.interface_id,
        holders: Vec::new(),
        netns: Default::default(),
        packet: None,
        dual_stack,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_sock_diag::constants::AF_INET6;
    use std::net::IpAddr;

    /// Recorded by tests/fixtures/netlink/capture.py: a listener on 127.0.0.1:8080 and one
    /// connection to it, then NLMSG_DONE.
    const TCP4: &[u8] = include_bytes!("../../tests/fixtures/netlink/tcp4-dump.bin");
    /// A UDP socket bound to [::1]:5353, then NLMSG_DONE.
    const UDP6: &[u8] = include_bytes!("../../tests/fixtures/netlink/udp6-dump.bin");

    fn parse(buf: &[u8], protocol: Protocol) -> (Result<Progress, ReplyError>, Vec<Socket>) {
        let mut out = Vec::new();
        let result = parse_reply(buf, protocol, &mut out);
        (result, out)
    }

    #[test]
    fn recorded_tcp_dump() {
        let (result, sockets) = parse(TCP4, Protocol::Tcp);
        assert!(matches!(result, Ok(Progress::Done)));
        assert_eq!(sockets.len(), 3);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let listener = sockets.iter().find(|s| s.state == SocketState::Listen).unwrap();
        assert_eq!(listener.local, Endpoint::new(lo, 8080));
        assert!(listener.remote.is_unspecified());
        assert_ne!(listener.inode, 0);
        let established: Vec<_> = sockets
            .iter()
            .filter(|s| s.state == SocketState::Established)
            .collect();
        assert_eq!(established.len(), 2);
        assert!(
            established
                .iter()
                .any(|s| s.local.port == 8080 && s.remote.address == lo)
        );
        assert!(
            sockets
                .iter()
                .all(|s| s.family == Family::Ipv4 && s.protocol == Protocol::Tcp)
        );
    }

    #[test]
    fn recorded_udp6_dump() {
        let (result, sockets) = parse(UDP6, Protocol::Udp);
        assert!(matches!(result, Ok(Progress::Done)));
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].local, Endpoint::new("::1".parse().unwrap(), 5353));
        assert_eq!(sockets[0].state, SocketState::Unconnected);
        assert_eq!(sockets[0].family, Family::Ipv6);
    }

    /// A raw-socket dump on a kernel without raw_diag: NLMSG_DONE carrying -ENOENT.
    const RAW4_UNSUPPORTED: &[u8] = include_bytes!("../../tests/fixtures/netlink/raw4-dump.bin");

    #[test]
    fn a_dump_without_a_kernel_handler_is_an_error() {
        let (result, sockets) = parse(RAW4_UNSUPPORTED, Protocol::Raw);
        match result {
            Err(ReplyError::Kernel(err)) => assert_eq!(err.raw_os_error(), Some(libc::ENOENT)),
            other => panic!("expected ENOENT, got {other:?}"),
        }
        assert!(sockets.is_empty());
    }

    #[test]
    fn a_buffer_without_done_asks_for_more() {
        let first = u32::from_ne_bytes(TCP4[..4].try_into().unwrap()) as usize;
        let (result, sockets) = parse(&TCP4[..first], Protocol::Tcp);
        assert!(matches!(result, Ok(Progress::More)));
        assert_eq!(sockets.len(), 1);
    }

    #[test]
    fn every_truncation_is_an_error_or_a_clean_prefix() {
        for cut in 0..TCP4.len() {
            let (result, _) = parse(&TCP4[..cut], Protocol::Tcp);
            // A cut on a message boundary is a valid (shorter) reply; anything else must be refused.
            let on_boundary = [0, 124, 248, 372].contains(&cut);
            assert_eq!(result.is_ok(), on_boundary, "cut at {cut}: {result:?}");
        }
    }

    #[test]
    fn length_shorter_than_header_is_malformed() {
        let mut bytes = TCP4.to_vec();
        bytes[..4].copy_from_slice(&8u32.to_ne_bytes());
        let (result, _) = parse(&bytes, Protocol::Tcp);
        assert!(matches!(
            result,
            Err(ReplyError::Parse(ParseError::Malformed { .. }))
        ));
    }

    #[test]
    fn unknown_state_is_malformed() {
        let mut bytes = TCP4.to_vec();
        bytes[17] = 99; // inet_diag_msg.idiag_state of the first record
        let (result, _) = parse(&bytes, Protocol::Tcp);
        assert!(
            matches!(result, Err(ReplyError::Parse(ParseError::Malformed { .. }))),
            "{result:?}"
        );
    }

    #[test]
    fn error_code_i32_min_does_not_overflow() {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&36u32.to_ne_bytes());
        bytes.extend_from_slice(&2u16.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(&i32::MIN.to_ne_bytes());
        bytes.extend_from_slice(&[0; 16]);
        let (result, _) = parse(&bytes, Protocol::Tcp);
        assert!(matches!(result, Err(ReplyError::Kernel(_))));
    }

    #[test]
    fn kernel_error_is_reported_as_io_error() {
        // nlmsghdr(NLMSG_ERROR) + errno -EPERM + the offending request's header.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&36u32.to_ne_bytes());
        bytes.extend_from_slice(&2u16.to_ne_bytes());
        bytes.extend_from_slice(&0u16.to_ne_bytes());
        bytes.extend_from_slice(&[0; 8]);
        bytes.extend_from_slice(&(-1i32).to_ne_bytes());
        bytes.extend_from_slice(&[0; 16]);
        let (result, _) = parse(&bytes, Protocol::Tcp);
        match result {
            Err(ReplyError::Kernel(err)) => assert_eq!(err.raw_os_error(), Some(1)),
            other => panic!("expected EPERM, got {other:?}"),
        }
    }

    #[test]
    fn request_carries_family_protocol_and_state_mask() {
        let bytes = dump_request(Protocol::Udp, Family::Ipv6, StateFilter::Listening);
        // nlmsghdr (16 bytes), then inet_diag_req_v2: family, protocol, ext, pad, states.
        assert_eq!(bytes.len(), 16 + 56);
        assert_eq!(
            u32::from_ne_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 20); // SOCK_DIAG_BY_FAMILY
        assert_eq!((bytes[16], bytes[17]), (AF_INET6, IPPROTO_UDP));
        assert_eq!(u32::from_ne_bytes(bytes[20..24].try_into().unwrap()), 1 << 7);
    }
}
