//! From a parsed command line to a finished command: one platform for the run, then the
//! subcommand's module.

use crate::cli::{Cli, Command};
use crate::commands;
use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ui = Ui::new(cli.color);
    // One platform for the whole run; the exporter's threads share it, so it lives as long as
    // the process does.
    let host: &'static dyn portscope_core::Platform = Box::leak(crate::host::platform(cli.netns.clone()));
    match &cli.command {
        Command::List(args) => commands::list::run(args, ui, host),
        Command::Lookup(args) => commands::lookup::run(args, ui),
        Command::Explain(args) => commands::explain::run(args, ui, host),
        Command::Audit(args) => commands::audit::run(args, ui, host),
        Command::Close(args) => commands::close::run(args, ui, host),
        Command::Scan(args) => commands::scan::run(args, ui, host),
        Command::Top(args) => commands::top::run(args, ui, host),
        Command::Watch(args) => commands::watch::run(args, ui, host),
        Command::History(args) => commands::history::run(args, ui, host),
        Command::Baseline(args) => commands::baseline::run(args, ui, host),
        Command::Exporter(args) => commands::exporter::run(args, host),
        Command::Completions { shell } => {
            // clap_complete panics when its writer fails: render into memory, then write.
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut crate::cli::command(), "portscope", &mut script);
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, &script)?;
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::Ok)
        }
        Command::Man { command, list } => {
            let mut out = std::io::stdout().lock();
            if *list {
                for name in man_pages() {
                    std::io::Write::write_all(&mut out, format!("{name}\n").as_bytes())?;
                }
            } else {
                std::io::Write::write_all(&mut out, &man_page(command.as_deref())?)?;
            }
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::Ok)
        }
    }
}

/// The commands with a page of their own: every subcommand but the two that print help itself.
fn man_pages() -> Vec<String> {
    crate::cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|name| !matches!(name.as_str(), "man" | "completions" | "help"))
        .collect()
}

/// portscope(1), or portscope-COMMAND(1) made from the subcommand's own definition. clap names a
/// built subcommand `portscope-list` and its usage `portscope list`, so each page reads as one
/// of git's do (`man portscope-list`).
fn man_page(command: Option<&str>) -> Result<Vec<u8>> {
    let mut cli = crate::cli::command();
    let man = match command {
        None => clap_mangen::Man::new(cli),
        Some(name) => {
            if !man_pages().iter().any(|n| n == name) {
                return Err(Error::Usage(format!(
                    "no man page for {name:?}: the pages are portscope and portscope-COMMAND for {}",
                    man_pages().join(", ")
                )));
            }
            // Building propagates the global options (--color, --netns) and the version.
            cli.build();
            let sub = cli
                .find_subcommand(name)
                .cloned()
                .ok_or_else(|| Error::Usage(format!("no command {name:?}")))?;
            clap_mangen::Man::new(sub).source(format!("portscope {}", env!("CARGO_PKG_VERSION")))
        }
    };
    let mut page = Vec::new();
    man.render(&mut page)
        .map_err(|e| Error::io("writing the man page", e))?;
    Ok(page)
}
