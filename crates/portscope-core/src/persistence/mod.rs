//! Persistence on the host: where a flagged program would start again from after it is
//! stopped — systemd units (system and per-user), cron tables, /etc/rc.local, XDG autostart
//! entries and shell profiles whose commands launch it — so that a person removes the launcher,
//! not only the process.
//!
//! Read-only and split as everywhere in portscope: the platform lists the candidate files and
//! reads them with bounded, non-following reads ([`crate::platform::HostFacts::persistence_files`],
//! [`crate::platform::HostFacts::script_files`]); the parsers here take those bytes and a
//! [`Target`] (what to match, from the holder's executable and command line) and return
//! [`Entry`]s with their file, line and the command that removes them. [`look`] does both for a
//! set of processes.
//!
//! The matching rule is in [`target`]; the per-format parsers in [`parse`]; the shell-word
//! splitter they share in [`words`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::model::{Process, non_utf8_bytes};
use crate::platform::{HostFacts, Unsupported};

pub mod files;
pub mod parse;
pub mod target;
pub mod words;

use files::lossy_path;
pub use files::{File, Files, Kind, Link, Skipped};
pub use target::{Needle, Origin, Target};

/// A line of a script that an entry runs and that launches the program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Via {
    #[serde(serialize_with = "lossy_path")]
    pub file: PathBuf,
    pub line: usize,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_bytes: Option<Vec<u8>>,
}

/// One place the program would start again from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub kind: Kind,
    /// The file, as a path on the host.
    #[serde(serialize_with = "lossy_path")]
    pub file: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file_bytes: Option<Vec<u8>>,
    /// The line (1-based) where the entry starts (a unit's continued line: its first line).
    pub line: usize,
    /// The line as written (continuations joined), lossy UTF-8; `text_bytes` holds its exact
    /// bytes when they are not UTF-8.
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text_bytes: Option<Vec<u8>>,
    /// The user the entry runs as or belongs to: a system crontab's user column, the owner of a
    /// per-user file; absent for system-wide files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The systemd unit, for unit files and drop-ins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// For a unit: the links that enable it (`…/multi-user.target.wants/UNIT`).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "lossy_paths")]
    pub enabled_by: Vec<PathBuf>,
    /// For a unit: it is masked (linked to /dev/null), so it cannot start.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
    /// The needle the line named: the program's path or its script's (a relative word in the
    /// line names it by file name alone).
    pub matched: String,
    /// Where that needle came from (the executable, argv[0], the script an interpreter runs).
    pub matched_from: Origin,
    /// The script the entry runs, when it is that script that launches the program.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<Via>,
    /// How to remove the entry: a command to run or a line to edit.
    pub remove: String,
}

/// Where one process would start again from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HolderPersistence {
    pub pid: u32,
    /// What was matched: paths and file names, each with where it came from.
    pub needles: Vec<Needle>,
    pub entries: Vec<Entry>,
    /// Why nothing could be matched (an interpreter running inline code), when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmatchable: Option<String>,
}

/// The persistence of a set of processes, with what the platform could not read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub holders: Vec<HolderPersistence>,
    /// Files not read, and why (bounded: the first [`MAX_SKIPPED_SHOWN`]).
    pub skipped: Vec<Skipped>,
    /// How many files were skipped in all.
    pub skipped_count: usize,
    /// How many candidate files were read.
    pub files_read: usize,
    /// The platform cannot list launcher files: nothing was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_checked: Option<Unsupported>,
}

/// Skipped files kept in the report (the count says how many there were).
pub const MAX_SKIPPED_SHOWN: usize = 32;
/// Scripts read in the second pass.
pub const MAX_SCRIPTS: usize = 256;

impl Report {
    /// The entries found for `pid`.
    pub fn of(&self, pid: u32) -> Option<&HolderPersistence> {
        self.holders.iter().find(|h| h.pid == pid)
    }

