//! `portscope close` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct CloseArgs {}

pub fn run(_args: &CloseArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`close` is not built yet".into()))
}
