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

/// The error a command built out of this binary answers with: one line that names the missing
/// cargo feature and how to build it in. It exits 2, as any command line this build cannot run.
pub fn not_in_this_build(feature: &str) -> Error {
    Error::Usage(format!(
        "`{feature}` is not in this build (built without the `{feature}` feature); rebuild with \
         `cargo build --release --features {feature}`"
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_built_out_says_which_feature_in_one_line_and_exits_2() {
        let err = not_in_this_build("top");
        assert_eq!(
            err.to_string(),
            "`top` is not in this build (built without the `top` feature); rebuild with \
             `cargo build --release --features top`"
        );
        assert!(!err.to_string().contains('\n'));
        assert_eq!(err.exit_code(), ExitCode::Usage);
    }
}
