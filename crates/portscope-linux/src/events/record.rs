//! The ring buffer's record (`struct ps_event` of bpf/events.h), parsed from bytes: no I/O, so the
//! parser runs on recorded bytes in tests as on the live buffer.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portscope_core::model::{Endpoint, Protocol, SocketState};

/// `sizeof(struct ps_event)`.
pub const SIZE: usize = 88;

pub const STATE: u8 = 1;
pub const BIND: u8 = 2;
pub const RELEASE: u8 = 3;
pub const REFUSAL: u8 = 4;

const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;

/// One record, fields in host order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub time_ns: u64,
    pub netns: u64,
    pub pid: u32,
    pub uid: u32,
    pub kind: u8,
    pub protocol: Protocol,
    pub oldstate: u8,
    pub newstate: u8,
    pub local: Endpoint,
    pub remote: Endpoint,
    /// The process's name (comm) as the kernel had it; empty when not in a process's context.
    pub comm: String,
}

/// Why a record was not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BadRecord {
    Short(usize),
    Family(u8),
    Protocol(u8),
}

impl Record {
    pub fn parse(bytes: &[u8]) -> Result<Record, BadRecord> {
        if bytes.len() < SIZE {
            return Err(BadRecord::Short(bytes.len()));
        }
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default());
        let port_at = |at: usize| u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        let family = bytes[26];
        let address = |at: usize| -> Result<IpAddr, BadRecord> {
            match family {
                AF_INET => Ok(IpAddr::V4(Ipv4Addr::new(
                    bytes[at],
                    bytes[at + 1],
                    bytes[at + 2],
                    bytes[at + 3],
                ))),
                AF_INET6 => {
                    let mut octets = [0u8; 16];
                    octets.copy_from_slice(&bytes[at..at + 16]);
                    let v6 = Ipv6Addr::from(octets);
                    // A v4-mapped address is the IPv4 one, as the socket dumps show it.
                    Ok(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4))
                }
                other => Err(BadRecord::Family(other)),
            }
        };
        let protocol = match bytes[25] {
            IPPROTO_TCP => Protocol::Tcp,
            IPPROTO_UDP => Protocol::Udp,
            other => return Err(BadRecord::Protocol(other)),
        };
        let comm = &bytes[68..84];
        let comm = &comm[..comm.iter().position(|&b| b == 0).unwrap_or(comm.len())];
        Ok(Record {
            time_ns: u64_at(0),
            netns: u64_at(8),
            pid: u32_at(16),
            uid: u32_at(20),
            kind: bytes[24],
            protocol,
            oldstate: bytes[27],
            newstate: bytes[28],
            local: Endpoint::new(address(36)?, port_at(32)),
            remote: Endpoint::new(address(52)?, port_at(34)),
            comm: String::from_utf8_lossy(comm).into_owned(),
        })
    }

    /// The TCP states of a state change.
    pub fn states(&self) -> Option<(SocketState, SocketState)> {
        Some((
            SocketState::from_kernel(Protocol::Tcp, self.oldstate)?,
            SocketState::from_kernel(Protocol::Tcp, self.newstate)?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A LISTEN on 198.18.0.1:7000 by pid 4242 (`python3`), as the kernel wrote it.
    fn listen_record() -> Vec<u8> {
        let mut b = vec![0u8; SIZE];
        b[0..8].copy_from_slice(&5_000_000_000u64.to_le_bytes());
        b[8..16].copy_from_slice(&4026532400u64.to_le_bytes());
        b[16..20].copy_from_slice(&4242u32.to_le_bytes());
        b[24] = STATE;
        b[25] = IPPROTO_TCP;
        b[26] = AF_INET;
        b[27] = 7; // TCP_CLOSE
        b[28] = 10; // TCP_LISTEN
        b[32..34].copy_from_slice(&7000u16.to_be_bytes());
        b[36..40].copy_from_slice(&[198, 18, 0, 1]);
        b[68..75].copy_from_slice(b"python3");
        b
    }

    #[test]
    fn a_listen_record_is_read_field_by_field() {
        let r = Record::parse(&listen_record()).unwrap();
        assert_eq!((r.pid, r.netns, r.kind), (4242, 4026532400, STATE));
        assert_eq!(r.local.to_string(), "198.18.0.1:7000");
        assert_eq!(r.comm, "python3");
        assert_eq!(r.states(), Some((SocketState::Close, SocketState::Listen)));
    }

    #[test]
    fn short_and_unknown_records_are_refused() {
        assert_eq!(Record::parse(&[0; 10]), Err(BadRecord::Short(10)));
        let mut b = listen_record();
        b[26] = 1;
        assert_eq!(Record::parse(&b), Err(BadRecord::Family(1)));
        let mut b = listen_record();
        b[25] = 132;
        assert_eq!(Record::parse(&b), Err(BadRecord::Protocol(132)));
    }

    #[test]
    fn a_v4_mapped_address_is_the_ipv4_one() {
        let mut b = listen_record();
        b[26] = AF_INET6;
        b[36..52].copy_from_slice(&Ipv4Addr::new(198, 18, 0, 1).to_ipv6_mapped().octets());
        assert_eq!(Record::parse(&b).unwrap().local.to_string(), "198.18.0.1:7000");
    }
}
