//! `portscope top`: the live view. This module parses the flags, checks that there is a terminal
//! and blocks the stop signals; the view itself is the `portscope-top` crate.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;
use crate::platform::Platform;

use super::lookup::LocalNamesArgs;

#[derive(Args, Debug, Clone)]
pub struct TopArgs {
    /// Time between two refreshes, e.g. 1s or 500ms (at least 100ms).
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Start with listening TCP and bound UDP sockets only (`l` toggles).
    #[arg(short = 'l', long)]
    pub listening: bool,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    let interval = humantime::parse_duration(text)
        .map_err(|e| format!("{text:?} is not a duration like 1s or 500ms ({e})"))?;
    if interval < Duration::from_millis(100) {
        return Err(format!("{text:?} is too short; the interval is at least 100ms"));
    }
    Ok(interval)
}

pub fn run(args: &TopArgs, ui: Ui, host: &dyn Platform) -> Result<ExitCode> {
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
        },
        &stop,
    )?;
    Ok(ExitCode::Ok)
}
