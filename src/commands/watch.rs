//! `portscope watch` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct WatchArgs {}

pub fn run(_args: &WatchArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`watch` is not built yet".into()))
}
