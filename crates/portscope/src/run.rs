//! From a parsed command line to a finished command: one platform for the run, then the
//! subcommand's module.

use clap::CommandFactory;

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
            clap_complete::generate(*shell, &mut Cli::command(), "portscope", &mut script);
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, &script)?;
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::Ok)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Error::io("writing the man page", e))?;
            let mut out = std::io::stdout().lock();
            std::io::Write::write_all(&mut out, &page)?;
            std::io::Write::flush(&mut out)?;
            Ok(ExitCode::Ok)
        }
    }
}
