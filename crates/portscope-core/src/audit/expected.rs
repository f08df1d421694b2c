//! The table of known servers for well-known ports (data/expected-servers.toml, built in).
//!
//! The table answers one question: for a listener on port P, is program X a server one would
//! expect there? Ports absent from the table are not judged.

use std::collections::HashMap;

use serde::Deserialize;

use crate::error::ParseError;
use crate::model::Process;
use crate::program;

const BUILT_IN: &str = include_str!("../../data/expected-servers.toml");
const PACKET: &str = include_str!("../../data/expected-packet.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PacketFile {
    programs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    any: Option<AnyPort>,
    #[serde(default)]
    service: Vec<Service>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnyPort {
    programs: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Service {
    name: String,
    ports: Vec<u16>,
    programs: Vec<String>,
}

/// Known servers by port.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    any: Vec<String>,
    /// port → (service names, programs)
    ports: HashMap<u16, (Vec<String>, Vec<String>)>,
    /// Programs expected to hold packet and raw sockets (data/expected-packet.toml).
    packet: Vec<String>,
}

impl Expected {
    /// The table shipped with portscope.
    pub fn built_in() -> Result<Expected, ParseError> {
        let mut expected = Expected::parse(BUILT_IN)?;
        let packet: PacketFile = toml::from_str(PACKET)
            .map_err(|e| ParseError::malformed("expected-packet table", e.message()))?;
        expected.packet = packet.programs;
        Ok(expected)
    }

    /// The program names expected to hold packet and raw sockets.
    pub fn packet_holders(&self) -> &[String] {
        &self.packet
    }

    pub fn parse(text: &str) -> Result<Expected, ParseError> {
        let file: File =
            toml::from_str(text).map_err(|e| ParseError::malformed("expected-servers table", e.message()))?;
        let mut expected = Expected {
            any: file.any.map(|a| a.programs).unwrap_or_default(),
            ports: HashMap::new(),
            packet: Vec::new(),
        };
        for service in file.service {
            for port in service.ports {
                let entry = expected.ports.entry(port).or_default();
                entry.0.push(service.name.clone());
                entry.1.extend(service.programs.iter().cloned());
            }
        }
        Ok(expected)
    }

    /// The service names the table gives `port`, or `None` when the table does not judge it.
    pub fn services(&self, port: u16) -> Option<&[String]> {
        self.ports.get(&port).map(|(names, _)| names.as_slice())
    }

    /// Whether `process` is a known server for `port`. `None` when the port is not in the table.
    pub fn is_expected(&self, port: u16, process: &Process) -> Option<bool> {
        let (_, programs) = self.ports.get(&port)?;
        let names = program::program_names(process);
        Some(
            programs
                .iter()
                .chain(&self.any)
                .any(|pattern| names.iter().any(|name| program::matches(pattern, name))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_table_parses_and_knows_the_seed_cases() {
        let table = Expected::built_in().expect("the shipped table parses");
        assert_eq!(table.services(80), Some(&["http".to_string()][..]));
        assert!(table.services(31337).is_none());
        assert!(table.ports[&22].1.contains(&"sshd".to_string()));
        assert!(table.ports[&53].1.contains(&"systemd-resolved".to_string()));
        assert!(table.any.contains(&"docker-proxy".to_string()));
    }

    #[test]
    fn rejects_unknown_keys() {
        assert!(Expected::parse("[[service]]\nname='x'\nports=[1]\nprograms=[]\nextra=1\n").is_err());
        assert!(Expected::parse("[[service]]\nname='x'\nports=[70000]\nprograms=[]\n").is_err());
    }
}
