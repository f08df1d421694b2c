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
pub mod watch_alerts;
pub mod watch_events;
pub mod watch_exec;

use std::io::{BufWriter, StdoutLock, Write};

use crate::error::{Error, ExitCode, Result};
use crate::filter::Expression;
use crate::output;

/// A filter given on the command line (`list FILTER`, `--filter EXPR`), parsed once; a bad one is
/// a usage error naming the token and its column. Blank means no filter.
pub fn expression_of(text: &str) -> Result<Option<Expression>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    Expression::parse(text)
        .map(Some)
        .map_err(|e| Error::Usage(format!("filter: {e}")))
}

/// The error a command built out of this binary answers with: one line that names the missing
/// cargo feature and how to build it in. It exits 2, as any command line this build cannot run.
pub fn not_in_this_build(feature: &str) -> Error {
    Error::Usage(format!(
        "`{feature}` is not in this build (built without the `{feature}` feature); rebuild with \
         `cargo build --release --features {feature}`"
    ))
}

/// Runs a command's `write` into stdout buffered by `capacity` bytes, flushes it, and only then
/// prints the notes `write` returned to stderr, so that they follow the output they speak of.
pub fn print_then_note(
    capacity: usize,
    write: impl FnOnce(&mut BufWriter<StdoutLock<'static>>) -> Result<Vec<String>>,
) -> Result<ExitCode> {
    let mut out = BufWriter::with_capacity(capacity, std::io::stdout().lock());
    let notes = write(&mut out)?;
    out.flush()?;
    for note in &notes {
        output::note(note);
    }
    Ok(ExitCode::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;

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
