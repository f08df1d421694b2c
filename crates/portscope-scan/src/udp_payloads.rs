//! What a UDP probe says, per port. A UDP service answers only a request it understands, so an
//! empty datagram finds nothing but closed ports; each payload here is the smallest valid request
//! of the protocol, written from its specification, that any server of it answers (even with an
//! error, which proves the port open as well as a full answer does).

/// DNS (RFC 1035 §4.1): a recursive query for the root's NS records, ID 0x5053.
const DNS: &[u8] = &[
    0x50, 0x53, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header, QDCOUNT 1
    0x00, 0x00, 0x02, 0x00, 0x01, // ".", NS, IN
];

/// NTP (RFC 5905 §7.3): a version 4 client request (LI 3, VN 4, mode 3), the rest zero.
const NTP: &[u8] = &[
    0xe3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// SNMP v2c (RFC 3416) GetRequest for sysDescr.0 (1.3.6.1.2.1.1.1.0), community "public".
const SNMP: &[u8] = &[
    0x30, 0x29, 0x02, 0x01, 0x01, 0x04, 0x06, b'p', b'u', b'b', b'l', b'i', b'c', 0xa0, 0x1c, 0x02, 0x04,
    0x50, 0x53, 0x43, 0x50, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b,
    0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00,
];

/// NetBIOS name service (RFC 1002 §4.2.18): a node status request for "*".
const NETBIOS_NS: &[u8] = &[
    0x50, 0x53, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, b'C', b'K', b'A', b'A',
    b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A',
    b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', b'A', 0x00, 0x00, 0x21, 0x00, 0x01,
];

/// SSDP (UPnP Device Architecture 2.0 §1.3.2): an M-SEARCH for everything.
const SSDP: &[u8] = b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n";

/// mDNS (RFC 6763 §9): a unicast-response query for _services._dns-sd._udp.local PTR.
const MDNS: &[u8] = &[
    0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, b'_', b's', b'e', b'r',
    b'v', b'i', b'c', b'e', b's', 0x07, b'_', b'd', b'n', b's', b'-', b's', b'd', 0x04, b'_', b'u', b'd',
    b'p', 0x05, b'l', b'o', b'c', b'a', b'l', 0x00, 0x00, 0x0c, 0x80, 0x01,
];

/// memcached's UDP protocol (protocol.txt, "UDP protocol"): the 8-byte frame header, then `stats`.
const MEMCACHED: &[u8] = b"\x00\x01\x00\x00\x00\x01\x00\x00stats\r\n";

/// Portmapper (RFC 1833): an RPC call of procedure 0 (NULL), program 100000 version 2.
const PORTMAP: &[u8] = &[
    0x50, 0x53, 0x43, 0x50, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x86, 0xa0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// The payload a probe of UDP `port` carries; empty for ports without a known protocol.
pub fn payload(port: u16) -> &'static [u8] {
    match port {
        53 | 5355 => DNS,
        123 => NTP,
        161 | 162 => SNMP,
        137 => NETBIOS_NS,
        1900 => SSDP,
        5353 => MDNS,
        11211 => MEMCACHED,
        111 => PORTMAP,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_well_formed() {
        // DNS: one question, whose name is the root.
        assert_eq!(u16::from_be_bytes([DNS[4], DNS[5]]), 1);
        // NTP: 48 bytes, mode 3 (client), version 4.
        assert_eq!(NTP.len(), 48);
        assert_eq!((NTP[0] & 7, (NTP[0] >> 3) & 7), (3, 4));
        // SNMP: the outer SEQUENCE's length covers exactly the rest, as does the PDU's.
        assert_eq!(usize::from(SNMP[1]), SNMP.len() - 2);
        assert_eq!(SNMP[13], 0xa0);
        assert_eq!(usize::from(SNMP[14]), SNMP.len() - 15);
        // NetBIOS: a 32-character encoded name.
        assert_eq!(NETBIOS_NS[12], 32);
        assert_eq!(NETBIOS_NS.len(), 12 + 1 + 32 + 1 + 4);
        assert!(SSDP.ends_with(b"\r\n\r\n"));
        assert_eq!(payload(53), DNS);
        assert!(payload(9).is_empty());
    }
}
