//! The netlink framing every sock_diag family shares: splitting a reply buffer into messages,
//! serializing a request, the family selector that opens every request, and what a reply buffer
//! can say (more to come, done, a kernel error, bytes that do not parse).
//!
//! Nothing here does I/O: the functions take bytes and return messages or typed errors, so the
//! same code is driven by the live socket ([`super::socket`]), by recorded fixtures and by the
//! fuzzer.

use std::io;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, AF_PACKET};

use portscope_core::error::ParseError;
use portscope_core::model::Family;

/// struct nlmsghdr: length, type, flags, sequence, port id.
pub const NLMSG_HDRLEN: usize = 16;
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
/// The request and record type of every family's dump.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;

const WHAT: &str = "netlink sock_diag reply";

/// Whether a reply buffer ended the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    More,
    Done,
}

/// Why a reply could not be taken.
#[derive(Debug)]
pub enum ReplyError {
    /// The kernel answered with an error (EPERM, EINVAL, …).
    Kernel(io::Error),
    Parse(ParseError),
}

impl ReplyError {
    /// The kernel's negative errno `code` as an error. (Not `abs()`: it overflows on i32::MIN.)
    pub fn kernel(code: i32) -> ReplyError {
        ReplyError::Kernel(io::Error::from_raw_os_error(code.saturating_abs()))
    }
}

/// The kernel's code for an address family: the `sdiag_family` byte that opens every sock_diag
/// request and picks the family's handler.
pub fn family_code(family: Family) -> u8 {
    match family {
        Family::Ipv4 => AF_INET,
        Family::Ipv6 => AF_INET6,
        Family::Packet => AF_PACKET,
    }
}

/// Serializes one netlink message with the given flags.
pub fn serialize<T>(flags: u16, payload: T) -> Vec<u8>
where
    T: netlink_packet_core::NetlinkSerializable,
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

/// Splits a buffer into netlink messages, checking each length against what is left. Every
/// message it yields is at least a whole header long.
pub fn messages(mut buf: &[u8]) -> impl Iterator<Item = Result<&[u8], ParseError>> {
    std::iter::from_fn(move || {
        if buf.is_empty() {
            return None;
        }
        let got = buf.len();
        if got < NLMSG_HDRLEN {
            buf = &[];
            return Some(Err(ParseError::Truncated {
                what: WHAT,
                needed: NLMSG_HDRLEN,
                got,
            }));
        }
        let len = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        if len < NLMSG_HDRLEN {
            buf = &[];
            return Some(Err(ParseError::malformed(
                WHAT,
                format!("message length {len} is shorter than its header"),
            )));
        }
        if len > got {
            buf = &[];
            return Some(Err(ParseError::Truncated {
                what: WHAT,
                needed: len,
                got,
            }));
        }
        let message = &buf[..len];
        // Messages are padded to 4 bytes; the last one may end the buffer unpadded.
        buf = &buf[len.next_multiple_of(4).min(got)..];
        Some(Ok(message))
    })
}

/// The type and the payload of a message [`messages`] yielded.
pub fn split(message: &[u8]) -> (u16, &[u8]) {
    let kind = u16::from_ne_bytes([message[4], message[5]]);
    (kind, &message[NLMSG_HDRLEN..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u16, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&((NLMSG_HDRLEN + payload.len()) as u32).to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&[0; 10]);
        bytes.extend_from_slice(payload);
        bytes
    }

    #[test]
    fn messages_are_split_on_their_padded_lengths() {
        let mut buf = message(SOCK_DIAG_BY_FAMILY, &[1, 2, 3]);
        buf.push(0); // padding to 4 bytes
        buf.extend(message(NLMSG_DONE, &[0; 4]));
        let split: Vec<_> = messages(&buf).map(|m| super::split(m.unwrap())).collect();
        assert_eq!(
            split,
            [(SOCK_DIAG_BY_FAMILY, &[1, 2, 3][..]), (NLMSG_DONE, &[0; 4][..])]
        );
    }

    #[test]
    fn short_and_lying_lengths_are_refused() {
        assert!(matches!(
            messages(&[0; 8]).next(),
            Some(Err(ParseError::Truncated {
                needed: 16,
                got: 8,
                ..
            }))
        ));
        let mut lying = message(NLMSG_DONE, &[0; 4]);
        lying[0] = 200;
        assert!(matches!(
            messages(&lying).next(),
            Some(Err(ParseError::Truncated { needed: 200, .. }))
        ));
        let mut short = message(NLMSG_DONE, &[0; 4]);
        short[0] = 8;
        assert!(matches!(
            messages(&short).next(),
            Some(Err(ParseError::Malformed { .. }))
        ));
        assert!(messages(&[]).next().is_none());
    }

    #[test]
    fn kernel_errors_keep_their_errno() {
        let ReplyError::Kernel(err) = ReplyError::kernel(-libc::EPERM) else {
            unreachable!()
        };
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert!(matches!(ReplyError::kernel(i32::MIN), ReplyError::Kernel(_)));
    }

    #[test]
    fn family_codes() {
        assert_eq!(family_code(Family::Ipv4), 2);
        assert_eq!(family_code(Family::Ipv6), 10);
        assert_eq!(family_code(Family::Packet), 17);
    }
}
