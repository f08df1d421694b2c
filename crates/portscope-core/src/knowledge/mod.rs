//! What a port number means: its IANA range, the services registered for it (the full IANA
//! registry, compiled in), the names this machine gives it (/etc/services, a user file) and its
//! documented history of abuse.
//!
//! Callers ask by port and protocol; how the tables are stored is this module's business.

pub mod abuse;
pub mod common;
pub mod facts;
pub mod local;
pub mod query;
pub mod registry;

use std::collections::HashSet;
use std::ops::RangeInclusive;

use serde::Serialize;

use crate::model::{Protocol, Socket};

pub use abuse::{AbuseEntry, abuse};
pub use local::{LocalNames, ServiceNames};
pub use registry::{Service, Transport};

/// A port as every command's `PORT` argument takes it (`list -p`, `close`, `watch -p`,
/// `history -p`): a number from 1 to 65535, or an IANA service name registered on exactly one
/// port (`http`, `ssh`, any case). The error is the one line the user sees.
pub fn port_argument(text: &str) -> Result<u16, String> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!(
                "{text} is not a port: a port is a number from 1 to 65535"
            )),
            Ok(port) => Ok(port),
        };
    }
    let mut ports: Vec<u16> = registry::all()
        .filter(|s| s.name.eq_ignore_ascii_case(text) && s.start == s.end)
        .map(|s| s.start)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    match ports.as_slice() {
        [port] => Ok(*port),
        [] => Err(format!(
            "`{text}` is neither a port number (1-65535) nor a registered service name (`portscope lookup NAME` searches)"
        )),
        many => Err(format!(
            "`{text}` is registered on several ports ({}); give the number",
            many.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        )),
    }
}

/// Which end of a socket is the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// This machine serves: a listener, or a connection accepted by one (or on a fixed port).
    Local,
    /// This machine is the client: the peer's port is the service.
    Remote,
}

/// The one rule for which side of a connection is "the service", used by every command that
/// names or judges a port (list, audit, explain, watch).
///
/// A listener's own port; for a connection, the side that has a listener on this machine, else
/// the side outside the kernel's ephemeral range (the other is a client's temporary port), else
/// the local one. Without this, a client's temporary port would be named and flagged as if it
/// were a service.
#[derive(Clone, Debug)]
pub struct ServiceSides {
    listening: HashSet<(Protocol, u16)>,
    ephemeral: RangeInclusive<u16>,
}

impl ServiceSides {
    /// The rule for the sockets of one snapshot (their listeners) and the host's ephemeral range.
    pub fn new(sockets: &[Socket], ephemeral: RangeInclusive<u16>) -> ServiceSides {
        ServiceSides {
            listening: sockets
                .iter()
                .filter(|s| s.state.is_listening())
                .map(|s| (s.protocol, s.local.port))
                .collect(),
            ephemeral,
        }
    }

    /// Whether something on this machine listens on `port`.
    pub fn listens(&self, protocol: Protocol, port: u16) -> bool {
        self.listening.contains(&(protocol, port))
    }

    /// The kernel's range for the local end of outgoing connections.
    pub fn ephemeral(&self) -> &RangeInclusive<u16> {
        &self.ephemeral
    }

    pub fn side(&self, socket: &Socket) -> Side {
        let (local, remote) = (socket.local.port, socket.remote.port);
        let listening = |port| self.listens(socket.protocol, port);
        if socket.state.is_listening() || remote == 0 || listening(local) {
            return Side::Local;
        }
        if listening(remote) || (self.ephemeral.contains(&local) && !self.ephemeral.contains(&remote)) {
            return Side::Remote;
        }
        Side::Local
    }

    /// The port that names the socket's service.
    pub fn port(&self, socket: &Socket) -> u16 {
        match self.side(socket) {
            Side::Local => socket.local.port,
            Side::Remote => socket.remote.port,
        }
    }

    /// A connection accepted by a listener on this machine (the listener speaks for it).
    pub fn accepted_here(&self, socket: &Socket) -> bool {
        !socket.state.is_listening() && self.listens(socket.protocol, socket.local.port)
    }
}

