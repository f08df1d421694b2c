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
    /// Show only the sockets this filter keeps, e.g. 'not user = root' (the filter language of
    /// `list`, docs/filter.md); `/` still narrows further by text.
    #[arg(long, value_name = "EXPR")]
    pub filter: Option<String>,
    #[command(flatten)]
    pub names: LocalNamesArgs,
}

/// At least 100 ms between looks, at most an hour (a view that never refreshes is no view).
fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    crate::duration::within(text, Duration::from_millis(100), Duration::from_secs(3600))
}
