//! Baselines: the listening ports of a known-good machine, in a TOML file a person can read, edit
//! and diff, and the comparison of the machine now against one.
//!
//! A listener is identified by its network namespace, protocol, address and port; the program is
//! what is expected to hold it. The namespace is written as a name that still means the same
//! namespace tomorrow: absent for the one portscope runs in (the host's), the `ip netns` or
//! container name where there is one, and `net:[INODE]` only for a namespace with no name, which
//! matches for as long as that namespace lives. Entries are sorted and the file carries no timestamp, so saving the same machine twice
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
    /// The network namespace, as [`netns_label`] writes it; absent for portscope's own (the
    /// host's, when it runs there). A file written before namespaces were recorded has none, so
    /// its listeners are read as the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
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

    fn key(&self) -> ListenerKey {
        (self.netns.clone(), self.protocol, self.address, self.port)
    }
}

/// What identifies a listener in a baseline: namespace, protocol, address, port.
type ListenerKey = (Option<String>, Protocol, IpAddr, u16);

/// How a baseline names the namespace of `key`: `None` for portscope's own, else its name (a
/// named or container namespace), `host` for the machine's own seen from another one, or
/// `net:[INODE]` for one with no name (see [`crate::model::Netns::label`]).
pub fn netns_label(table: &PortTable, key: &PortKey) -> Option<String> {
    table.netns_of(key).map(|netns| netns.label())
}

fn key_of(table: &PortTable, key: &PortKey) -> ListenerKey {
    (netns_label(table, key), key.protocol, key.address, key.port)
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
                netns: netns_label(table, key),
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
            let message = crate::render::clip_quoted(e.message().trim());
            match e.span() {
                Some(span) => {
                    let line = text.get(..span.start).map_or(0, |t| t.lines().count().max(1));
                    format!("line {line}: {message}")
                }
                None => message,
            }
        })?;
        // Two entries for one listener (an edit, a merge of two files): checking would use one
        // and silently ignore the other, so the file is refused instead.
        let mut seen = std::collections::BTreeSet::new();
        for listener in &baseline.listeners {
            if !seen.insert(listener.key()) {
                let address = std::net::SocketAddr::new(listener.address, listener.port);
                return Err(format!(
                    "two entries for {} {address}; keep one (with both, one would silently win)",
                    listener.protocol
                ));
            }
        }
        Ok(baseline)
    }

    /// Compares the machine now (`table`) against this baseline.
    pub fn check(&self, table: &PortTable) -> Report {
        let expected: BTreeMap<_, &Listener> = self.listeners.iter().map(|l| (l.key(), l)).collect();
        let mut report = Report::default();
        let mut seen = std::collections::BTreeSet::new();
        for (key, owner) in table.ports.iter().filter(|(k, _)| k.is_listener()) {
            let id = key_of(table, key);
            let netns = id.0.clone();
            let found = expected.get(&id);
            seen.insert(id);
            match found {
                None => report.new.push(Difference::new(key, netns, owner, None)),
                Some(listener) => {
                    let program_differs = owner.as_ref().is_some_and(|owner| !listener.admits(owner));
                    if program_differs {
                        report
                            .changed
                            .push(Difference::new(key, netns, owner, listener.expected()));
                    } else {
                        report.matched += 1;
                    }
                }
            }
        }
        for listener in &self.listeners {
            if !seen.contains(&listener.key()) {
                report.missing.push(Difference {
                    netns: listener.netns.clone(),
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
    /// The namespace as the baseline names it; absent for portscope's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub protocol: Protocol,
    pub address: IpAddr,
    pub port: u16,
    pub owner: Option<Owner>,
    pub expected_program: Option<String>,
}

impl Difference {
    fn new(
        key: &PortKey,
        netns: Option<String>,
        owner: &Option<Owner>,
        expected_program: Option<String>,
    ) -> Difference {
        Difference {
            netns,
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

    /// Unix names are any bytes; Windows' are UTF-16 (no such name to build there).
    #[cfg(unix)]
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
    fn a_listener_is_keyed_by_its_namespace_and_old_files_mean_the_host() {
        use crate::model::{Netns, NetnsKind};
        use std::sync::Arc;
        let key = |netns| PortKey {
            protocol: Protocol::Tcp,
            address: "0.0.0.0".parse().unwrap(),
            port: 80,
            remote: None,
            netns,
        };
        let mut table = PortTable::default();
        table.ports.insert(key(0), None);
        table.ports.insert(key(4026532400), None);
        table.ports.insert(key(4026532999), None);
        let web = Netns {
            inode: 4026532400,
            name: Some("web".into()),
            kind: NetnsKind::Named,
        };
        table.namespaces.insert(web.inode, Arc::new(web));
        let saved = Baseline::from_table(&table);
        let names: Vec<_> = saved.listeners.iter().map(|l| l.netns.as_deref()).collect();
        assert_eq!(names, [None, Some("net:[4026532999]"), Some("web")]);
        let text = saved.to_toml();
        assert!(text.contains("netns = \"web\""), "{text}");
        assert_eq!(saved.check(&table).matched, 3);
        // The same port in a new namespace (another inode, another name) is new.
        let mut tomorrow = PortTable::default();
        tomorrow.ports.insert(key(4026533000), None);
        let report = saved.check(&tomorrow);
        assert_eq!(report.new.len(), 1);
        assert_eq!(report.new[0].netns.as_deref(), Some("net:[4026533000]"));
        assert_eq!(report.missing.len(), 3);
        // A file written before namespaces were recorded lists the host's ports.
        let old =
            Baseline::parse("[[listener]]\nport = 80\nprotocol = \"tcp\"\naddress = \"0.0.0.0\"\n").unwrap();
        let report = old.check(&table);
        assert_eq!((report.matched, report.new.len()), (1, 2));
    }

    #[test]
    fn bad_files_name_the_line() {
        let err = Baseline::parse("[[listener]]\nport = \"ssh\"\n").unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        assert!(Baseline::parse("[[listener]]\nport = 1\nprotocol = \"dccp\"\naddress = \"::\"").is_err());
        assert!(Baseline::parse("surprise = 1").is_err());
    }
}
