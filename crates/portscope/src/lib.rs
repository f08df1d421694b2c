//! The `portscope` command line: clap definitions ([`cli`]), one thin module per subcommand
//! ([`commands`]: arguments → core → render) and the rendering layer for people and scripts
//! ([`output`]); [`run`] wires a parsed command line to its module. The work lives in `portscope-core`; the operating system behind
//! `portscope-core`'s `Platform` trait is chosen once, in [`host`].

pub mod alert;
pub mod cli;
pub mod commands;
pub mod duration;
pub mod files;
pub mod habits;
pub mod host;
pub mod linux_only;
pub mod output;
pub mod run;

// The core's modules, under the names the commands use.
pub use portscope_core::{Error, ExitCode, Result, error};
pub(crate) use portscope_core::{
    audit, baseline, close, filter, inspect, knowledge, model, persistence, platform, privilege, provenance,
    render, sort, state_names, watch,
};
