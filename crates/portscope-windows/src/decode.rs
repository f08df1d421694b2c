//! The IP helper's owner tables as bytes: `GetExtendedTcpTable` (`TCP_TABLE_OWNER_PID_ALL`) and
//! `GetExtendedUdpTable` (`UDP_TABLE_OWNER_PID`) fill a buffer with a row count and fixed-size
//! rows; this module turns such a buffer into the core's [`Socket`]s and back (the row
//! `SetTcpEntry` takes). No I/O and no Windows types, so it builds and is tested everywhere, on
//! recorded bytes.
//!
//! The layouts (iphlpapi's `tcpmib.h`, `udpmib.h`), all fields little-endian `DWORD`s unless said:
//! - `MIB_TCPROW_OWNER_PID` (24 bytes): state, local address, local port, remote address, remote
//!   port, owning pid;
//! - `MIB_TCP6ROW_OWNER_PID` (56 bytes): local address (16 bytes), local scope id, local port,
//!   remote address (16 bytes), remote scope id, remote port, state, owning pid;
//! - `MIB_UDPROW_OWNER_PID` (12 bytes): local address, local port, owning pid;
//! - `MIB_UDP6ROW_OWNER_PID` (28 bytes): local address (16 bytes), local scope id, local port,
//!   owning pid.
//!
//! An IPv4 address is stored in network order (its bytes in memory are a.b.c.d); a port is the
//! low 16 bits of its `DWORD` in network order (its first two bytes in memory, big-endian), the
//! upper bytes are not defined and are ignored.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use portscope_core::error::ParseError;
use portscope_core::model::{Endpoint, Protocol, Socket, SocketState};

/// One of the owner tables this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `GetExtendedTcpTable(AF_INET, TCP_TABLE_OWNER_PID_ALL)`.
    Tcp4,
    /// `GetExtendedTcpTable(AF_INET6, TCP_TABLE_OWNER_PID_ALL)`.
    Tcp6,
    /// `GetExtendedUdpTable(AF_INET, UDP_TABLE_OWNER_PID)`.
    Udp4,
    /// `GetExtendedUdpTable(AF_INET6, UDP_TABLE_OWNER_PID)`.
    Udp6,
}

impl Table {
    pub const ALL: [Table; 4] = [Table::Tcp4, Table::Tcp6, Table::Udp4, Table::Udp6];

    /// The size of one row in bytes.
    pub fn row_size(self) -> usize {
        match self {
            Table::Tcp4 => 24,
            Table::Tcp6 => 56,
            Table::Udp4 => 12,
            Table::Udp6 => 28,
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Table::Tcp4 | Table::Tcp6 => Protocol::Tcp,
            Table::Udp4 | Table::Udp6 => Protocol::Udp,
        }
    }

    pub fn ipv6(self) -> bool {
        matches!(self, Table::Tcp6 | Table::Udp6)
    }

    fn what(self) -> &'static str {
        match self {
            Table::Tcp4 => "MIB_TCPTABLE_OWNER_PID",
            Table::Tcp6 => "MIB_TCP6TABLE_OWNER_PID",
            Table::Udp4 => "MIB_UDPTABLE_OWNER_PID",
            Table::Udp6 => "MIB_UDP6TABLE_OWNER_PID",
        }
    }
}

/// One row: the socket (no holders yet) and the pid the table names as its owner (0 for none:
/// the System Idle Process owns TIME-WAIT connections, and Wine lists the Linux host's own
/// sockets with pid 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub socket: Socket,
    pub pid: u32,
}

/// A decoded table: its rows, and the state numbers of rows skipped because the state is not
/// one this module knows (a newer Windows), so the caller can say so instead of hiding them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub rows: Vec<Row>,
    pub unknown_states: Vec<u32>,
}

