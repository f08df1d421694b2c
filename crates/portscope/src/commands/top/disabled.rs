//! `portscope top` in a build without the `top` feature: the flags parse, and running it says in
//! one line what this build lacks.

use crate::error::{ExitCode, Result};
use crate::output::Ui;
use crate::platform::Platform;

use super::args::TopArgs;

pub fn run(_args: &TopArgs, _ui: Ui, _host: &dyn Platform) -> Result<ExitCode> {
    Err(crate::commands::not_in_this_build("top"))
}
