//! ss, netstat and lsof habits after `list`.
//!
//! - Flag bundles as ss and netstat read them: `-tulpn`, `-tlnp`, `-antp`, `-lntu`. In ss, `p`
//!   means "show processes", which portscope always does, so inside a bundle it is dropped; `-p
//!   PORT` keeps portscope's meaning (a port), and so does a bundle ending in `p` when the next
//!   argument is a port (`-up 53`) or digits follow it (`-tp443`).
//! - lsof's `-i [46][tcp|udp][:PORT[,PORT…]]` becomes `-4`/`-6`, `--tcp`/`--udp` and `--port`;
//!   what `list` has no filter for (an `@host`, a port range) is refused with its own spelling.
//!   A bare `:PORT` (`list :443`) reads as `-i :443`.

use std::ffi::OsString;

use crate::error::{Error, Result};
use crate::knowledge;

/// `list`'s short flags that take no value, the letters a bundle may hold besides `p`.
const FLAGS: &str = "tuw0SAlea46ns";

/// `list`'s options whose value is the next argument: a `:443` after one of them is its value.
const TAKES_VALUE: &[&str] = &[
    "-p",
    "--port",
    "--pid",
    "--process",
    "--state",
    "--sort",
    "--columns",
    "--format",
    "--services",
    "--netns",
    "--color",
];

/// The filter language's operators (docs/filter.md), ss's words among them.
const FILTER_OPERATORS: &[&str] = &[
    "=", "==", "!=", "<", "<=", ">", ">=", "eq", "ne", "neq", "lt", "le", "gt", "ge",
];

pub fn rewrite(args: Vec<OsString>) -> Result<Vec<OsString>> {
    let mut out = Vec::new();
    let mut args = args.into_iter().peekable();
    let mut previous: Option<String> = None;
    while let Some(arg) = args.next() {
        let Some(text) = arg.to_str() else {
            previous = None;
            out.push(arg);
            continue;
        };
        // After an option that takes a value, or after a filter's operator (`list sport = :443`
        // typed without quotes), a `:443` is that value, not lsof's address.
        let after_option = previous.replace(text.to_string()).is_some_and(|p| {
            TAKES_VALUE.contains(&p.as_str()) || FILTER_OPERATORS.contains(&p.to_ascii_lowercase().as_str())
        });
        if text.starts_with(':') && !after_option {
            out.extend(lsof_spec(text)?);
            continue;
        }
        if text == "-i" {
            // lsof's bare `-i` means every internet socket: what `list` shows anyway.
            let spec = args.next_if(|next| !next.to_string_lossy().starts_with('-'));
            if let Some(spec) = spec {
                out.extend(lsof_spec(&spec.to_string_lossy())?);
            }
            continue;
        }
        if let Some(spec) = text.strip_prefix("-i")
            && !spec.starts_with('-')
            && !spec.is_empty()
        {
            out.extend(lsof_spec(spec)?);
            continue;
        }
        let next_is_port = args
            .peek()
            .and_then(|n| n.to_str())
            .is_some_and(|n| knowledge::port_argument(n).is_ok());
        match bundle(text, next_is_port)? {
            Some(kept) if kept == "-" => {}
            Some(kept) => out.push(kept.into()),
            None => out.push(arg),
        }
    }
    Ok(out)
}

/// A short-flag bundle with ss's `p` taken out, or `None` when `text` is not a bundle that holds
/// a `p` meaning "processes" (`-p`, `-p443`, `-tp 443`, `-phttp`, `--port`, a value). A bundle
/// whose `p` is followed by letters, one of which `list` does not have (`-tulpnx`), is a usage
/// error naming that letter rather than clap's "invalid value 'nx' for --port".
fn bundle(text: &str, next_is_port: bool) -> Result<Option<String>> {
    let Some(letters) = text.strip_prefix('-').filter(|l| !l.starts_with('-')) else {
        return Ok(None);
    };
    if letters.len() < 2 || !letters.contains('p') {
        return Ok(None);
    }
    if let Some((_, after)) = letters.split_once('p')
        && !after.is_empty()
        && knowledge::port_argument(after).is_err()
        && let Some(stray) = letters.chars().find(|&c| c != 'p' && !FLAGS.contains(c))
    {
        return Err(Error::Usage(format!(
            "{text}: list has no -{stray}; its short flags are -t -u -w -0 -S -A -l -e -a -4 -6 -n -s \
             and -p PORT (in a bundle such as -tulpn, ss's p for \"processes\", which list always shows)"
        )));
    }
    let mut kept = String::from("-");
    let mut rest = letters;
    while let Some(c) = rest.chars().next() {
        rest = &rest[1..];
        if c != 'p' {
            if !FLAGS.contains(c) {
                return Ok(None);
            }
            kept.push(c);
            continue;
        }
        // `p` then digits, or `p` last before a port: portscope's `-p PORT`, left to clap.
        let value_follows = if rest.is_empty() {
            next_is_port
        } else {
            rest.bytes().all(|b| b.is_ascii_digit())
        };
        if value_follows {
            return Ok(None);
        }
    }
    Ok(Some(kept))
}

