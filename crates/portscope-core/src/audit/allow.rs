//! The allow-list (`audit --allow FILE`): program and port pairs a user has checked and wants
//! silenced. TOML:
//!
//! ```toml
//! [[allow]]
//! program = "python3"   # an executable's file name or full path; "*" for any, "-" for no process
//! port = 8080           # local port of the socket (or the remote port of an outgoing connection)
//! check = "unexpected-server"   # optional: silence only this check
//! ```
//!
//! A process names itself (comm, argv) but not its executable, so a rule never matches by the
//! process's name. A path (`/usr/bin/python3.11`, or a prefix ending in `*`) matches the
//! executable the kernel reports. A bare name matches only an executable of that file name that
//! a package installed (or, where no package database can be read, one in a system directory):
//! `/tmp/x/hostile` renamed to `python3` matches neither.

use serde::Deserialize;

use crate::model::Process;

use super::finding::{CheckId, Finding};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    allow: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    program: String,
    port: u16,
    check: Option<String>,
}

/// One silenced program and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub program: String,
    pub port: u16,
    pub check: Option<CheckId>,
}

/// Parses an allow-list; the error is one line for the user.
pub fn parse(text: &[u8]) -> Result<Vec<Rule>, String> {
    let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
    let file: File = toml::from_str(text).map_err(|e| crate::render::clip_quoted(e.message().trim()))?;
    file.allow
        .into_iter()
        .map(|raw| {
            if raw.program.is_empty() {
                return Err("an allow rule has an empty program".to_string());
            }
            let check = match raw.check {
                None => None,
                Some(name) => Some(CheckId::parse(&name).ok_or_else(|| {
                    let known: Vec<&str> = CheckId::ALL.iter().map(|c| c.as_str()).collect();
                    format!("unknown check {name:?} (known: {})", known.join(", "))
                })?),
            };
            Ok(Rule {
                program: raw.program,
                port: raw.port,
                check,
            })
        })
        .collect()
}

impl Rule {
    /// Whether this rule silences `finding`. `names` says whether a bare program name is the
    /// name of a process's executable, installed by a package: its file name, or a link in a
    /// system directory to it (`python3` → `python3.11`).
    pub fn silences(&self, finding: &Finding, names: &dyn Fn(&Process, &str) -> bool) -> bool {
        if self.check.is_some_and(|c| c != finding.check) {
            return false;
        }
        let port_ok = finding
            .sockets
            .iter()
            .any(|s| s.local.port == self.port || s.remote.is_some_and(|r| r.port == self.port));
        let program_ok = match (&finding.process, self.program.as_str()) {
            (_, "*") => true,
            (None, "-") => true,
            (None, _) => false,
            (Some(process), pattern) if pattern.starts_with('/') => {
                process.exe.as_deref().is_some_and(|exe| {
                    let exe = exe.as_os_str().as_encoded_bytes();
                    match pattern.strip_suffix('*') {
                        Some(prefix) => exe.starts_with(prefix.as_bytes()),
                        None => exe == pattern.as_bytes(),
                    }
                })
            }
            (Some(process), pattern) => names(process, pattern),
        };
        port_ok && program_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let rules = parse(
            b"[[allow]]\nprogram = \"python3\"\nport = 8080\n\n\
              [[allow]]\nprogram = \"*\"\nport = 31337\ncheck = \"abuse-port\"\n",
        )
        .unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[1].check, Some(CheckId::AbusePort));
        assert!(parse(b"").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_files() {
        assert!(parse(b"[[allow]]\nprogram = \"x\"\n").is_err());
        assert!(parse(b"[[allow]]\nprogram = \"x\"\nport = 70000\n").is_err());
        assert!(parse(b"[[allow]]\nprogram = \"x\"\nport = 1\ncheck = \"nope\"\n").is_err());
        assert!(parse(b"[[allow]]\nprogram = \"x\"\nport = 1\nextra = true\n").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(parse(b"[[allow]]\nprogram = \"\"\nport = 1\n").is_err());
    }
}
