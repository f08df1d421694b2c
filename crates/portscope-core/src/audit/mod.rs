//! `portscope audit`: independent checks over one snapshot, each pointing at a socket and the
//! program behind it with a severity and a one-sentence reason.
//!
//! A port number proves nothing — a trojan can sit on port 80 — so the checks look at the program:
//! where its executable lives and whether it still exists, whether a package installed it, whether
//! a shell talks to the network through its standard input, whether it is a known server for the
//! port it holds. [`runner`] runs them, applies the allow-list and sorts the result; each module
//! under [`checks`] is one rule, documented in docs/audit.md, "How portscope decides".

pub mod advice;
pub mod allow;
pub mod checks;
pub mod context;
pub mod expected;
pub mod finding;
pub mod runner;

pub use finding::{CheckId, Finding, NotChecked, Severity, SocketRef};
pub use runner::{Options, Report, run};
