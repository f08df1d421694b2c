//! `portscope audit` (not built yet).

use clap::Args;

use crate::error::{Error, ExitCode, Result};
use crate::output::Ui;

#[derive(Args, Debug, Clone)]
pub struct AuditArgs {}

pub fn run(_args: &AuditArgs, _ui: Ui) -> Result<ExitCode> {
    Err(Error::System("`audit` is not built yet".into()))
}
