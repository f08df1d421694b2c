//! Habits from the tools people come from, spelled as portscope's own options before clap parses
//! the command line: nmap's multi-letter options after `scan` ([`nmap`]), ss/netstat flag
//! bundles and lsof's `-i` after `list` ([`ss`]). clap has no multi-letter short options and
//! cannot tell `-tulpn` (p = show processes) from `-p 443`, so the arguments after the
//! subcommand go through that command's rewrite; everything else passes through untouched.

mod nmap;
mod ss;

use std::ffi::OsString;

use crate::error::Result;

/// A rewrite of the arguments that follow one subcommand.
type Rewrite = fn(Vec<OsString>) -> Result<Vec<OsString>>;

/// The subcommands whose arguments are rewritten, and how.
const REWRITES: &[(&str, Rewrite)] = &[("scan", nmap::rewrite), ("list", ss::rewrite)];

/// The global options that take a value in the next argument (`--netns scan` names a namespace,
/// not the subcommand).
const GLOBAL_WITH_VALUE: &[&str] = &["--color", "--netns"];

/// The whole command line (program name first), with the subcommand's habits rewritten.
pub fn rewrite(args: impl IntoIterator<Item = OsString>) -> Result<Vec<OsString>> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let mut i = 1;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else {
            break;
        };
        if arg == "--" {
            break;
        }
        if GLOBAL_WITH_VALUE.contains(&arg) {
            i += 2;
            continue;
        }
        if arg.starts_with('-') {
            i += 1;
            continue;
        }
        // The first word that is not an option is the subcommand.
        let Some((_, rewrite)) = REWRITES.iter().find(|(name, _)| *name == arg) else {
            break;
        };
        let rest = args.split_off(i + 1);
        let (before, after) = split_at_double_dash(rest);
        args.extend(rewrite(before)?);
        args.extend(after);
        break;
    }
    Ok(args)
}

/// Everything after `--` is an operand, never an option to rewrite.
fn split_at_double_dash(mut args: Vec<OsString>) -> (Vec<OsString>, Vec<OsString>) {
    match args.iter().position(|a| a == "--") {
        Some(at) => {
            let after = args.split_off(at);
            (args, after)
        }
        None => (args, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(OsString::from).collect()
    }

    fn rewritten(line: &str) -> String {
        let out = rewrite(words(line)).unwrap_or_else(|e| panic!("{line}: {e}"));
        let out: Vec<String> = out.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        out.join(" ")
    }

    #[test]
    fn only_the_subcommands_arguments_are_rewritten() {
        assert_eq!(rewritten("portscope list -tulpn"), "portscope list -tuln");
        assert_eq!(
            rewritten("portscope --netns list list -tulpn"),
            "portscope --netns list list -tuln"
        );
        assert_eq!(
            rewritten("portscope scan -sV 198.18.0.1"),
            "portscope scan --banner 198.18.0.1"
        );
        assert_eq!(rewritten("portscope lookup -tulpn"), "portscope lookup -tulpn");
        assert_eq!(rewritten("portscope list -- -tulpn"), "portscope list -- -tulpn");
        assert_eq!(rewritten("portscope"), "portscope");
    }
}
