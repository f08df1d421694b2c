//! Ports with a documented history of abuse by trojans, backdoors, worms, botnets, miners and attack
//! tools, from the hand-entered, sourced `data/abuse.tsv` (compiled in by `build.rs`).
//!
//! A row here is a reason to look closer, never proof: any program may use any port, and most of
//! these ports have legitimate users too.

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
    /// trojan, backdoor, worm, botnet, miner, attack-tool, anonymity
    pub kind: &'static str,
    pub years: &'static str,
    /// One line on what the family did with the port.
    pub note: &'static str,
    /// Where the fact comes from.
    pub source: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/abuse_table.rs"));

/// Documented abuses of a port over a protocol (rows for both protocols included).
pub fn abuse(port: u16, protocol: Protocol) -> Vec<&'static AbuseEntry> {
    // A raw socket's "port" is an IP protocol number, a packet socket has none.
    if !protocol.has_ports() {
        return Vec::new();
    }
    ENTRIES
        .iter()
        .filter(|e| e.port == port && e.protocol.is_none_or(|p| p == protocol))
        .collect()
}

/// Documented abuses of a port over any protocol.
pub fn abuse_any(port: u16) -> Vec<&'static AbuseEntry> {
    ENTRIES.iter().filter(|e| e.port == port).collect()
}

/// Every abuse row, in file order (sorted by port).
pub fn all() -> &'static [AbuseEntry] {
    &ENTRIES
}
