//! Ports with a history of abuse by trojans, backdoors, botnets, miners and attack tools.
//!
//! A row here is a reason to look closer, never proof: any program may use any port.

use serde::Serialize;

use crate::model::Protocol;

/// One documented abuse of a port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AbuseEntry {
    pub port: u16,
    /// `None` when the abuse was seen on both TCP and UDP.
    pub protocol: Option<Protocol>,
    /// The malware or tool family, e.g. "Back Orifice".
    pub family: &'static str,
    /// trojan, backdoor, botnet, miner, attack-tool, anonymity
    pub kind: &'static str,
    pub years: &'static str,
    pub source: &'static str,
}

const ENTRIES: &[AbuseEntry] = &[
    AbuseEntry {
        port: 4444,
        protocol: Some(Protocol::Tcp),
        family: "Metasploit default handler",
        kind: "attack-tool",
        years: "2003-",
        source: "https://docs.metasploit.com/",
    },
    AbuseEntry {
        port: 12345,
        protocol: Some(Protocol::Tcp),
        family: "NetBus",
        kind: "trojan",
        years: "1998-2000s",
        source: "https://en.wikipedia.org/wiki/NetBus",
    },
    AbuseEntry {
        port: 31337,
        protocol: None,
        family: "Back Orifice",
        kind: "trojan",
        years: "1998-2000s",
        source: "https://en.wikipedia.org/wiki/Back_Orifice",
    },
];

/// Documented abuses of a port over a protocol (rows for both protocols included).
pub fn abuse(port: u16, protocol: Protocol) -> Vec<&'static AbuseEntry> {
    ENTRIES
        .iter()
        .filter(|e| e.port == port && e.protocol.is_none_or(|p| p == protocol))
        .collect()
}
