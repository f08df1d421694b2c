//! portscope: the ports of a computer, visible and controllable.
//!
//! Layout: [`model`] holds what the user sees; [`os`] fills it from the kernel; [`knowledge`] says
//! what a port means; [`commands`] implement the subcommands; [`output`] prints tables and JSON.

pub mod audit;
pub mod baseline;
pub mod cli;
pub mod close;
pub mod commands;
pub mod error;
pub mod history;
pub mod knowledge;
pub mod model;
pub mod os;
pub mod output;
pub mod privilege;
pub mod scan;
pub mod watch;

pub use error::{Error, ExitCode, Result};
