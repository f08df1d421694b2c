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
    /// trojan, backdoor, worm, botnet, miner, attack-tool, anonymity, threat-group
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

/// The rows a name a person has heard of points at: a family ("NetBus", "back orifice") or a
/// kind ("trojan", "trojans", "backdoor", "attack tool"); spellings the table does not carry
/// ("Sub7") are not guessed. Case, spaces and
/// punctuation do not matter; a family matches when the words typed, run together, read the same
/// as consecutive words of its name ("netbus" also finds "NetBus 2.0 Pro", "backorifice" finds
/// "Back Orifice 2000"). An empty list when nothing matches.
pub fn by_name(name: &str) -> Vec<&'static AbuseEntry> {
    let asked = words(name);
    if asked.is_empty() {
        return Vec::new();
    }
    let joined = asked.concat();
    // "trojans" asks for the kind "trojan".
    let kind = joined.strip_suffix('s').unwrap_or(&joined);
    ENTRIES
        .iter()
        .filter(|e| {
            let family = words(e.family);
            let kind_words = words(e.kind).concat();
            runs_together(&family, &joined) || kind_words == joined || kind_words == kind
        })
        .collect()
}

/// Whether some run of consecutive `words` reads `joined` when run together: "back orifice" and
/// "backorifice" both find "Back Orifice 2000".
fn runs_together(words: &[String], joined: &str) -> bool {
    (0..words.len()).any(|start| {
        let mut run = String::new();
        words[start..].iter().any(|w| {
            run.push_str(w);
            run == joined
        })
    })
}

/// Lowercase alphanumeric words: "Mirai (TR-064 variant)" → mirai, tr, 064, variant.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(name: &str) -> Vec<u16> {
        let mut ports: Vec<u16> = by_name(name).iter().map(|e| e.port).collect();
        ports.dedup();
        ports
    }

    #[test]
    fn finds_families_and_kinds_by_the_name_people_use() {
        assert!(ports("netbus").starts_with(&[12345, 12346]));
        assert!(ports("NetBus").contains(&20034));
        assert!(ports("back orifice").contains(&31337));
        assert_eq!(ports("BackOrifice"), ports("Back-Orifice"));
        assert!(ports("subseven").contains(&27374));
        assert!(by_name("trojans").iter().all(|e| e.kind == "trojan"));
        assert!(!by_name("trojan").is_empty());
        assert!(by_name("backdoor").iter().all(|e| e.kind == "backdoor"));
        assert!(!by_name("attack tool").is_empty());
        assert!(by_name("ssh").is_empty());
        assert!(by_name("").is_empty());
        assert!(by_name("orifice back").is_empty());
    }
}
