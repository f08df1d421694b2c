//! What a port number means: its IANA range and the service registered for it.
//!
//! Callers ask by port and protocol; how the table is stored (a small hand list today, the full
//! generated registry later) is this module's business.

mod abuse;
mod registry;

use serde::Serialize;

pub use abuse::{AbuseEntry, abuse};
pub use registry::service_name;

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
    use crate::model::Protocol;

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
}
