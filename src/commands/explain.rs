//! `portscope explain` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {}

pub fn run(_args: &ExplainArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`explain` is not built yet".into()))
}
