//! The syslog line of an alert, as RFC 5424 writes it:
//!
//! `<PRI>1 TIMESTAMP HOSTNAME portscope PROCID MSGID [portscope@32473 NAME="VALUE" …] MSG`
//!
//! Every string that came from a process (a program name, an executable path) is hostile: in
//! the structured data it is first written as a terminal shows it (control characters as `\n`,
//! `\x1b`…, a backslash doubled: [`crate::render::escape`]), then `"`, `\` and `]` get the
//! backslash RFC 5424 section 6.3.3 asks for; the MSG is escaped the same way (one line, always).
//! So no value can end its parameter, its element or the line, and a reader that undoes the RFC's
//! escapes gets exactly what `portscope` would print. No BOM: the MSG is MSG-ANY.

use std::fmt::Write;

use super::{Alert, Facility};

/// The SD-ID: a name of ours `@` an enterprise number. portscope has no IANA Private Enterprise
/// Number of its own; 32473 is the one RFC 5612 reserves for documentation and examples.
pub const SD_ID: &str = "portscope@32473";

/// The APP-NAME.
pub const APP_NAME: &str = "portscope";

/// The longest value a parameter carries, in characters; longer ones are cut and end in `…`.
pub const MAX_VALUE_CHARS: usize = 1024;

/// The longest MSG, in characters, cut the same way.
pub const MAX_MESSAGE_CHARS: usize = 2048;

/// Who sends: the host name (a PRINTUSASCII name of at most 255 characters, else NILVALUE) and
/// the process id.
#[derive(Clone, Debug)]
pub struct Origin {
    pub hostname: String,
    pub procid: u32,
}

impl Origin {
    pub fn new(hostname: &str, procid: u32) -> Origin {
        let printable = |c: char| c.is_ascii_graphic();
        let hostname = if !hostname.is_empty() && hostname.len() <= 255 && hostname.chars().all(printable) {
            hostname.to_string()
        } else {
            "-".to_string()
        };
        Origin { hostname, procid }
    }
}

/// The whole line for `alert`, without a trailing newline (a datagram is one message).
pub fn line(alert: &Alert, facility: Facility, origin: &Origin) -> String {
    let pri = u32::from(facility.0) * 8 + alert.severity as u32;
    let mut out = format!(
        "<{pri}>1 {} {} {APP_NAME} {} {} [{SD_ID}",
        portscope_core::time::rfc3339(alert.time_ms),
        origin.hostname,
        origin.procid,
        header_field(&alert.kind, 32),
    );
    for (name, value) in alert.params() {
        let Some(name) = sd_name(&name) else { continue };
        let _ = write!(out, " {name}=\"{}\"", param_value(&value));
    }
    out.push_str("] ");
    out.push_str(&cut(&crate::render::escape(&alert.message), MAX_MESSAGE_CHARS));
    out
}

/// A header field (MSGID: 1 to 32 PRINTUSASCII): other characters become `_`, empty is NILVALUE.
fn header_field(text: &str, max: usize) -> String {
    let field: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .collect();
    if field.is_empty() { "-".into() } else { field }
}

/// An SD-NAME: 1 to 32 PRINTUSASCII except `=`, space, `]` and `"`; a name that is not one is
/// left out (our names are JSON field names, so this never happens for the events we send).
fn sd_name(name: &str) -> Option<&str> {
    let ok = |c: char| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"');
    (!name.is_empty() && name.len() <= 32 && name.chars().all(ok)).then_some(name)
}

/// A PARAM-VALUE: as a terminal shows it, then `"`, `\` and `]` escaped with a backslash.
pub fn param_value(value: &str) -> String {
    let shown = cut(&crate::render::escape(value), MAX_VALUE_CHARS);
    let mut out = String::with_capacity(shown.len() + 4);
    for c in shown.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn cut(text: &str, max: usize) -> String {
    let mut chars = text.chars();
    let mut out: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::tests::event;
    use crate::watch::EventKind;

    #[test]
    fn an_opened_port_is_one_rfc5424_line_with_structured_data() {
        let alert = Alert::of_event(&event(EventKind::Opened, "python3"));
        let line = line(&alert, Facility::DAEMON, &Origin::new("web-1", 99));
        assert_eq!(
            line,
            "<29>1 2026-12-08T00:00:00.123Z web-1 portscope 99 opened [portscope@32473 \
             address=\"0.0.0.0\" at_start=\"false\" event=\"opened\" exe=\"/usr/bin/python3.11\" \
             pid=\"4242\" program=\"python3\" uid=\"0\" user=\"root\" port=\"4444\" protocol=\"tcp\"] \
             opened tcp 0.0.0.0:4444 python3 (pid 4242, user root)"
        );
    }

    #[test]
    fn severity_and_facility_make_the_priority() {
        let origin = Origin::new("h", 1);
        let at = |kind, facility| {
            let l = line(&Alert::of_event(&event(kind, "x")), facility, &origin);
            l[..l.find(' ').unwrap()].to_string()
        };
        assert_eq!(at(EventKind::OwnerChanged, Facility::DAEMON), "<28>1");
        assert_eq!(at(EventKind::Closed, Facility::DAEMON), "<30>1");
        assert_eq!(
            at(EventKind::Opened, Facility::parse("local7").unwrap()),
            "<189>1"
        );
    }

    #[test]
    fn a_hostile_program_name_cannot_break_out_of_its_value_or_the_line() {
        let hostile = "x]\"\\ y=\"1\"] evil\n<13>1 - forged";
        let alert = Alert::of_event(&event(EventKind::Opened, hostile));
        let line = line(&alert, Facility::DAEMON, &Origin::new("h", 1));
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.contains(r#" program="x\]\"\\\\ y=\"1\"\] evil\\n<13>1 - forged" "#),
            "{line}"
        );
        // The structured data ends at the first `]` not preceded by a backslash: after every
        // parameter, where the MSG starts.
        let sd_end = unescaped_close(&line).expect("SD closed");
        assert!(line[sd_end..].starts_with("] opened tcp"), "{}", &line[sd_end..]);
        assert!(
            line.ends_with(r#"x]"\\ y="1"] evil\n<13>1 - forged (pid 4242, user root)"#),
            "{line}"
        );
    }

    /// Where a parser (RFC 5424 section 6.3) sees the SD end: the first `]` outside a quoted
    /// value, backslash escapes honoured inside one.
    fn unescaped_close(line: &str) -> Option<usize> {
        let (mut quoted, mut escaped) = (false, false);
        for (i, c) in line.char_indices().skip_while(|(_, c)| *c != '[') {
            match c {
                _ if escaped => escaped = false,
                '\\' if quoted => escaped = true,
                '"' => quoted = !quoted,
                ']' if !quoted => return Some(i),
                _ => {}
            }
        }
        None
    }

    #[test]
    fn header_fields_and_values_are_bounded() {
        assert_eq!(Origin::new("bad host", 1).hostname, "-");
        assert_eq!(Origin::new("", 1).hostname, "-");
        assert_eq!(header_field("a b", 32), "a_b");
        assert_eq!(header_field("", 32), "-");
        let long = "a".repeat(5000);
        assert_eq!(param_value(&long).chars().count(), MAX_VALUE_CHARS + 1);
        assert_eq!(sd_name("ok_name"), Some("ok_name"));
        assert_eq!(sd_name("a=b"), None);
        assert_eq!(sd_name(&"n".repeat(33)), None);
    }
}
