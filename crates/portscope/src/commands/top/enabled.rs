//! `portscope top` in a build with the `top` feature: the terminal check, the stop signals and
//! the view from `portscope-top`.

use std::io::IsTerminal;
use std::time::Duration;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;
use crate::platform::Platform;

use super::args::TopArgs;

pub fn run(args: &TopArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
    let filter = crate::commands::expression_of(args.filter.as_deref().unwrap_or_default())?;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "top is an interactive view and needs a terminal; for scripts use `list --json` or `watch`"
                .into(),
        ));
    }
    let names = args.names.load()?;
    // SIGTERM, SIGINT and SIGHUP end the view through the loop, which restores the terminal.
    let signals = host
        .block_stop_signals()
        .map_err(|e| Error::io("blocking the stop signals", e))?;
    let stop = || signals.wait(Duration::ZERO).is_some();
    portscope_top::run(
        host,
        portscope_top::Options {
            interval: args.interval,
            color: ui.color,
            listeners_only: args.listening,
            names,
            filter,
        },
        &stop,
    )?;
    Ok(ExitCode::Ok)
}
