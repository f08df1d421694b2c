//! `portscope scan` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct ScanArgs {}

pub fn run(_args: &ScanArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`scan` is not built yet".into()))
}
