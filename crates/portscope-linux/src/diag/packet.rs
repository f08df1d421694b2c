//! AF_PACKET sockets over NETLINK_SOCK_DIAG (PACKET_DIAG, what `ss -0` uses), with the classic
//! BPF filter attached to each (PACKET_DIAG_FILTER, what `ss -0b` prints).
//!
//! netlink-packet-sock-diag knows only inet and unix dumps, so the request and the reply are
//! written here, against include/uapi/linux/packet_diag.h. A packet socket with a filter and no
//! port is how a sniffing backdoor waits for its magic packet. Framing comes from
//! [`super::frame`]; no I/O here.

use std::sync::Arc;

use portscope_core::bpf::{self, Instruction};
use portscope_core::error::ParseError;
use portscope_core::model::{Endpoint, Family, PacketInfo, Protocol, Socket, SocketState};

use super::frame::{
    NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN, Progress, ReplyError, SOCK_DIAG_BY_FAMILY, family_code, messages,
    split,
};

const WHAT: &str = "netlink packet_diag reply";
/// struct packet_diag_msg: family, type, num (the EtherType, in host order), ino, cookie[2].
const MSG_LEN: usize = 16;
/// struct packet_diag_req: family, protocol, pad, ino, show, cookie[2].
const REQ_LEN: usize = 20;

const PACKET_SHOW_INFO: u32 = 0x1;
const PACKET_SHOW_FILTER: u32 = 0x20;

const PACKET_DIAG_INFO: u16 = 0;
const PACKET_DIAG_UID: u16 = 5;
const PACKET_DIAG_FILTER: u16 = 7;

/// A program longer than the kernel allows (BPF_MAXINSNS) is refused as malformed.
const BPF_MAXINSNS: usize = 4096;

/// The dump request: every packet socket, with its info, owner and filter.
pub fn dump_request() -> Vec<u8> {
    let mut bytes = Vec::with_capacity(NLMSG_HDRLEN + REQ_LEN);
    let len = (NLMSG_HDRLEN + REQ_LEN) as u32;
    bytes.extend_from_slice(&len.to_ne_bytes());
    bytes.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    let flags = netlink_packet_core::NLM_F_REQUEST | netlink_packet_core::NLM_F_DUMP;
    bytes.extend_from_slice(&flags.to_ne_bytes());
    bytes.extend_from_slice(&[0; 8]); // sequence, port id
    // struct packet_diag_req
    bytes.push(family_code(Family::Packet));
    bytes.push(0); // sdiag_protocol: must be 0
    bytes.extend_from_slice(&[0; 2]);
    bytes.extend_from_slice(&0u32.to_ne_bytes()); // pdiag_ino: all
    bytes.extend_from_slice(&(PACKET_SHOW_INFO | PACKET_SHOW_FILTER).to_ne_bytes());
    bytes.extend_from_slice(&[0xff; 8]); // pdiag_cookie: INET_DIAG_NOCOOKIE
    bytes
}

fn u16_at(buf: &[u8], at: usize) -> Result<u16, ParseError> {
    buf.get(at..at + 2)
        .map(|b| u16::from_ne_bytes([b[0], b[1]]))
        .ok_or(ParseError::Truncated {
            what: WHAT,
            needed: at + 2,
            got: buf.len(),
        })
}