/// `MIB_TCP_STATE` → the core's state. `DELETE_TCB` (12) is a request, never listed; it reads as
/// `CLOSE`. `None` for a number Windows may add later.
pub fn tcp_state(state: u32) -> Option<SocketState> {
    use SocketState::*;
    Some(match state {
        1 => Close,
        2 => Listen,
        3 => SynSent,
        4 => SynRecv,
        5 => Established,
        6 => FinWait1,
        7 => FinWait2,
        8 => CloseWait,
        9 => Closing,
        10 => LastAck,
        11 => TimeWait,
        12 => Close,
        _ => return None,
    })
}

/// `MIB_TCP_STATE_DELETE_TCB`: the state `SetTcpEntry` is given to abort a connection.
pub const MIB_TCP_STATE_DELETE_TCB: u32 = 12;

/// A port from the first two bytes of its `DWORD` (network order).
pub fn port(dword: [u8; 4]) -> u16 {
    u16::from_be_bytes([dword[0], dword[1]])
}

/// A port as its `DWORD` field holds it (network order in the low 16 bits), the inverse of
/// [`port`].
pub fn port_dword(port: u16) -> u32 {
    let [high, low] = port.to_be_bytes();
    u32::from_le_bytes([high, low, 0, 0])
}

fn dword(bytes: &[u8], at: usize) -> [u8; 4] {
    // Callers index inside a row whose length was checked.
    [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(dword(bytes, at))
}

fn ipv6_at(bytes: &[u8], at: usize) -> IpAddr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[at..at + 16]);
    IpAddr::V6(Ipv6Addr::from(octets))
}

fn ipv4_at(bytes: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(dword(bytes, at)))
}

/// Decodes one table buffer as the API filled it: a `DWORD` row count, then the rows. A buffer
/// shorter than its count says is refused; bytes after the last row are ignored (the API
/// rounds its buffer up).
pub fn table(kind: Table, bytes: &[u8]) -> Result<Decoded, ParseError> {
    let what = kind.what();
    if bytes.len() < 4 {
        return Err(ParseError::Truncated {
            what,
            needed: 4,
            got: bytes.len(),
        });
    }
    let count = u32_at(bytes, 0) as usize;
    let size = kind.row_size();
    let needed = count
        .checked_mul(size)
        .and_then(|n| n.checked_add(4))
        .ok_or_else(|| ParseError::malformed(what, format!("row count {count} overflows")))?;
    if bytes.len() < needed {
        return Err(ParseError::Truncated {
            what,
            needed,
            got: bytes.len(),
        });
    }
    let mut decoded = Decoded::default();
    for row in bytes[4..needed].chunks_exact(size) {
        match decode_row(kind, row) {
            Ok(row) => decoded.rows.push(row),
            Err(state) => decoded.unknown_states.push(state),
        }
    }
    Ok(decoded)
}

/// One row, or the state number it carries when that state is unknown.
fn decode_row(kind: Table, row: &[u8]) -> Result<Row, u32> {
    let unspecified = |v6: bool| {
        if v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    };
    let (local, remote, state, pid) = match kind {
        Table::Tcp4 => {
            let state = u32_at(row, 0);
            (
                Endpoint::new(ipv4_at(row, 4), port(dword(row, 8))),
                Endpoint::new(ipv4_at(row, 12), port(dword(row, 16))),
                tcp_state(state).ok_or(state)?,
                u32_at(row, 20),
            )
        }
        Table::Tcp6 => {
            let state = u32_at(row, 48);
            (
                Endpoint::new(ipv6_at(row, 0), port(dword(row, 20))),
                Endpoint::new(ipv6_at(row, 24), port(dword(row, 44))),
                tcp_state(state).ok_or(state)?,
                u32_at(row, 52),
            )
        }
        // The UDP owner tables have no peer: a connected UDP socket is listed like a bound one.
        Table::Udp4 => (
            Endpoint::new(ipv4_at(row, 0), port(dword(row, 4))),
            Endpoint::new(unspecified(false), 0),
            SocketState::Unconnected,
            u32_at(row, 8),
        ),
        Table::Udp6 => (
            Endpoint::new(ipv6_at(row, 0), port(dword(row, 20))),
            Endpoint::new(unspecified(true), 0),
            SocketState::Unconnected,
            u32_at(row, 24),
        ),
    };
    // Listeners list a remote port that means nothing (Windows leaves garbage there at times).
    let remote = if state == SocketState::Listen {
        Endpoint::new(unspecified(kind.ipv6()), 0)
    } else {
        remote
    };
    Ok(Row {
        socket: Socket::new(kind.protocol(), local, remote, state),
        pid,
    })
}

