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
    /// The program expected to hold it, by name. Absent: any program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// The executable expected to hold it, by path: what identifies a program, since a process
    /// can call itself anything. When present it decides; `program` is then only for people.
    /// Written as `portscope_core::render::path` shows it: bytes that are not UTF-8 as `\xNN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exe: Option<String>,
}

impl Listener {
    /// Whether `owner` is the program this listener expects. The executable's path decides
    /// when the baseline has one; a name alone is matched against the executable's file name, or
    /// against the process name only for an executable in a system directory, so that a program
    /// in /tmp that calls itself `python3` is not taken for Python.
    pub fn admits(&self, owner: &Owner) -> bool {
        if let Some(want) = &self.exe {
            return owner
                .exe
                .as_deref()
                .is_some_and(|exe| crate::render::path(exe) == want.as_str());
        }
        let Some(want) = &self.program else { return true };
        let Some(exe) = owner.exe.as_deref() else {
            // Not readable (another user's process without root): the name is all there is.
            return &owner.program == want;
        };
        let exe_name = exe.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        exe_name.starts_with(want.as_str()) || (&owner.program == want && crate::program::is_system_path(exe))
    }

    /// How a report names what is expected: the program, or the executable.
    fn expected(&self) -> Option<String> {
        match (&self.program, &self.exe) {
            (Some(program), Some(exe)) => Some(format!("{program} ({exe})")),
            (Some(program), None) => Some(program.clone()),
            (None, exe) => exe.clone(),
        }
    }

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
# listens). Edit freely: remove `program` and `exe` to accept any program on a port.
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
                // Escaped as people see it (`\xff` for a byte that is not UTF-8, `\\` for a
                // backslash): TOML holds only text, and the escaping is one-to-one.
                exe: owner
                    .as_ref()
                    .and_then(|o| o.exe.as_deref())
                    .map(|e| crate::render::path(e).into_owned()),
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
                    let program_differs = owner.as_ref().is_some_and(|owner| !listener.admits(owner));
                    if program_differs {
                        report
                            .changed
                            .push(Difference::new(key, owner, listener.expected()));
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
                    expected_program: listener.expected(),
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
    fn executables_decide_and_survive_any_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let owner = |exe: &[u8], program: &str| Owner {
            pid: 7,
            program: program.into(),
            exe: Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(exe))),
            uid: 0,
            user: None,
            unit: None,
        };
        let key = PortKey {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port: 22,
            remote: None,
            netns: 0,
        };
        let mut table = PortTable::default();
        table.ports.insert(key, Some(owner(b"/opt/\xff\\x/sshd", "sshd")));
        let saved = Baseline::parse(&Baseline::from_table(&table).to_toml()).unwrap();
        assert_eq!(saved.check(&table).matched, 1);
        // The same name from elsewhere is another program.
        let mut hostile = PortTable::default();
        hostile.ports.insert(key, Some(owner(b"/tmp/x/sshd", "sshd")));
        assert_eq!(saved.check(&hostile).changed.len(), 1);
        // A name alone: the executable's file name, or comm only for a system path.
        let by_name = Baseline::parse(FILE).unwrap();
        let mut renamed = PortTable::default();
        renamed.ports.insert(key, Some(owner(b"/tmp/x/hostile", "sshd")));
        assert_eq!(by_name.check(&renamed).changed.len(), 1);
        let mut honest = PortTable::default();
        honest.ports.insert(key, Some(owner(b"/usr/sbin/sshd", "sshd")));
        assert_eq!(by_name.check(&honest).changed.len(), 0);
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = Baseline::parse("[[listener]]\nport = \"ssh\"\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(Baseline::parse("[[listener]]\nport = 1\nprotocol = \"dccp\"\naddress = \"::\"").is_err());
        assert!(Baseline::parse("surprise = 1").is_err());
    }
}
