//! The CLI's integration tests, one binary (`cargo test -p portscope --test integration`): one
//! module per area, all sharing `support`. Tests from different modules run in one process, in
//! parallel: whatever changes process-wide state takes `support::serial()` first.

mod support;

mod audit;
mod audit_implants;
mod audit_scenarios;
mod baseline;
mod close;
mod close_connection;
mod close_unit;
mod errors;
mod explain;
#[cfg(feature = "exporter")]
mod exporter;
mod features;
mod help;
mod history;
mod hostile;
mod list;
mod list_vs_ss;
mod lookup;
mod netns;
mod packaging;
mod privileges;
mod scan;
mod scan_syn;
#[cfg(feature = "top")]
mod top;
mod watch;
