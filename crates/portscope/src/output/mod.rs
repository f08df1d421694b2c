//! Printing: human tables (colour only on a terminal, NO_COLOR honoured), JSON, JSON Lines and
//! CSV for scripts. Commands build rows and values; this module decides how they look. The format
//! is chosen once, by [`FormatArgs`] (`--format`), one file per format where it needs more than a
//! call (`table.rs`, `csv.rs`).

pub mod csv;
pub mod persistence;
pub mod scan;
pub mod table;
pub mod tree;

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

/// The user's colour choice (`--color`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// The shapes output takes (`--format`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    // Aligned columns for a person.
    #[default]
    Table,
    // One JSON array with every field.
    Json,
    // One JSON object per line.
    JsonLines,
    // Comma-separated values with a header line (RFC 4180), for spreadsheets and scripts.
    Csv,
}

/// `--format`, with `--json` and `--json-lines` kept as its aliases (scripts written for them go
/// on working), and `--no-header`. Flattened into a command's arguments.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FormatArgs {
    /// Output format: table (aligned columns), json (one array with every field), json-lines
    /// (one object per line) or csv (RFC 4180, with a header line).
    #[arg(long, value_enum, value_name = "FORMAT", conflicts_with_all = ["json", "json_lines"])]
    pub format: Option<Format>,
    /// Print a JSON array with every field (the same as --format json).
    #[arg(long, conflicts_with = "json_lines")]
    pub json: bool,
    /// Print one JSON object per line (the same as --format json-lines).
    #[arg(long)]
    pub json_lines: bool,
    /// Leave out the header line of a table or CSV.
    #[arg(long)]
    pub no_header: bool,
}

impl FormatArgs {
    /// The one format this run prints.
    pub fn format(&self) -> Format {
        match self.format {
            Some(format) => format,
            None if self.json => Format::Json,
            None if self.json_lines => Format::JsonLines,
            None => Format::Table,
        }
    }

    /// Whether this run prints one JSON document.
    pub fn json(&self) -> bool {
        self.format() == Format::Json
    }

    /// The format, when `command` prints it (`formats`; `--no-header` only where `headers`):
    /// otherwise a usage error that names what the command prints, never a silent table.
    pub fn only(&self, command: &str, formats: &[Format], headers: bool) -> crate::Result<Format> {
        use clap::ValueEnum;
        let name = |f: &Format| {
            f.to_possible_value()
                .map(|v| v.get_name().to_string())
                .unwrap_or_default()
        };
        let format = self.format();
        if !formats.contains(&format) {
            let names: Vec<String> = formats.iter().map(name).collect();
            return Err(crate::Error::Usage(format!(
                "{command} prints {}, not {}",
                names.join(" or "),
                name(&format)
            )));
        }
        if self.no_header && !headers {
            return Err(crate::Error::Usage(format!(
                "{command} prints no header line for --no-header to leave out"
            )));
        }
        Ok(format)
    }
}

/// How output should look in this run.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    pub color: bool,
    /// The columns a table may take: the terminal's width or `$COLUMNS` (at least 80); `None` in
    /// a pipe without `$COLUMNS`, where rows are never cut.
    pub width: Option<usize>,
}

impl Ui {
    /// Colour when asked to, or in `auto` when stdout is a terminal and NO_COLOR is unset or empty
    /// (https://no-color.org).
    pub fn new(choice: ColorChoice) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => !no_color && io::stdout().is_terminal(),
        };
        let columns = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse::<usize>().ok());
        let terminal = || {
            terminal_size::terminal_size_of(io::stdout())
                .map(|(terminal_size::Width(w), _)| usize::from(w))
                .filter(|_| io::stdout().is_terminal())
        };
        let width = columns.or_else(terminal).map(|w| w.max(80));
        Ui { color, width }
    }

    /// No colour and no width limit: what a pipe gets, and what tests compare.
    pub fn plain() -> Ui {
        Ui {
            color: false,
            width: None,
        }
    }

    /// No colour, `width` columns.
    pub fn fixed(width: usize) -> Ui {
        Ui {
            color: false,
            width: Some(width),
        }
    }

    /// Wraps `text` in an ANSI colour when colour is on.
    pub fn paint<'a>(&self, color: Color, text: &'a str) -> std::borrow::Cow<'a, str> {
        if self.color {
            format!("\x1b[{}m{text}\x1b[0m", color.code()).into()
        } else {
            text.into()
        }
    }
}