/// The five `DWORD`s of the `MIB_TCPROW` that `SetTcpEntry` takes to abort the IPv4 TCP
/// connection `socket` (state `DELETE_TCB`, then local address, local port, remote address,
/// remote port, as the table stores them). `None` for anything but an IPv4 TCP connection with
/// a peer: Windows has no call that aborts an IPv6 one.
pub fn delete_tcb_row(socket: &Socket) -> Option<[u32; 5]> {
    let (IpAddr::V4(local), IpAddr::V4(remote)) = (socket.local.address, socket.remote.address) else {
        return None;
    };
    if socket.protocol != Protocol::Tcp || socket.remote.port == 0 || socket.state == SocketState::Listen {
        return None;
    }
    Some([
        MIB_TCP_STATE_DELETE_TCB,
        u32::from_le_bytes(local.octets()),
        port_dword(socket.local.port),
        u32::from_le_bytes(remote.octets()),
        port_dword(socket.remote.port),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_bytes(rows: &[Vec<u8>]) -> Vec<u8> {
        let mut bytes = (rows.len() as u32).to_le_bytes().to_vec();
        for row in rows {
            bytes.extend_from_slice(row);
        }
        bytes
    }

    /// A port's DWORD as Windows leaves it: network order in the low half, and junk above.
    fn port_field(port: u16) -> [u8; 4] {
        let [h, l] = port.to_be_bytes();
        [h, l, 0xAB, 0xCD]
    }

    #[test]
    fn an_ipv4_tcp_row_decodes_addresses_ports_state_and_pid() {
        // 127.0.0.1:31337 ← 127.0.0.1:50123, ESTABLISHED, pid 4242.
        let mut row = Vec::new();
        row.extend_from_slice(&5u32.to_le_bytes());
        row.extend_from_slice(&[127, 0, 0, 1]);
        row.extend_from_slice(&port_field(31337));
        row.extend_from_slice(&[127, 0, 0, 1]);
        row.extend_from_slice(&port_field(50123));
        row.extend_from_slice(&4242u32.to_le_bytes());
        let decoded = table(Table::Tcp4, &table_bytes(&[row])).unwrap();
        assert!(decoded.unknown_states.is_empty());
        let r = &decoded.rows[0];
        assert_eq!(r.pid, 4242);
        assert_eq!(r.socket.local.to_string(), "127.0.0.1:31337");
        assert_eq!(r.socket.remote.to_string(), "127.0.0.1:50123");
        assert_eq!(r.socket.state, SocketState::Established);
        assert_eq!(r.socket.protocol, Protocol::Tcp);
    }

    #[test]
    fn an_ipv6_tcp_listener_decodes_and_drops_its_meaningless_peer() {
        let mut row = Vec::new();
        row.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        row.extend_from_slice(&0u32.to_le_bytes()); // scope
        row.extend_from_slice(&port_field(8443));
        row.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        row.extend_from_slice(&0u32.to_le_bytes());
        row.extend_from_slice(&port_field(9)); // junk a listener may carry
        row.extend_from_slice(&2u32.to_le_bytes()); // LISTEN
        row.extend_from_slice(&77u32.to_le_bytes());
        assert_eq!(row.len(), Table::Tcp6.row_size());
        let decoded = table(Table::Tcp6, &table_bytes(&[row])).unwrap();
        let r = &decoded.rows[0];
        assert_eq!((r.pid, r.socket.state), (77, SocketState::Listen));
        assert_eq!(r.socket.local.to_string(), "[::1]:8443");
        assert_eq!(r.socket.remote.port, 0);
        assert!(r.socket.remote.address.is_unspecified());
    }

    #[test]
    fn udp_rows_of_both_families_are_unconnected() {
        let mut v4 = Vec::new();
        v4.extend_from_slice(&[0, 0, 0, 0]);
        v4.extend_from_slice(&port_field(53));
        v4.extend_from_slice(&1234u32.to_le_bytes());
        let decoded = table(Table::Udp4, &table_bytes(&[v4])).unwrap();
        assert_eq!(decoded.rows[0].socket.local.to_string(), "0.0.0.0:53");
        assert_eq!(decoded.rows[0].socket.state, SocketState::Unconnected);
        let mut v6 = Vec::new();
        v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        v6.extend_from_slice(&0u32.to_le_bytes());
        v6.extend_from_slice(&port_field(5353));
        v6.extend_from_slice(&99u32.to_le_bytes());
        let decoded = table(Table::Udp6, &table_bytes(&[v6])).unwrap();
        assert_eq!(decoded.rows[0].socket.local.to_string(), "[::1]:5353");
        assert_eq!(decoded.rows[0].pid, 99);
        assert_eq!(decoded.rows[0].socket.protocol, Protocol::Udp);
    }

    #[test]
    fn every_windows_tcp_state_maps_and_unknown_ones_are_counted() {
        let names: Vec<&str> = (1..=12).map(|s| tcp_state(s).unwrap().as_str()).collect();
        assert_eq!(
            names,
            [
                "CLOSE",
                "LISTEN",
                "SYN-SENT",
                "SYN-RECV",
                "ESTAB",
                "FIN-WAIT-1",
                "FIN-WAIT-2",
                "CLOSE-WAIT",
                "CLOSING",
                "LAST-ACK",
                "TIME-WAIT",
                "CLOSE"
            ]
        );
        assert_eq!(tcp_state(0), None);
        assert_eq!(tcp_state(13), None);
        let mut row = vec![0u8; 24];
        row[..4].copy_from_slice(&99u32.to_le_bytes());
        let decoded = table(Table::Tcp4, &table_bytes(&[row])).unwrap();
        assert_eq!((decoded.rows.len(), decoded.unknown_states), (0, vec![99]));
    }

    #[test]
    fn short_or_lying_buffers_are_refused_not_read_past() {
        assert!(matches!(
            table(Table::Tcp4, &[1, 0]),
            Err(ParseError::Truncated { .. })
        ));
        let mut lying = 3u32.to_le_bytes().to_vec();
        lying.extend_from_slice(&[0; 24]);
        assert!(matches!(
            table(Table::Tcp4, &lying),
            Err(ParseError::Truncated {
                needed: 76,
                got: 28,
                ..
            })
        ));
        assert!(table(Table::Udp6, &u32::MAX.to_le_bytes()).is_err());
        // Padding after the last row is allowed.
        let mut padded = table_bytes(&[vec![0; 12]]);
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(table(Table::Udp4, &padded).unwrap().rows.len(), 1);
    }

    #[test]
    fn the_delete_row_is_what_the_table_would_list() {
        let mut socket = Socket::new(
            Protocol::Tcp,
            Endpoint::new("10.0.0.5".parse().unwrap(), 445),
            Endpoint::new("10.0.0.9".parse().unwrap(), 50000),
            SocketState::Established,
        );
        let row = delete_tcb_row(&socket).unwrap();
        assert_eq!(row[0], MIB_TCP_STATE_DELETE_TCB);
        assert_eq!(row[1].to_le_bytes(), [10, 0, 0, 5]);
        assert_eq!(port(row[2].to_le_bytes()), 445);
        assert_eq!(row[3].to_le_bytes(), [10, 0, 0, 9]);
        assert_eq!(port(row[4].to_le_bytes()), 50000);
        socket.local.address = "::1".parse().unwrap();
        socket.remote.address = "::1".parse().unwrap();
        assert_eq!(delete_tcb_row(&socket), None, "IPv6 cannot be cut");
    }
}
