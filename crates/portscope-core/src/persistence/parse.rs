//! The launcher formats, each from bytes to the command lines it runs: unit files (`ExecStart`,
//! `ExecStartPre`, `ExecStartPost`, with `\` continuations), crontab lines (the system format with
//! a user column, and a user's own), desktop entries (`Exec=` in `[Desktop Entry]`), and shell
//! lines (rc.local, cron.daily scripts, profiles, scripts). A parser never fails: a line it does
//! not understand is not a command.

use std::path::PathBuf;

use super::{File, Kind};

/// Lines one file may contribute (a hostile file of a million short lines stays bounded).
const MAX_LINES: usize = 20_000;
/// A logical line (a unit's `\` continuations joined) is cut at this many bytes.
const MAX_LINE: usize = 16 << 10;

/// One command a launcher file runs, with where it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandLine {
    pub kind: Kind,
    pub path: PathBuf,
    /// 1-based line number where the entry starts.
    pub line: usize,
    /// The line as written (continuations joined).
    pub raw: Vec<u8>,
    /// The part that is a command (after a crontab's schedule and user, a unit's `Key=`).
    pub command: String,
    /// Who runs it: a system crontab's user column, or the file's owner for per-user files.
    pub user: Option<String>,
}

/// Every command line of every file, by each file's format.
pub fn command_lines(files: &[File]) -> Vec<CommandLine> {
    let mut out = Vec::new();
    for file in files {
        let found = match file.kind {
            Kind::SystemUnit | Kind::UserUnit | Kind::GlobalUserUnit => unit(&file.bytes),
            Kind::SystemCrontab => crontab(&file.bytes, true),
            Kind::UserCrontab => crontab(&file.bytes, false),
            Kind::Autostart => desktop(&file.bytes),
            Kind::CronPeriodic | Kind::RcLocal | Kind::ShellProfile | Kind::Script => shell(&file.bytes),
        };
        out.extend(found.into_iter().map(|l| CommandLine {
            kind: file.kind,
            path: file.path.clone(),
            line: l.line,
            raw: l.raw,
            command: l.command,
            user: l.user.or_else(|| file.user.clone()),
        }));
    }
    out
}

/// A command found in one file, before it is tied to the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub line: usize,
    pub raw: Vec<u8>,
    pub command: String,
    pub user: Option<String>,
}

/// The file's lines, numbered from 1, without their line ends; bounded by [`MAX_LINES`].
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    bytes
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .take(MAX_LINES)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_LINE)]).into_owned()
}

/// A unit file or drop-in: the `ExecStart`, `ExecStartPre` and `ExecStartPost` values (systemd's
/// `-@:+!` prefixes removed), with `\` continuations joined.
pub fn unit(bytes: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, Vec<u8>)> = None;
    for (number, line) in lines(bytes) {
        let (start, mut joined) = match pending.take() {
            Some((start, mut joined)) => {
                joined.push(b' ');
                joined.extend_from_slice(line);
                (start, joined)
            }
            None => (number, line.to_vec()),
        };
        joined.truncate(MAX_LINE);
        if joined.ends_with(b"\\") {
            joined.pop();
            pending = Some((start, joined));
            continue;
        }
        if let Some(command) = exec_value(&joined) {
            out.push(Found {
                line: start,
                raw: joined.clone(),
                command,
                user: None,
            });
        }
    }
    out
}

/// The command of an `ExecStart*=` line.
fn exec_value(line: &[u8]) -> Option<String> {
    let text = text(line);
    let trimmed = text.trim_start();
    if trimmed.starts_with('#') || trimmed.starts_with(';') {
        return None;
    }
    let (key, value) = trimmed.split_once('=')?;
    if !matches!(key.trim(), "ExecStart" | "ExecStartPre" | "ExecStartPost") {
        return None;
    }
    let value = value.trim_start().trim_start_matches(['@', '-', ':', '+', '!']);
    (!value.trim().is_empty()).then(|| value.to_string())
}

/// A crontab: `MIN HOUR DOM MON DOW [USER] COMMAND` or `@reboot [USER] COMMAND`; the user
/// column only in the system format (`with_user`). Comments and `NAME=value` lines are not
/// commands; the command ends at the first unescaped `%` (what follows is its input).
pub fn crontab(bytes: &[u8], with_user: bool) -> Vec<Found> {
    let mut out = Vec::new();
    for (number, line) in lines(bytes) {
        let text = text(line);
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut rest = trimmed;
        let mut field = || {
            let s = rest.trim_start();
            let end = s.find(char::is_whitespace).unwrap_or(s.len());
            let (f, r) = s.split_at(end);
            rest = r;
            f
        };
        let first = field();
        if first.contains('=') && !first.starts_with('@') {
            // An environment line (`PATH=…`, `MAILTO=…`).
            continue;
        }
        let schedule_fields = if first.starts_with('@') { 0 } else { 4 };
        let mut ok = true;
        for _ in 0..schedule_fields {
            if field().is_empty() {
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        let user = if with_user {
            let u = field();
            if u.is_empty() {
                continue;
            }
            Some(u.to_string())
        } else {
            None
        };
        let command = until_percent(rest.trim_start());
        if command.trim().is_empty() {
            continue;
        }
        out.push(Found {
            line: number,
            raw: line.to_vec(),
            command,
            user,
        });
    }
    out
}

/// A cron command up to its first `%` not escaped by a backslash.
fn until_percent(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('%') => out.push('%'),
                Some(n) => {
                    out.push('\\');
                    out.push(n);
                }
                None => out.push('\\'),
            },
            '%' => break,
            c => out.push(c),
        }
    }
    out
}

/// A desktop entry: `Exec=` in the `[Desktop Entry]` group (`TryExec=` only tests that a
/// program is installed).
pub fn desktop(bytes: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    let mut in_entry = false;
    for (number, line) in lines(bytes) {
        let text = text(line);
        let trimmed = text.trim();
        if trimmed.starts_with('[') {
            in_entry = trimmed == "[Desktop Entry]";
            continue;
        }
        if !in_entry || trimmed.starts_with('#') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            continue;
        };
        if key.trim() == "Exec" && !value.trim().is_empty() {
            out.push(Found {
                line: number,
                raw: line.to_vec(),
                command: value.trim().to_string(),
                user: None,
            });
        }
    }
    out
}

/// Shell lines: every line that is not blank or a comment is a command (the splitter finds
/// what it runs).
pub fn shell(bytes: &[u8]) -> Vec<Found> {
    let mut out = Vec::new();
    for (number, line) in lines(bytes) {
        let text = text(line);
        let trimmed = text.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        out.push(Found {
            line: number,
            raw: line.to_vec(),
            command: trimmed.to_string(),
            user: None,
        });
    }
    out
}
