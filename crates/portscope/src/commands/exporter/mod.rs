//! `portscope exporter`: the machine's ports as Prometheus metrics, served over HTTP or written
//! for node_exporter's textfile collector. The metrics, the cache and the server live in
//! `portscope-exporter`. Its flags (`args.rs`) parse the same in every build so help
//! and completions never change; `enabled.rs` checks them, wires the platform in and says what it
//! serves, `disabled.rs` stands in for it in a build without the `exporter` feature.

mod args;
pub use args::ExporterArgs;

#[cfg(feature = "exporter")]
mod enabled;
#[cfg(feature = "exporter")]
pub use enabled::run;

#[cfg(not(feature = "exporter"))]
mod disabled;
#[cfg(not(feature = "exporter"))]
pub use disabled::run;
