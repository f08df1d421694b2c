//! `portscope history` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct HistoryArgs {}

pub fn run(_args: &HistoryArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`history` is not built yet".into()))
}
