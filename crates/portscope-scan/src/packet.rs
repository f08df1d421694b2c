//! Wire formats of the SYN and UDP scans: the probe's keyed cookie, TCP segments built for a raw
//! socket, and the answers (TCP, ICMP, ICMPv6) parsed from the bytes a raw socket hands back.
//!
//! The scan is stateless on the wire: a probe's sequence number is a SipHash of its 4-tuple under
//! a per-scan secret, so an answer proves itself (its acknowledgement is the cookie plus one, or
//! an ICMP error quotes the cookie) without a table of what was sent. A forged or stale packet
//! does not match and is ignored. The parsers take bytes and return typed values; they never
//! panic on any input (a fuzz target drives them).
//!
//! A raw socket is handed packets before the kernel checks their checksums, so the parsers check
//! them (TCP with its pseudo-header, ICMP, ICMPv6 with its pseudo-header): a packet the kernel
//! would drop is no answer, however well it quotes a cookie. A packet cut short, whose checksum
//! cannot be checked, is refused the same way. One exception: a TCP segment that crossed a
//! loopback or veth device from this host's own stack carries, with checksum offload, only the
//! pseudo-header's sum (the device never fills in the rest, and the kernel trusts it); that exact
//! value is accepted, since a raw IPv4 socket cannot tell such a segment from the wire's (over
//! IPv6 the SYN engine has the kernel check first, which can).

use std::hash::Hasher;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::report::{Outcome, PortState, Reason};
use siphasher::sip::SipHasher24;

/// The TCP flags this module reads and writes.
pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const ACK: u8 = 0x10;

/// Length of the SYN probe: a 20-byte TCP header plus the MSS option (4 bytes), as a real client
/// sends; some stacks drop a SYN without options.
pub const SYN_LEN: usize = 24;

/// The per-scan secret.
#[derive(Clone, Copy, Debug)]
pub struct CookieKey(pub [u8; 16]);

impl CookieKey {
    /// The sequence number of a probe from `src:sport` to `dst:dport`. `phase` tells apart the
    /// scan's first probes from its confirmation probes, so an answer to one is never taken for
    /// the other.
    pub fn cookie(&self, src: IpAddr, sport: u16, dst: IpAddr, dport: u16, phase: u8) -> u32 {
        let mut h = SipHasher24::new_with_key(&self.0);
        write_ip(&mut h, src);
        write_ip(&mut h, dst);
        h.write_u16(sport);
        h.write_u16(dport);
        h.write_u8(phase);
        h.finish() as u32
    }
}

fn write_ip(h: &mut SipHasher24, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => h.write(&a.octets()),
        IpAddr::V6(a) => h.write(&a.octets()),
    }
}

/// A TCP segment with no payload, checksummed for `src` → `dst`, into `buf` (which must hold
/// [`SYN_LEN`] bytes). Returns the length written. With `SYN` set it carries an MSS option.
#[allow(clippy::too_many_arguments)]
pub fn tcp_segment(
    buf: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
) -> usize {
    let len = if flags & SYN != 0 { SYN_LEN } else { 20 };
    let b = &mut buf[..len];
    b.fill(0);
    b[0..2].copy_from_slice(&sport.to_be_bytes());
    b[2..4].copy_from_slice(&dport.to_be_bytes());
    b[4..8].copy_from_slice(&seq.to_be_bytes());
    b[8..12].copy_from_slice(&ack.to_be_bytes());
    b[12] = ((len / 4) as u8) << 4;
    b[13] = flags;
    let window: u16 = if flags & SYN != 0 { 1024 } else { 0 };
    b[14..16].copy_from_slice(&window.to_be_bytes());
    if flags & SYN != 0 {
        // MSS 1460.
        b[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]);
    }
    let sum = transport_checksum(src, dst, 6, b);
    b[16..18].copy_from_slice(&sum.to_be_bytes());
    len
}

/// The Internet checksum of a TCP or UDP segment (or an ICMPv6 message) with its pseudo-header
/// (RFC 793, RFC 8200 §8.1). Over a segment whose checksum field is filled in, it is 0 when the
/// checksum is right.
pub fn transport_checksum(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> u16 {
    let mut sum = pseudo_header(src, dst, proto, segment.len());
    sum.add(segment);
    sum.finish()
}

/// The sum of the pseudo-header of a `len`-byte segment.
fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> Sum {
    let mut sum = Sum::default();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            sum.add(&s.octets());
            sum.add(&d.octets());
        }
        (s, d) => {
            sum.add(&to_v6(s).octets());
            sum.add(&to_v6(d).octets());
        }
    }
    sum.add(&[0, proto]);
    sum.add(&(len as u32).to_be_bytes());
    sum
}

