//! Printing: human tables (colour only on a terminal, NO_COLOR honoured) and JSON for scripts.
//! Commands build rows and values; this module decides how they look.

pub mod scan;
pub mod table;

use std::io::{self, IsTerminal, Write};

use serde::Serialize;

/// The user's colour choice (`--color`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
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
    if io::stdout().is_terminal() {
        return json(out, &items.into_iter().collect::<Vec<_>>());
    }
    out.write_all(b"[")?;
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, &item)?;
    }
    out.write_all(b"]\n")
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
