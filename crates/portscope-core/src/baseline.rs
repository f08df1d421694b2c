//! Baselines: the listening ports of a known-good machine, in a TOML file a person can read, edit
//! and diff, and the comparison of the machine now against one.
//!
//! A listener is identified by protocol, address and port; the program is what is expected to
//! hold it. Entries are sorted and the file carries no timestamp, so saving the same machine twice
//! gives the same bytes and `git diff` shows only real changes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::model::Protocol;
use crate::watch::{Owner, PortKey, PortTable};

/// One expected listener.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    pub port: u16,
    pub protocol: Protocol,
    pub address: IpAddr,
    /// The program expected to hold it (its kernel name, `comm`). Absent: any program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

impl Listener {
    fn key(&self) -> (Protocol, IpAddr, u16) {
        (self.protocol, self.address, self.port)
    }
}

/// A baseline file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    #[serde(default, rename = "listener")]
    pub listeners: Vec<Listener>,
}

const HEADER: &str = "\
# portscope baseline: the ports this machine listens on, and the program expected on each.
# Check the machine against it with `portscope baseline check FILE` (exit 1 when something new
# listens). Edit freely: remove `program` to accept any program on a port.
";

impl Baseline {
    /// The listening ports of `table` (connections in it are ignored), sorted.
    pub fn from_table(table: &PortTable) -> Baseline {
        let mut listeners: Vec<Listener> = table
            .ports
            .iter()
            .filter(|(key, _)| key.is_listener())
            .map(|(key, owner)| Listener {
                port: key.port,
                protocol: key.protocol,
                address: key.address,
                program: owner.as_ref().map(|o| o.program.clone()),
            })
            .collect();
        listeners.sort();
        listeners.dedup();
        Baseline { listeners }
    }

    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("{HEADER}\n{body}")
    }

    /// Parses a baseline file; the error is one line naming what is wrong.
    pub fn parse(text: &str) -> Result<Baseline, String> {
        let baseline: Baseline = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let line = text.get(..span.start).map_or(0, |t| t.lines().count().max(1));
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })?;
        Ok(baseline)
    }

    /// Compares the machine now (`table`) against this baseline.
    pub fn check(&self, table: &PortTable) -> Report {
        let expected: BTreeMap<_, &Listener> = self.listeners.iter().map(|l| (l.key(), l)).collect();
        let mut report = Report::default();
        let mut seen = std::collections::BTreeSet::new();
        for (key, owner) in table.ports.iter().filter(|(k, _)| k.is_listener()) {
            let id = (key.protocol, key.address, key.port);
            seen.insert(id);
            match expected.get(&id) {
                None => report.new.push(Difference::new(key, owner, None)),
                Some(listener) => {
                    let program_differs = match (&listener.program, owner) {
                        (Some(want), Some(owner)) => &owner.program != want,
                        _ => false,
                    };
                    if program_differs {
                        report
                            .changed
                            .push(Difference::new(key, owner, listener.program.clone()));
                    } else {
                        report.matched += 1;
                    }
                }
            }
        }
        for listener in &self.listeners {
            if !seen.contains(&listener.key()) {
                report.missing.push(Difference {
                    protocol: listener.protocol,
                    address: listener.address,
                    port: listener.port,
                    owner: None,
                    expected_program: listener.program.clone(),
                });
            }
        }
        report.missing.dedup();
        report
    }
}

/// What differs from a baseline.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Listening now, not in the baseline.
    pub new: Vec<Difference>,
    /// Listening now, but held by another program than the baseline expects.
    pub changed: Vec<Difference>,
    /// In the baseline, not listening now.
    pub missing: Vec<Difference>,
    /// Listeners that match.
    pub matched: usize,
}

impl Report {
    /// Something listens that the baseline does not allow: the check fails.
    pub fn failed(&self) -> bool {
        !self.new.is_empty() || !self.changed.is_empty()
    }
}

/// One listener that differs, with who holds it now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    pub owner: Option<Owner>,
    pub expected_program: Option<String>,
}

impl Difference {
    fn new(key: &PortKey, owner: &Option<Owner>, expected_program: Option<String>) -> Difference {
        Difference {
            protocol: key.protocol,
            address: key.address,
            port: key.port,
            owner: owner.clone(),
            expected_program,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[[listener]]
port = 22
protocol = "tcp"
address = "0.0.0.0"
program = "sshd"

[[listener]]
port = 53
protocol = "udp"
address = "127.0.0.53"
"#;

    #[test]
    fn parses_and_round_trips() {
        let baseline = Baseline::parse(FILE).unwrap();
        assert_eq!(baseline.listeners.len(), 2);
        assert_eq!(baseline.listeners[1].program, None);
        assert_eq!(Baseline::parse(&baseline.to_toml()).unwrap(), baseline);
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = Baseline::parse("[[listener]]\nport = \"ssh\"\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(Baseline::parse("[[listener]]\nport = 1\nprotocol = \"dccp\"\naddress = \"::\"").is_err());
        assert!(Baseline::parse("surprise = 1").is_err());
    }
}
