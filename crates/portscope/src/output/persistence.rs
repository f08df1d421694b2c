//! The "Starts again from" section that `explain` and `audit` print: for each holder looked at,
//! the launcher entries that would start it again (kind, file, line, the line itself, who runs
//! it) and how to remove each. Processes that run the same program are said once. Every string
//! from a file passes through the render layer.

use std::io::{self, Write};
use std::path::Path;

use crate::model::Process;
use crate::output::{Color, Ui};
use crate::persistence::{Entry, HolderPersistence, Kind, Report};
use crate::render;

/// Programs shown before the rest are counted.
const MAX_PROGRAMS: usize = 6;
/// Entries shown per program before the rest are left to `--json`.
const MAX_ENTRIES: usize = 10;
/// A launcher line is cut to this many columns.
const LINE_COLUMNS: usize = 120;

/// Writes the section under `title`; `processes` names the pids of `report`.
pub fn write_section(
    out: &mut impl Write,
    title: &str,
    report: &Report,
    processes: &[&Process],
    ui: Ui,
) -> io::Result<()> {
    if report.holders.is_empty() && report.not_checked.is_none() {
        return Ok(());
    }
    writeln!(out, "{}", ui.paint(Color::Bold, title))?;
    if let Some(unsupported) = report.not_checked {
        return writeln!(out, "  not checked on this platform ({})", unsupported.what);
    }
    // One group per program: the same needles (a forking server's workers) are said once.
    let mut groups: Vec<(Vec<u32>, &HolderPersistence)> = Vec::new();
    for holder in &report.holders {
        match groups
            .iter_mut()
            .find(|(_, h)| h.needles == holder.needles && !h.needles.is_empty())
        {
            Some((pids, _)) => pids.push(holder.pid),
            None => groups.push((vec![holder.pid], holder)),
        }
    }
    for (pids, holder) in groups.iter().take(MAX_PROGRAMS) {
        let process = processes.iter().find(|p| p.pid == pids[0]);
        let name = process.map_or_else(|| "?".into(), |p| render::escape(&p.name).into_owned());
        let pid_list: Vec<String> = pids.iter().take(4).map(u32::to_string).collect();
        let more = if pids.len() > 4 { ", …" } else { "" };
        let needles: Vec<String> = holder
            .needles
            .iter()
            .map(|n| render::escape(&n.text).into_owned())
            .collect();
        let head = format!("PID {}{more} {name}", pid_list.join(", "));
        write!(out, "  {}:", ui.paint(Color::Bold, &head))?;
        if holder.unmatchable.is_none() && holder.entries.is_empty() {
            // Nothing found takes the holder's own line: a busy port stays short. Files not read
            // are no clean answer: say so where the answer is.
            let unread = match report.skipped_count {
                0 => String::new(),
                1 => " (1 launcher file could not be read: see the note)".into(),
                n => format!(" ({n} launcher files could not be read: see the note)"),
            };
            writeln!(
                out,
                " nothing found: no unit, cron table, rc.local, autostart entry or shell profile runs {}{unread}",
                needles.join(" or ")
            )?;
            continue;
        }
        writeln!(out)?;
        if let Some(why) = &holder.unmatchable {
            writeln!(out, "    cannot be looked for: {}", render::escape(why))?;
            continue;
        }
        for entry in holder.entries.iter().take(MAX_ENTRIES) {
            write_entry(out, entry, ui)?;
        }
        if holder.entries.len() > MAX_ENTRIES {
            writeln!(
                out,
                "    and {} more (--json lists every one)",
                holder.entries.len() - MAX_ENTRIES
            )?;
        }
    }
    if groups.len() > MAX_PROGRAMS {
        writeln!(
            out,
            "  and {} more programs (--json lists them)",
            groups.len() - MAX_PROGRAMS
        )?;
    }
    Ok(())
}

fn write_entry(out: &mut impl Write, e: &Entry, ui: Ui) -> io::Result<()> {
    let who = match (e.kind, e.user.as_deref()) {
        (_, None) => String::new(),
        (Kind::SystemCrontab, Some(user)) => format!(", runs as {}", render::escape(user)),
        (_, Some(user)) => format!(", of user {}", render::escape(user)),
    };
    let state = if e.masked {
        ", masked".to_string()
    } else if !e.enabled_by.is_empty() {
        let by: Vec<String> = e
            .enabled_by
            .iter()
            .take(3)
            .map(|link| enabled_by(link, e.unit.as_deref()))
            .collect();
        let more = if e.enabled_by.len() > 3 { ", …" } else { "" };
        format!(", enabled by {}{more}", by.join(", "))
    } else if e.unit.is_some() {
        ", no enabling link".to_string()
    } else {
        String::new()
    };
    let place = format!(
        "{} {} line {}{who}{state}",
        e.kind.label(),
        render::path(&e.file),
        e.line
    );
    writeln!(out, "    {}", ui.paint(Color::Yellow, &place))?;
    let text = escaped_line(&e.text, e.text_bytes.as_deref());
    writeln!(out, "      {}", render::truncate(text.trim(), LINE_COLUMNS))?;
    if let Some(via) = &e.via {
        let text = escaped_line(&via.text, via.text_bytes.as_deref());
        writeln!(
            out,
            "      which runs {} line {}: {}",
            render::path(&via.file),
            via.line,
            render::truncate(text.trim(), LINE_COLUMNS)
        )?;
    }
    writeln!(out, "      to remove: {}", e.remove)
}

/// A link that enables a unit, as `multi-user.target.wants` (a link named after the unit) or
/// `timers.target.wants/x.timer` (a trigger or an instance).
fn enabled_by(link: &Path, unit: Option<&str>) -> String {
    let dir = link.parent().and_then(Path::file_name);
    let name = link.file_name();
    match (dir, name) {
        (Some(dir), Some(name)) if unit.is_some_and(|u| name.as_encoded_bytes() == u.as_bytes()) => {
            render::escape_bytes(dir.as_encoded_bytes()).into_owned()
        }
        (Some(dir), Some(name)) => format!(
            "{}/{}",
            render::escape_bytes(dir.as_encoded_bytes()),
            render::escape_bytes(name.as_encoded_bytes())
        ),
        _ => render::path(link).into_owned(),
    }
}

/// A launcher line for the terminal: its exact bytes when it is not UTF-8, escaped.
fn escaped_line(text: &str, bytes: Option<&[u8]>) -> String {
    match bytes {
        Some(bytes) => render::escape_bytes(bytes).into_owned(),
        None => render::escape(text).into_owned(),
    }
}
