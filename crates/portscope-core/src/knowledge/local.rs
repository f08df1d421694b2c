//! Service names that this machine or its user adds to IANA's: /etc/services and a user file
//! (`--services FILE` or `$PORTSCOPE_SERVICES`, same format).
//!
//! Precedence for the name a table shows: the user file, then /etc/services, then the IANA
//! registry. Within one file the first line for a port and protocol wins, as with getservbyport(3).
//! [`ServiceNames`] is a value: the front end reads the files (bounded) and hands the bytes here,
//! and every command that names ports gets the same value, so none of them can ignore the user's
//! file.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use super::registry::{self, Transport};
use crate::model::Protocol;

/// Where the system's service names live.
pub const ETC_SERVICES: &str = "/etc/services";

/// One line of a services(5) file: `name port/protocol [aliases…] [# comment]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceLine {
    pub name: String,
    pub port: u16,
    pub transport: Transport,
    pub aliases: Vec<String>,
}

/// Parses a services(5) file. Each data line yields its 1-based line number and either the parsed
/// line or why it is malformed; blank lines and comments yield nothing.
pub fn parse(text: &[u8]) -> Vec<(usize, std::result::Result<ServiceLine, String>)> {
    String::from_utf8_lossy(text)
        .lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let data = line.split('#').next().unwrap_or_default();
            let mut words = data.split_whitespace();
            let name = words.next()?;
            Some((i + 1, parse_line(name, words)))
        })
        .collect()
}

fn parse_line<'a>(
    name: &str,
    mut words: impl Iterator<Item = &'a str>,
) -> std::result::Result<ServiceLine, String> {
    let spec = words
        .next()
        .ok_or_else(|| format!("{}: missing PORT/PROTOCOL", crate::render::token(name)))?;
    let (port, protocol) = spec
        .split_once('/')
        .ok_or_else(|| format!("{} is not PORT/PROTOCOL", crate::render::token(spec)))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("bad port {} (ports are 0-65535)", crate::render::token(port)))?;
    let transport = Transport::parse(protocol).ok_or_else(|| {
        format!(
            "unknown protocol {} (tcp, udp, sctp, dccp)",
            crate::render::token(protocol)
        )
    })?;
    Ok(ServiceLine {
        name: name.to_string(),
        port,
        transport,
        aliases: words.map(str::to_string).collect(),
    })
}

/// Which file a local name came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "path")]
pub enum Origin {
    /// /etc/services.
    System,
    /// `--services FILE` or `$PORTSCOPE_SERVICES`.
    User(PathBuf),
}

impl Origin {
    pub fn label(&self) -> String {
        match self {
            Origin::System => ETC_SERVICES.to_string(),
            Origin::User(path) => path.display().to_string(),
        }
    }
}

/// A name from a local file, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalName {
    pub name: String,
    pub port: u16,
    pub transport: Transport,
    pub aliases: Vec<String>,
    pub origin: Origin,
}

/// The local names, keyed by port and transport, in precedence order (user file first).
#[derive(Clone, Debug, Default)]
pub struct LocalNames {
    by_port: HashMap<(u16, Transport), Vec<LocalName>>,
}

impl LocalNames {
    /// Adds a file's lines after those already present (so they rank below them).
    fn add(&mut self, lines: impl IntoIterator<Item = ServiceLine>, origin: &Origin) {
        for line in lines {
            self.by_port
                .entry((line.port, line.transport))
                .or_default()
                .push(LocalName {
                    name: line.name,
                    port: line.port,
                    transport: line.transport,
                    aliases: line.aliases,
                    origin: origin.clone(),
                });
        }
    }

    /// The name that wins for a port and transport.
    pub fn primary(&self, port: u16, transport: Transport) -> Option<&LocalName> {
        self.by_port
            .get(&(port, transport))
            .and_then(|names| names.first())
    }

