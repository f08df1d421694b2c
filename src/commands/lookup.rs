//! `portscope lookup` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct LookupArgs {}

pub fn run(_args: &LookupArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`lookup` is not built yet".into()))
}