fn u32_at(buf: &[u8], at: usize) -> Result<u32, ParseError> {
    buf.get(at..at + 4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(ParseError::Truncated {
            what: WHAT,
            needed: at + 4,
            got: buf.len(),
        })
}

/// Parses one buffer of a packet_diag dump, appending a socket per record to `out`.
pub fn parse_reply(buf: &[u8], out: &mut Vec<Socket>) -> Result<Progress, ReplyError> {
    for message in messages(buf) {
        let (kind, payload) = split(message.map_err(ReplyError::Parse)?);
        match kind {
            NLMSG_DONE => return Ok(Progress::Done),
            NLMSG_ERROR => {
                let code = u32_at(payload, 0).map_err(ReplyError::Parse)? as i32;
                if code != 0 {
                    return Err(ReplyError::kernel(code));
                }
            }
            SOCK_DIAG_BY_FAMILY => out.push(parse_record(payload).map_err(ReplyError::Parse)?),
            _ => {}
        }
    }
    Ok(Progress::More)
}

/// One packet_diag_msg and its attributes.
pub fn parse_record(payload: &[u8]) -> Result<Socket, ParseError> {
    if payload.len() < MSG_LEN {
        return Err(ParseError::Truncated {
            what: WHAT,
            needed: MSG_LEN,
            got: payload.len(),
        });
    }
    if payload[0] != family_code(Family::Packet) {
        return Err(ParseError::malformed(
            WHAT,
            format!("family {} in a packet dump", payload[0]),
        ));
    }
    let kind = match payload[1] {
        3 => "raw",
        2 => "dgram",
        10 => "packet",
        other => {
            return Err(ParseError::malformed(WHAT, format!("socket type {other}")));
        }
    };
    // The kernel converts the socket's protocol to host order (ntohs) before it reports it.
    let ethertype = u16::from_ne_bytes([payload[2], payload[3]]);
    let inode = u32_at(payload, 4)?;
    let cookie = u64::from(u32_at(payload, 8)?) | u64::from(u32_at(payload, 12)?) << 32;
    let mut info = PacketInfo {
        kind: kind.into(),
        ethertype,
        interface: 0,
        filter: None,
        filter_hidden: false,
    };
    let mut uid = 0;
    let mut attrs = &payload[MSG_LEN..];
    while !attrs.is_empty() {
        let len = usize::from(u16_at(attrs, 0)?);
        let kind = u16_at(attrs, 2)?;
        if len < 4 || len > attrs.len() {
            return Err(ParseError::malformed(
                WHAT,
                format!("attribute length {len} with {} bytes left", attrs.len()),
            ));
        }
        let value = &attrs[4..len];
        match kind {
            // struct packet_diag_info: the interface index comes first.
            PACKET_DIAG_INFO => info.interface = u32_at(value, 0)?,
            PACKET_DIAG_UID => uid = u32_at(value, 0)?,
            // Empty: the kernel hides filters from a reader without CAP_NET_ADMIN.
            PACKET_DIAG_FILTER if value.is_empty() => info.filter_hidden = true,
            PACKET_DIAG_FILTER => info.filter = Some(bpf::decode(&parse_filter(value)?)),
            _ => {}
        }
        attrs = &attrs[len.next_multiple_of(4).min(attrs.len())..];
    }
    let any = Endpoint::new(std::net::IpAddr::from([0, 0, 0, 0]), 0);
    let mut socket = Socket::new(Protocol::Packet, any, any, SocketState::Unconnected);
    socket.family = Family::Packet;
    socket.inode = u64::from(inode);
    socket.cookie = cookie;
    socket.uid = uid;
    socket.interface = info.interface;
    socket.netns = Arc::default();
    socket.packet = Some(Box::new(info));
    Ok(socket)
}

/// An array of `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k).
pub fn parse_filter(bytes: &[u8]) -> Result<Vec<Instruction>, ParseError> {
    if !bytes.len().is_multiple_of(8) {
        return Err(ParseError::malformed(
            WHAT,
            format!("a filter of {} bytes is not whole instructions", bytes.len()),
        ));
    }
    if bytes.len() / 8 > BPF_MAXINSNS {
        return Err(ParseError::malformed(
            WHAT,
            format!("a filter of {} instructions", bytes.len() / 8),
        ));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| Instruction {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_sock_diag::constants::AF_PACKET;

    /// Recorded by tests/fixtures/netlink/capture-packet.py in a fresh namespace: one
    /// AF_PACKET SOCK_RAW socket for ETH_P_IP with `tcpdump -dd icmp` attached, then NLMSG_DONE.
    const PACKET: &[u8] = include_bytes!("../../tests/fixtures/netlink/packet-dump.bin");

    fn parse(buf: &[u8]) -> (Result<Progress, ReplyError>, Vec<Socket>) {
        let mut out = Vec::new();
        let result = parse_reply(buf, &mut out);
        (result, out)
    }

    #[test]
    fn recorded_packet_dump() {
        let (result, sockets) = parse(PACKET);
        assert!(matches!(result, Ok(Progress::Done)), "{result:?}");
        assert_eq!(sockets.len(), 1);
        let socket = &sockets[0];
        assert_eq!(socket.protocol, Protocol::Packet);
        assert_ne!(socket.inode, 0);
        let info = socket.packet.as_deref().unwrap();
        assert_eq!(info.kind, "raw");
        assert_eq!(info.ethertype, 0x0800);
        let filter: Vec<&str> = info
            .filter
            .as_ref()
            .unwrap()
            .iter()
            .map(|d| d.text.as_str())
            .collect();
        assert_eq!(
            filter,
            [
                "ldh [12]",
                "jeq #0x800 jt 2 jf 5",
                "ldb [23]",
                "jeq #0x1 jt 4 jf 5",
                "ret #65535",
                "ret #0"
            ]
        );
    }

    #[test]
    fn every_truncation_is_an_error_or_a_clean_prefix() {
        let first = u32::from_ne_bytes(PACKET[..4].try_into().unwrap()) as usize;
        for cut in 0..PACKET.len() {
            let (result, _) = parse(&PACKET[..cut]);
            let on_boundary = cut == 0 || cut == first;
            assert_eq!(result.is_ok(), on_boundary, "cut at {cut}: {result:?}");
        }
    }

    #[test]
    fn request_asks_for_info_and_filter() {
        let bytes = dump_request();
        assert_eq!(bytes.len(), 36);
        assert_eq!(u16::from_ne_bytes([bytes[4], bytes[5]]), 20);
        assert_eq!(bytes[16], AF_PACKET);
        assert_eq!(u32::from_ne_bytes(bytes[24..28].try_into().unwrap()), 0x21);
    }

    #[test]
    fn hidden_filter_and_bad_filters() {
        let mut record = vec![AF_PACKET, 3];
        record.extend_from_slice(&0x0800u16.to_ne_bytes());
        record.extend_from_slice(&42u32.to_ne_bytes());
        record.extend_from_slice(&[0; 8]);
        record.extend_from_slice(&4u16.to_ne_bytes());
        record.extend_from_slice(&PACKET_DIAG_FILTER.to_ne_bytes());
        let socket = parse_record(&record).unwrap();
        assert!(socket.packet.unwrap().filter_hidden);
        assert!(parse_filter(&[0; 7]).is_err());
        assert!(parse_filter(&vec![0; 8 * (BPF_MAXINSNS + 1)]).is_err());
        let mut bad = record.clone();
        bad[16] = 200; // attribute longer than the record
        assert!(parse_record(&bad).is_err());
    }
}