    /// One line for stderr about what could not be read, or what the platform cannot do; not
    /// escaped yet (the front end's note does it once).
    pub fn note(&self) -> Option<String> {
        if let Some(u) = self.not_checked {
            return Some(format!("persistence not checked: {u}"));
        }
        if self.skipped_count == 0 {
            return None;
        }
        let shown: Vec<String> = self
            .skipped
            .iter()
            .take(3)
            .map(|s| format!("{} ({})", s.path.to_string_lossy(), s.why))
            .collect();
        let more = self.skipped_count.saturating_sub(shown.len());
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Some(format!(
            "persistence: {} launcher file{} not read: {}{more}",
            self.skipped_count,
            if self.skipped_count == 1 { "" } else { "s" },
            shown.join(", ")
        ))
    }
}

/// Where each of `processes` would start again from: asks the platform for the launcher files
/// (and, in a second pass, the scripts their commands run), and matches every line.
pub fn look(host: &dyn HostFacts, processes: &[&Process]) -> Report {
    if processes.is_empty() {
        return Report::default();
    }
    if processes.iter().all(|p| Target::of(p).needles.is_empty()) {
        // Nothing to look for: each holder says why, and no file is read.
        return search(&Files::default(), |_| Files::default(), processes);
    }
    match host.persistence_files() {
        Ok(files) => search(
            &files,
            |paths| host.script_files(paths).unwrap_or_default(),
            processes,
        ),
        Err(unsupported) => Report {
            not_checked: Some(unsupported),
            ..Report::default()
        },
    }
}

/// [`look`] on files already read: `scripts` reads the scripts the launchers' commands run.
pub fn search(files: &Files, scripts: impl FnOnce(&[PathBuf]) -> Files, processes: &[&Process]) -> Report {
    let targets: Vec<(u32, Target)> = processes.iter().map(|p| (p.pid, Target::of(p))).collect();
    let lines = parse::command_lines(&files.files);
    let (paths, unread) = script_paths(&lines);
    let mut skipped = files.skipped.clone();
    if let Some((first, count)) = unread {
        skipped.push(Skipped {
            path: first,
            why: format!("{count} scripts launcher lines run were not read (at most {MAX_SCRIPTS} are)"),
        });
    }
    let script_files = if paths.is_empty() {
        Files::default()
    } else {
        scripts(&paths)
    };
    skipped.extend(script_files.skipped.iter().cloned());
    let script_lines = parse::command_lines(&script_files.files);

    let holders = targets
        .iter()
        .map(|(pid, target)| HolderPersistence {
            pid: *pid,
            needles: target.needles.clone(),
            entries: entries(target, &lines, &script_lines, &files.links),
            unmatchable: target.unmatchable.clone(),
        })
        .collect();
    let skipped_count = skipped.len();
    skipped.truncate(MAX_SKIPPED_SHOWN);
    Report {
        holders,
        skipped,
        skipped_count,
        files_read: files.files.len() + script_files.files.len(),
        not_checked: None,
    }
}

/// The processes whose persistence `audit` looks for: those of alert findings, or (`all`,
/// `audit --persistence`) of every finding that names a process; each once, in finding order.
pub fn flagged(findings: &[crate::audit::Finding], all: bool) -> Vec<&Process> {
    let mut seen = BTreeSet::new();
    findings
        .iter()
        .filter(|f| all || f.severity == crate::audit::Severity::Alert)
        .filter_map(|f| f.process.as_deref())
        .filter(|p| seen.insert(p.pid))
        .collect()
}

