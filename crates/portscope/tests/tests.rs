//! The CLI's integration tests, one binary (`cargo test -p portscope --test integration`): one
//! module per area, all sharing `support`. Tests from different modules run in one process, in
//! parallel: whatever changes process-wide state takes `support::serial()` first.
//! These are Linux tests (namespaces, /proc, Debian's python3); on Windows the binary is empty and
//! `tests/windows.rs` runs instead (under Wine: `.ci/windows`).
#![cfg(target_os = "linux")]

mod support;

mod audit;
mod audit_implants;
mod audit_scenarios;
mod baseline;
mod close;
mod close_connection;
mod close_unit;
mod errors;
mod example;
mod explain;
#[cfg(feature = "exporter")]
mod exporter;
mod features;
mod filter;
mod habits;
mod help;
mod history;
mod hostile;
mod hostile_files;
mod hostile_ident;
mod list;
mod list_vs_ss;
mod lookup;
mod netns;
mod one_answer;
mod packaging;
mod persistence;
mod privileges;
mod provenance;
mod recorded;
mod scan;
mod scan_syn;
mod schema;
#[cfg(feature = "top")]
mod top;
mod watch;
mod watch_alerts;
mod watch_events;
mod widths;