/// Whether a TCP segment's checksum field holds what Linux leaves there for a device to finish
/// (`CHECKSUM_PARTIAL`): the folded sum of the pseudo-header alone. Segments from this host's
/// own stack over loopback and veth arrive so; the kernel takes them as checked.
fn offload_placeholder(src: IpAddr, dst: IpAddr, seg: &[u8]) -> bool {
    let sum = pseudo_header(src, dst, 6, seg.len());
    seg.len() >= 18 && u16::from_be_bytes([seg[16], seg[17]]) == !sum.finish()
}

/// The Internet checksum of bytes alone (RFC 1071), as ICMP over IPv4 uses it.
pub fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum = Sum::default();
    sum.add(bytes);
    sum.finish()
}

/// A running one's-complement sum of 16-bit words. Every piece added but the last is of even
/// length (addresses, lengths), so an odd byte is only ever the message's last.
#[derive(Default)]
struct Sum(u64);

impl Sum {
    fn add(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            self.0 += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            self.0 += u64::from(*last) << 8;
        }
    }

    fn finish(self) -> u16 {
        let mut sum = self.0;
        while sum >> 16 != 0 {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }
}

fn to_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// A TCP segment as received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpAnswer {
    pub src: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
}

/// What an ICMP error says, and what it quotes of the packet that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IcmpAnswer {
    /// Who sent the error (a router, or the target itself).
    pub from: IpAddr,
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// The quoted packet's destination, protocol and ports.
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
    /// The quoted TCP sequence number (0 for UDP).
    pub seq: u32,
}

impl IcmpAnswer {
    /// What the error means for the probed port: port unreachable closes a UDP port (and, from
    /// a TCP probe, filters it, as nmap reads it); every other unreachable filters it.
    pub fn outcome(&self) -> Outcome {
        let reason = match (self.v6, self.code) {
            (false, 0) => Reason::NetUnreach,
            (false, 1) => Reason::HostUnreach,
            (false, 2) => Reason::ProtoUnreach,
            (false, 3) | (true, 4) => Reason::PortUnreach,
            (false, 9) => Reason::NetProhibited,
            (false, 10) => Reason::HostProhibited,
            (true, 0) => Reason::NetUnreach,
            (true, 3) => Reason::HostUnreach,
            _ => Reason::AdminProhibited,
        };
        let state = if reason == Reason::PortUnreach && self.proto == 17 {
            PortState::Closed
        } else {
            PortState::Filtered
        };
        Outcome { state, reason }
    }
}

/// Why bytes were not an answer this scan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("truncated packet")]
    Truncated,
    #[error("not an IP packet of a kind the scan reads")]
    Unexpected,
    #[error("wrong checksum (the kernel drops such a packet)")]
    Checksum,
}

/// A TCP segment from an IPv4 raw socket (the IP header first), its checksum checked.
pub fn parse_tcp_v4(bytes: &[u8]) -> Result<TcpAnswer, ParseError> {
    let (src, dst, proto, payload) = whole_ipv4(bytes)?;
    if proto != 6 {
        return Err(ParseError::Unexpected);
    }
    parse_tcp(IpAddr::V4(src), IpAddr::V4(dst), payload)
}

/// A TCP segment from `src` to `dst`, its checksum checked. An IPv6 raw socket hands over the
/// segment alone: the source comes from the socket address, the destination is the address the
/// probe left from (an answer to it is addressed there).
pub fn parse_tcp(src: IpAddr, dst: IpAddr, seg: &[u8]) -> Result<TcpAnswer, ParseError> {
    if seg.len() < 20 {
        return Err(ParseError::Truncated);
    }
    if transport_checksum(src, dst, 6, seg) != 0 && !offload_placeholder(src, dst, seg) {
        return Err(ParseError::Checksum);
    }
    Ok(TcpAnswer {
        src,
        sport: u16::from_be_bytes([seg[0], seg[1]]),
        dport: u16::from_be_bytes([seg[2], seg[3]]),
        seq: u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]),
        ack: u32::from_be_bytes([seg[8], seg[9], seg[10], seg[11]]),
        flags: seg[13],
    })
}