/// IANA's three port ranges (RFC 6335 section 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PortClass {
    /// 0–1023: assigned by IANA; binding needs privileges on most systems.
    WellKnown,
    /// 1024–49151: registered with IANA for a service.
    Registered,
    /// 49152–65535: never assigned; used for ephemeral and private ports.
    Dynamic,
}

impl PortClass {
    pub fn of(port: u16) -> PortClass {
        match port {
            0..=1023 => PortClass::WellKnown,
            1024..=49151 => PortClass::Registered,
            _ => PortClass::Dynamic,
        }
    }

    /// What the range means, in a sentence a newcomer can read.
    pub fn meaning(self) -> &'static str {
        match self {
            PortClass::WellKnown => {
                "ports 0-1023, assigned by IANA to long-standing services; on Linux only root (or a \
                 program with CAP_NET_BIND_SERVICE) may listen on them"
            }
            PortClass::Registered => {
                "ports 1024-49151, registered with IANA by vendors and projects; any user's program \
                 may listen on them, registered or not"
            }
            PortClass::Dynamic => {
                "ports 49152-65535, never assigned; systems pick them for the local end of outgoing \
                 connections (Linux uses 32768-60999 by default), and programs may use them freely"
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PortClass::WellKnown => "well-known",
            PortClass::Registered => "registered",
            PortClass::Dynamic => "dynamic",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_boundaries() {
        assert_eq!(PortClass::of(0), PortClass::WellKnown);
        assert_eq!(PortClass::of(1023), PortClass::WellKnown);
        assert_eq!(PortClass::of(1024), PortClass::Registered);
        assert_eq!(PortClass::of(49151), PortClass::Registered);
        assert_eq!(PortClass::of(49152), PortClass::Dynamic);
        assert_eq!(PortClass::of(65535), PortClass::Dynamic);
    }

    #[test]
    fn common_services() {
        let names = ServiceNames::iana();
        assert_eq!(names.name(22, Protocol::Tcp), Some("ssh"));
        assert_eq!(names.name(53, Protocol::Udp), Some("domain"));
        assert_eq!(names.name(443, Protocol::Tcp), Some("https"));
        assert_eq!(names.name(1, Protocol::Udp), Some("tcpmux"));
    }

    fn socket(local: u16, remote: u16, state: crate::model::SocketState) -> crate::model::Socket {
        use crate::model::{Endpoint, Socket};
        let lo = std::net::IpAddr::from([127, 0, 0, 1]);
        Socket::new(
            Protocol::Tcp,
            Endpoint::new(lo, local),
            Endpoint::new(lo, remote),
            state,
        )
    }

    #[test]
    fn service_port_picks_the_service_side() {
        use crate::model::SocketState::{Established, Listen};
        let none = ServiceSides::new(&[], 32768..=60999);
        assert_eq!(none.port(&socket(8080, 0, Listen)), 8080);
        // A client's temporary port 54320 (a Back Orifice 2000 row) talking to https.
        assert_eq!(none.port(&socket(54320, 443, Established)), 443);
        assert_eq!(none.side(&socket(54320, 443, Established)), Side::Remote);
        // The server side of the same connection, when its listener is known.
        let https = ServiceSides::new(&[socket(443, 0, Listen)], 32768..=60999);
        assert_eq!(https.port(&socket(443, 54320, Established)), 443);
        assert!(https.accepted_here(&socket(443, 54320, Established)));
        // An outgoing connection to a handler on 4444 from a temporary port.
        assert_eq!(none.port(&socket(40000, 4444, Established)), 4444);
        // Both outside the range, nothing known: the local port.
        assert_eq!(none.port(&socket(22, 1022, Established)), 22);
        // A connection from a fixed local port 4444 to https: the local 4444 is the service side.
        assert_eq!(none.side(&socket(4444, 443, Established)), Side::Local);
        // A narrowed ephemeral range changes the answer: the host's own setting decides.
        let narrow = ServiceSides::new(&[], 40000..=40100);
        assert_eq!(narrow.port(&socket(54320, 443, Established)), 54320);
    }
}
