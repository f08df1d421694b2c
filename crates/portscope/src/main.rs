//! The `portscope` binary: parse the command line, run it, turn any error into one line on stderr
//! and an exit code.

use std::io::Write;

use clap::Parser;
use clap::error::ErrorKind;

use portscope::cli::Cli;
use portscope::{Error, ExitCode};

fn main() -> std::process::ExitCode {
    let args = portscope::commands::scan::nmap_style_args(std::env::args_os());
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    let code = match portscope::commands::run(cli) {
        Ok(code) => code,
        // `portscope list | head` closes the pipe early; that is not a failure.
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok,
        Err(err) => {
            // Errors quote file names and process names: escaped like every other line.
            let _ = writeln!(
                std::io::stderr(),
                "portscope: {}",
                portscope_core::render::escape(&err.to_string())
            );
            err.exit_code()
        }
    };
    std::process::ExitCode::from(code as u8)
}

/// Help and version go out as clap renders them; a usage error becomes one line and exit 2.
fn usage_error(err: clap::Error) -> std::process::ExitCode {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            std::process::ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            std::process::ExitCode::from(ExitCode::Usage as u8)
        }
        _ => {
            let rendered = err.kind().as_str().map(str::to_string);
            let text = err.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            let line = first.strip_prefix("error: ").unwrap_or(first);
            let _ = writeln!(
                std::io::stderr(),
                "portscope: {}",
                if line.is_empty() {
                    rendered.unwrap_or_default()
                } else {
                    line.to_string()
                }
            );
            std::process::ExitCode::from(ExitCode::Usage as u8)
        }
    }
}
