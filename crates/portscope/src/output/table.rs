//! A plain aligned text table. Cells carry an optional colour that is applied after padding,
//! so escape codes never break the alignment. Every cell's text passes through
//! [`render::escape`] when the cell is made: a process name or banner cannot move the cursor,
//! recolour the terminal or forge a row.
//!
//! With a width (the terminal's, or `$COLUMNS`), a table never wraps: the rightmost columns are
//! cut first, each cell marked with `…` where it was cut, down to a floor that keeps the
//! column's header readable (a path: 12 columns, cut in the middle); a row never spills onto a
//! second line. An endpoint column (LOCAL, REMOTE, audit's SOCKET) is different: it gives way
//! only after every other column, and then only from its addresses (IPv4 from the left, IPv6
//! from the middle), never from a port. When even that is not enough the row is wider than the
//! terminal: a port is the one thing a port tool must not hide. Before that, a table may leave
//! out the columns it names as droppable (`list` leaves out EXE, then SERVICE).

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

    /// A cell from text that already went through [`render`] (a path's exact bytes, escaped by
    /// [`render::path`]): escaping it again would show `\\e` for what `audit` shows as `\e`.
    pub fn rendered(text: std::borrow::Cow<'_, str>) -> Cell {
        Cell {
            text: text.into_owned(),
            color: None,
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
    /// Columns of endpoints, whose ports are never cut: they give way last, from their addresses.
    endpoints: Vec<usize>,
    /// Columns never cut: short words a reader needs whole (audit's CHECK, which `--allow` takes).
    whole: Vec<usize>,
    /// Columns left out, in this order, when the table does not fit even with every column
    /// at its floor.
    droppable: Vec<usize>,
    /// A sentence under a row (an audit finding's reason), by row index: never cut, but folded
    /// at word boundaries to the width and indented, so it reads as part of its row.
    details: Vec<(usize, String)>,
    /// Whether the header row is printed (`--no-header` leaves it out, as `ss -H` does).
    header: bool,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Table {
        Table {
            headers,
            rows: Vec::new(),
            shrink_first: Vec::new(),
            middle_cut: Vec::new(),
            endpoints: Vec::new(),
            droppable: Vec::new(),
            whole: Vec::new(),
            details: Vec::new(),
            header: true,
        }
    }

    /// Leaves the header row out when `no_header` is set (`--no-header`), for scripts that
    /// read the rows.
    pub fn no_header(mut self, no_header: bool) -> Table {
        self.header = !no_header;
        self
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
        self.shrink_first = self.positions(headers);
        self
    }

    /// Names the columns (by header) cut in the middle, keeping both ends: paths.
    pub fn middle_cut(mut self, headers: &[&str]) -> Table {
        self.middle_cut = self.positions(headers);
        self
    }

    /// Names the columns (by header) that hold endpoints (`198.18.0.1:8080`, or words among
    /// which some are endpoints: `tcp [fd00::1]:8443 -> 198.18.0.2:4444`). They give up width
    /// after every other column and only from their addresses: no width cuts a port.
    pub fn endpoints(mut self, headers: &[&str]) -> Table {
        self.endpoints = self.positions(headers);
        self
    }

    /// Names the columns (by header) never cut: short words that say nothing once cut.
    pub fn whole(mut self, headers: &[&str]) -> Table {
        self.whole = self.positions(headers);
        self
    }

    /// Names the columns (by header) left out, in that order, when even with every column at
    /// its floor a row would be wider than the terminal: what a row can do without, so that
    /// the ports fit.
    pub fn droppable(mut self, headers: &[&str]) -> Table {
        self.droppable = self.positions(headers);
        self
    }

    /// Keeps only the columns whose headers `wanted` names (in any case), in the order it names
    /// them (`--columns`); every other setting follows its column. Empty keeps every column.
    pub fn only(mut self, wanted: &[String]) -> Table {
        if wanted.is_empty() {
            return self;
        }
        let mut picks: Vec<usize> = Vec::new();
        for name in wanted {
            if let Some(i) = self.headers.iter().position(|h| h.eq_ignore_ascii_case(name))
                && !picks.contains(&i)
            {
                picks.push(i);
            }
        }
        let moved = |old: &[usize]| -> Vec<usize> {
            old.iter()
                .filter_map(|&i| picks.iter().position(|&p| p == i))
                .collect()
        };
        self.shrink_first = moved(&self.shrink_first);
        self.middle_cut = moved(&self.middle_cut);
        self.endpoints = moved(&self.endpoints);
        self.whole = moved(&self.whole);
        self.droppable = moved(&self.droppable);
        self.headers = picks.iter().map(|&i| self.headers[i]).collect();
        for row in &mut self.rows {
            let mut cells: Vec<Option<Cell>> = std::mem::take(row).into_iter().map(Some).collect();
            *row = picks.iter().filter_map(|&i| cells[i].take()).collect();
        }
        self
    }

    /// The headers, for a message that names the columns a user may pick.
    pub fn headers(&self) -> &[&'static str] {
        &self.headers
    }

    fn positions(&self, headers: &[&str]) -> Vec<usize> {
        headers
            .iter()
            .filter_map(|h| self.headers.iter().position(|x| x == h))
            .collect()
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The width of each column, `None` for a column left out: as wide as its widest cell,
    /// then, when the row would be wider than `limit`, narrowed from the right (the last column
    /// first) until it fits. A column is never narrowed below its header or 6 columns; an
    /// endpoint column goes last, and never below the width at which its widest cell still
    /// shows every port. When that is still too wide the droppable columns are left out one by
    /// one, and when none is left the row is wider than `limit`.
    fn layout(&self, limit: Option<usize>) -> Vec<Option<usize>> {
        let mut shown: Vec<usize> = (0..self.headers.len()).collect();
        let mut drops = self.droppable.iter();
        loop {
            let (widths, total) = self.widths(limit, &shown);
            let fits = limit.is_none_or(|limit| total <= limit);
            match drops.next() {
                Some(drop) if !fits => shown.retain(|i| i != drop),
                _ => {
                    return (0..self.headers.len())
                        .map(|i| shown.contains(&i).then_some(widths[i]))
                        .collect();
                }
            }
        }
    }

    /// [`Table::layout`] for the columns `shown`: every column's width (0 for those not
    /// shown) and the row's total.
    fn widths(&self, limit: Option<usize>, shown: &[usize]) -> (Vec<usize>, usize) {
        let mut widths = vec![0; self.headers.len()];
        for &i in shown {
            widths[i] = render::width(self.headers[i]);
            for row in &self.rows {
                widths[i] = widths[i].max(render::width(&row[i].text));
            }
        }
        let gaps = 2 * shown.len().saturating_sub(1);
        let mut total = widths.iter().sum::<usize>() + gaps;
        let Some(limit) = limit else {
            return (widths, total);
        };
        let others = self
            .shrink_first
            .iter()
            .copied()
            .chain((0..widths.len()).rev().filter(|i| !self.shrink_first.contains(i)))
            .filter(|i| shown.contains(i) && !self.endpoints.contains(i) && !self.whole.contains(i));
        for i in others {
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
        // Then the endpoints, one column at a time from the one with the most to give, so that
        // LOCAL and REMOTE lose about as much; never below what shows every port.
        let mut room: Vec<(usize, usize)> = self
            .endpoints
            .iter()
            .filter(|i| shown.contains(i))
            .map(|&i| {
                let ports = self
                    .rows
                    .iter()
                    .map(|row| render::endpoint_floor(&row[i].text))
                    .max()
                    .unwrap_or(0);
                let floor = render::width(self.headers[i]).max(ports).min(widths[i]);
                (i, widths[i] - floor)
            })
            .collect();
        while total > limit {
            let Some((i, left)) = room
                .iter_mut()
                .filter(|(_, left)| *left > 0)
                .max_by_key(|(_, left)| *left)
            else {
                break;
            };
            *left -= 1;
            widths[*i] -= 1;
            total -= 1;
        }
        (widths, total)
    }

    pub fn write(&self, out: &mut impl Write, ui: Ui) -> io::Result<()> {
        let layout = self.layout(ui.width);
        let last = layout.iter().rposition(Option::is_some).unwrap_or(0);
        let header: Vec<Cell> = self
            .headers
            .iter()
            .map(|h| Cell::painted(*h, Color::Bold))
            .collect();
        for (index, row) in std::iter::once(&header).chain(&self.rows).enumerate() {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let Some(width) = layout[i] else {
                    continue;
                };
                let text = if self.endpoints.contains(&i) {
                    render::shorten_endpoints(&cell.text, width)
                } else if self.middle_cut.contains(&i) {
                    render::truncate_middle(&cell.text, width)
                } else {
                    render::truncate(&cell.text, width)
                };
                let painted = match cell.color {
                    Some(color) => ui.paint(color, &text),
                    None => text.as_ref().into(),
                };
                line.push_str(&painted);
                if i < last {
                    let pad = width.saturating_sub(render::width(&text)) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if index > 0 || self.header {
                writeln!(out, "{}", line.trim_end())?;
            }
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

    /// Four columns that want 95 columns; LOCAL and REMOTE are endpoints.
    fn endpoints_table() -> Table {
        let mut table = Table::new(vec!["NETNS", "LOCAL", "REMOTE", "PID/PROGRAM", "EXE"])
            .shrink_first(&["EXE", "PID/PROGRAM", "NETNS"])
            .middle_cut(&["EXE", "NETNS"])
            .endpoints(&["LOCAL", "REMOTE"]);
        table.push(vec![
            "ns:532319".into(),
            "[fd00:1234:5678::abcd]:8443".into(),
            "*".into(),
            "23400/a-very-long-program-name".into(),
            "/opt/vendor/bin/a-very-long-program-name".into(),
        ]);
        table.push(vec![
            "host".into(),
            "198.18.0.1:52000".into(),
            "198.18.0.2:4444".into(),
            "1/init".into(),
            "/sbin/init".into(),
        ]);
        table
    }

    fn written(table: &Table, width: usize) -> String {
        let mut out = Vec::new();
        table.write(&mut out, Ui::fixed(width)).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_endpoint_column_gives_way_last_and_never_loses_a_port() {
        let table = endpoints_table();
        // 59: every column at its floor.
        for width in [200, 90, 80, 70, 59] {
            let text = written(&table, width);
            for line in text.lines() {
                assert!(render::width(line) <= width, "{width}: {line:?}");
            }
            for port in ["]:8443", ":52000", ":4444"] {
                assert!(text.contains(port), "{width}: {port} in {text}");
            }
            assert!(text.contains("ns:532319"), "a short label is not cut: {text}");
        }
        let text = written(&table, 90);
        assert!(
            text.contains("[fd00:1234:5678::abcd]:8443") && text.contains("/opt/v…-name"),
            "other columns went first: {text}"
        );
        let text = written(&table, 59);
        assert!(text.contains("….0.1:52000"), "IPv4 loses its left end: {text}");
        assert!(text.contains("[fd…d]:8443"), "IPv6 loses its middle: {text}");
    }

    #[test]
    fn a_row_that_cannot_fit_overflows_rather_than_cut_a_port() {
        let text = written(&endpoints_table(), 30);
        for port in ["]:8443", ":52000", ":4444"] {
            assert!(text.contains(port), "{port} in {text}");
        }
        assert!(text.lines().all(|l| render::width(l) > 30), "{text}");
        assert_eq!(text.lines().count(), 3, "still one line a row: {text}");
    }

    #[test]
    fn a_droppable_column_is_left_out_before_a_row_overflows() {
        let table = endpoints_table().droppable(&["EXE"]);
        let text = written(&table, 50);
        assert!(!text.contains("EXE") && !text.contains("/sbin/init"), "{text}");
        for line in text.lines() {
            assert!(render::width(line) <= 50, "{line:?}");
        }
        for port in ["]:8443", ":52000", ":4444"] {
            assert!(text.contains(port), "{port} in {text}");
        }
        let wide = written(&table, 200);
        assert_eq!(wide, written(&endpoints_table(), 200), "kept when it fits");
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