    /// Every local name for a port and transport, winner first.
    pub fn for_port(&self, port: u16, transport: Transport) -> &[LocalName] {
        self.by_port
            .get(&(port, transport))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Every local entry whose name or alias is `name` (ASCII case ignored), sorted by port.
    pub fn by_name(&self, name: &str) -> Vec<&LocalName> {
        let mut found: Vec<&LocalName> = self
            .by_port
            .values()
            .flatten()
            .filter(|l| {
                l.name.eq_ignore_ascii_case(name) || l.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
            })
            .collect();
        found.sort_by_key(|l| (l.port, l.transport));
        found
    }
}

/// The names ports go by here: the user's file, then the name in common use (`common.rs`), then
/// /etc/services, then IANA's registry.
#[derive(Clone, Debug, Default)]
pub struct ServiceNames {
    local: LocalNames,
}

impl ServiceNames {
    /// IANA's names alone (`--numeric` callers and tests).
    pub fn iana() -> ServiceNames {
        ServiceNames::default()
    }

    /// The names from a user file (strictly: a malformed line is an error naming the file and
    /// line) and the system file (leniently: a line this parser does not understand is skipped,
    /// since the system file is not the user's input).
    pub fn from_files(
        user: Option<(&PathBuf, &[u8])>,
        system: Option<&[u8]>,
    ) -> Result<ServiceNames, String> {
        let mut local = LocalNames::default();
        if let Some((path, bytes)) = user {
            let lines = parse(bytes)
                .into_iter()
                .map(|(n, line)| line.map_err(|e| format!("{}: line {n}: {e}", path.display())))
                .collect::<Result<Vec<_>, String>>()?;
            local.add(lines, &Origin::User(path.clone()));
        }
        if let Some(bytes) = system {
            let lines = parse(bytes).into_iter().filter_map(|(_, line)| line.ok());
            local.add(lines, &Origin::System);
        }
        Ok(ServiceNames { local })
    }

    /// The name a table shows for a port and protocol.
    pub fn name(&self, port: u16, protocol: Protocol) -> Option<&str> {
        self.name_for(port, Transport::of(protocol)?)
    }

    /// [`ServiceNames::name`] for any IANA transport, SCTP and DCCP included.
    pub fn name_for(&self, port: u16, transport: Transport) -> Option<&str> {
        let local = self.local.primary(port, transport);
        // The user's own file beats common use; common use beats the system file, which on some
        // distributions is a copy of the registry (`irdmi` for 8000).
        if let Some(user) = local.filter(|l| matches!(l.origin, Origin::User(_))) {
            return Some(&user.name);
        }
        super::common::common(port, transport)
            .map(|c| c.name)
            .or(local.map(|l| l.name.as_str()))
            .or_else(|| registry::primary_name(port, transport))
    }

    /// The names from local files alone.
    pub fn local(&self) -> &LocalNames {
        &self.local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_services_lines() {
        let text =
            b"# comment\n\nssh\t\t22/tcp\t\t\t# SSH\nsmtp 25/tcp mail\nbad 99999/tcp\nx 1/ddp\nlonely\n";
        let lines = parse(text);
        assert_eq!(lines.len(), 5);
        let (n, first) = &lines[0];
        assert_eq!(*n, 3);
        assert_eq!(first.as_ref().map(|l| (l.name.as_str(), l.port)), Ok(("ssh", 22)));
        let smtp = lines[1].1.as_ref().map(|l| l.aliases.clone());
        assert_eq!(smtp, Ok(vec!["mail".to_string()]));
        assert!(lines[2].1.is_err() && lines[3].1.is_err() && lines[4].1.is_err());
    }

    #[test]
    fn earlier_files_win() {
        let mut names = LocalNames::default();
        let line = |name: &str| ServiceLine {
            name: name.into(),
            port: 8080,
            transport: Transport::Tcp,
            aliases: vec![],
        };
        names.add([line("mine")], &Origin::User("f".into()));
        names.add([line("http-alt")], &Origin::System);
        assert_eq!(
            names.primary(8080, Transport::Tcp).map(|l| l.name.as_str()),
            Some("mine")
        );
        assert_eq!(names.for_port(8080, Transport::Tcp).len(), 2);
        assert_eq!(names.by_name("HTTP-ALT").len(), 1);
    }
}
