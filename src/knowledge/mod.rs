//! What a port number means: its IANA range, the services registered for it (the full IANA
//! registry, compiled in), the names this machine gives it (/etc/services, a user file) and its
//! documented history of abuse.
//!
//! Callers ask by port and protocol; how the tables are stored is this module's business.

pub mod abuse;
pub mod facts;
pub mod local;
pub mod query;
pub mod registry;

use serde::Serialize;

use crate::model::Protocol;

pub use abuse::{AbuseEntry, abuse};
pub use registry::{Service, Transport};

/// The name a table shows for a port: the user's services file, then /etc/services (both only once
/// [`local::load`] has run), then the first service IANA registered for the port and protocol.
pub fn service_name(port: u16, protocol: Protocol) -> Option<&'static str> {
    service_name_for(port, protocol.into())
}

/// [`service_name`] for any IANA transport, SCTP and DCCP included.
pub fn service_name_for(port: u16, transport: Transport) -> Option<&'static str> {
    local::loaded()
        .and_then(|names| names.primary(port, transport))
        .map(|l| l.name.as_str())
        .or_else(|| registry::primary_name(port, transport))
}

/// Which of a socket's two ports names its service. A listener's own port; for a connection, the
/// side that has a listener on this machine, else the side outside the kernel's ephemeral range
/// (the other is a client's temporary port), else the local one. Without this, a client's
/// temporary port would be named and flagged as if it were a service.
pub fn service_port(
    socket: &crate::model::Socket,
    listening_here: impl Fn(u16) -> bool,
    ephemeral: &std::ops::RangeInclusive<u16>,
) -> u16 {
    let (local, remote) = (socket.local.port, socket.remote.port);
    if socket.state.is_listening() || remote == 0 || listening_here(local) {
        return local;
    }
    if listening_here(remote) || (ephemeral.contains(&local) && !ephemeral.contains(&remote)) {
        return remote;
    }
    local
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
        assert_eq!(service_name(22, Protocol::Tcp), Some("ssh"));
        assert_eq!(service_name(53, Protocol::Udp), Some("domain"));
        assert_eq!(service_name(443, Protocol::Tcp), Some("https"));
        assert_eq!(service_name(1, Protocol::Udp), Some("tcpmux"));
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
        let ephemeral = 32768..=60999;
        let none = |_| false;
        assert_eq!(service_port(&socket(8080, 0, Listen), none, &ephemeral), 8080);
        // A client's temporary port 54320 (a Back Orifice 2000 row) talking to https.
        assert_eq!(
            service_port(&socket(54320, 443, Established), none, &ephemeral),
            443
        );
        // The server side of the same connection, when its listener is known.
        assert_eq!(
            service_port(&socket(443, 54320, Established), |p| p == 443, &ephemeral),
            443
        );
        // An outgoing connection to a handler on 4444 from a temporary port.
        assert_eq!(
            service_port(&socket(40000, 4444, Established), none, &ephemeral),
            4444
        );
        // Both outside the range, nothing known: the local port.
        assert_eq!(service_port(&socket(22, 1022, Established), none, &ephemeral), 22);
    }
}
