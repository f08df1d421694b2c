//! `portscope baseline save FILE` / `check FILE`: the listening ports of a known-good machine, and
//! whether anything new listens now. `check` exits 1 when something listens that the baseline
//! does not list (or another program holds a listed port), so cron and CI can act on it.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

use crate::baseline::{Baseline, Difference, Report};
use crate::error::{Error, ExitCode, Result};
use crate::inspect::{self, Inspection};
use crate::output::table::{Cell, Table};
use crate::output::{self, Color, Ui};
use crate::platform::Platform;
use crate::watch::{PortTable, describe};

#[derive(Args, Debug, Clone)]
#[command(after_help = "Examples:
  sudo portscope baseline save /etc/portscope/baseline.toml
  sudo portscope baseline check /etc/portscope/baseline.toml   exit 1 when something changed")]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub action: BaselineAction,
}

#[derive(Subcommand, Debug, Clone)]
pub enum BaselineAction {
    /// Write the listening ports and their programs to FILE (TOML; `-` for stdout).
    Save { file: PathBuf },
    /// Compare the listening ports with FILE: print what is new, changed or missing; exit 1 when
    /// anything new listens.
    Check {
        /// A baseline written by `portscope baseline save` (and perhaps edited).
        file: PathBuf,
        /// Print the differences as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: &BaselineArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    match &args.action {
        BaselineAction::Save { file } => save(file, host),
        BaselineAction::Check { file, json } => check(file, *json, ui, host),
    }
}

/// The listening ports now, and the notes to show the user about how they were seen (printed by
/// the caller once the command has succeeded, so that a failure stays one line).
fn listening_now(host: &dyn Platform) -> Result<(PortTable, Vec<String>)> {
    // The inspection every command renders: the same listeners `list` shows.
    let inspection = Inspection::take(host, &inspect::Options::ports(Default::default()))?;
    let snapshot = &inspection.snapshot;
    let mut notes = snapshot.notes.clone();
    if let Some(note) = crate::privilege::hidden_owners_note_naming(
        snapshot.unreadable_processes,
        &snapshot.unreadable_owners,
        host.privileges(),
    ) {
        notes.push(format!("{note}; their ports are saved without a program"));
    }
    Ok((PortTable::from_snapshot(snapshot, false), notes))
}

fn save(file: &Path, host: &dyn Platform) -> Result<ExitCode> {
    let (table, notes) = listening_now(host)?;
    let baseline = Baseline::from_table(&table);
    let text = baseline.to_toml();
    if file.as_os_str() == "-" {
        std::io::stdout().write_all(text.as_bytes())?;
        notes.iter().for_each(|note| output::note(note));
        return Ok(ExitCode::Ok);
    }
    // A new file beside it, then a rename: a baseline that cron reads is never half-written, and
    // a link another user planted at either name is replaced or refused, never written through.
    portscope_history::safe_path::write_atomically(file, text.as_bytes(), 0o644, "baseline")?;
    notes.iter().for_each(|note| output::note(note));
    output::note(&format!(
        "saved {} listening ports to {}",
        baseline.listeners.len(),
        file.display()
    ));
    Ok(ExitCode::Ok)
}

fn check(file: &Path, json: bool, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    // A baseline that is missing or malformed is bad input (exit 2), like a malformed flag.
    let bytes =
        crate::files::read_bounded(file, "baseline", crate::files::MAX_INPUT).map_err(|e| match e {
            Error::Usage(m) if m.ends_with("no such baseline") => Error::Usage(format!(
                "{}: no such baseline; create it with `portscope baseline save`",
                file.display()
            )),
            other => other,
        })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        Error::Usage(format!(
            "{}: not a valid baseline: not UTF-8 text",
            file.display()
        ))
    })?;
    let baseline = Baseline::parse(&text)
        .map_err(|message| Error::Usage(format!("{}: not a valid baseline: {message}", file.display())))?;
    let (table_now, notes) = listening_now(host)?;
    notes.iter().for_each(|note| output::note(note));
    let report = baseline.check(&table_now);
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if json {
        output::json(&mut out, &report)?;
    } else if report.new.is_empty() && report.changed.is_empty() && report.missing.is_empty() {
        writeln!(
            out,
            "ok: all {} listening ports match {}",
            report.matched,
            file.display()
        )?;
    } else {
        table(&report).write(&mut out, ui)?;
    }
    out.flush()?;
    Ok(if report.failed() {
        ExitCode::Found
    } else {
        ExitCode::Ok
    })
}

fn table(report: &Report) -> Table {
    let rows = [
        ("new", Color::Red, &report.new),
        ("changed", Color::Red, &report.changed),
        ("missing", Color::Yellow, &report.missing),
    ];
    // A NETNS column when a difference is outside portscope's own namespace.
    let netns = rows
        .iter()
        .any(|(_, _, diffs)| diffs.iter().any(|d| d.netns.is_some()));
    let mut header = vec!["STATUS", "PROTO", "LOCAL", "NOW", "EXPECTED"];
    if netns {
        header.insert(1, "NETNS");
    }
    let mut table = Table::new(header);
    for (status, color, diffs) in rows {
        for d in diffs.iter() {
            let mut cells = row(status, color, d);
            if netns {
                cells.insert(1, d.netns.as_deref().unwrap_or("-").to_string().into());
            }
            table.push(cells);
        }
    }
    table
}

fn row(status: &str, color: Color, d: &Difference) -> Vec<Cell> {
    let now = if status == "missing" {
        "not listening".to_string()
    } else {
        describe(&d.owner)
    };
    let expected = if status == "new" {
        "-".to_string()
    } else {
        d.expected_program.clone().unwrap_or_else(|| "any program".into())
    };
    vec![
        Cell::painted(status, color),
        d.protocol.as_str().into(),
        crate::model::Endpoint::new(d.address, d.port).to_string().into(),
        now.into(),
        expected.into(),
    ]
}
