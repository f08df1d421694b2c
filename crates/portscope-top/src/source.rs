//! Where the rows come from: the core's cheap repeated look ([`Refresher`]), the same one
//! `watch` and the exporter use. A refresh takes the kernel's socket dump alone while the same
//! sockets have the same owners, and a full inspection (snapshot with holders, audit) when
//! something changed; see [`portscope_core::inspect`].

pub use portscope_core::inspect::{FULL_EVERY, Look, Refresher as Source};
