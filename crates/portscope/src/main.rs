//! The `portscope` binary: parse the command line, run it, turn any error into one line on stderr
//! and an exit code.

use std::io::Write;

use clap::Parser;
use clap::error::ErrorKind;

use portscope::cli::Cli;
use portscope::{Error, ExitCode};

fn main() -> std::process::ExitCode {
    let args = match portscope::commands::scan::nmap_style_args(std::env::args_os()) {
        Ok(args) => args,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "portscope: {err}");
            return std::process::ExitCode::from(err.exit_code() as u8);
        }
    };
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

/// Help and version go out as clap renders them. A usage error keeps all of clap's text — the
/// missing argument names, "did you mean", the valid values, the usage line — with its first line
/// starting `portscope: `, and exits 2.
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
            // Rendered without styles: colour codes are for clap's own printer, not for a pipe.
            let text = err.render().to_string();
            let text = text.strip_prefix("error: ").unwrap_or(&text);
            let text = if text.trim().is_empty() {
                err.kind().as_str().unwrap_or("invalid command line")
            } else {
                text.trim_end()
            };
            let _ = writeln!(std::io::stderr(), "portscope: {text}");
            std::process::ExitCode::from(ExitCode::Usage as u8)
        }
    }
}
