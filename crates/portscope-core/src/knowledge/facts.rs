//! The formats of portscope's two committed data files, `data/iana-services.tsv` (written by
//! `tools/gen-registry.py` from IANA's CSV) and `data/abuse.tsv` (entered by hand).
//!
//! `build.rs` includes this file to turn the data into static tables at compile time, and the tests
//! use it to check that every row made it into the binary. It therefore depends on nothing else in
//! the crate. Both formats: UTF-8, one row per line, tab-separated, `#` starts a comment line.

/// The transport protocols that IANA registers ports for.
pub const PROTOCOLS: [&str; 4] = ["tcp", "udp", "sctp", "dccp"];

/// The longest name or description a row may carry (the table stores lengths in one byte).
pub const MAX_TEXT: usize = 255;

/// One registry row: a service name for a port (or range) over one protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fact<'a> {
    pub start: u16,
    pub end: u16,
    /// One of [`PROTOCOLS`].
    pub protocol: &'a str,
    pub name: &'a str,
    pub description: &'a str,
}

/// One hand-entered abuse row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbuseFact<'a> {
    pub port: u16,
    /// `tcp`, `udp`, or `any` for both.
    pub protocol: &'a str,
    pub family: &'a str,
    pub kind: &'a str,
    pub years: &'a str,
    pub note: &'a str,
    pub source: &'a str,
}

/// The kinds an abuse row may have.
pub const ABUSE_KINDS: [&str; 8] = [
    "trojan",
    "backdoor",
    "worm",
    "botnet",
    "miner",
    "attack-tool",
    "anonymity",
    // An intrusion set (an ATT&CK group) seen on the port, rather than one tool.
    "threat-group",
];

/// Parses `data/iana-services.tsv`: `PORT[-END] <TAB> PROTOCOL <TAB> NAME <TAB> DESCRIPTION`.
pub fn parse_registry(text: &str) -> Result<Vec<Fact<'_>>, String> {
    rows(text)
        .map(|(line, fields)| {
            let [port, protocol, name, description] = fields[..] else {
                return Err(format!(
                    "line {line}: expected 4 tab-separated fields, found {}",
                    fields.len()
                ));
            };
            let (start, end) = parse_port_range(port).map_err(|e| format!("line {line}: {e}"))?;
            if !PROTOCOLS.contains(&protocol) {
                return Err(format!("line {line}: unknown protocol {protocol:?}"));
            }
            if name.is_empty() || name.len() > MAX_TEXT || description.len() > MAX_TEXT {
                return Err(format!("line {line}: empty or over-long name or description"));
            }
            Ok(Fact {
                start,
                end,
                protocol,
                name,
                description,
            })
        })
        .collect()
}

/// Parses `data/abuse.tsv`: `PORT <TAB> PROTOCOL <TAB> FAMILY <TAB> KIND <TAB> YEARS <TAB> NOTE <TAB> SOURCE`.
pub fn parse_abuse(text: &str) -> Result<Vec<AbuseFact<'_>>, String> {
    rows(text)
        .map(|(line, fields)| {
            let [port, protocol, family, kind, years, note, source] = fields[..] else {
                return Err(format!(
                    "line {line}: expected 7 tab-separated fields, found {}",
                    fields.len()
                ));
            };
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("line {line}: bad port {port:?}"))?;
            if !matches!(protocol, "tcp" | "udp" | "any") {
                return Err(format!("line {line}: protocol must be tcp, udp or any"));
            }
            if !ABUSE_KINDS.contains(&kind) {
                return Err(format!("line {line}: unknown kind {kind:?}"));
            }
            if family.is_empty() || years.is_empty() || note.is_empty() {
                return Err(format!("line {line}: family, years and note must not be empty"));
            }
            if !source.starts_with("https://") && !source.starts_with("http://") {
                return Err(format!("line {line}: the source must be a URL"));
            }
            Ok(AbuseFact {
                port,
                protocol,
                family,
                kind,
                years,
                note,
                source,
            })
        })
        .collect()
}

/// `N` or `N-M` with N ≤ M ≤ 65535.
pub fn parse_port_range(text: &str) -> Result<(u16, u16), String> {
    let (start, end) = text.split_once('-').unwrap_or((text, text));
    let number = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("bad port {text:?} (ports are 0-65535)"))
    };
    let (start, end) = (number(start)?, number(end)?);
    if start > end {
        return Err(format!("bad port range {text:?} (start after end)"));
    }
    Ok((start, end))
}

/// Data lines with their 1-based line numbers, split on tabs.
fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .map(|(i, l)| (i + 1, l.split('\t').collect()))
}
