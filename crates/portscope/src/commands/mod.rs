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
pub mod watch;
pub mod watch_exec;

use clap::CommandFactory;

use crate::cli::{Cli, Command};
use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    let ui = Ui::new(cli.color);
    let host = crate::host::platform();
    match &cli.command {
        Command::List(args) => list::run(args, ui, host),
        Command::Lookup(args) => lookup::run(args, ui),
        Command::Explain(args) => explain::run(args, ui, host),
        Command::Audit(args) => audit::run(args, ui, host),
        Command::Close(args) => close::run(args, ui, host),
        Command::Scan(args) => scan::run(args, ui),
        Command::Watch(args) => watch::run(args, ui, host),
        Command::History(args) => history::run(args, ui),
        Command::Baseline(args) => baseline::run(args, ui, host),
        Command::Exporter(args) => exporter::run(args, host),
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "portscope", &mut std::io::stdout());
            Ok(ExitCode::Ok)
        }
        Command::Man => {
            clap_mangen::Man::new(Cli::command())
                .render(&mut std::io::stdout())
                .map_err(|e| Error::io("writing the man page", e))?;
            Ok(ExitCode::Ok)
        }
    }
}
