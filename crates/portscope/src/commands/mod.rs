//! One module per subcommand. A command reads the model and prints through `output`; it never
//! parses /proc or talks netlink itself.

pub mod audit;
pub mod baseline;
pub mod close;
pub mod explain;
pub mod exporter;
pub mod history;
pub mod list;
pub mod lookup;
pub mod scan;
pub mod top;
pub mod watch;
pub mod watch_exec;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ui = Ui::new(cli.color);
    // One platform for the whole run; the exporter's threads share it, so it lives as long as
    // the process does.
    let host: &'static dyn portscope_core::Platform = Box::leak(crate::host::platform(cli.netns.clone()));
    match &cli.command {
        Command::List(args) => list::run(args, ui, host),
        Command::Lookup(args) => lookup::run(args, ui),
        Command::Explain(args) => explain::run(args, ui, host),
        Command::Audit(args) => audit::run(args, ui, host),
        Command::Close(args) => close::run(args, ui, host),
        Command::Scan(args) => scan::run(args, ui, host),
        Command::Top(args) => top::run(args, ui, host),
        Command::Watch(args) => watch::run(args, ui, host),
        Command::History(args) => history::run(args, ui, host),
        Command::Baseline(args) => baseline::run(args, ui, host),
        Command::Exporter(args) => exporter::run(args, host),
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
