//! The options that only Linux can answer (network namespaces, packet and SCTP sockets, NAT
//! forwards, the cross-view and rootkit checks, raw-socket scans, syslog), listed once. On Windows
//! their help says "(Linux only)" and using one is refused in one line with exit code 2; on Linux this
//! module changes nothing.

use clap::{ArgMatches, Command};
use portscope_core::platform::NetnsSelection;

use crate::error::{Error, Result};

/// (subcommand, argument id, the option as the user types it); no subcommand for a global option.
pub const LINUX_ONLY: &[(Option<&str>, &str, &str)] = &[
    (None, "netns", "--netns"),
    (Some("list"), "raw", "--raw (-w)"),
    (Some("list"), "packet", "--packet (-0)"),
    (Some("list"), "sctp", "--sctp (-S)"),
    (Some("list"), "all_kinds", "--all-kinds (-A)"),
    (Some("list"), "unaccounted", "--unaccounted"),
    (Some("list"), "forwards", "--forwards"),
    (Some("audit"), "deep", "--deep"),
    (Some("close"), "all_namespaces", "--all-namespaces"),
    (Some("scan"), "syn", "--syn (-sS)"),
    (Some("scan"), "udp", "--udp (-sU)"),
    (Some("scan"), "no_confirm", "--no-confirm"),
    (Some("watch"), "syslog", "--syslog"),
    (Some("watch"), "syslog_socket", "--syslog-socket"),
    (Some("watch"), "syslog_facility", "--syslog-facility"),
];

/// The command line's definition for this platform: on Windows, each option of [`LINUX_ONLY`]
/// has "(Linux only)" at the end of its help (so --help, the man page and completions say so).
pub fn mark(command: Command) -> Command {
    if cfg!(target_os = "linux") {
        return command;
    }
    LINUX_ONLY
        .iter()
        .fold(command, |command, &(sub, id, _)| match sub {
            None => command.mut_arg(id, linux_only_help),
            Some(sub) => command.mut_subcommand(sub, |s| s.mut_arg(id, linux_only_help)),
        })
}

fn linux_only_help(arg: clap::Arg) -> clap::Arg {
    let help = arg.get_help().map(|h| format!("{h} (Linux only)"));
    let long = arg.get_long_help().map(|h| format!("{h}\n\nLinux only."));
    let arg = match help {
        Some(help) => arg.help(help),
        None => arg,
    };
    match long {
        Some(long) => arg.long_help(long),
        None => arg,
    }
}

/// Refuses, off Linux, a command line that uses an option of [`LINUX_ONLY`] (given on the
/// command line or, for --netns, by its environment variable), in one line.
pub fn refuse(matches: &ArgMatches) -> Result<()> {
    if cfg!(target_os = "linux") {
        return Ok(());
    }
    for &(sub, id, option) in LINUX_ONLY {
        let scope = match sub {
            None => Some(matches),
            Some(name) => matches.subcommand_matches(name),
        };
        let given = scope
            .and_then(|m| m.value_source(id))
            .is_some_and(|source| source != clap::parser::ValueSource::DefaultValue);
        // Windows has one network namespace: "all" and "current" both name it.
        let one_namespace = || {
            matches
                .get_one::<NetnsSelection>(id)
                .is_some_and(|s| matches!(s, NetnsSelection::All | NetnsSelection::Current))
        };
        if given && !(id == "netns" && one_namespace()) {
            return Err(Error::Usage(format!(
                "{option} is Linux only; this is {}",
                std::env::consts::OS
            )));
        }
    }
    Ok(())
}
