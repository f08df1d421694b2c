//! portscope's core: what the user sees and every decision made about it, with no operating
//! system inside.
//!
//! - [`model`]: sockets, endpoints, processes, snapshots.
//! - [`knowledge`]: what a port means (IANA registry, local service names, abuse history) and the
//!   one rule that says which side of a connection is the service.
//! - [`audit`]: the rules that judge a snapshot; [`close`]: who holds a port and what to do to
//!   each holder; [`watch`] and [`baseline`]: what changed.
//! - [`inspect`]: one snapshot judged once (verdicts, counts, filters, the cheap refresh) that
//!   every front end renders.
//! - [`platform`]: the [`Platform`] trait an operating system implements, by
//!   role (collect, host facts, control, session), with an explicit "unsupported" answer for
//!   every optional fact. The TOML fixture platform that tests use lives in the
//!   `portscope-fixture` crate, a dev-dependency, not in this library.
//! - [`provenance`]: why a holder runs — its parent chain, socket unit, SSH session, cron job,
//!   container — and what would restart it.
//! - [`program`]: what a program is called, shared by audit's rules, its expected-server table
//!   and the baseline.
//! - [`state_names`]: socket states as ss(8) names them (`time-wait`, `connected`).
//! - [`filter`]: the one filter language (`port = 443 and not user = root`).
//! - [`sort`]: the order of listed sockets (`list --sort`).
//! - [`render`]: the one place where strings from processes and the network are made safe to
//!   print.
//!
//! Nothing here links libc, netlink or a database; front ends (the CLI, a live view, an exporter)
//! call this crate and render what it returns.

pub mod audit;
pub mod baseline;
pub mod bpf;
pub mod close;
pub mod error;
pub mod filter;
pub mod inspect;
pub mod knowledge;
pub mod model;
pub mod persistence;
pub mod platform;
pub mod privilege;
pub mod program;
pub mod provenance;
pub mod render;
pub mod sort;
pub mod state_names;
pub mod time;
pub mod watch;

pub use error::{Error, ExitCode, Result};
pub use platform::Platform;
