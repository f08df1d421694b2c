//! CSV (RFC 4180) for spreadsheets and scripts: one header line, one record per row, a field
//! quoted when it holds a comma, a quote or a line break. Fields are written as they are, so a
//! spreadsheet gets the process's own name back; on a terminal they pass through the one
//! rendering layer like every other string a process chose.

use std::io::{self, IsTerminal, Write};

/// Writes `header` (unless `no_header`) and each row as CSV records ending in CRLF, as RFC 4180
/// and Python's csv module write them.
pub fn write(
    out: &mut impl Write,
    header: &[&str],
    rows: impl IntoIterator<Item = Vec<String>>,
    no_header: bool,
) -> io::Result<()> {
    let terminal = io::stdout().is_terminal();
    if !no_header {
        record(out, header.iter().copied(), terminal)?;
    }
    for row in rows {
        record(out, row.iter().map(String::as_str), terminal)?;
    }
    Ok(())
}

fn record<'a>(out: &mut impl Write, fields: impl Iterator<Item = &'a str>, terminal: bool) -> io::Result<()> {
    for (i, field) in fields.enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let field = if terminal {
            crate::render::escape(field)
        } else {
            field.into()
        };
        out.write_all(quoted(&field).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

/// The field as RFC 4180 wants it: in double quotes, inner quotes doubled, when it holds a
/// separator, a quote or a line break; as it is otherwise.
fn quoted(field: &str) -> std::borrow::Cow<'_, str> {
    if field.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_separators_quotes_or_line_breaks_are_quoted() {
        assert_eq!(quoted("nginx"), "nginx");
        assert_eq!(quoted("a,b"), "\"a,b\"");
        assert_eq!(quoted("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quoted("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn the_header_can_be_left_out() {
        let mut out = Vec::new();
        write(&mut out, &["a", "b"], [vec!["1".into(), "x,y".into()]], false).unwrap();
        assert_eq!(out, b"a,b\r\n1,\"x,y\"\r\n");
        let mut out = Vec::new();
        write(&mut out, &["a", "b"], [vec!["1".into(), "2".into()]], true).unwrap();
        assert_eq!(out, b"1,2\r\n");
    }
}
