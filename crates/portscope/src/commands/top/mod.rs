//! `portscope top`: the live view. Its flags (`args.rs`) parse the same in every
//! build so help and completions never change; `enabled.rs` checks that there is a terminal, blocks
//! the stop signals and runs the `portscope-top` crate, `disabled.rs` stands in for it in a build
//! without the `top` feature.

mod args;
pub use args::TopArgs;

#[cfg(feature = "top")]
mod enabled;
#[cfg(feature = "top")]
pub use enabled::run;

#[cfg(not(feature = "top"))]
mod disabled;
#[cfg(not(feature = "top"))]
pub use disabled::run;
