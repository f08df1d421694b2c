//! `portscope exporter` in a build without the `exporter` feature: the flags parse, and running it
//! says in one line what this build lacks.

use crate::error::{ExitCode, Result};
use crate::platform::Platform;

use super::args::ExporterArgs;

pub fn run(_args: &ExporterArgs, _host: &'static dyn Platform) -> Result<ExitCode> {
    Err(crate::commands::not_in_this_build("exporter"))
}