/// The absolute paths the commands run (first words and interpreters' scripts), for the
/// second pass that reads scripts; bounded by [`MAX_SCRIPTS`], with the first path left out and
/// how many were.
fn script_paths(lines: &[parse::CommandLine]) -> (Vec<PathBuf>, Option<(PathBuf, usize)>) {
    let mut paths: BTreeSet<String> = BTreeSet::new();
    for line in lines.iter().filter(|l| l.kind != Kind::ShellProfile) {
        for word in words::split(&line.command) {
            if word.runs && word.text.starts_with('/') {
                paths.insert(target::normalize(&word.text));
            }
        }
    }
    let mut paths: Vec<PathBuf> = paths.into_iter().map(PathBuf::from).collect();
    let rest = paths.split_off(paths.len().min(MAX_SCRIPTS));
    let unread = rest.first().map(|first| (first.clone(), rest.len()));
    (paths, unread)
}

/// Every entry of `lines` that launches `target`, directly or through a script that does.
fn entries(
    target: &Target,
    lines: &[parse::CommandLine],
    script_lines: &[parse::CommandLine],
    links: &[Link],
) -> Vec<Entry> {
    // Scripts with a line that launches the target, by path: the first such line.
    let mut scripts: BTreeMap<String, (&parse::CommandLine, &Needle)> = BTreeMap::new();
    for line in script_lines {
        if let Some(needle) = target.matches(&line.command, false) {
            scripts
                .entry(line.path.to_string_lossy().into_owned())
                .or_insert((line, needle));
        }
    }
    let mut out = Vec::new();
    for line in lines {
        let direct = target
            .matches(&line.command, line.kind == Kind::ShellProfile)
            .map(|n| (n, None));
        let through = || {
            words::split(&line.command)
                .into_iter()
                .filter(|w| w.runs && w.text.starts_with('/'))
                .find_map(|w| scripts.get(&target::normalize(&w.text)))
                .map(|(script, needle)| {
                    (
                        *needle,
                        Some(Via {
                            file: script.path.clone(),
                            line: script.line,
                            text: String::from_utf8_lossy(&script.raw).into_owned(),
                            text_bytes: bytes_if_not_utf8(&script.raw),
                        }),
                    )
                })
        };
        let Some((needle, via)) = direct.or_else(through) else {
            continue;
        };
        out.push(entry(line, needle, via, links));
    }
    out
}

fn entry(line: &parse::CommandLine, needle: &Needle, via: Option<Via>, links: &[Link]) -> Entry {
    let unit = line.kind.is_unit().then(|| unit_name(&line.path)).flatten();
    let (enabled_by, masked) = match &unit {
        Some(unit) => unit_state(unit, line, links),
        None => (Vec::new(), false),
    };
    let remove = removal(line, unit.as_deref(), &enabled_by);
    Entry {
        kind: line.kind,
        file: line.path.clone(),
        file_bytes: non_utf8_bytes(&line.path).map(<[u8]>::to_vec),
        line: line.line,
        text: String::from_utf8_lossy(&line.raw).into_owned(),
        text_bytes: bytes_if_not_utf8(&line.raw),
        user: line.user.clone(),
        unit,
        enabled_by,
        masked,
        matched: needle.text.clone(),
        matched_from: needle.origin,
        via,
        remove,
    }
}

fn bytes_if_not_utf8(bytes: &[u8]) -> Option<Vec<u8>> {
    std::str::from_utf8(bytes).is_err().then(|| bytes.to_vec())
}

/// The unit a unit file or drop-in belongs to: `foo.service` for
/// `…/foo.service` and `…/foo.service.d/override.conf`.
pub fn unit_name(path: &Path) -> Option<String> {
    let parent = path.parent()?.file_name()?.to_string_lossy();
    if let Some(unit) = parent.strip_suffix(".d")
        && path.extension().is_some_and(|e| e == "conf")
    {
        return Some(unit.to_string());
    }
    Some(path.file_name()?.to_string_lossy().into_owned())
}

