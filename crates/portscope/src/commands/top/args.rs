//! The flags of `portscope top`, the same in every build so that help and completions never
//! change.

use std::time::Duration;

use clap::Args;

use crate::commands::lookup::LocalNamesArgs;

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