/// An ICMP error from an IPv4 raw ICMP socket (the IP header first), its checksum checked.
pub fn parse_icmp_v4(bytes: &[u8]) -> Result<IcmpAnswer, ParseError> {
    let (from, _dst, proto, icmp) = whole_ipv4(bytes)?;
    if proto != 1 {
        return Err(ParseError::Unexpected);
    }
    if icmp.len() < 8 {
        return Err(ParseError::Truncated);
    }
    if internet_checksum(icmp) != 0 {
        return Err(ParseError::Checksum);
    }
    let (icmp_type, code) = (icmp[0], icmp[1]);
    // Destination unreachable; other errors (time exceeded) say nothing about the port.
    if icmp_type != 3 {
        return Err(ParseError::Unexpected);
    }
    let (_qsrc, qdst, qproto, quoted) = ipv4_header(&icmp[8..])?;
    quoted_answer(
        IpAddr::V4(from),
        false,
        icmp_type,
        code,
        IpAddr::V4(qdst),
        qproto,
        quoted,
    )
}

/// An ICMPv6 error from an IPv6 raw ICMPv6 socket (the ICMPv6 header first), its checksum
/// checked. The error is addressed to the quoted probe's source, which stands for the
/// destination in the pseudo-header (the socket does not say where the packet went).
pub fn parse_icmp_v6(from: IpAddr, icmp: &[u8]) -> Result<IcmpAnswer, ParseError> {
    if icmp.len() < 8 + 40 {
        return Err(ParseError::Truncated);
    }
    let (icmp_type, code) = (icmp[0], icmp[1]);
    // Destination unreachable.
    if icmp_type != 1 {
        return Err(ParseError::Unexpected);
    }
    let ip = &icmp[8..];
    if ip[0] >> 4 != 6 {
        return Err(ParseError::Unexpected);
    }
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    if transport_checksum(from, IpAddr::V6(Ipv6Addr::from(src)), 58, icmp) != 0 {
        return Err(ParseError::Checksum);
    }
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&ip[24..40]);
    // Extension headers are not followed: a probe carries none.
    let qproto = ip[6];
    quoted_answer(
        from,
        true,
        icmp_type,
        code,
        IpAddr::V6(Ipv6Addr::from(dst)),
        qproto,
        &ip[40..],
    )
}

fn quoted_answer(
    from: IpAddr,
    v6: bool,
    icmp_type: u8,
    code: u8,
    dst: IpAddr,
    proto: u8,
    quoted: &[u8],
) -> Result<IcmpAnswer, ParseError> {
    if proto != 6 && proto != 17 {
        return Err(ParseError::Unexpected);
    }
    // RFC 792 promises the first 8 bytes of the transport header: ports and TCP's sequence.
    if quoted.len() < 8 {
        return Err(ParseError::Truncated);
    }
    let seq = if proto == 6 {
        u32::from_be_bytes([quoted[4], quoted[5], quoted[6], quoted[7]])
    } else {
        0
    };
    Ok(IcmpAnswer {
        from,
        v6,
        icmp_type,
        code,
        dst,
        proto,
        sport: u16::from_be_bytes([quoted[0], quoted[1]]),
        dport: u16::from_be_bytes([quoted[2], quoted[3]]),
        seq,
    })
}

/// [`ipv4_header`] of a packet that must be whole (its checksum is to be checked): one cut short
/// of its total length is refused.
fn whole_ipv4(bytes: &[u8]) -> Result<(Ipv4Addr, Ipv4Addr, u8, &[u8]), ParseError> {
    if bytes.len() >= 4 && usize::from(u16::from_be_bytes([bytes[2], bytes[3]])) > bytes.len() {
        return Err(ParseError::Truncated);
    }
    ipv4_header(bytes)
}

