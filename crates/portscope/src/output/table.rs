//! A plain aligned text table. Cells carry an optional colour that is applied after padding,
//! so escape codes never break the alignment. Every cell's text passes through
//! [`render::escape`] when the cell is made: a process name or banner cannot move the cursor,
//! recolour the terminal or forge a row.
//!
//! With a width (the terminal's, or `$COLUMNS`), a table never wraps: the rightmost columns are
//! cut first, each cell marked with `…` where it was cut, down to a floor that keeps the
//! column's header readable (a path: 12 columns, cut in the middle); a row never spills onto a
//! second line.

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
    /// Columns in the order they give up width when the table is too wide; the rest after them,
    /// right to left.
    shrink_first: Vec<usize>,
    /// Columns cut in the middle (paths) rather than at the end.
    middle_cut: Vec<usize>,
    /// A sentence under a row (an audit finding's reason), by row index: never cut, but folded
    /// at word boundaries to the width and indented, so it reads as part of its row.
    details: Vec<(usize, String)>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
            shrink_first: Vec::new(),
            middle_cut: Vec::new(),
            details: Vec::new(),
        }
    }

    /// Adds a row with a sentence printed under it (escaped like every cell).
    pub fn push_with_detail(&mut self, row: Vec<Cell>, detail: &str) {
        self.push(row);
        let detail = escaped(detail.to_string());
        self.details.push((self.rows.len() - 1, detail));
    }

    /// Names the columns (by header) that give up width first when the table is too wide, in
    /// that order; the others follow, rightmost first.
    pub fn shrink_first(mut self, headers: &[&str]) -> Table {
        self.shrink_first = headers
            .iter()
            .filter_map(|h| self.headers.iter().position(|x| x == h))
            .collect();
        self
    }

    /// Names the columns (by header) cut in the middle, keeping both ends: paths.
    pub fn middle_cut(mut self, headers: &[&str]) -> Table {
        self.middle_cut = headers
            .iter()
            .filter_map(|h| self.headers.iter().position(|x| x == h))
            .collect();
        self
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The width of each column: as wide as its widest cell, then, when the row would be wider
    /// than `limit`, narrowed from the right (the last column first) until it fits. A column is
    /// never narrowed below its header or 6 columns.
    fn widths(&self, limit: Option<usize>) -> Vec<usize> {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| render::width(h)).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(render::width(&cell.text));
            }
        }
        let Some(limit) = limit else {
            return widths;
        };
        let gaps = 2 * widths.len().saturating_sub(1);
        let mut total = widths.iter().sum::<usize>() + gaps;
        let order = self
            .shrink_first
            .iter()
            .copied()
            .chain((0..widths.len()).rev().filter(|i| !self.shrink_first.contains(i)));
        for i in order {
            if total <= limit {
                break;
            }
            let width = &mut widths[i];
            // A path keeps enough of both ends to tell /tmp/ from /usr/.
            let least = if self.middle_cut.contains(&i) { 12 } else { 6 };
            let floor = render::width(self.headers[i]).max(least).min(*width);
            let cut = (total - limit).min(*width - floor);
            *width -= cut;
            total -= cut;
        }
        widths
    }

    pub fn write(&self, out: &mut impl Write, ui: Ui) -> io::Result<()> {
        let widths = self.widths(ui.width);
        let last = self.headers.len().saturating_sub(1);
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::painted(*h, Color::Bold))
            .collect();
        for (index, row) in std::iter::once(&header).chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let text = if self.middle_cut.contains(&i) {
                    render::truncate_middle(&cell.text, widths[i])
                } else {
                    render::truncate(&cell.text, widths[i])
                };
                let painted = match cell.color {
                    Some(color) => ui.paint(color, &text),
                    None => text.as_ref().into(),
                };
                line.push_str(&painted);
                if i < last {
                    let pad = widths[i] - render::width(&text) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", line.trim_end())?;
            let detail = index
                .checked_sub(1)
                .and_then(|row| self.details.iter().find(|(r, _)| *r == row));
            if let Some((_, detail)) = detail {
                for folded in fold(detail, ui.width.map(|w| w.saturating_sub(DETAIL_INDENT.len()))) {
                    writeln!(out, "{DETAIL_INDENT}{folded}")?;
                }
            }
        }
        Ok(())
    }
}

