//! Making hostile strings safe to print: the one rendering rule for human output.
//!
//! Process names, command lines, executable paths, user names, file names and banners are chosen
//! by whoever runs the program or sends the bytes. Printed raw, an ESC sequence can recolour or
//! clear the terminal, set its title or move the cursor, a carriage return can overwrite what
//! came before (`sshd\e[2K\rnginx` reads as "nginx"), a newline can forge a table row, a
//! bidirectional override can reverse what follows, and an invisible character (a zero-width
//! space, a tag character) makes `ssh\u{200b}d` read as `sshd`. Every such character is shown
//! escaped instead: `\e`, `\n`, `\r`, `\t`, `\x07`, `\u{202e}`, and a backslash as `\\` so that an escape
//! can never be forged. Bytes that are not UTF-8 show as `\xff`. JSON is not rendered here: it
//! keeps the exact bytes.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// Whether `c` must not reach a terminal as itself.
fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\\' || invisible(c)
}

/// Format characters (Unicode category Cf: bidi controls, zero-width spaces and joiners, the
/// byte-order mark, tag characters) and every other default-ignorable code point (variation
/// selectors, Hangul fillers, the soft hyphen), plus the line and paragraph separators: a
/// terminal draws none of them, so `ssh\u{200b}d` would read as `sshd`. Unicode 15's lists.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{061c}'
            | '\u{0600}'..='\u{0605}'
            | '\u{06dd}'
            | '\u{070f}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08e2}'
            | '\u{115f}'..='\u{1160}'
            | '\u{17b4}'..='\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200f}'
            | '\u{2028}'..='\u{202e}'
            | '\u{2060}'..='\u{206f}'
            | '\u{3164}'
            | '\u{fe00}'..='\u{fe0f}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff0}'..='\u{fffb}'
            | '\u{110bd}'
            | '\u{110cd}'
            | '\u{13430}'..='\u{1343f}'
            | '\u{1bca0}'..='\u{1bca3}'
            | '\u{1d173}'..='\u{1d17a}'
            | '\u{e0000}'..='\u{e0fff}'
    )
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

/// `text` with every control, invisible (format, default-ignorable) and backslash character
/// escaped; borrowed when nothing needs it.
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

/// The most characters of a rejected file's text an error message quotes.
pub const TOKEN_CHARS: usize = 24;

/// A piece of a rejected input file, quoted for an error message: at most [`TOKEN_CHARS`]
/// characters, escaped, in double quotes, with `…` when cut. An error line never carries a
/// whole line of the file: a link planted to /etc/shadow must not put a hash into root's logs.
pub fn token(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(TOKEN_CHARS).collect();
    let cut = if chars.next().is_some() { "…" } else { "" };
    format!("\"{}{cut}\"", escape(&head))
}

/// `message` (from a parser that quotes the input, such as serde's "unknown field `x`") with
/// every backquoted part shortened to a [`token`].
pub fn clip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(256));
    let mut parts = message.split('`');
    if let Some(first) = parts.next() {
        out.push_str(&escape(first));
    }
    for (i, part) in parts.enumerate() {
        if i % 2 == 0 {
            out.push_str(&token(part));
        } else {
            out.push_str(&escape(part));
        }
    }
    out
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

/// The narrowest an address is cut to, in columns, `…` included: an IPv4 address's last
/// characters (`….1`: rows of one host's addresses differ at the right), or both ends of an
/// IPv6 one (`[fd…1]`, brackets not counted). That narrow, eight columns of `list --all` (two
/// endpoints with five-digit ports among them) still fit 80 columns.
const ADDRESS_LEAST: usize = 3;
const IPV6_LEAST: usize = 4;

/// The address and the `:PORT` of an endpoint word (`198.18.0.1:8080`, `[fd00::1]:8443`,
/// `*:53`, `if2:ALL`); `None` for any other word (`tcp`, `->`, `*`, `(+2)`).
fn split_endpoint(word: &str) -> Option<(&str, &str)> {
    let (address, port) = if word.starts_with('[') {
        word.split_at(word.find("]:")? + 1)
    } else {
        let (address, port) = word.split_at(word.rfind(':')?);
        if address.contains(':') {
            return None;
        }
        (address, port)
    };
    (!address.is_empty() && port.len() > 1).then_some((address, port))
}

/// The IPv4 wildcard, which a cut shows as `*` (a cut `…0.0.0` could be any network).
const WILDCARD: &str = "0.0.0.0";

/// How narrow `address` may become.
fn address_floor(address: &str) -> usize {
    if address == WILDCARD {
        return 1;
    }
    let least = if address.starts_with('[') {
        IPV6_LEAST + 2
    } else {
        ADDRESS_LEAST
    };
    width(address).min(least)
}

