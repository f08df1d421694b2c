//! `portscope baseline` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct BaselineArgs {}

pub fn run(_args: &BaselineArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`baseline` is not built yet".into()))
}