/// The links that enable `unit` (of the same manager: system, or the same user) — links in a
/// `*.wants`, `*.requires` or `*.upholds` directory named after the unit, after an instance of a
/// template unit (`getty@tty1.service` for `getty@.service`), or after the timer, socket or path
/// unit that triggers it (`x.timer` for `x.service`) — and whether a link masks it.
fn unit_state(unit: &str, line: &parse::CommandLine, links: &[Link]) -> (Vec<PathBuf>, bool) {
    let same_manager = |link: &Link| match line.kind {
        Kind::SystemUnit => link.kind == Kind::SystemUnit,
        Kind::UserUnit => {
            link.kind == Kind::GlobalUserUnit || (link.kind == Kind::UserUnit && link.user == line.user)
        }
        _ => link.kind == Kind::GlobalUserUnit || link.kind == Kind::UserUnit,
    };
    let name_of = |link: &Link| link.path.file_name().map(|n| n.to_string_lossy().into_owned());
    let masked = links
        .iter()
        .filter(|l| same_manager(l) && name_of(l).as_deref() == Some(unit))
        .any(|l| l.target == Path::new("/dev/null"));
    let (stem, suffix) = unit.rsplit_once('.').unwrap_or((unit, ""));
    let enables = |name: &str| {
        if name == unit {
            return true;
        }
        if let Some(template) = stem.strip_suffix('@') {
            return name.starts_with(&format!("{template}@")) && name.ends_with(&format!(".{suffix}"));
        }
        suffix == "service"
            && [".timer", ".socket", ".path"]
                .iter()
                .any(|t| name == format!("{stem}{t}"))
    };
    let enabled_by = links
        .iter()
        .filter(|l| same_manager(l))
        .filter(|l| {
            l.path
                .parent()
                .and_then(Path::file_name)
                .map(|d| d.to_string_lossy())
                .is_some_and(|d| d.ends_with(".wants") || d.ends_with(".requires") || d.ends_with(".upholds"))
        })
        .filter(|l| name_of(l).is_some_and(|n| enables(&n)))
        .map(|l| l.path.clone())
        .collect();
    (enabled_by, masked)
}

/// The units `systemctl disable --now` takes for an entry: the unit, the timers, sockets or paths
/// that trigger it, and for a template the instances enabled (the template itself cannot be
/// stopped), each once.
fn units_to_disable(unit: &str, enabled_by: &[PathBuf]) -> Vec<String> {
    let template = unit.contains("@.");
    let mut units: Vec<String> = Vec::new();
    for name in enabled_by
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
    {
        if !units.contains(&name) {
            units.push(name);
        }
    }
    // A template's instances stand for it; anything else is disabled itself too.
    let covered = units.iter().any(|u| u == unit) || (template && !units.is_empty());
    if !covered {
        units.push(unit.to_string());
    }
    units
}

/// The command that removes an entry, or the line to edit.
fn removal(line: &parse::CommandLine, unit: Option<&str>, enabled_by: &[PathBuf]) -> String {
    let file = crate::render::path(&line.path);
    let edit = format!("edit {file} line {}", line.line);
    let units = |unit: &str| {
        units_to_disable(unit, enabled_by)
            .iter()
            .map(|u| shell_word(u))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match (line.kind, unit, line.user.as_deref()) {
        (Kind::SystemUnit, Some(unit), _) => format!("systemctl disable --now {}", units(unit)),
        (Kind::UserUnit, Some(unit), Some(user)) => format!(
            "systemctl --user -M {}@ disable --now {}",
            shell_word(user),
            units(unit)
        ),
        (Kind::GlobalUserUnit, Some(unit), _) => format!("systemctl --global disable {}", units(unit)),
        (Kind::UserCrontab, _, Some(user)) => {
            format!("crontab -e -u {} (line {})", shell_word(user), line.line)
        }
        _ => edit,
    }
}

/// `text` as one shell word: as is when it is plain, else single-quoted (and escaped for the
/// terminal: the caller prints it).
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", crate::render::escape(&text.replace('\'', "'\\''")))
    }
}

fn lossy_paths<S: serde::Serializer>(paths: &[PathBuf], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(paths.iter().map(|p| p.to_string_lossy()))
}

#[cfg(test)]
mod tests;
