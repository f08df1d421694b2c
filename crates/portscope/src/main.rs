//! The `portscope` binary: parse the command line, run it, turn any error into one line on stderr
//! and an exit code.

use std::io::Write;

use clap::FromArgMatches;
use clap::error::ErrorKind;

use portscope::cli::Cli;
use portscope::{Error, ExitCode};

fn main() -> std::process::ExitCode {
    let args = match portscope::habits::rewrite(std::env::args_os()) {
        Ok(args) => args,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "portscope: {err}");
            return std::process::ExitCode::from(err.exit_code() as u8);
        }
    };
    let matches = match portscope::cli::command().try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(err) => return usage_error(err),
    };
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    if let Err(err) = portscope::linux_only::refuse(&matches) {
        let _ = writeln!(std::io::stderr(), "portscope: {err}");
        return std::process::ExitCode::from(err.exit_code() as u8);
    }
    let code = match portscope::run::run(cli) {
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
/// missing argument names, "did you mean", the valid values, the usage line — folded into one
/// line after `portscope: `, and exits 2.
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
            let line = one_line(&err.render().to_string());
            let line = if line.is_empty() {
                err.kind().as_str().unwrap_or("invalid command line").to_string()
            } else {
                line
            };
            let _ = writeln!(
                std::io::stderr(),
                "portscope: {}",
                portscope_core::render::escape(&line)
            );
            std::process::ExitCode::from(ExitCode::Usage as u8)
        }
    }
}

/// clap's message on one line: every part kept except the pointer to --help, a part ending in
/// `:` joined to what it introduces, the others separated by `; `.
fn one_line(text: &str) -> String {
    let text = text.strip_prefix("error: ").unwrap_or(text);
    let mut line = String::new();
    for part in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("For more information"))
    {
        if !line.is_empty() {
            line.push_str(if line.ends_with(':') { " " } else { "; " });
        }
        line.push_str(part);
    }
    line
}
