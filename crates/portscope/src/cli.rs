//! The command line, defined once: parsing, help, shell completions and the man page all come
//! from these types.

use clap::{Parser, Subcommand};

use crate::commands::{
    audit::AuditArgs, baseline::BaselineArgs, close::CloseArgs, explain::ExplainArgs, exporter::ExporterArgs,
    history::HistoryArgs, list::ListArgs, lookup::LookupArgs, scan::ScanArgs, top::TopArgs, watch::WatchArgs,
};
use crate::output::ColorChoice;

/// See which ports are open on this machine, which program holds each, what it means, and act on it.
#[derive(Parser, Debug)]
#[command(name = "portscope", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,

    /// Network namespaces: all, current, or one by name, label (as NETNS shows it), inode or a PID inside it.
    #[arg(
        long,
        global = true,
        env = "PORTSCOPE_NETNS",
        value_name = "NS",
        default_value = "all",
        value_parser = parse_netns
    )]
    pub netns: portscope_core::platform::NetnsSelection,

    #[command(subcommand)]
    pub command: Command,
}

/// The command line's definition on this platform (Linux-only options marked off Linux:
/// [`crate::linux_only`]); parsing, help, the man page and completions all use it.
pub fn command() -> clap::Command {
    crate::linux_only::mark(<Cli as clap::CommandFactory>::command())
}

fn parse_netns(text: &str) -> Result<portscope_core::platform::NetnsSelection, String> {
    text.parse()
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List open sockets (TCP/UDP, IPv4/IPv6, every state) and the processes holding them.
    List(ListArgs),
    /// Look up what a port, port range or service name means in the IANA registry.
    Lookup(LookupArgs),
    /// Explain a port in plain language, and what holds it on this machine now.
    Explain(ExplainArgs),
    /// Look for sockets held by suspicious programs, with the reason for each finding.
    Audit(AuditArgs),
    /// Close a port by stopping the program that holds it, or cut one connection.
    Close(CloseArgs),
    /// Scan a host you are allowed to probe for open TCP and UDP ports.
    Scan(ScanArgs),
    /// A live view of the sockets, grouped by program, with verdicts and one-key actions.
    Top(TopArgs),
    /// Print each port that opens, closes or changes owner, as it happens.
    Watch(WatchArgs),
    /// Show when ports were opened and closed, from the local history.
    History(HistoryArgs),
    /// Save the listening ports as a baseline, or check the machine against one.
    Baseline(BaselineArgs),
    /// Serve the ports, their programs and the audit as Prometheus metrics.
    Exporter(ExporterArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Examples:\n  portscope completions bash > /etc/bash_completion.d/portscope\n  \
                            portscope completions zsh > ~/.zfunc/_portscope"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout: portscope(1), or a command's own (portscope-list(1)).
    #[command(
        after_help = "Examples:\n  portscope man | man -l -\n  portscope man list | man -l -\n  \
                            for c in $(portscope man --list); do portscope man $c > portscope-$c.1; done"
    )]
    Man {
        /// The command whose page to print (`list` prints portscope-list(1)).
        #[arg(value_name = "COMMAND", conflicts_with = "list")]
        command: Option<String>,
        /// Print the commands that have a page of their own, one per line.
        #[arg(long)]
        list: bool,
    },
}
