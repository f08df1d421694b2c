//! The full IANA Service Name and Transport Protocol Port Number Registry, compiled into the binary.
//!
//! `build.rs` turns `data/iana-services.tsv` into the static arrays included below; lookups are
//! binary searches over them. Names here are IANA's alone; `local` layers /etc/services and a
//! user's file on top for [`super::service_name`].

use std::cmp::Ordering;
use std::fmt;

use serde::Serialize;

use crate::model::Protocol;

/// A transport protocol that IANA registers ports for. Wider than [`Protocol`], which is what the
/// socket collector sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Tcp,
    Udp,
    Sctp,
    Dccp,
}

impl Transport {
    pub const ALL: [Transport; 4] = [Transport::Tcp, Transport::Udp, Transport::Sctp, Transport::Dccp];

    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
            Transport::Sctp => "sctp",
            Transport::Dccp => "dccp",
        }
    }

    /// Parses `tcp`, `udp`, `sctp` or `dccp`, in any case.
    pub fn parse(text: &str) -> Option<Transport> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(text))
    }

    /// The socket protocol this transport is, when the collector knows it.
    pub fn protocol(self) -> Option<Protocol> {
        match self {
            Transport::Tcp => Some(Protocol::Tcp),
            Transport::Udp => Some(Protocol::Udp),
            Transport::Sctp => Some(Protocol::Sctp),
            Transport::Dccp => None,
        }
    }

    /// The IANA transport of a socket protocol; `None` for raw and packet sockets, which have
    /// no registered ports.
    pub fn of(protocol: Protocol) -> Option<Transport> {
        match protocol {
            Protocol::Tcp => Some(Transport::Tcp),
            Protocol::Udp => Some(Transport::Udp),
            Protocol::Sctp => Some(Transport::Sctp),
            Protocol::Raw | Protocol::Packet => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One registry row: a service registered for a port, or a range of ports, over one transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Service {
    pub name: &'static str,
    pub start: u16,
    pub end: u16,
    pub transport: Transport,
    pub description: &'static str,
}

impl Service {
    /// `80` or `6000-6063`.
    pub fn ports(&self) -> String {
        if self.start == self.end {
            self.start.to_string()
        } else {
            format!("{}-{}", self.start, self.end)
        }
    }
}

/// A row as stored: offsets into TEXT instead of pointers, so the table needs no relocations.
struct Row {
    start: u16,
    end: u16,
    name: u32,
    description: u32,
    name_len: u8,
    description_len: u8,
    transport: Transport,
}

const fn r(
    start: u16,
    end: u16,
    transport: Transport,
    name: u32,
    name_len: u8,
    description: u32,
    description_len: u8,
) -> Row {
    Row {
        start,
        end,
        name,
        description,
        name_len,
        description_len,
        transport,
    }
}

include!(concat!(env!("OUT_DIR"), "/registry_table.rs"));

fn text(offset: u32, len: u8) -> &'static str {
    let start = offset as usize;
    TEXT.get(start..start + usize::from(len)).unwrap_or_default()
}

fn service(row: &Row) -> Service {
    Service {
        name: text(row.name, row.name_len),
        start: row.start,
        end: row.end,
        transport: row.transport,
        description: text(row.description, row.description_len),
    }
}

/// How many rows the embedded registry holds.
pub fn len() -> usize {
    ROWS.len()
}

/// Every row, sorted by port then transport.
pub fn all() -> impl Iterator<Item = Service> {
    ROWS.iter().map(service)
}

/// The rows that cover any port in `start..=end`, optionally over one transport only, sorted by
/// port then transport (registry order within one port and transport).
pub fn in_range(start: u16, end: u16, transport: Option<Transport>) -> Vec<Service> {
    let first = ROWS.partition_point(|r| r.start < start);
    let last = ROWS.partition_point(|r| r.start <= end);
    // Single ports inside the window, plus ranges that start before it and reach into it.
    let before = RANGES
        .iter()
        .map(|&i| &ROWS[usize::from(i)])
        .filter(|r| r.start < start && r.end >= start);
    let mut rows: Vec<&Row> = before.chain(&ROWS[first..last]).collect();
    rows.retain(|r| transport.is_none_or(|t| r.transport == t));
    rows.iter().map(|r| service(r)).collect()
}

/// The rows that cover `port`.
pub fn by_port(port: u16, transport: Option<Transport>) -> Vec<Service> {
    in_range(port, port, transport)
}

/// The first-registered service name for a port and transport: the name a table shows.
pub fn primary_name(port: u16, transport: Transport) -> Option<&'static str> {
    by_port(port, Some(transport)).first().map(|s| s.name)
}

/// Every row registered under `name`, compared without regard to ASCII case (RFC 6335 §5.1).
pub fn by_name(name: &str) -> Vec<Service> {
    let cmp = |i: &u16| {
        let row = &ROWS[usize::from(*i)];
        cmp_ignore_case(text(row.name, row.name_len), name)
    };
    let first = BY_NAME.partition_point(|i| cmp(i) == Ordering::Less);
    BY_NAME[first..]
        .iter()
        .take_while(|i| cmp(i) == Ordering::Equal)
        .map(|&i| service(&ROWS[usize::from(i)]))
        .collect()
}

fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_every_port_inside() {
        for port in [6000, 6010, 6063] {
            let rows = by_port(port, Some(Transport::Tcp));
            assert!(rows.iter().any(|s| s.name == "x11"), "{port}: {rows:?}");
        }
        assert!(
            !by_port(6064, Some(Transport::Tcp))
                .iter()
                .any(|s| s.name == "x11")
        );
    }

    #[test]
    fn names_ignore_case() {
        assert_eq!(by_name("SSH"), by_name("ssh"));
        assert!(
            by_name("ssh")
                .iter()
                .any(|s| s.start == 22 && s.transport == Transport::Sctp)
        );
        assert!(by_name("no-such-service-here").is_empty());
    }

    #[test]
    fn sctp_and_dccp_rows_exist() {
        assert!(all().any(|s| s.transport == Transport::Dccp));
        assert_eq!(primary_name(2049, Transport::Sctp), Some("nfs"));
    }
}
