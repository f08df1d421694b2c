//! Answers recorded from the Linux build, which the Windows build must give word for word: the
//! knowledge about a port (IANA, documented abuse, the caveat) is the same everywhere. The Linux
//! integration tests check the Linux binary still prints them (`lookup::*recorded*`,
//! `explain::*recorded*`), the Windows tests (`tests/windows.rs`, under Wine) check portscope.exe
//! does, so the two cannot drift. Regenerate after a knowledge change with the commands in the
//! Linux tests' failure messages.
#![allow(dead_code)]

/// `portscope lookup 31337` (no colour, no services file).
pub const LOOKUP_31337: &str = include_str!("lookup-31337.txt");

/// The knowledge block of `portscope explain 31337`: from `Range:` to the caveat line.
pub const EXPLAIN_31337_TEXT: &str = include_str!("explain-31337.txt");

/// The knowledge keys of `portscope explain 31337 --json` ([`KNOWLEDGE_KEYS`]).
pub const EXPLAIN_31337_JSON: &str = include_str!("explain-31337.json");

/// The keys of `explain --json` that are knowledge only (the rest describe this host now).
pub const KNOWLEDGE_KEYS: [&str; 9] = [
    "port",
    "address",
    "start",
    "end",
    "transport",
    "classes",
    "services",
    "abuse",
    "caveat",
];

/// The knowledge block of an `explain` text output, as [`EXPLAIN_31337_TEXT`] holds it.
pub fn knowledge_text(explain: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in explain.lines() {
        inside |= line.starts_with("Range:");
        if inside {
            out.push_str(line);
            out.push('\n');
            if line.starts_with("A port number alone") {
                break;
            }
        }
    }
    out
}

/// The knowledge keys of an `explain --json` output.
pub fn knowledge_json(explain: &serde_json::Value) -> serde_json::Value {
    KNOWLEDGE_KEYS
        .iter()
        .map(|&key| (key.to_string(), explain[key].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}