/// The few colours portscope uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    Green,
    Yellow,
    Red,
    Cyan,
    Dim,
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Red => "31",
            Color::Cyan => "36",
            Color::Dim => "2",
            Color::Bold => "1",
        }
    }
}

/// Writes a value as JSON followed by a newline: indented for a person at a terminal, compact
/// for a pipe (a script or `jq` reads it faster, and it is a third of the size).
pub fn json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> io::Result<()> {
    if io::stdout().is_terminal() {
        serde_json::to_writer_pretty(&mut *out, value)?;
    } else {
        serde_json::to_writer(&mut *out, value)?;
    }
    writeln!(out)
}

/// Writes items as one JSON array. In a pipe the array is streamed element by element, so a large
/// listing is never held twice in memory; on a terminal it is indented like [`json`].
pub fn json_array<T: Serialize>(out: &mut impl Write, items: impl IntoIterator<Item = T>) -> io::Result<()> {
    let mut array = JsonArray::new(out);
    for item in items {
        array.push(&item)?;
    }
    array.finish()
}

/// A JSON array written one element at a time, for items that arrive from a callback (rows read
/// from a database): streamed in a pipe, indented like [`json`] on a terminal (where the elements
/// are kept until [`JsonArray::finish`]).
pub struct JsonArray<'w, W: Write> {
    out: &'w mut W,
    written: usize,
    /// On a terminal: the elements, indented at the end.
    kept: Option<Vec<serde_json::Value>>,
}

impl<'w, W: Write> JsonArray<'w, W> {
    pub fn new(out: &'w mut W) -> JsonArray<'w, W> {
        JsonArray {
            out,
            written: 0,
            kept: io::stdout().is_terminal().then(Vec::new),
        }
    }

    pub fn push<T: Serialize + ?Sized>(&mut self, item: &T) -> io::Result<()> {
        if let Some(kept) = &mut self.kept {
            kept.push(serde_json::to_value(item)?);
            return Ok(());
        }
        self.out.write_all(if self.written == 0 { b"[" } else { b"," })?;
        serde_json::to_writer(&mut *self.out, item)?;
        self.written += 1;
        Ok(())
    }

    pub fn finish(self) -> io::Result<()> {
        match self.kept {
            Some(kept) => json(self.out, &kept),
            None if self.written == 0 => self.out.write_all(b"[]\n"),
            None => self.out.write_all(b"]\n"),
        }
    }
}

/// Writes each item as one line of compact JSON (JSON Lines).
pub fn json_lines<T: Serialize>(out: &mut impl Write, items: impl IntoIterator<Item = T>) -> io::Result<()> {
    for item in items {
        serde_json::to_writer(&mut *out, &item)?;
        writeln!(out)?;
    }
    Ok(())
}

/// Prints a note for the user on stderr (never on stdout, which scripts read), escaped: notes
/// quote file names and process names.
pub fn note(message: &str) {
    // A closed or full stderr loses the note, never the run.
    let _ = writeln!(
        io::stderr(),
        "portscope: note: {}",
        portscope_core::render::escape(message)
    );
}

/// "PID/name" for each holder of a socket, comma-separated; "-" when none is visible.
pub fn holders_label(holders: &[crate::model::Holder]) -> String {
    if holders.is_empty() {
        return "-".into();
    }
    let labels: Vec<String> = holders
        .iter()
        .map(|h| format!("{}/{}", h.process.pid, h.process.name))
        .collect();
    labels.join(",")
}