/// Source, destination, protocol and payload of an IPv4 packet (options skipped; the payload is
/// cut to the total length, or to what there is of it in a quoted packet).
fn ipv4_header(bytes: &[u8]) -> Result<(Ipv4Addr, Ipv4Addr, u8, &[u8]), ParseError> {
    if bytes.len() < 20 {
        return Err(ParseError::Truncated);
    }
    if bytes[0] >> 4 != 4 {
        return Err(ParseError::Unexpected);
    }
    let ihl = usize::from(bytes[0] & 0x0f) * 4;
    if ihl < 20 || bytes.len() < ihl {
        return Err(ParseError::Truncated);
    }
    let total = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    let end = total.clamp(ihl, bytes.len());
    let src = Ipv4Addr::new(bytes[12], bytes[13], bytes[14], bytes[15]);
    let dst = Ipv4Addr::new(bytes[16], bytes[17], bytes[18], bytes[19]);
    Ok((src, dst, bytes[9], &bytes[ihl..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: CookieKey = CookieKey([7; 16]);

    #[test]
    fn cookies_differ_by_tuple_and_phase() {
        let s: IpAddr = "198.18.0.1".parse().unwrap();
        let d: IpAddr = "198.18.0.2".parse().unwrap();
        let c = KEY.cookie(s, 40000, d, 80, 0);
        assert_eq!(c, KEY.cookie(s, 40000, d, 80, 0));
        assert_ne!(c, KEY.cookie(s, 40000, d, 81, 0));
        assert_ne!(c, KEY.cookie(s, 40000, d, 80, 1));
        assert_ne!(c, CookieKey([8; 16]).cookie(s, 40000, d, 80, 0));
    }

    #[test]
    fn syn_matches_a_known_good_checksum() {
        // Checked against the same SYN as tcpdump -vv shows it ("cksum 0x... (correct)").
        let mut buf = [0u8; SYN_LEN];
        let s: IpAddr = "198.18.0.1".parse().unwrap();
        let d: IpAddr = "198.18.0.2".parse().unwrap();
        let n = tcp_segment(&mut buf, s, d, 40000, 80, 0x01020304, 0, SYN);
        assert_eq!(n, SYN_LEN);
        // A correct checksum sums, with the pseudo-header, to 0xffff: recomputing over the
        // filled-in segment gives 0.
        assert_eq!(transport_checksum(s, d, 6, &buf), 0);
        assert_eq!(&buf[..4], &[0x9c, 0x40, 0, 80]);
        assert_eq!(buf[12], 6 << 4);
        assert_eq!(buf[13], SYN);
        let s6: IpAddr = "fd00::1".parse().unwrap();
        let d6: IpAddr = "fd00::2".parse().unwrap();
        tcp_segment(&mut buf, s6, d6, 40000, 80, 5, 0, SYN);
        assert_eq!(transport_checksum(s6, d6, 6, &buf), 0);
        let n = tcp_segment(&mut buf, s, d, 40000, 80, 6, 0, RST);
        assert_eq!(n, 20);
        assert_eq!(transport_checksum(s, d, 6, &buf[..n]), 0);
    }

    /// A SYN-ACK as the target's kernel sent it (IPv4, from a capture).
    const SYN_ACK_V4: &[u8] = &[
        0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 198, 18, 0, 2, 198, 18, 0, 1,
        0x00, 0x50, 0x9c, 0x40, 0xaa, 0xbb, 0xcc, 0xdd, 0x01, 0x02, 0x03, 0x05, 0x60, 0x12, 0xfa, 0xf0, 0x00,
        0x00, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    ];

    /// `SYN_ACK_V4` with its TCP checksum filled in (the capture's was offloaded, so 0).
    fn syn_ack_v4() -> Vec<u8> {
        let mut pkt = SYN_ACK_V4.to_vec();
        let (s, d) = (IpAddr::from([198, 18, 0, 2]), IpAddr::from([198, 18, 0, 1]));
        let sum = transport_checksum(s, d, 6, &pkt[20..]);
        pkt[36..38].copy_from_slice(&sum.to_be_bytes());
        pkt
    }

    /// Fills in the ICMP checksum of an IPv4 packet carrying ICMP.
    fn with_icmp_checksum(mut pkt: Vec<u8>) -> Vec<u8> {
        let sum = internet_checksum(&pkt[20..]);
        pkt[22..24].copy_from_slice(&sum.to_be_bytes());
        pkt
    }

    #[test]
    fn parses_a_syn_ack() {
        let pkt = syn_ack_v4();
        let a = parse_tcp_v4(&pkt).unwrap();
        assert_eq!(a.src, "198.18.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((a.sport, a.dport), (80, 40000));
        assert_eq!(a.ack, 0x01020305);
        assert_eq!(a.flags, SYN | ACK);
        for n in 0..pkt.len() {
            let _ = parse_tcp_v4(&pkt[..n]);
        }
        assert_eq!(parse_tcp_v4(&pkt[..30]), Err(ParseError::Truncated));
        // Cut to its headers, a segment's checksum cannot be checked: refused.
        assert_eq!(parse_tcp_v4(&pkt[..40]), Err(ParseError::Truncated));
    }

    #[test]
    fn refuses_answers_with_a_wrong_checksum() {
        // As the capture came (checksum 0), and with one bit of the checksum changed.
        assert_eq!(parse_tcp_v4(SYN_ACK_V4), Err(ParseError::Checksum));
        let mut pkt = syn_ack_v4();
        pkt[37] ^= 1;
        assert_eq!(parse_tcp_v4(&pkt), Err(ParseError::Checksum));
        // What checksum offload leaves over loopback and veth (the pseudo-header's sum) is taken.
        let (s4, d4) = (IpAddr::from([198, 18, 0, 2]), IpAddr::from([198, 18, 0, 1]));
        let placeholder = !pseudo_header(s4, d4, 6, pkt.len() - 20).finish();
        pkt[36..38].copy_from_slice(&placeholder.to_be_bytes());
        assert!(parse_tcp_v4(&pkt).is_ok());
        // Over IPv6 the pseudo-header's addresses count: the same segment to another address fails.
        let (s, d, other): (IpAddr, IpAddr, IpAddr) = (
            "fd00::2".parse().unwrap(),
            "fd00::1".parse().unwrap(),
            "fd00::9".parse().unwrap(),
        );
        let mut seg = [0u8; SYN_LEN];
        let n = tcp_segment(&mut seg, s, d, 80, 40000, 1, 2, SYN | ACK);
        assert!(parse_tcp(s, d, &seg[..n]).is_ok());
        assert_eq!(parse_tcp(s, other, &seg[..n]), Err(ParseError::Checksum));
        // An ICMP error whose checksum is wrong says nothing.
        let mut icmp = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
        ];
        icmp.extend_from_slice(&[3, 13, 0, 0, 0, 0, 0, 0]);
        icmp.extend_from_slice(&[
            0x45, 0, 0, 44, 0, 0, 0, 0, 64, 6, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        icmp.extend_from_slice(&[0x9c, 0x40, 0, 80, 1, 2, 3, 4]);
        let mut good = with_icmp_checksum(icmp);
        assert!(parse_icmp_v4(&good).is_ok());
        good[23] ^= 0x40;
        assert_eq!(parse_icmp_v4(&good), Err(ParseError::Checksum));
    }

    #[test]
    fn parses_icmp_port_unreachable_quoting_udp_and_tcp() {
        // ICMP 3/3 from 198.18.0.2 quoting a UDP probe 198.18.0.1:40000 -> 198.18.0.2:161.
        let mut pkt = vec![
            0x45, 0, 0, 56, 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 0, 2, 198, 18, 0, 1,
        ];
        pkt.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
        pkt.extend_from_slice(&[
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 18, 0, 2,
        ]);
        pkt.extend_from_slice(&[0x9c, 0x40, 0, 161, 0, 8, 0, 0]);
        let pkt = with_icmp_checksum(pkt);
        let a = parse_icmp_v4(&pkt).unwrap();
        assert_eq!(
            (a.icmp_type, a.code, a.proto, a.sport, a.dport),
            (3, 3, 17, 40000, 161)
        );
        assert_eq!(a.dst, "198.18.0.2".parse::<IpAddr>().unwrap());
        for n in 0..pkt.len() {
            let _ = parse_icmp_v4(&pkt[..n]);
        }
        // ICMPv6 1/4 quoting a TCP SYN with its sequence number.
        let mut v6 = vec![1, 4, 0, 0, 0, 0, 0, 0];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 24, 6, 64];
        ip6.extend_from_slice(&"fd00::1".parse::<Ipv6Addr>().unwrap().octets());
        ip6.extend_from_slice(&"fd00::2".parse::<Ipv6Addr>().unwrap().octets());
        v6.extend_from_slice(&ip6);
        v6.extend_from_slice(&[0x9c, 0x40, 0, 22, 1, 2, 3, 4]);
        // Addressed to the quoted probe's source, fd00::1.
        let sum = transport_checksum("fd00::2".parse().unwrap(), "fd00::1".parse().unwrap(), 58, &v6);
        v6[2..4].copy_from_slice(&sum.to_be_bytes());
        let a = parse_icmp_v6("fd00::2".parse().unwrap(), &v6).unwrap();
        assert_eq!(
            (a.icmp_type, a.code, a.proto, a.dport, a.seq),
            (1, 4, 6, 22, 0x01020304)
        );
        assert!(parse_icmp_v6("fd00::2".parse().unwrap(), &v6[..40]).is_err());
        v6[3] ^= 1;
        assert_eq!(
            parse_icmp_v6("fd00::2".parse().unwrap(), &v6),
            Err(ParseError::Checksum)
        );
    }
}