/// `address` in at most `max` columns: IPv6 (`[…]`) loses the middle of what is inside the
/// brackets, the IPv4 wildcard becomes `*`, anything else loses its left end, where an IPv4
/// address says the least.
fn cut_address(address: &str, max: usize) -> Cow<'_, str> {
    let len = width(address);
    if len <= max {
        return Cow::Borrowed(address);
    }
    if address == WILDCARD {
        return Cow::Borrowed("*");
    }
    if let Some(inner) = address.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        return Cow::Owned(format!("[{}]", truncate_middle(inner, max.saturating_sub(2))));
    }
    let keep = max.saturating_sub(1);
    let mut out = String::from("…");
    out.extend(address.chars().skip(len - keep));
    Cow::Owned(out)
}

/// The narrowest [`shorten_endpoints`] can make `text` without touching a port.
pub fn endpoint_floor(text: &str) -> usize {
    let saved: usize = text
        .split(' ')
        .filter_map(split_endpoint)
        .map(|(address, _)| width(address) - address_floor(address))
        .sum();
    width(text) - saved
}

/// `text` (a cell of endpoints such as `198.18.0.1:8080` or `tcp [fd00::1]:8443 -> 198.18.0.2:4444`)
/// in at most `max` columns, taking characters only from the addresses, the longest first:
/// every `:PORT` and every other word stays whole. Never narrower than [`endpoint_floor`]: a
/// `max` below it gives a wider result, because a port is never cut.
pub fn shorten_endpoints(text: &str, max: usize) -> Cow<'_, str> {
    let total = width(text);
    if total <= max {
        return Cow::Borrowed(text);
    }
    let words: Vec<&str> = text.split(' ').collect();
    // Per endpoint word: its address, its port, the columns it shows, and its floor.
    let mut endpoints: Vec<Option<(&str, &str, usize, usize)>> = words
        .iter()
        .map(|w| split_endpoint(w).map(|(a, p)| (a, p, width(a), address_floor(a))))
        .collect();
    let mut excess = total - max;
    while excess > 0 {
        let roomiest = endpoints
            .iter_mut()
            .flatten()
            .filter(|(_, _, shown, floor)| shown > floor)
            .max_by_key(|(_, _, shown, floor)| *shown - *floor);
        let Some(endpoint) = roomiest else { break };
        endpoint.2 -= 1;
        excess -= 1;
    }
    let shown: Vec<Cow<'_, str>> = words
        .iter()
        .zip(&endpoints)
        .map(|(word, endpoint)| match endpoint {
            Some((address, port, shown, _)) => Cow::Owned(format!("{}{port}", cut_address(address, *shown))),
            None => Cow::Borrowed(*word),
        })
        .collect();
    Cow::Owned(shown.join(" "))
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
    fn invisible_characters_are_escaped() {
        assert_eq!(escape("ssh\u{200b}d"), r"ssh\u{200b}d");
        for c in [
            '\u{200c}',
            '\u{200d}',
            '\u{2060}',
            '\u{feff}',
            '\u{ad}',
            '\u{61c}',
            '\u{180e}',
            '\u{e0041}',
            '\u{e007f}',
            '\u{fe0f}',
            '\u{3164}',
        ] {
            let text = format!("ssh{c}d");
            assert!(!escape(&text).contains(c), "U+{:04X}", c as u32);
        }
        // Visible letters of other scripts stay as they are.
        assert_eq!(escape("café ß ключ 東京"), "café ß ключ 東京");
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

    #[test]
    fn an_endpoint_loses_its_address_never_its_port() {
        assert_eq!(shorten_endpoints("198.18.0.1:8080", 20), "198.18.0.1:8080");
        assert_eq!(shorten_endpoints("198.18.0.1:8080", 11), "…8.0.1:8080");
        assert_eq!(
            shorten_endpoints("127.0.0.1:65535", 4),
            "….1:65535",
            "floor: overflow, not cut"
        );
        assert_eq!(endpoint_floor("127.0.0.1:65535"), 9);
        assert_eq!(
            shorten_endpoints("[fd00:1234:5678::abcd]:8443", 19),
            "[fd00:1…:abcd]:8443"
        );
        assert_eq!(shorten_endpoints("[fd00:1234:5678::abcd]:8443", 1), "[fd…d]:8443");
        assert_eq!(shorten_endpoints("*:443", 2), "*:443");
        assert_eq!(shorten_endpoints("0.0.0.0:31337", 9), "*:31337");
        assert_eq!(endpoint_floor("0.0.0.0:31337"), 7);
        assert_eq!(shorten_endpoints("*", 0), "*");
        // audit's SOCKET: every word but the addresses stays, the longer address gives first.
        let socket = "tcp [fd00:1234:5678::abcd]:8443 -> 198.18.0.2:40100 (+2)";
        let cut = shorten_endpoints(socket, 45);
        assert_eq!(width(&cut), 45);
        assert!(
            cut.starts_with("tcp [fd00") && cut.contains("]:8443 -> ") && cut.ends_with(":40100 (+2)"),
            "{cut}"
        );
        let cut = shorten_endpoints(socket, 10);
        assert_eq!(cut, "tcp [fd…d]:8443 -> ….2:40100 (+2)");
        assert_eq!(width(&cut), endpoint_floor(socket));
        // A word that is no endpoint is left as it is.
        assert_eq!(shorten_endpoints("fe80::1 packet", 3), "fe80::1 packet");
    }
}
