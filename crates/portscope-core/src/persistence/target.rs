//! What to look for in launcher lines for one process, and the matching rule.
//!
//! The needles of a process:
//! - its executable's path (from /proc/PID/exe; for a deleted file, the path it had), unless the
//!   executable is a script interpreter in a system directory (`/usr/bin/python3` would match
//!   every Python service): then only its script counts;
//! - argv\[0\] when it is an absolute path other than the executable's (a program moved or renamed
//!   after it started is still named by its old path where it is launched);
//! - for an interpreter (`python3`, `perl`, `bash`, `node`…), the script it runs: its first
//!   argument that is not an option (`/usr/bin/python3 -u /tmp/x.py` → `/tmp/x.py`); none when
//!   it runs inline code (`-c`, `-e`, `-m`).
//!
//! A line matches when a word it *runs* (a command, or an interpreter's script, see
//! [`super::words`]), or any other word that is an absolute path (`start-stop-daemon --exec
//! /tmp/x`; not in shell profiles, which name paths in tests and messages), equals a needle path
//! (compared after removing `//` and `/./`); or when a word it runs is a relative path (`./srv`,
//! `bin/srv`, `srv`) whose file name is a needle's file name — the program's directory is then
//! unknown, so the file name decides.

use serde::Serialize;

use super::words;
use crate::model::Process;

/// Where a needle came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The executable's path.
    Executable,
    /// argv\[0\], when it differs from the executable's path.
    Argv0,
    /// The script an interpreter runs.
    Script,
}

/// One thing to look for: an absolute path, or (`file_name`) a file name for relative words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Needle {
    pub text: String,
    pub origin: Origin,
    /// Matches only by file name (a relative path in argv).
    pub file_name: bool,
}

/// What to match for one process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    pub needles: Vec<Needle>,
    /// Why there is nothing to match, when so.
    pub unmatchable: Option<String>,
}

/// Directories whose interpreters are the system's own: their path alone says nothing.
const SYSTEM_DIRS: &[&str] = &[
    "/usr/bin/",
    "/bin/",
    "/usr/sbin/",
    "/sbin/",
    "/usr/local/bin/",
    "/usr/lib/",
    "/lib/",
    "/usr/libexec/",
];

/// `path` with `//` and `/./` removed (a lexical form: `..` stays, links are not resolved).
pub fn normalize(path: &str) -> String {
    let absolute = path.starts_with('/');
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let joined = parts.join("/");
    if absolute { format!("/{joined}") } else { joined }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

impl Target {
    /// The needles of `process` (see the module's rule).
    pub fn of(process: &Process) -> Target {
        let mut target = Target::default();
        let exe = process.exe.as_deref().map(|p| normalize(&p.to_string_lossy()));
        let exe_name = exe.as_deref().map(file_name).unwrap_or_default().to_string();
        let interpreter = words::is_interpreter(&exe_name);
        let script = if interpreter {
            script_of(&process.cmdline)
        } else {
            None
        };
        if let Some(exe) = &exe {
            let system = SYSTEM_DIRS.iter().any(|d| exe.starts_with(d));
            if !(interpreter && system) {
                target.push(exe, Origin::Executable, false);
            }
        }
        if let Some(argv0) = process.cmdline.first().filter(|a| a.starts_with('/')) {
            let argv0 = normalize(argv0);
            let interpreter_path = words::is_interpreter(file_name(&argv0));
            if !interpreter_path && !argv0.contains(char::is_whitespace) {
                target.push(&argv0, Origin::Argv0, false);
            }
        }
        match script {
            Some(s) if s.starts_with('/') => target.push(&normalize(&s), Origin::Script, false),
            Some(s) => target.push(file_name(&normalize(&s)), Origin::Script, true),
            None if interpreter && target.needles.is_empty() => {
                target.unmatchable = Some(format!(
                    "{exe_name} runs code from its command line or a module (-c, -e, -m), not a script file, \
                     and its own path would match every program {exe_name} runs"
                ));
            }
            None => {}
        }
        if target.needles.is_empty() && target.unmatchable.is_none() {
            target.unmatchable = Some("its executable is unknown (run as root to read it)".into());
        }
        target
    }

    fn push(&mut self, text: &str, origin: Origin, file_name: bool) {
        if text.is_empty() || self.needles.iter().any(|n| n.text == text) {
            return;
        }
        self.needles.push(Needle {
            text: text.to_string(),
            origin,
            file_name,
        });
    }

    /// The needle a command line names, if any (see the module's rule). With `runs_only` (shell
    /// profiles, which mention paths in tests and messages), only a word the line runs counts.
    pub fn matches(&self, command: &str, runs_only: bool) -> Option<&Needle> {
        if self.needles.is_empty() {
            return None;
        }
        for word in words::split(command) {
            if runs_only && !word.runs {
                continue;
            }
            let text = &word.text;
            if text.starts_with('/') {
                let path = normalize(text);
                if let Some(n) = self.needles.iter().find(|n| !n.file_name && n.text == path) {
                    return Some(n);
                }
                if word.runs
                    && let Some(n) = self
                        .needles
                        .iter()
                        .find(|n| n.file_name && n.text == file_name(&path))
                {
                    return Some(n);
                }
            } else if word.runs && !text.is_empty() && !words::is_interpreter(file_name(text)) {
                let name = file_name(text);
                if let Some(n) = self.needles.iter().find(|n| file_name(&n.text) == name) {
                    return Some(n);
                }
            }
        }
        None
    }
}

/// The script an interpreter's command line runs: its first argument that is not an option;
/// none after an inline-code option.
fn script_of(cmdline: &[String]) -> Option<String> {
    let mut args = cmdline.iter().skip(1);
    while let Some(arg) = args.next() {
        if words::is_inline_option(arg) {
            return None;
        }
        if arg == "-jar" {
            return args.next().cloned();
        }
        if matches!(arg.as_str(), "-W" | "-X" | "-I" | "-cp" | "-classpath") {
            args.next();
            continue;
        }
        if arg.starts_with('-') {
            continue;
        }
        return Some(arg.clone());
    }
    None
}