const DETAIL_INDENT: &str = "    ";

/// `text` in lines of at most `width` columns, broken between words (a word longer than a line
/// is cut into pieces); one line when there is no width.
fn fold(text: &str, width: Option<usize>) -> Vec<String> {
    let Some(width) = width.filter(|w| *w >= 20) else {
        return vec![text.to_string()];
    };
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word: String = word.to_string();
        while render::width(&word) > width {
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(width).collect();
            word = word.chars().skip(width).collect();
            lines.push(head);
        }
        let needed = render::width(&line) + usize::from(!line.is_empty()) + render::width(&word);
        if needed > width && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
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
        insta::assert_snapshot!(render(Ui::plain()));
    }

    #[test]
    fn hostile_cells_cannot_reach_the_terminal() {
        let mut table = Table::new(vec!["PID/PROGRAM", "STATE"]);
        table.push(vec![
            "7/sshd\x1b[2K\rnginx\nX".into(),
            Cell::painted("LISTEN", Color::Green),
        ]);
        let mut out = Vec::new();
        table.write(&mut out, Ui::plain()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 2, "no forged row: {text:?}");
        assert!(text.contains("7/sshd\\e[2K\\rnginx\\nX"), "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\r'));
    }

    #[test]
    fn a_narrow_terminal_cuts_the_right_columns_and_never_wraps() {
        let mut table = Table::new(vec!["PROTO", "LOCAL", "PID/PROGRAM", "EXE"]);
        table.push(vec![
            "tcp6".into(),
            "[fd00:1234:5678:9abc:def0:1234:5678:9abc]:443".into(),
            "23400/nginx".into(),
            "/tmp/.cache/a/very/long/directory/nginx".into(),
        ]);
        table.push(vec![
            "tcp".into(),
            "0.0.0.0:80".into(),
            "1/init".into(),
            "/sbin/init".into(),
        ]);
        for width in [40, 60, 80] {
            let mut out = Vec::new();
            table
                .write(
                    &mut out,
                    Ui {
                        color: false,
                        width: Some(width),
                    },
                )
                .unwrap();
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.lines().count(), 3, "{text}");
            for line in text.lines() {
                assert!(render::width(line) <= width, "{width}: {line:?}");
            }
        }
        let mut out = Vec::new();
        table
            .write(
                &mut out,
                Ui {
                    color: false,
                    width: Some(60),
                },
            )
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains('…'), "the cut is marked: {text}");
        assert!(text.contains("tcp6"), "the left columns stay whole: {text}");
    }

    #[test]
    fn a_detail_is_folded_under_its_row_and_never_cut() {
        let mut table = Table::new(vec!["SEVERITY", "PROCESS"]);
        let reason = "dash (pid 42) has a TCP socket as its standard input and output: the shape of \
                      a reverse or bind shell\x1b[2K";
        table.push_with_detail(vec!["alert".into(), "42/sh".into()], reason);
        table.push(vec!["info".into(), "1/init".into()]);
        let mut out = Vec::new();
        table.write(&mut out, Ui::fixed(40)).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in text.lines() {
            assert!(render::width(line) <= 40, "{line:?}");
        }
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("alert"), "{text}");
        assert!(lines[2].starts_with("    dash (pid 42)"), "{text}");
        assert!(lines.last().unwrap().starts_with("info"), "{text}");
        let folded: String = lines[2..lines.len() - 1]
            .iter()
            .map(|l| l.trim())
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(folded, reason.replace('\x1b', "\\e"), "every word kept, escaped");
    }

    #[test]
    fn colour_does_not_break_alignment() {
        let coloured = render(Ui {
            color: true,
            width: None,
        });
        assert!(coloured.contains("\x1b[32mLISTEN\x1b[0m"));
        let stripped = coloured
            .replace("\x1b[32m", "")
            .replace("\x1b[1m", "")
            .replace("\x1b[0m", "");
        assert_eq!(stripped, render(Ui::plain()));
    }
}