/// lsof's `-i` address: `[46][protocol][@host][:service[,service]]`, as `list` options.
fn lsof_spec(spec: &str) -> Result<Vec<OsString>> {
    let refuse = |why: &str| {
        Error::Usage(format!(
            "-i {spec}: {why}; list takes lsof's -i [46][tcp|udp][:PORT[,PORT]], or its own \
             --tcp, --udp, -4, -6 and --port PORT (repeatable)"
        ))
    };
    let mut out: Vec<OsString> = Vec::new();
    let mut rest = spec;
    if let Some(r) = rest.strip_prefix('4') {
        out.push("--ipv4".into());
        rest = r;
    } else if let Some(r) = rest.strip_prefix('6') {
        out.push("--ipv6".into());
        rest = r;
    }
    let (protocol, ports) = match rest.split_once(':') {
        Some((protocol, ports)) => (protocol, Some(ports)),
        None => (rest, None),
    };
    if protocol.contains('@') {
        return Err(refuse(
            "list has no address filter (to see what a remote host serves, scan it)",
        ));
    }
    match protocol.to_ascii_lowercase().as_str() {
        "" => {}
        "tcp" => out.push("--tcp".into()),
        "udp" => out.push("--udp".into()),
        _ => return Err(refuse("the protocol is tcp or udp")),
    }
    for port in ports.into_iter().flat_map(|p| p.split(',')) {
        if port.contains('-') && port.parse::<u16>().is_err() {
            return Err(refuse("list takes single ports, not a range"));
        }
        knowledge::port_argument(port).map_err(|e| refuse(&e))?;
        out.push("--port".into());
        out.push(port.into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(args: &[&str]) -> Vec<String> {
        let out =
            rewrite(args.iter().map(OsString::from).collect()).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        out.iter().map(|a| a.to_string_lossy().into_owned()).collect()
    }

    #[test]
    fn ss_bundles_drop_the_processes_letter() {
        assert_eq!(words(&["-tulpn"]), ["-tuln"]);
        assert_eq!(words(&["-tlnp"]), ["-tln"]);
        assert_eq!(words(&["-antp"]), ["-ant"]);
        assert_eq!(words(&["-lntu"]), ["-lntu"]);
        assert_eq!(words(&["-pn"]), ["-n"]);
        assert_eq!(words(&["-tulpn", "-4"]), ["-tuln", "-4"]);
    }

    #[test]
    fn p_with_a_port_keeps_its_meaning() {
        assert_eq!(words(&["-p", "443"]), ["-p", "443"]);
        assert_eq!(words(&["-p", "http"]), ["-p", "http"]);
        assert_eq!(words(&["-up", "53"]), ["-up", "53"]);
        assert_eq!(words(&["-p443"]), ["-p443"]);
        assert_eq!(words(&["-tp443"]), ["-tp443"]);
        // A bundle ending in `p` before something that is not a port: ss's `p`.
        assert_eq!(words(&["-antp", "--json"]), ["-ant", "--json"]);
        assert_eq!(words(&["-antp"]), ["-ant"]);
        // Not a bundle of list's flags: clap says what is wrong with it.
        assert_eq!(words(&["-xp"]), ["-xp"]);
        assert_eq!(words(&["--process", "-p"]), ["--process", "-p"]);
    }

    #[test]
    fn a_bundle_with_a_letter_list_lacks_names_it() {
        let err = rewrite(vec!["-tulpnx".into()]).unwrap_err().to_string();
        assert!(err.starts_with("-tulpnx: list has no -x"), "{err}");
        // A service name after -p is still a port.
        assert_eq!(words(&["-phttp"]), ["-phttp"]);
    }

    #[test]
    fn a_port_after_a_filter_operator_stays_in_the_filter() {
        assert_eq!(words(&["sport", "=", ":443"]), ["sport", "=", ":443"]);
        assert_eq!(words(&["dport", "gt", ":1024"]), ["dport", "gt", ":1024"]);
        assert_eq!(words(&["-t", ":443"]), ["-t", "--port", "443"]);
    }

    #[test]
    fn lsof_addresses_become_list_options() {
        assert_eq!(words(&["-i", ":443"]), ["--port", "443"]);
        assert_eq!(words(&["-i:443"]), ["--port", "443"]);
        assert_eq!(words(&["-i", "TCP:443"]), ["--tcp", "--port", "443"]);
        assert_eq!(
            words(&["-i", "6udp:53,domain"]),
            ["--ipv6", "--udp", "--port", "53", "--port", "domain"]
        );
        assert_eq!(words(&["-i", "4"]), ["--ipv4"]);
        assert_eq!(words(&["-i"]), Vec::<String>::new());
        assert_eq!(words(&["-i", "-l"]), ["-l"]);
        assert_eq!(words(&[":443"]), ["--port", "443"]);
        assert_eq!(words(&["-t", ":22,443"]), ["-t", "--port", "22", "--port", "443"]);
        assert_eq!(words(&["--process", ":443"]), ["--process", ":443"]);
    }

    #[test]
    fn what_list_cannot_filter_is_answered_with_its_own_spelling() {
        for spec in ["@198.18.0.1:80", "tcp:1-1024", "icmp", ":nosuchservice"] {
            let err = rewrite(vec!["-i".into(), spec.into()]).unwrap_err().to_string();
            assert!(err.contains("--port PORT"), "{spec}: {err}");
        }
    }
}
