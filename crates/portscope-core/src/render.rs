//! Making hostile strings safe to print: the one rendering rule for human output.
//!
//! Process names, command lines, executable paths, user names, file names and banners are chosen
//! by whoever runs the program or sends the bytes. Printed raw, an ESC sequence can recolour or
//! clear the terminal, set its title or move the cursor, a carriage return can overwrite what
//! came before (`sshd\e[2K\rnginx` reads as "nginx"), a newline can forge a table row, and a
//! bidirectional override can reverse what follows. Every such character is shown escaped
//! instead: `\e`, `\n`, `\r`, `\t`, `\x07`, `\u{202e}`, and a backslash as `\\` so that an escape
//! can never be forged. Bytes that are not UTF-8 show as `\xff`. JSON is not rendered here: it
//! keeps the exact bytes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Whether `c` must not reach a terminal as itself.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || c == '\\'
        // Bidirectional overrides, isolates and marks; line and paragraph separators.
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}')
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '\x1b' => out.push_str("\\e"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
    }
}

/// `text` with every control, bidi and backslash character escaped; borrowed when nothing needs it.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Bytes of unknown encoding: valid UTF-8 runs as [`escape`] shows them, every other byte as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return escape(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&escape(chunk.valid()));
        for byte in chunk.invalid() {
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    Cow::Owned(out)
}

/// A path as a person should see it: its exact bytes, escaped.
pub fn path(path: &Path) -> Cow<'_, str> {
    escape_bytes(path.as_os_str().as_encoded_bytes())
}

/// How many terminal columns `text` takes once escaped. Escaped text is ASCII plus printable
/// characters; each counts as one column (wide East Asian characters are rare in what portscope
/// shows and are allowed to overhang).
pub fn width(text: &str) -> usize {
    text.chars().count()
}

/// `text` cut to at most `max` columns, with `…` marking the cut.
pub fn truncate(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        return Cow::Borrowed(text);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    Cow::Owned(out)
}

/// `text` cut to at most `max` columns by taking out its middle, with `…` where the cut is: for
/// paths, whose start (`/tmp/`) and end (the file name) both matter.
pub fn truncate_middle(text: &str, max: usize) -> Cow<'_, str> {
    let len = width(text);
    if len <= max {
        return Cow::Borrowed(text);
    }
    if max < 3 {
        return truncate(text, max);
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = text.chars().take(head).collect();
    out.push('…');
    out.extend(text.chars().skip(len - tail));
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(escape("nginx: master process"), Cow::Borrowed(_)));
        assert!(matches!(escape("café ☕"), Cow::Borrowed(_)));
    }

    #[test]
    fn terminal_attacks_are_escaped() {
        assert_eq!(escape("\x1b[31mk\x1b]0;T\x07\nX"), "\\e[31mk\\e]0;T\\x07\\nX");
        assert_eq!(escape("sshd\x1b[2K\rnginx"), "sshd\\e[2K\\rnginx");
        assert_eq!(escape("a\tb\x7f\u{9b}"), "a\\tb\\x7f\\x9b");
        assert_eq!(escape("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        // A literal backslash cannot forge an escape.
        assert_eq!(escape("\\e[31m"), "\\\\e[31m");
    }

    #[test]
    fn invalid_utf8_shows_its_bytes() {
        assert_eq!(escape_bytes(b"/tmp/\xff.bin"), "/tmp/\\xff.bin");
        assert_eq!(escape_bytes(b"\xc3\x28\x1b"), "\\xc3(\\e");
        assert_eq!(path(Path::new("/usr/bin/nginx")), "/usr/bin/nginx");
    }

    #[test]
    fn nothing_printable_survives_unescaped() {
        for byte in 0u8..=255 {
            let bytes = [byte];
            let shown = escape_bytes(&bytes);
            assert!(
                shown.chars().all(|c| !c.is_control()),
                "byte {byte:#x} rendered as {shown:?}"
            );
        }
    }

    #[test]
    fn truncation_marks_the_cut() {
        assert_eq!(truncate("/usr/sbin/nginx", 20), "/usr/sbin/nginx");
        assert_eq!(truncate("/usr/sbin/nginx", 8), "/usr/sb…");
        assert_eq!(width(&truncate("ααααα", 3)), 3);
        assert_eq!(truncate_middle("/tmp/.cache/nginx", 12), "/tmp/.…nginx");
        assert_eq!(truncate_middle("/usr/sbin/nginx", 20), "/usr/sbin/nginx");
        assert_eq!(width(&truncate_middle("/a/very/long/path/to/nginx", 9)), 9);
    }
}
