//! A plain aligned text table. Cells carry an optional colour that is applied after padding,
//! so escape codes never break the alignment. Every cell's text passes through
//! [`render::escape`] when the cell is made: a process name or banner cannot move the cursor,
//! recolour the terminal or forge a row.

use std::io::{self, Write};

use portscope_core::render;

use super::{Color, Ui};

/// One cell: its text, already escaped, and, when colour is on, how to paint it.
#[derive(Clone, Debug)]
pub struct Cell {
    text: String,
    color: Option<Color>,
}

impl Cell {
    pub fn painted(text: impl Into<String>, color: Color) -> Cell {
        Cell {
            text: escaped(text.into()),
            color: Some(color),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }
}

fn escaped(text: String) -> String {
    match render::escape(&text) {
        std::borrow::Cow::Borrowed(_) => text,
        std::borrow::Cow::Owned(safe) => safe,
    }
}

impl<T: Into<String>> From<T> for Cell {
    fn from(text: T) -> Cell {
        Cell {
            text: escaped(text.into()),
            color: None,
        }
    }
}

/// A table with a header row; the last column is never padded, so long command lines stay readable.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn write(&self, out: &mut impl Write, ui: Ui) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.text.chars().count());
            }
        }
        let last = self.headers.len().saturating_sub(1);
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::painted(*h, Color::Bold))
            .collect();
        for row in std::iter::once(&header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let painted = match cell.color {
                    Some(color) => ui.paint(color, &cell.text),
                    None => cell.text.as_str().into(),
                };
                line.push_str(&painted);
                if i < last {
                    let pad = widths[i] - cell.text.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut table = Table::new(vec!["PROTO", "LOCAL", "STATE", "PID/PROGRAM"]);
        table.push(vec![
            "tcp".into(),
            "127.0.0.1:8080".into(),
            Cell::painted("LISTEN", Color::Green),
            "42/nginx".into(),
        ]);
        table.push(vec![
            "udp6".into(),
            "[::]:5353".into(),
            Cell::painted("UNCONN", Color::Green),
            "-".into(),
        ]);
        table
    }

    fn render(ui: Ui) -> String {
        let mut out = Vec::new();
        sample().write(&mut out, ui).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn plain_table_is_aligned() {
        insta::assert_snapshot!(render(Ui { color: false }));
    }

    #[test]
    fn hostile_cells_cannot_reach_the_terminal() {
        let mut table = Table::new(vec!["PID/PROGRAM", "STATE"]);
        table.push(vec![
            "7/sshd\x1b[2K\rnginx\nX".into(),
            Cell::painted("LISTEN", Color::Green),
        ]);
        let mut out = Vec::new();
        table.write(&mut out, Ui { color: false }).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "no forged row: {text:?}");
        assert!(text.contains("7/sshd\\e[2K\\rnginx\\nX"), "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\r'));
    }

    #[test]
    fn colour_does_not_break_alignment() {
        let coloured = render(Ui { color: true });
        assert!(coloured.contains("\x1b[32mLISTEN\x1b[0m"));
        let stripped = coloured
            .replace("\x1b[32m", "")
            .replace("\x1b[1m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, render(Ui { color: false }));
    }
}
